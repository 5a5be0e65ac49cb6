"""Text summaries of a benchmark result: `format_report` and the per-layer table `format_profile`."""

from __future__ import annotations

PROFILE_COLUMNS = (
    ("depth", "layer"), ("lengths", "n_in->out"), ("attention", "attn"), ("attention_probs", "attn+probs"),
    ("significance", "signif"), ("rank_gather", "rank+gather"), ("ffn", "ffn"), ("used", "sum used"),
    ("layer", "layer"), ("baseline_layer", "baseline"),
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
    lines.append("ms per call, median; each piece compiled alone (its sum includes one call overhead per piece)")
    return "\n".join(lines)


def format_report(result: dict) -> str:
    """A human-readable summary of a `run_benchmark` result."""
    lines = [
        f"device           {result['device']}  [{result['keras_backend']}, "
        f"tf {result.get('tf_version')}, keras {result['keras_version']}]",
        f"inputs           batch {result['batch_size']} x seq_len {result['seq_len']}, "
        f"median of {result['repeats']} (warm-up {result['warmup']})",
        f"baseline         {result['baseline_source']}",
        f"PoWER-BERT       {result['power_source']}",
        f"retention        {','.join(str(v) for v in result['retention'])}",
        f"flops_fraction   {result['flops_fraction']:.3f}  (limit speedup {result['speedup_limit']:.2f}x)",
        f"baseline_ms      {result['baseline_ms']:.1f}",
        f"power_ms         {result['power_ms']:.1f}",
        f"speedup          {result['speedup']:.2f}x  (efficiency {result['efficiency']:.2f})",
    ]
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
    if result.get("backend_note"):
        lines.append(f"note             {result['backend_note']}")
    text = "\n".join(lines)
    if result.get("profile"):
        text += "\n\n" + format_profile(result["profile"])
    return text
