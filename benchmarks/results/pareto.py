"""Per-task Pareto plots: dev metric against inference time relative to the baseline.

One PNG per task from its record's ``pareto`` points: PoWER-BERT at its FLOPs targets
(joined in order of time), fine-tuned truncations, truncation without fine-tuning, the
baselines; one marker per kind. Matplotlib runs on the Agg backend (no display needed).
"""

from __future__ import annotations

import os

from benchmarks.results.render import METRIC_NAMES, task_name
from power_bert_tf.files import atomic_path

# kind -> (marker, colour, legend label)
KIND_STYLES = {
    "baseline": ("s", "black", "baseline (fine-tuned)"),
    "baseline_equal_training": ("D", "grey", "baseline, equal training"),
    "power": ("o", "tab:blue", "PoWER-BERT"),
    "truncation": ("^", "tab:orange", "truncation, fine-tuned"),
    "truncation_not_fine_tuned": ("v", "tab:red", "truncation, not fine-tuned"),
}


def plot_task(record: dict, path: str, dpi: int = 150) -> bool:
    """Write `record`'s Pareto plot to `path` (atomically).

    Args:
        record: a docs/results.json record.
        path: the PNG to write.
        dpi: its resolution.

    Returns:
        False (nothing written) when the record has no points, else True.
    """
    points = record.get("pareto") or []
    if not points:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.4))
    right = max(1.3, max(p["ms_relative"] for p in points) * 1.3)
    for kind in dict.fromkeys(point["kind"] for point in points):
        marker, colour, label = KIND_STYLES.get(kind, ("x", "tab:green", kind))
        chosen = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["ms_relative"])
        xs, ys = [p["ms_relative"] for p in chosen], [p["metric"] for p in chosen]
        axes.plot(
            xs,
            ys,
            marker=marker,
            color=colour,
            label=label,
            markersize=7,
            linestyle="-" if kind == "power" and len(chosen) > 1 else "none",
        )
        for point in chosen:
            # Labels of points in the right half grow leftwards, so that they stay inside the axes.
            leftwards = point["ms_relative"] > right / 2
            axes.annotate(
                point["label"],
                (point["ms_relative"], point["metric"]),
                fontsize=7,
                xytext=(-4 if leftwards else 4, 4),
                textcoords="offset points",
                ha="right" if leftwards else "left",
            )
    protocols = sorted({point["protocol"] for point in points})
    axes.set_xlabel(f"inference time / baseline's ({', '.join(protocols)} protocol)")
    axes.set_ylabel(
        f"dev {METRIC_NAMES.get(record.get('metric'), record.get('metric') or 'metric')}"
    )
    selection = " (chosen on dev)" if record.get("selection") in ("dev", "mixed") else ""
    seeds = len(record.get("seeds") or [])
    axes.set_title(
        f"{task_name(record)}{selection}: dev metric against time (n={seeds})", fontsize=10
    )
    axes.set_xlim(0, right)
    axes.margins(y=0.15)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="best")
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary, dpi=dpi, format="png")
    plt.close(figure)
    return True
