"""One record per task from a read ledger: the content of docs/results.json.

Means are in the metric's points, standard deviations are sample ones (ddof=1; None with
one seed), and a number the ledger does not provide is None, never filled in. CPU and GPU
benchmarks never mix: GPU ones go to the record's ``gpu`` sub-record.
"""

from __future__ import annotations

from benchmarks.results.errors import ResultsError
from benchmarks.results.ledger import Benchmark, Ledger, Run
from benchmarks.results.points import pareto_points
from benchmarks.results.stats import finite, mean, sample_std
from benchmarks.results.targets import evaluate_targets, paper_speedup, speed_targets

PROTOCOL_FIELDS = {"padded": "speedup", "dynamic": "speedup_dynamic", "batch1": "speedup_batch1"}


def _seeded(runs: list[Run], kind: str, ledger_path: str) -> list[Run]:
    """The done runs of `kind`, refusing two with the same seed."""
    chosen: dict[int, Run] = {}
    for run in runs:
        if run.kind != kind or not run.done:
            continue
        if run.seed in chosen:
            raise ResultsError(
                f"{ledger_path}: run '{run.name}': seed {run.seed} of {run.task} {kind} "
                f"already used by run '{chosen[run.seed].name}'"
            )
        chosen[run.seed] = run
    return list(chosen.values())


def _values(runs: list[Run], key: str) -> list[float | None]:
    return [finite((run.results or {}).get(key)) for run in runs]


def _implemented_flops(run: Run, model: dict | None) -> float | None:
    """The run's FLOPs fraction counted as the implementation computes it (`RetentionConfig.flops_fraction`),
    from its retention and seq_len; the run's own record when the ledger gives no widths."""
    results = run.results or {}
    if model is None or not results.get("retention") or not results.get("seq_len"):
        return finite(results.get("flops_fraction"))
    from power_bert_tf.retention import RetentionConfig

    return RetentionConfig(tuple(results["retention"])).flops_fraction(
        int(results["seq_len"]), model["hidden_dim"], model["intermediate_dim"]
    )


def _searched_flops(power: list[Run]) -> dict | None:
    """The mean FLOPs fraction as the runs' search counted it (`flops_count` "batched" or
    "dynamic", over their training sentences), with that count's name; None unless every run
    counted the same non-padded way."""
    results = [run.results or {} for run in power]
    counts = {r.get("flops_count") for r in results}
    if not results or len(counts) != 1 or counts & {None, "padded"}:
        return None
    return {
        "count": counts.pop(),
        "value": mean([finite(r.get("flops_fraction")) for r in results]),
    }


def _metric_name(task: str, runs: list[Run], ledger_path: str) -> str | None:
    names: dict[str, str] = {}
    for run in runs:
        metric = (run.results or {}).get("metric")
        if metric is not None:
            names.setdefault(metric, run.name)
    if len(names) > 1:
        (first, a), (second, b) = list(names.items())[:2]
        raise ResultsError(
            f"{ledger_path}: task '{task}': run '{a}' reports {first}, run '{b}' {second}"
        )
    return next(iter(names), None)


def _selection(runs: list[Run]) -> str | None:
    kinds = {run.selection for run in runs}
    return None if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"


def _benchmarks_by_protocol(
    task: str, benchmarks: list[Benchmark], target: str, ledger_path: str
) -> dict[str, Benchmark]:
    found: dict[str, Benchmark] = {}
    for benchmark in benchmarks:
        if benchmark.task != task or benchmark.target != target:
            continue
        if benchmark.protocol in found:
            raise ResultsError(
                f"{ledger_path}: benchmarks[{benchmark.index}]: a second {target} "
                f"'{benchmark.protocol}' benchmark of {task} (first: {found[benchmark.protocol].path})"
            )
        found[benchmark.protocol] = benchmark
    return found


def _check_retention(benchmark: Benchmark, runs: dict[str, Run], power: list[Run]) -> None:
    """Refuse a benchmark whose timed PoWER-BERT retention is not its ledger run's, or whose run
    does not count (a superseded run's timings would be reported beside another run's accuracy).
    A benchmark that names no run must time the retention of one of the task's counted runs."""
    name = benchmark.variants.get("power")
    run = runs.get(name) if name else None
    if run is not None and not run.done:
        raise ResultsError(
            f"{benchmark.path}: times run '{run.name}', whose status is '{run.status}': "
            "time a counted run, or drop this benchmark from the ledger"
        )
    timed = benchmark.data.get("retention")
    if timed is None:
        return
    if run is None:
        counted = {
            run.name: list((run.results or {}).get("retention") or []) for run in power if run.done
        }
        if counted and list(timed) not in counted.values():
            raise ResultsError(
                f"{benchmark.path}: timed retention {list(timed)} is none of the task's counted "
                f"runs' ({', '.join(f'{k}: {v}' for k, v in counted.items())}): name the run it "
                "times under 'variants', or drop this benchmark from the ledger"
            )
        return
    expected = (run.results or {}).get("retention") if run.done else None
    if expected is not None and list(timed) != list(expected):
        raise ResultsError(
            f"{benchmark.path}: timed retention {timed} is not run '{run.name}''s {expected} "
            f"({run.results_path})"
        )


def _speeds(by_protocol: dict[str, Benchmark], notes: list[str]) -> dict:
    """speedup / speedup_ci, ..._dynamic, ..._batch1, busy, device, benchmark summaries."""
    result: dict = {}
    for protocol, key in PROTOCOL_FIELDS.items():
        benchmark = by_protocol.get(protocol)
        result[key] = None if benchmark is None else benchmark.data["speedup"]
        result[f"{key}_ci"] = None if benchmark is None else benchmark.data["speedup_ci"]
        if benchmark is not None and benchmark.data["speedup_ci"] is None:
            notes.append(
                f"The {protocol} speedup has no interval ({benchmark.path} predates them)."
            )
    result["busy"] = {
        protocol: (None if b is None else b.data["busy"])
        for protocol, b in ((p, by_protocol.get(p)) for p in PROTOCOL_FIELDS)
    }
    padded = by_protocol.get("padded")
    if (
        "dynamic" not in by_protocol
        and padded is not None
        and padded.data["legacy_dynamic"] is not None
    ):
        result["speedup_dynamic"] = padded.data["legacy_dynamic"]["speedup"]
        result["busy"]["dynamic"] = padded.data["busy"]
        notes.append(
            f"The dynamic speedup is the length-bucketed dev-set pass of {padded.path} "
            "(an older benchmark: no interval)."
        )
    devices = list(dict.fromkeys(b.data["device"] or b.target for b in by_protocol.values()))
    result["device"] = "; ".join(devices) if devices else None
    result["benchmarks"] = [
        {
            "protocol": b.protocol,
            "json": b.path,
            "device": b.data["device"],
            "backend": b.backend,
            "command": b.data["command"],
            "timestamp": b.data["timestamp"],
            "busy": b.data["busy"],
            "other_cpu_fraction": b.data["other_cpu_fraction"],
            "threads": b.data["threads"],
        }
        for b in by_protocol.values()
    ]
    for benchmark in by_protocol.values():
        if benchmark.data["busy"]:
            notes.append(
                f"The {benchmark.protocol} benchmark ran on a busy machine "
                f"(other processes' CPU share {benchmark.data['other_cpu_fraction']})."
            )
    return result


def _gpu_record(task: str, by_protocol: dict[str, Benchmark]) -> dict | None:
    if not by_protocol:
        return None
    notes: list[str] = []
    speeds = _speeds(by_protocol, notes)
    backends = sorted({b.backend for b in by_protocol.values() if b.backend})
    return {
        **{key: speeds[key] for key in speeds if key != "benchmarks"},
        "backend": ", ".join(backends) or None,
        "benchmarks": speeds["benchmarks"],
        "targets": speed_targets(
            task, speeds["speedup"], speeds["speedup_dynamic"], speeds["speedup_batch1"]
        ),
        "notes": notes,
    }


def _notes(task: str, runs: list[Run], record: dict, ledger: Ledger) -> list[str]:
    notes = []
    if record["selection"] in ("dev", "mixed"):
        dev = [run.name for run in runs if run.done and run.selection == "dev"]
        notes.append(
            f"Chosen on the dev set (older protocol; the dev numbers are optimistic): {', '.join(dev)}."
        )
    if len(record["seeds"]) == 1:
        notes.append("One seed (n=1): no standard deviation.")
    skipped = [f"{run.name} ({run.status})" for run in runs if not run.done]
    if skipped:
        notes.append(f"Listed, not counted: {', '.join(skipped)}.")
    if record["baseline_equal_training"] is None:
        notes.append(
            "No equal-training baseline in the ledger: the stronger baseline is the fine-tuned one."
        )
    notes += [f"{run.name}: {run.note}" for run in runs if run.note]
    return notes + ledger.notes.get(task, [])


def task_record(task: str, ledger: Ledger) -> dict:
    """The record of one task.

    Args:
        task: a task name of the ledger.
        ledger: the read ledger (`read_ledger`).

    Returns:
        The record (see docs/results.json): ``task``, ``metric``, ``seeds``, ``selection``,
        the baselines and PoWER-BERT (mean, std, per seed), ``retention``, ``flops_fraction``,
        the CPU speedups with their intervals, ``busy``, ``device``, ``commands``, ``gpu``,
        ``pareto``, ``targets``, ``runs``, ``notes``.

    Raises:
        ResultsError: two runs of one kind with the same seed, two benchmarks of one protocol,
            runs with different metrics, or a benchmark timing another retention than its run's.
    """
    runs = [run for run in ledger.runs if run.task == task]
    by_name = {run.name: run for run in ledger.runs}
    power = _seeded(runs, "power", ledger.path)
    equal = _seeded(runs, "baseline_equal_training", ledger.path)
    done = [run for run in runs if run.done]
    baselines, powers = _values(power, "baseline"), _values(power, "power")
    flops = [_implemented_flops(run, ledger.model) for run in power]
    equals = _values(equal, "baseline")
    record: dict = {
        "task": task,
        "metric": _metric_name(task, done, ledger.path),
        "seeds": [run.seed for run in power],
        "power_runs": [run.name for run in power],
        "selection": _selection(done),
        "baseline": mean(baselines),
        "baseline_std": sample_std(baselines),
        "baseline_per_seed": baselines,
        "baseline_held_out_per_seed": _values(power, "baseline_held_out"),
        "baseline_equal_training": mean(equals),
        "baseline_equal_training_std": sample_std(equals),
        "baseline_equal_training_seeds": [run.seed for run in equal],
        "baseline_equal_training_runs": [run.name for run in equal],
        "baseline_equal_training_per_seed": equals,
        "baseline_equal_training_epochs": [run.epochs for run in equal],
        "power": mean(powers),
        "power_std": sample_std(powers),
        "power_per_seed": powers,
        "power_held_out_per_seed": _values(power, "power_held_out"),
        "retention": [list((run.results or {}).get("retention") or []) for run in power],
        "flops_fraction": mean(flops),
        "flops_fraction_per_seed": flops,
        "flops_fraction_recorded_per_seed": _values(power, "flops_fraction"),
        "flops_count": "as implemented" if ledger.model else "as recorded by each run",
        # As the runs' search counted it (batched or dynamic), when every run counted the same way.
        "flops_fraction_searched": _searched_flops(power),
    }
    if record["baseline"] is None:
        record["stronger_baseline"] = None
    elif (
        record["baseline_equal_training"] is not None
        and record["baseline_equal_training"] > record["baseline"]
    ):
        record["stronger_baseline"] = "equal_training"
    else:
        record["stronger_baseline"] = "fine_tuned"
    equal_stronger = record["stronger_baseline"] == "equal_training"
    stronger = record["baseline_equal_training"] if equal_stronger else record["baseline"]
    notes = _notes(task, runs, record, ledger)
    cpu = _benchmarks_by_protocol(task, ledger.benchmarks, "cpu", ledger.path)
    gpu = _benchmarks_by_protocol(task, ledger.benchmarks, "gpu", ledger.path)
    for benchmark in [*cpu.values(), *gpu.values()]:
        _check_retention(benchmark, by_name, power)
    record.update(_speeds(cpu, notes))
    record["paper_speedup"] = paper_speedup(task)
    record["gpu"] = _gpu_record(task, gpu)
    record["pareto"], pareto_notes = pareto_points(record, cpu, by_name)
    record["targets"] = evaluate_targets(
        task,
        record["power"],
        stronger,
        record["speedup"],
        record["speedup_dynamic"],
        record["speedup_batch1"],
    )
    commands = [run.command for run in done]
    commands += [b.data["command"] for b in [*cpu.values(), *gpu.values()] if b.data["command"]]
    record["commands"] = list(dict.fromkeys(commands))
    record["runs"] = [
        {
            "name": run.name,
            "kind": run.kind,
            "seed": run.seed,
            "status": run.status,
            "selection": run.selection,
            "record": run.record,
            "note": run.note,
        }
        for run in runs
    ]
    record["notes"] = notes + pareto_notes
    return record


def build_records(ledger: Ledger) -> list[dict]:
    """One record per task, in the ledger's order of first appearance.

    Args:
        ledger: the read ledger.

    Returns:
        The records, ready for docs/results.json.
    """
    return [task_record(task, ledger) for task in ledger.tasks()]
