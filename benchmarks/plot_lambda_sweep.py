#!/usr/bin/env python
"""Plot a lambda sweep: dev metric against inference time, with the baselines.

    python benchmarks/plot_lambda_sweep.py \
        --run runs/cola-l1e-3 --run runs/cola-l7e-3 runs/cola-l7e-3/bench.json \
        --output docs/cola_lambda_sweep.png

Each --run names a run directory (its results.json gives the dev metric of
the baseline and of PoWER-BERT, lambda, the retention configuration and the
FLOPs fraction) and optionally the JSON written by benchmarks/benchmark.py for
it (default: <run>/benchmark.json). PoWER-BERT points are joined in order of
time; static truncation to the same FLOPs (from each benchmark JSON) is drawn
as a second curve, and the model without elimination as a reference point.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run",
        action="append",
        nargs="+",
        metavar=("RUN_DIR", "BENCHMARK_JSON"),
        required=True,
        help="a run directory and optionally its benchmark JSON (repeat per run)",
    )
    parser.add_argument(
        "--benchmark-name",
        default="benchmark.json",
        help="the benchmark JSON's name inside a run directory when not given (default: %(default)s)",
    )
    parser.add_argument(
        "--output", default="docs/lambda_sweep.png", help="PNG to write (default: %(default)s)"
    )
    parser.add_argument(
        "--x",
        choices=["batch", "devset"],
        default="batch",
        help="batch: ms per padded batch (default); devset: seconds for the bucketed dev set",
    )
    parser.add_argument("--title", default=None)
    parser.add_argument("--dpi", type=int, default=150)
    return parser


def _fail(message: str) -> int:
    print(f"plot_lambda_sweep.py: error: {message}", file=sys.stderr)
    return 2


def _read(path: str) -> dict:
    try:
        with open(path) as handle:
            return json.load(handle)
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None


def load_point(run_dir: str, bench_path: str, x: str) -> dict:
    """One run's numbers: lambda, metrics and times of baseline, PoWER-BERT and truncation."""
    results = _read(os.path.join(run_dir, "results.json"))
    bench = _read(bench_path)
    metrics = bench.get("metrics") or {}
    truncation = bench.get("truncation") or {}
    if x == "batch":
        times = {
            "baseline": bench.get("baseline_ms"),
            "power": bench.get("power_ms"),
            "truncation": truncation.get("ms"),
        }
    else:
        bucketed = bench.get("bucketed") or {}
        times = {name: bucketed.get(f"{name}_s") for name in ("baseline", "power", "truncation")}
    point = {
        "run": run_dir,
        "lambda": (results.get("hyper_parameters") or {}).get("lambda"),
        "metric_name": results.get("metric") or bench.get("metric") or "dev metric",
        "baseline": results.get("baseline", metrics.get("baseline")),
        "power": results.get("power", metrics.get("power")),
        "truncation": truncation.get("metric"),
        "truncation_len": truncation.get("seq_len"),
        "flops_fraction": results.get("flops_fraction", bench.get("flops_fraction")),
        "retention": results.get("retention", bench.get("retention")),
        "times": times,
        "batch_size": bench.get("batch_size"),
        "seq_len": bench.get("seq_len"),
        "device": bench.get("device"),
    }
    for key in ("power",):
        if point[key] is None or point["times"][key] is None:
            raise ValueError(
                f"{run_dir}: no {key} dev metric or time (results.json / {bench_path})"
            )
    return point


def plot(
    points: list[dict], output: str, x: str = "batch", title: str | None = None, dpi: int = 150
) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ordered = sorted(points, key=lambda p: p["times"]["power"])
    ax.plot(
        [p["times"]["power"] for p in ordered],
        [p["power"] for p in ordered],
        "o-",
        color="C0",
        label="PoWER-BERT (lambda sweep)",
    )
    for p in ordered:
        label = f"λ={p['lambda']:g}" if p["lambda"] is not None else os.path.basename(p["run"])
        if p["flops_fraction"] is not None:
            label += f"\n{100 * p['flops_fraction']:.0f}% FLOPs"
        ax.annotate(
            label,
            (p["times"]["power"], p["power"]),
            textcoords="offset points",
            xytext=(6, 4),
            fontsize=7,
            color="C0",
        )
    trunc = sorted(
        (p for p in points if p["truncation"] is not None and p["times"]["truncation"] is not None),
        key=lambda p: p["times"]["truncation"],
    )
    if trunc:
        ax.plot(
            [p["times"]["truncation"] for p in trunc],
            [p["truncation"] for p in trunc],
            "s--",
            color="C1",
            label="static truncation, same FLOPs",
        )
        for p in trunc:
            ax.annotate(
                f"L={p['truncation_len']}",
                (p["times"]["truncation"], p["truncation"]),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7,
                color="C1",
            )
    base = [p for p in points if p["baseline"] is not None and p["times"]["baseline"] is not None]
    if base:
        times = sorted(p["times"]["baseline"] for p in base)
        middle = times[len(times) // 2]
        metric = sorted(p["baseline"] for p in base)[len(base) // 2]
        ax.errorbar(
            [middle],
            [metric],
            xerr=[[middle - times[0]], [times[-1] - middle]],
            fmt="*",
            color="C3",
            markersize=12,
            capsize=3,
            label="no elimination (baseline)",
        )
    first = points[0]
    unit = "ms per batch" if x == "batch" else "s for the dev set (length-bucketed)"
    shape = (
        f"batch {first['batch_size']}, seq_len {first['seq_len']}" if first["batch_size"] else ""
    )
    ax.set_xlabel(f"inference time ({unit}{', ' + shape if shape and x == 'batch' else ''})")
    ax.set_ylabel(f"dev {first['metric_name']}")
    ax.set_title(
        title or f"lambda sweep{' on ' + first['device'] if first['device'] else ''}", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    fig.savefig(output, dpi=dpi)
    plt.close(fig)
    return output


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    points = []
    try:
        for entry in args.run:
            if len(entry) > 2:
                return _fail(
                    f"--run takes a run directory and at most one benchmark JSON, got {entry}"
                )
            run_dir = entry[0]
            bench = entry[1] if len(entry) == 2 else os.path.join(run_dir, args.benchmark_name)
            points.append(load_point(run_dir, bench, args.x))
    except ValueError as error:
        return _fail(str(error))
    path = plot(points, args.output, args.x, args.title, args.dpi)
    print(f"plotted {len(points)} runs to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
