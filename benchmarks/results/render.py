"""The Markdown made from docs/results.json: README's results table and RESULTS.md's summary.

Everything here reads the records alone (no run or benchmark file), so the published text
and numbers cannot drift from docs/results.json. Numbers: means in points with two
decimals and the sample standard deviation (``n=1`` for one seed); speedups with their
confidence intervals; ``–`` where the ledger has no number.
"""

from __future__ import annotations

from benchmarks.results.errors import ResultsError

TASK_NAMES = {
    "cola": "CoLA",
    "mrpc": "MRPC",
    "sst-2": "SST-2",
    "sts-b": "STS-B",
    "qqp": "QQP",
    "qnli": "QNLI",
    "mnli": "MNLI",
    "rte": "RTE",
    "wnli": "WNLI",
}
METRIC_NAMES = {
    "mcc": "MCC",
    "f1": "F1",
    "accuracy": "accuracy",
    "spearman": "Spearman",
    "pearson": "Pearson",
}
SELECTION_MARKS = {"held_out": "", "dev": " †", "mixed": " ‡", None: ""}
TARGET_LABELS = {
    "accuracy": "accuracy",
    "padded": "padded speedup",
    "dynamic": "dynamic speedup",
    "batch1": "batch-1 speedup",
}
# The keys every record must have (the issue's), checked before rendering.
REQUIRED_KEYS = (
    "task",
    "metric",
    "seeds",
    "selection",
    "baseline",
    "baseline_std",
    "baseline_equal_training",
    "power",
    "power_std",
    "retention",
    "flops_fraction",
    "speedup",
    "speedup_ci",
    "speedup_dynamic",
    "speedup_dynamic_ci",
    "speedup_batch1",
    "speedup_batch1_ci",
    "device",
    "commands",
    "targets",
)
DASH = "–"


def read_records(path: str) -> list[dict]:
    """The checked records of the docs/results.json at `path` (`check_records`).

    Raises:
        ResultsError: ``<path>: not JSON (...)``, a missing file or a record without a key.
    """
    import json

    from benchmarks.results.blocks import read_text

    try:
        records = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: not JSON ({error})") from None
    return check_records(records, path)


def check_records(records, path: str) -> list[dict]:
    """`records` if it is a list of records with every `REQUIRED_KEYS` key.

    Args:
        records: the parsed docs/results.json.
        path: its name, for messages.

    Returns:
        The records.

    Raises:
        ResultsError: ``<path>: record <i> (<task>): no '<key>'``.
    """
    if not isinstance(records, list):
        raise ResultsError(f"{path}: expected a list of records, found {type(records).__name__}")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ResultsError(f"{path}: record {index}: not an object")
        for key in REQUIRED_KEYS:
            if key not in record:
                raise ResultsError(f"{path}: record {index} ({record.get('task')}): no '{key}'")
    return records


def task_name(record: dict) -> str:
    """The task as the paper writes it (``SST-2``), without the selection mark."""
    return TASK_NAMES.get(record["task"], record["task"])


def points(mean: float | None, std: float | None, n: int) -> str:
    """``27.83 ± 0.41``, ``27.83 (n=1)`` or ``–``.

    >>> points(27.8296, 0.412, 3), points(27.8296, None, 1), points(None, None, 0)
    ('27.83 ± 0.41', '27.83 (n=1)', '–')
    """
    if mean is None:
        return DASH
    if std is None:
        return f"{mean:.2f} (n={n})"
    return f"{mean:.2f} ± {std:.2f}"


def speedup(value: float | None, ci: list | None) -> str:
    """``5.34x [5.10, 5.61]``, ``5.34x (no CI)`` or ``–``.

    >>> speedup(5.341, [5.1, 5.61]), speedup(5.341, None), speedup(None, None)
    ('5.34x [5.10, 5.61]', '5.34x (no CI)', '–')
    """
    if value is None:
        return DASH
    return f"{value:.2f}x [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{value:.2f}x (no CI)"


def mark(met: bool | None) -> str:
    """✓ met, ✗ missed, – not measured."""
    return DASH if met is None else "✓" if met else "✗"


def _fixed(value: float | None, digits: int = 3) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _flops(record: dict) -> str:
    searched = record.get("flops_fraction_searched")
    padded = _fixed(record["flops_fraction"])
    return padded if not searched else f"{padded} ({searched['count']} {searched['value']:.3f})"


def summary_table(records: list[dict]) -> list[str]:
    """The one-row-per-task table with its legend (README's block, RESULTS.md's first part)."""
    lines = [
        "| task | metric | seeds | baseline | equal-training baseline | PoWER-BERT | FLOPs, padded (as searched) | speedup, padded "
        "| speedup, dynamic | speedup, batch 1 | targets: accuracy, padded, dynamic, batch 1 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        seeds = ", ".join(str(seed) for seed in r["seeds"]) or DASH
        equal_n = len(r.get("baseline_equal_training_seeds") or [])
        targets = " ".join(
            mark((r["targets"].get(name) or {}).get("met"))
            for name in ("accuracy", "padded", "dynamic", "batch1")
        )
        lines.append(
            f"| {task_name(r)}{SELECTION_MARKS.get(r['selection'], '')} | {METRIC_NAMES.get(r['metric'], r['metric'])} "
            f"| {seeds} | {points(r['baseline'], r['baseline_std'], len(r['seeds']))} "
            f"| {points(r['baseline_equal_training'], r.get('baseline_equal_training_std'), equal_n)} "
            f"| {points(r['power'], r['power_std'], len(r['seeds']))} | {_flops(r)} "
            f"| {speedup(r['speedup'], r['speedup_ci'])} | {speedup(r['speedup_dynamic'], r['speedup_dynamic_ci'])} "
            f"| {speedup(r['speedup_batch1'], r['speedup_batch1_ci'])} | {targets} |"
        )
    devices = sorted({r["device"] for r in records if r["device"]})
    lines += [
        "",
        "Dev-set metric in points: mean ± sample standard deviation over the seeds (n=1: one seed, no "
        "deviation); FLOPs: PoWER-BERT's fraction of the baseline's at the padded length, and in brackets as the "
        "search counted it over the training sentences (batched: each at its batch's longest; dynamic: each "
        "at its own length), mean over seeds; speedups: baseline time / "
        "PoWER-BERT time [bootstrap 95% interval]: padded (one batch of 128 padded to seq_len, the paper's), "
        "dynamic (the dev set in file order, batches of 64 each trimmed to its longest) and batch 1 (each "
        "sentence alone, trimmed), "
        f"on {'; '.join(devices) or 'no benchmarked device'}. Targets: accuracy within 1 point of the stronger "
        "baseline, padded at least 1.5x the paper's speedup, dynamic at least 2.5x, batch 1 at least 1.5x "
        "(✓ met, ✗ missed, – not measured)."
        + (
            " † chosen on the dev set (older runs: their dev numbers are optimistic)."
            if any(r["selection"] == "dev" for r in records)
            else ""
        )
        + (
            " ‡ some runs chosen on the dev set."
            if any(r["selection"] == "mixed" for r in records)
            else ""
        ),
    ]
    gpu = [r for r in records if r.get("gpu")]
    if gpu:
        lines += [
            "",
            "| task | GPU | backend | speedup, padded | speedup, dynamic | speedup, batch 1 |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {task_name(r)} | {r['gpu'].get('device') or DASH} | {r['gpu'].get('backend') or DASH} "
            f"| {speedup(r['gpu'].get('speedup'), r['gpu'].get('speedup_ci'))} "
            f"| {speedup(r['gpu'].get('speedup_dynamic'), r['gpu'].get('speedup_dynamic_ci'))} "
            f"| {speedup(r['gpu'].get('speedup_batch1'), r['gpu'].get('speedup_batch1_ci'))} |"
            for r in gpu
        ]
    return lines


def readme_block(records: list[dict]) -> str:
    """README's results table (the text between its results-table markers)."""
    return "\n".join(
        summary_table(records)
        + [
            "",
            "Per seed, commands, devices and notes: "
            "[docs/RESULTS.md](docs/RESULTS.md#summary-generated-from-resultsjson).",
        ]
    )


def _per_seed(r: dict) -> list[str]:
    names = r.get("power_runs") or [DASH] * len(r["seeds"])
    held = lambda key, i: _fixed((r.get(key) or [None] * len(r["seeds"]))[i], 2)  # noqa: E731
    lines = [
        "| seed | run | baseline (held-out) | PoWER-BERT (held-out) | retention | FLOPs |",
        "|---|---|---|---|---|---|",
    ]
    for i, seed in enumerate(r["seeds"]):
        lines.append(
            f"| {seed} | {names[i]} | {_fixed(r['baseline_per_seed'][i], 2)} ({held('baseline_held_out_per_seed', i)}) "
            f"| {_fixed(r['power_per_seed'][i], 2)} ({held('power_held_out_per_seed', i)}) "
            f"| {','.join(str(v) for v in r['retention'][i])} | {_fixed(r['flops_fraction_per_seed'][i])} |"
        )
    return lines


def _targets(r: dict) -> list[str]:
    lines = []
    for name, target in r["targets"].items():
        label, value, required = (
            TARGET_LABELS.get(name, name),
            target.get("value"),
            target.get("required"),
        )
        unit = "x" if name != "accuracy" else ""
        shown = lambda v, unit=unit: DASH if v is None else f"{v:.2f}{unit}"  # noqa: E731
        state = {True: "met", False: "**missed**", None: "not measured"}[target.get("met")]
        why = {
            "accuracy": " (the stronger baseline - 1)",
            "padded": f" (1.5 x the paper's {r.get('paper_speedup')}x)"
            if r.get("paper_speedup")
            else "",
        }
        lines.append(
            f"- {label}: {shown(value)}, required at least {shown(required)}{why.get(name, '')}: {state}."
        )
    return lines


def _task_section(r: dict) -> list[str]:
    busy = {True: "busy", False: "idle", None: "load not recorded"}
    lines = [
        "",
        f"### {task_name(r)}{SELECTION_MARKS.get(r['selection'], '')}: "
        f"{METRIC_NAMES.get(r['metric'], r['metric'])}, selection {r['selection'] or DASH}",
        "",
    ]
    lines += _per_seed(r) if r["seeds"] else ["No done PoWER-BERT run."]
    equal = r.get("baseline_equal_training_per_seed") or []
    if equal:
        epochs = sorted({e for e in r.get("baseline_equal_training_epochs") or [] if e})
        lines += [
            "",
            f"Equal-training baseline{' (' + ', '.join(map(str, epochs)) + ' epochs)' if epochs else ''}: "
            + ", ".join(
                f"seed {s} {v:.2f}" for s, v in zip(r["baseline_equal_training_seeds"], equal)
            )
            + f"; mean {points(r['baseline_equal_training'], r['baseline_equal_training_std'], len(equal))}.",
        ]
    lines += [
        "",
        f"Stronger baseline: {(r.get('stronger_baseline') or DASH).replace('_', '-')}.",
        "",
        f"Speedups on {r['device'] or DASH}:",
        "",
    ]
    for protocol, key in (
        ("padded", "speedup"),
        ("dynamic", "speedup_dynamic"),
        ("batch1", "speedup_batch1"),
    ):
        state = busy[(r.get("busy") or {}).get(protocol)] if r[key] is not None else "not measured"
        lines.append(f"- {protocol}: {speedup(r[key], r[f'{key}_ci'])}; {state}")
    if r.get("gpu"):
        g = r["gpu"]
        lines.append(
            f"- GPU ({g.get('device') or DASH}, {g.get('backend') or DASH}): padded "
            f"{speedup(g.get('speedup'), g.get('speedup_ci'))}, dynamic "
            f"{speedup(g.get('speedup_dynamic'), g.get('speedup_dynamic_ci'))}, batch 1 "
            f"{speedup(g.get('speedup_batch1'), g.get('speedup_batch1_ci'))}"
        )
    lines += ["", "Targets:", "", *_targets(r)]
    if r.get("pareto"):
        lines += [
            "",
            f"Dev {METRIC_NAMES.get(r['metric'], r['metric'])} against time "
            f"([pareto_{r['task']}.png](pareto_{r['task']}.png)):",
            "",
            "| model | kind | dev metric | time / baseline | protocol |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {p['label']} | {p['kind']} | {p['metric']:.2f} | {p['ms_relative']:.3f} | {p['protocol']} |"
            for p in r["pareto"]
        ]
    lines += ["", "Commands:", "", "```bash", *r["commands"], "```"]
    if r.get("notes"):
        lines += [
            "",
            "Notes:",
            "",
            *(f"- {note}" if note.rstrip()[-1:] in ".!?" else f"- {note}." for note in r["notes"]),
        ]
    return lines


def results_md_block(records: list[dict]) -> str:
    """RESULTS.md's summary (the text between its results markers): the table, then per task."""
    lines = summary_table(records)
    for record in records:
        lines += _task_section(record)
    return "\n".join(lines)
