"""Plain-text pieces shared by the load-test and latency reports."""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Lines of a table: the first column left-aligned, the others right-aligned."""
    cells = [list(map(str, header))] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(
            value.ljust(w) if i == 0 else value.rjust(w)
            for i, (value, w) in enumerate(zip(row, widths))
        )
        for row in cells
    ]


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def environment_lines(result: dict) -> list[str]:
    """Machine, load average, TensorFlow threads and versions of a result."""
    machine, threads, versions = result["machine"], result["threads"], result["versions"]
    load = machine.get("load_average") or {}
    return [
        f"machine: {machine['cpu_count']} CPUs ({machine['usable_cores']} usable), "
        f"{machine['platform']}, Python {machine['python']}",
        f"load average (1/5/15 min): start {_load(load.get('start'))}, end {_load(load.get('end'))}",
        f"TF threads: inter-op {threads.get('tf_inter_op')}, intra-op {threads.get('tf_intra_op')} (0: default); "
        f"tensorflow {versions['tensorflow']}, tensorflow-text {versions['tensorflow_text']}",
    ]


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "n/a"
