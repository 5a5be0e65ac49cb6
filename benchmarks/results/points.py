"""A task's Pareto points: each timed model's dev metric against its time relative to the baseline.

Times come from one CPU benchmark: the dynamic-padding one when the task has it (for an
older JSON, its length-bucketed pass), else the padded one. Each benchmark variant is
matched to its dev metric through the ledger's ``variants`` map (variant -> run, or the
task's name for the task's mean); a variant without one is left out with a note, except
``truncation`` (the baseline on truncated inputs, not fine-tuned, whose dev metric the
padded benchmark measures) and the SavedModel exports (the same models: no point of their own).
A ``truncation`` variant the ledger maps to a run fine-tuned at the same length gives that run a
point too, at the same time: the network and the inputs are the same, only the weights differ.
"""

from __future__ import annotations

from benchmarks.results.ledger import Benchmark, Run
from benchmarks.results.stats import finite

EXPORTS = ("power_savedmodel", "baseline_savedmodel")
# The baseline on [CLS] alone: the floor of any elimination, a time and no model.
FLOORS = ("cls_only",)


Point = tuple[str, str, "float | None", "float | None"]  # kind, label, metric, FLOPs fraction


def _run_point(variant: str, run: Run, flops: float | None) -> Point:
    """(kind, label, metric, flops) of a benchmark variant that a ledger run trained."""
    results = run.results or {}
    if run.kind == "power" and variant == "baseline":
        return (
            "baseline",
            run.label or "baseline (fine-tuned)",
            finite(results.get("baseline")),
            1.0,
        )
    if run.kind in ("power", "power_target"):
        flops = flops if flops is not None else finite(results.get("flops_fraction"))
        label = run.label or (
            f"PoWER-BERT, FLOPs {flops:.2f}" if flops is not None else f"PoWER-BERT ({run.name})"
        )
        return "power", label, finite(results.get("power")), flops
    if run.kind == "truncation":
        seq_len = run.seq_len or results.get("seq_len")
        label = run.label or f"fine-tuned truncation to {seq_len} tokens"
        return "truncation", label, finite(results.get("baseline")), flops
    epochs = f", {run.epochs} epochs" if run.epochs else ""
    return (
        "baseline_equal_training",
        run.label or f"baseline, equal training{epochs}",
        finite(results.get("baseline")),
        1.0,
    )


def _task_point(variant: str, record: dict, flops: float | None) -> Point:
    """(kind, label, metric, flops) of a variant mapped to the task's means."""
    if variant == "baseline":
        return "baseline", "baseline (fine-tuned)", record.get("baseline"), 1.0
    flops = flops if flops is not None else record.get("flops_fraction")
    label = f"PoWER-BERT, FLOPs {flops:.2f}" if flops is not None else "PoWER-BERT"
    return "power", label, record.get("power"), flops


def _truncation(benchmark: Benchmark, cpu: dict[str, Benchmark]) -> dict | None:
    """The benchmark's static truncation with its dev metric (the padded benchmark's, same length)."""
    own = benchmark.data["truncation"]
    if own is not None and own.get("metric") is not None:
        return own
    padded = cpu.get("padded")
    other = padded.data["truncation"] if padded is not None else None
    if (
        other is not None
        and other.get("metric") is not None
        and (own is None or own["seq_len"] == other["seq_len"])
    ):
        return other
    return None


def _truncation_points(
    benchmark: Benchmark, cpu: dict[str, Benchmark], runs: dict[str, Run], notes: list[str]
) -> list[tuple]:
    """(kind, label, metric, flops, source) of the timed truncation: the baseline's weights on
    truncated inputs, and the run the ledger maps to it, fine-tuned at that length."""
    candidates = []
    timed = benchmark.data["variants"].get("truncation") or benchmark.data["truncation"] or {}
    untuned = _truncation(benchmark, cpu)
    if untuned is not None:
        label = f"truncation to {untuned['seq_len']} tokens (not fine-tuned)"
        candidates.append(
            (
                "truncation_not_fine_tuned",
                label,
                finite(untuned.get("metric")),
                untuned.get("flops_fraction"),
                benchmark.path,
            )
        )
    name = benchmark.variants.get("truncation")
    if name is None:
        if untuned is None:
            notes.append(f"Pareto: the truncation of {benchmark.path} has no dev metric.")
        return candidates
    run = runs[name]
    seq_len = run.seq_len or (run.results or {}).get("seq_len")
    if not run.done:
        notes.append(f"Pareto: the fine-tuned truncation '{name}' left out: it is {run.status}.")
    elif seq_len != timed.get("seq_len"):
        # Another length is another network: the timing would not be its own.
        notes.append(
            f"Pareto: run '{name}' is fine-tuned at {seq_len} tokens, but {benchmark.path} "
            f"timed the truncation at {timed.get('seq_len')}: left out."
        )
    else:
        kind, label, metric, _ = _run_point("truncation", run, None)
        candidates.append((kind, label, metric, timed.get("flops_fraction"), name))
    return candidates


def _timings(benchmark: Benchmark, use_legacy_dynamic: bool) -> tuple[str, dict]:
    """(protocol, {variant: ms}) of a benchmark; the older JSONs' bucketed pass when asked."""
    data = benchmark.data
    if use_legacy_dynamic:
        legacy = data["legacy_dynamic"]
        times = {"baseline": legacy["baseline_ms"], "power": legacy["power_ms"]}
        if data["legacy_truncation"] is not None:
            times["truncation"] = legacy["truncation_ms"]
        return "dynamic", times
    times = {"baseline": data["baseline_ms"], "power": data["power_ms"]}
    for name, variant in data["variants"].items():
        times[name] = variant["ms"]
    if data["legacy_truncation"] is not None:
        times["truncation"] = data["legacy_truncation"]["ms"]
    return benchmark.protocol, times


def pareto_points(
    record: dict, cpu: dict[str, Benchmark], runs: dict[str, Run]
) -> tuple[list[dict], list[str]]:
    """The task's points and the notes on what was left out.

    Args:
        record: the task's record so far (``task``, ``baseline``, ``power``, ``flops_fraction``,
            ``baseline_equal_training``).
        cpu: the task's CPU benchmarks by protocol.
        runs: every ledger run by name.

    Returns:
        (points, notes): each point ``{label, kind, metric, ms_relative, protocol, source,
        flops_fraction}``, the baseline first.
    """
    notes: list[str] = []
    if "dynamic" in cpu:
        benchmark, legacy = cpu["dynamic"], False
    elif "padded" in cpu:
        benchmark = cpu["padded"]
        legacy = benchmark.data["legacy_dynamic"] is not None
    else:
        return [], notes
    protocol, times = _timings(benchmark, legacy)
    baseline_ms = finite(times.get("baseline"))
    if not baseline_ms:
        return [], [f"No Pareto points: {benchmark.path} has no baseline time."]
    points = []
    for variant, ms in times.items():
        ms = finite(ms)
        if ms is None:
            continue
        flops = benchmark.data["variants"].get(variant, {}).get("flops_fraction")
        if variant in EXPORTS and variant not in benchmark.variants:
            continue  # the same models exported: no point of their own
        if variant in FLOORS:
            continue
        if variant == "truncation":
            candidates = _truncation_points(benchmark, cpu, runs, notes)
        else:
            source = benchmark.variants.get(
                variant, record["task"] if variant in ("baseline", "power") else None
            )
            if source is None:
                notes.append(
                    f"Pareto: variant '{variant}' of {benchmark.path} has no ledger run, so no dev metric."
                )
                continue
            if source == record["task"] and source not in runs:
                candidates = [(*_task_point(variant, record, flops), source)]
            elif not runs[source].done:
                notes.append(
                    f"Pareto: variant '{variant}' left out: run '{source}' is {runs[source].status}."
                )
                continue
            else:
                candidates = [(*_run_point(variant, runs[source], flops), source)]
        for kind, label, metric, point_flops, source in candidates:
            if metric is None:
                notes.append(f"Pareto: variant '{variant}' ({label}) left out: no dev metric.")
                continue
            points.append(
                {
                    "label": label,
                    "kind": kind,
                    "metric": metric,
                    "ms_relative": ms / baseline_ms,
                    "protocol": protocol,
                    "source": source,
                    "flops_fraction": finite(point_flops),
                }
            )
    if record.get("baseline_equal_training") is not None and not any(
        point["kind"] == "baseline_equal_training" for point in points
    ):
        points.append(
            {
                "label": "baseline, equal training (the baseline's network and time)",
                "kind": "baseline_equal_training",
                "metric": record["baseline_equal_training"],
                "ms_relative": 1.0,
                "protocol": protocol,
                "source": record["task"],
                "flops_fraction": 1.0,
            }
        )
    points.sort(key=lambda point: (point["kind"] != "baseline", -point["ms_relative"]))
    return points, notes
