"""Text summaries of a benchmark result: `format_report` and the per-layer table `format_profile`."""

from __future__ import annotations

PROFILE_COLUMNS = (
    ("depth", "layer"),
    ("lengths", "n_in->out"),
    ("attention", "attn"),
    ("attention_probs", "attn+probs"),
    ("significance", "signif"),
    ("rank_gather", "rank+gather"),
    ("ffn", "ffn"),
    ("used", "sum used"),
    ("layer", "layer"),
    ("baseline_layer", "baseline"),
)


def format_profile(rows: list[dict]) -> str:
    """A small aligned table of `profile_layers` rows (ms)."""
    table = []
    for row in rows:
        cells = []
        for key, _ in PROFILE_COLUMNS:
            if key == "depth":
                cells.append(str(row["depth"]))
            elif key == "lengths":
                cells.append("" if row["n_in"] is None else f"{row['n_in']}->{row['n_out']}")
            else:
                cells.append(f"{row[key]:.2f}")
        table.append(cells)
    header = [title for _, title in PROFILE_COLUMNS]
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(PROFILE_COLUMNS))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in table]
    lines.append(
        "ms per call, median; each piece compiled alone (its sum includes one call overhead per piece)"
    )
    return "\n".join(lines)


UNITS = {
    "padded": "one padded batch",
    "dynamic": "one pass over the batches in file order, each trimmed to its longest",
    "batch1": "one pass over the sentences, one at a time, each trimmed",
}


def format_variant(name: str, row: dict) -> str:
    """One line: the variant's median ms, ms per sentence, speedup and its 95% interval, FLOPs."""
    low, high = row["speedup_ci"]
    flops = "" if row.get("flops_fraction") is None else f"  flops {row['flops_fraction']:.3f}"
    return (
        f"  {name:<20} {row['ms']:10.2f} ms  ({row['ms_per_sentence']:.3f} ms/sentence)  "
        f"{row['speedup']:5.2f}x [{low:.2f}, {high:.2f}]  seq_len {row['seq_len']}{flops}"
    )


def format_load(load: dict | None) -> list[str]:
    """The load line, and a loud warning line when the machine was busy."""
    if not load:
        return []

    def share(value):
        return "n/a" if value is None else f"{value:.0%}"

    lines = [
        f"load             other processes {share(load.get('precheck_other_cpu_fraction'))} of the CPU before, "
        f"{share(load.get('other_cpu_fraction'))} during timing (limit {load['max_other_load']:.0%}); "
        f"loadavg {load.get('before')} -> {load.get('after')}, {load.get('cpu_count')} CPUs"
    ]
    if load.get("busy"):
        lines.append(
            "!!! WARNING: the machine was BUSY (other processes above --max-other-load): "
            "these timings are NOT reliable; rerun on an idle machine or pass --require-idle !!!"
        )
    return lines


def format_threads(threads: dict | None) -> list[str]:
    """The threading line: backend pools, environment variables, CPU count."""
    if not threads:
        return []
    parts = [f"backend {threads['backend']}", f"cpu_count {threads['cpu_count']}"]
    if "tf_intra_op" in threads:
        parts.append(f"tf intra {threads['tf_intra_op']} / inter {threads['tf_inter_op']}")
    if "jax_devices" in threads:
        parts.append(f"jax devices {', '.join(threads['jax_devices'])}")
    parts += [f"{name}={value}" for name, value in threads["env"].items() if value is not None]
    return [f"threads          {', '.join(parts)}"]


def format_report(result: dict) -> str:
    """A human-readable summary of a `run_benchmark` result."""
    protocol = result.get("protocol", "padded")
    load = result.get("load") or {}
    lines = (
        format_load(load)[1:] if load.get("busy") else []
    )  # the warning first, and again at the end
    lines += [
        f"device           {result['device']}  [{result['keras_backend']}, "
        f"tf {result.get('tf_version')}, keras {result['keras_version']}]",
        *format_threads(result.get("threads")),
        f"protocol         {protocol}: the timed unit is {UNITS.get(protocol, protocol)}",
        f"inputs           batch {result['batch_size']} x seq_len {result['seq_len']}, "
        f"{result.get('examples_per_unit', result['batch_size'])} sentences per unit, median of "
        f"{result['repeats']} rounds in random order (warm-up {result['warmup']})",
        f"baseline         {result['baseline_source']}",
        f"PoWER-BERT       {result['power_source']}",
        f"retention        {','.join(str(v) for v in result['retention'])}",
        f"flops_fraction   {result['flops_fraction']:.3f}  (limit speedup {result['speedup_limit']:.2f}x)",
        f"baseline_ms      {result['baseline_ms']:.1f}",
        f"power_ms         {result['power_ms']:.1f}",
        f"speedup          {result['speedup']:.2f}x"
        + (
            f" [{result['speedup_ci'][0]:.2f}, {result['speedup_ci'][1]:.2f}]"
            if "speedup_ci" in result
            else ""
        )
        + f"  (efficiency {result['efficiency']:.2f})",
    ]
    if result.get("variants"):
        lines.append(
            "variants         median ms per unit, speedup over baseline [bootstrap 95% interval]:"
        )
        lines += [format_variant(name, row) for name, row in result["variants"].items()]
    if "savedmodel_speedup" in result:
        low, high = result["savedmodel_speedup_ci"]
        lines.append(
            f"savedmodel       baseline export / PoWER-BERT export: "
            f"{result['savedmodel_speedup']:.2f}x [{low:.2f}, {high:.2f}]"
        )
    truncation = result.get("truncation")
    if truncation:
        lines.append(
            f"truncation       seq_len {truncation['seq_len']} (flops {truncation['flops_fraction']:.3f}): "
            f"{truncation['ms']:.1f} ms, {truncation['speedup']:.2f}x"
            + (f", dev {truncation['metric']:.2f}" if "metric" in truncation else "")
        )
    bucketed = result.get("bucketed")
    if bucketed:
        lines.append(
            f"bucketed dev set {bucketed['examples']} examples, batch {bucketed['batch_size']}: baseline "
            f"{bucketed['baseline_s']:.3g} s, PoWER-BERT {bucketed['power_s']:.3g} s "
            f"({bucketed['speedup']:.2f}x), truncation {bucketed['truncation_s']:.3g} s"
        )
    if result.get("metrics"):
        metrics = ", ".join(f"{k} {v:.2f}" for k, v in result["metrics"].items())
        lines.append(f"dev {result['metric']:<12} {metrics}")
    lines += format_load(result.get("load"))
    if result.get("backend_note"):
        lines.append(f"note             {result['backend_note']}")
    text = "\n".join(lines)
    if result.get("profile"):
        text += "\n\n" + format_profile(result["profile"])
    return text
