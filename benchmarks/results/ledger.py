"""The ledger of runs and benchmarks behind docs/results.json, read and validated.

    {"runs": [{"name": "cola-s1", "task": "cola", "seed": 1, "kind": "power",
               "command": "python scripts/run_glue.py --task cola --seed 1 ...",
               "record": "benchmarks/records/runs/cola-s1", "status": "done", "selection": "held_out",
               "note": "optional"}, ...],
     "benchmarks": [{"task": "cola", "protocol": "padded", "json": "benchmarks/records/cola.json",
                     "device": "cpu", "backend": "tensorflow",
                     "variants": {"power": "cola-s1", "retrain40": "cola-retrain-40"}}, ...],
     "notes": {"cola": ["optional free text, shown with the task"]}}

Runs: `kind` is one of `KINDS`; `selection` is ``held_out`` or ``dev``; a run whose
`status` is not ``done`` is listed but not read. Optional run fields: ``note``, ``epochs``
(equal-training baselines), ``seq_len`` (truncations), ``label`` (its name in plots).
Benchmarks: ``protocol`` (padded / dynamic / batch1; default: the JSON's, else padded),
``device`` (cpu / gpu; default: guessed from the JSON's device string), ``backend``,
``variants`` (benchmark variant name -> the ledger run, or the task's name for the task's
mean, whose dev metric goes with it in the Pareto plot). Paths are relative to a root
directory (the repository). Every error is a `ResultsError` naming the file and the field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from benchmarks.results.benchmarks import normalize_benchmark, normalize_protocol
from benchmarks.results.errors import ResultsError, optional, require

KINDS = ("power", "baseline_equal_training", "truncation", "power_target")
SELECTIONS = ("held_out", "dev")
_RUN_REQUIRED = ("name", "task", "seed", "kind", "command", "record", "status", "selection")
# What each kind's results.json must hold (beyond what the ledger says).
RESULTS_REQUIRED = {
    "power": ("metric", "baseline", "power", "retention", "flops_fraction"),
    "baseline_equal_training": ("baseline",),
    "truncation": ("baseline",),
    "power_target": ("power", "flops_fraction"),
}


@dataclass
class Run:
    """One training run of the ledger and, when done, its results.json.

    Attributes:
        results: the run's results.json (None unless `status` is ``done``).
        results_path: where it was read, as the ledger spells it (for messages).
    """

    name: str
    task: str
    seed: int
    kind: str
    command: str
    record: str
    status: str
    selection: str
    note: str | None = None
    epochs: int | None = None
    seq_len: int | None = None
    label: str | None = None
    results: dict | None = None
    results_path: str = ""

    @property
    def done(self) -> bool:
        """Whether the run counts in the aggregates."""
        return self.status == "done"


@dataclass
class Benchmark:
    """One benchmark of the ledger and the fields of its JSON that the records use.

    Attributes:
        index: its position in the ledger's ``benchmarks`` (for messages).
        target: ``cpu`` or ``gpu``: GPU numbers never mix with CPU ones.
        data: the JSON, normalized by `normalize_benchmark`.
    """

    index: int
    task: str
    protocol: str
    path: str
    target: str
    backend: str | None
    variants: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


@dataclass
class Ledger:
    """The ledger's runs and benchmarks, in its order."""

    path: str
    runs: list[Run]
    benchmarks: list[Benchmark]
    notes: dict = field(default_factory=dict)
    # The encoder's widths, for FLOPs counted as implemented: {"hidden_dim": d, "intermediate_dim": f}.
    model: dict | None = None

    def tasks(self) -> list[str]:
        """Task names in order of first appearance (runs first, then benchmarks)."""
        seen: dict[str, None] = {}
        for item in [*self.runs, *self.benchmarks]:
            seen.setdefault(item.task, None)
        return list(seen)


def read_json(path: str, root: str = ".", context: str = "") -> dict:
    """The JSON object in `root`/`path`.

    Args:
        path: as the ledger spells it (relative to `root`, or absolute); messages use it.
        root: the directory relative paths start from.
        context: prefixed to the reason in messages, e.g. ``"run 'cola-s1': "``.

    Returns:
        The parsed object.

    Raises:
        ResultsError: ``<path>: <context><reason>`` when missing, unreadable or not an object.
    """
    full = os.path.join(root, path)
    try:
        with open(full, encoding="utf-8") as handle:
            payload = json.load(handle)
    except FileNotFoundError:
        raise ResultsError(f"{path}: {context}no such file") from None
    except OSError as error:
        raise ResultsError(f"{path}: {context}{error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path}: {context}not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise ResultsError(
            f"{path}: {context}expected a JSON object, found {type(payload).__name__}"
        )
    return payload


def _read_run(entry, position: int, ledger_path: str) -> Run:
    if not isinstance(entry, dict):
        raise ResultsError(f"{ledger_path}: runs[{position}]: not an object")
    name = entry.get("name")
    where = (
        f"{ledger_path}: run '{name}': "
        if isinstance(name, str)
        else f"{ledger_path}: runs[{position}]: "
    )
    values = {
        key: require(entry, key, where, int if key == "seed" else str) for key in _RUN_REQUIRED
    }
    if values["kind"] not in KINDS:
        raise ResultsError(f"{where}kind '{values['kind']}' is not one of {', '.join(KINDS)}")
    if values["selection"] not in SELECTIONS:
        raise ResultsError(
            f"{where}selection '{values['selection']}' is not one of {', '.join(SELECTIONS)}"
        )
    return Run(
        **values,
        note=optional(entry, "note", where, str),
        epochs=optional(entry, "epochs", where, int),
        seq_len=optional(entry, "seq_len", where, int),
        label=optional(entry, "label", where, str),
    )


def _read_benchmark_entry(entry, position: int, ledger_path: str) -> Benchmark:
    where = f"{ledger_path}: benchmarks[{position}]: "
    if not isinstance(entry, dict):
        raise ResultsError(f"{where}not an object")
    task = require(entry, "task", where)
    path = require(entry, "json", where)
    protocol = optional(entry, "protocol", where, str)
    device = optional(entry, "device", where, str)
    if device is not None and device.lower() not in ("cpu", "gpu"):
        raise ResultsError(f"{where}device '{device}' is not cpu or gpu")
    variants = entry.get("variants") or {}
    if not isinstance(variants, dict) or not all(isinstance(v, str) for v in variants.values()):
        raise ResultsError(f"{where}'variants' must map variant names to run names")
    return Benchmark(
        index=position,
        task=task,
        protocol=protocol or "",
        path=path,
        target=(device or "").lower(),
        backend=optional(entry, "backend", where, str),
        variants=dict(variants),
    )


def _guess_target(device: str | None) -> str:
    text = (device or "").lower()
    return "gpu" if any(word in text for word in ("gpu", "nvidia", "cuda", "tpu")) else "cpu"


def _load_benchmark(benchmark: Benchmark, root: str) -> None:
    label = f"benchmark {benchmark.index} ({benchmark.task}{', ' + benchmark.protocol if benchmark.protocol else ''}): "
    data = normalize_benchmark(read_json(benchmark.path, root, label), f"{benchmark.path}: {label}")
    ledger_protocol = None
    if benchmark.protocol:
        ledger_protocol = normalize_protocol(benchmark.protocol, f"{benchmark.path}: {label}")
    if ledger_protocol and data["protocol"] and ledger_protocol != data["protocol"]:
        raise ResultsError(
            f"{benchmark.path}: {label}protocol '{data['protocol']}' is not the ledger's "
            f"'{ledger_protocol}'"
        )
    benchmark.protocol = ledger_protocol or data["protocol"] or "padded"
    data["protocol"] = benchmark.protocol
    benchmark.target = benchmark.target or _guess_target(data["device"])
    benchmark.backend = benchmark.backend or data["keras_backend"]
    benchmark.data = data


def _load_run(run: Run, root: str) -> None:
    run.results_path = os.path.join(run.record, "results.json")
    if not run.done:
        return
    context = f"run '{run.name}': "
    results = read_json(run.results_path, root, context)
    for key in RESULTS_REQUIRED[run.kind]:
        value = results.get(key)
        if value is None:
            raise ResultsError(f"{run.results_path}: {context}no '{key}' (did that step run?)")
        expected = {"metric": str, "retention": list}.get(key, (int, float))
        if not isinstance(value, expected) or isinstance(value, bool) or value != value:
            raise ResultsError(f"{run.results_path}: {context}'{key}' is {value!r}")
    if results.get("task") not in (None, run.task):
        raise ResultsError(
            f"{run.results_path}: {context}task '{results['task']}' is not the ledger's '{run.task}'"
        )
    run.results = results


def _read_model(model, path: str) -> dict | None:
    if model is None:
        return None
    if not isinstance(model, dict) or not all(
        isinstance(model.get(key), int) and model[key] > 0
        for key in ("hidden_dim", "intermediate_dim")
    ):
        raise ResultsError(
            f"{path}: 'model' needs positive integers 'hidden_dim' and 'intermediate_dim'"
        )
    return model


def read_ledger(path: str, root: str = ".") -> Ledger:
    """The ledger at `path` with every done run's results.json and every benchmark JSON read.

    Args:
        path: the ledger (relative to the working directory, or absolute).
        root: the directory the ledger's ``record`` and ``json`` paths are relative to.

    Returns:
        The validated `Ledger`.

    Raises:
        ResultsError: naming the file and the run or field at fault.
    """
    payload = read_json(path)
    if not isinstance(payload.get("runs"), list):
        raise ResultsError(f"{path}: no 'runs' list")
    benchmarks = payload.get("benchmarks") or []
    if not isinstance(benchmarks, list):
        raise ResultsError(f"{path}: 'benchmarks' is not a list")
    notes = payload.get("notes") or {}
    if not isinstance(notes, dict):
        raise ResultsError(f"{path}: 'notes' is not an object of task -> text")
    ledger = Ledger(
        path=path,
        runs=[_read_run(entry, i, path) for i, entry in enumerate(payload["runs"])],
        benchmarks=[_read_benchmark_entry(entry, i, path) for i, entry in enumerate(benchmarks)],
        notes={
            task: [text] if isinstance(text, str) else list(text) for task, text in notes.items()
        },
        model=_read_model(payload.get("model"), path),
    )
    names = [run.name for run in ledger.runs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ResultsError(f"{path}: run '{duplicates[0]}': listed twice")
    for run in ledger.runs:
        _load_run(run, root)
    for benchmark in ledger.benchmarks:
        _load_benchmark(benchmark, root)
        for variant, name in benchmark.variants.items():
            if name not in names and name != benchmark.task:
                raise ResultsError(
                    f"{path}: benchmarks[{benchmark.index}]: variant '{variant}' names run "
                    f"'{name}', which is neither a ledger run nor the task"
                )
    return ledger
