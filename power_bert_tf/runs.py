"""The run directory: what a PoWER-BERT run writes (`<step>.keras` checkpoints, `results.json`,
`run_config.json`, per-epoch logs), the checkpoint each step starts from and the one it
delivers; its baseline is its `finetune.keras`, else the fine-tuned model it started from."""

from __future__ import annotations

import os
from dataclasses import dataclass

from power_bert_tf.errors import PowerBertError
from power_bert_tf.files import read_json_if_present, write_json_atomically

STEPS = ("finetune", "search", "retrain")
STARTS_FROM = {"search": ("finetune",), "retrain": ("search", "finetune")}  # by preference
DELIVERED = ("retrain", "finetune")  # what a run evaluates, predicts with and exports
RUN_FILES = ("results.json", "run_config.json", "eval_results.json", "tensorboard")


class RunError(PowerBertError, ValueError):
    """A run directory or checkpoint that cannot be used; the message names the path."""


@dataclass(frozen=True)
class RunDirectory:
    """The files of one run, by name, in `path` (which need not exist yet)."""

    path: str

    def __post_init__(self):
        object.__setattr__(self, "path", os.fspath(self.path))

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def checkpoint(self, step: str) -> str:
        if step not in STEPS:
            raise RunError(f"unknown step '{step}'; steps are {', '.join(STEPS)}")
        return self.file(f"{step}.keras")

    def log(self, step: str) -> str:
        return self.file(f"{step}_log.jsonl")

    def existing_checkpoint(self, prefer: tuple[str, ...] = DELIVERED) -> str | None:
        """The first of `prefer`'s checkpoints that exists, or None."""
        for step in prefer:
            if os.path.isfile(self.checkpoint(step)):
                return self.checkpoint(step)
        return None

    def read(self, name: str) -> dict:
        """The JSON object in `name`, or {} when absent; RunError naming the file if bad."""
        try:
            return read_json_if_present(self.file(name))
        except ValueError as error:
            raise RunError(str(error)) from None

    def write(self, name: str, payload: dict) -> None:
        write_json_atomically(self.file(name), payload)

    def clear(self, keep: str | None = None) -> None:
        """Remove what a run writes here (`--overwrite`) except `keep` (the run's --checkpoint)."""
        import shutil

        if not os.path.isdir(self.path):
            return
        kept = os.path.abspath(keep) if keep is not None else None
        for name in os.listdir(self.path):
            path = self.file(name)
            if os.path.abspath(path) == kept:
                continue
            if name in RUN_FILES or name.endswith((".keras", "_log.jsonl", ".resume")):
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)

    def run_config(self) -> dict:
        return self.read("run_config.json")

    def results(self) -> dict:
        return self.read("results.json")


def summarize(records: dict) -> dict:
    """results.json's summary, rebuilt from each step's own record (`steps`): `baseline*`: the
    fine-tuned model's dev and held-out metric; `delivered`: "retrain" or "finetune"; `power*`,
    `retention`, `flops_fraction`: the delivered model's; `refused`: the retrained configurations
    the final check refused; `budgets`, `search`, `seconds`."""
    summary: dict = {}
    baseline = records.get("baseline") or records.get("finetune")  # "baseline": a --checkpoint's
    if baseline:
        summary.update(baseline=baseline.get("dev"), baseline_held_out=baseline.get("held_out"))
    search = records.get("search")
    if search:
        summary["retention"] = search.get("retention")
        summary["flops_fraction"] = search.get("flops_fraction")
        if "padded_flops_fraction" in search:
            summary["padded_flops_fraction"] = search["padded_flops_fraction"]
        keys = "goal lambda target_flops max_metric_drop final_lambda candidates chosen plan"
        summary["search"] = {key: search.get(key) for key in keys.split() if key in search}
    retrain = records.get("retrain")
    nothing_chosen = (
        bool(search) and search.get("retention") is None and search.get("goal") == "max_metric_drop"
    )
    if (retrain and retrain.get("delivered") == "finetune") or (nothing_chosen and not retrain):
        # The fine-tuned model is what the run delivers: its numbers, at full cost.
        summary.update(
            delivered="finetune",
            power=summary.get("baseline"),
            power_held_out=summary.get("baseline_held_out"),
            retention=None,
            flops_fraction=1.0,
        )
        summary.pop("padded_flops_fraction", None)
    elif retrain and retrain.get("finished", True):
        summary.update(
            delivered="retrain",
            power=retrain.get("dev"),
            power_held_out=retrain.get("held_out"),
            retention=retrain.get("retention"),
            flops_fraction=retrain.get("flops_fraction"),
        )
        summary.update(
            {key: retrain[key] for key in ("padded_flops_fraction", "budgets") if key in retrain}
        )
    if retrain and "within_max_metric_drop" in retrain:
        summary["within_max_metric_drop"] = retrain["within_max_metric_drop"]
    if retrain and retrain.get("attempts"):
        summary["refused"] = [
            {key: attempt.get(key) for key in ("retention", "flops_fraction", "held_out")}
            for attempt in retrain["attempts"]
        ]
    seconds = {
        step: records[step]["seconds"] for step in STEPS if "seconds" in records.get(step, {})
    }
    if seconds:
        summary["seconds"] = seconds
    return summary


def resolve_checkpoint(path: str | os.PathLike, prefer: tuple[str, ...] = DELIVERED) -> str:
    """The `.keras` file `path` names: itself, or a run directory's first of `prefer`.

    Raises:
        RunError: naming the path, when it does not exist or holds none of `prefer`.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        found = RunDirectory(path).existing_checkpoint(prefer)
        if found is None:
            names = " or ".join(f"{step}.keras" for step in prefer)
            raise RunError(f"{path}: the run directory has no {names}")
        return found
    if not os.path.exists(path):
        raise RunError(f"{path}: no such file or directory")
    if not path.endswith(".keras"):
        raise RunError(f"{path}: neither a run directory nor a .keras file")
    return path


def run_directory_of(path: str | os.PathLike) -> RunDirectory:
    """The run directory of a checkpoint path (the directory itself, or the file's parent)."""
    path = os.fspath(path)
    return RunDirectory(path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path)))


def load_classifier(path: str | os.PathLike, prefer: tuple[str, ...] = DELIVERED):
    """The `PowerBertClassifier` in a `.keras` file or a run directory, under the current global
    precision policy (`with_global_precision`).

    Raises:
        RunError: naming the file, when it is missing, unreadable or another kind of model.
    """
    import keras

    from power_bert_tf.models import PowerBertClassifier, with_global_precision

    keras_file = resolve_checkpoint(path, prefer)
    try:
        model = keras.saving.load_model(keras_file)
    except Exception as error:  # keras raises many types for a bad archive
        first = str(error).splitlines()[0] if str(error) else ""
        raise RunError(
            f"{keras_file}: not a loadable .keras model ({type(error).__name__}: {first})"
        ) from error
    if not isinstance(model, PowerBertClassifier):
        raise RunError(f"{keras_file}: holds a {type(model).__name__}, not a PowerBertClassifier")
    return with_global_precision(model)


def format_summary(results: dict) -> str:
    """An aligned table of a run's (or an evaluation's) results, and the search's candidates."""
    rows = []
    keys = (
        "task backbone checkpoint metric baseline baseline_held_out power power_held_out "
        "delivered within_max_metric_drop metrics retention flops_count flops_fraction "
        "padded_flops_fraction seconds"
    )
    for key in keys.split():
        if key not in results or results[key] is None:
            continue
        value = results[key]
        if isinstance(value, float):
            value = f"{value:.3f}" if key.endswith("flops_fraction") else f"{value:.2f}"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(
                f"{k} {v:.1f}" + ("s" if key == "seconds" else "") for k, v in value.items()
            )
        rows.append((key, str(value)))
    width = max(len(key) for key, _ in rows)
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    lines = ["\n".join([rule] + [f"{key:<{width}}  {value}" for key, value in rows] + [rule])]
    metric = results.get("metric", "metric")
    budgets = results.get("budgets") or []
    if budgets:
        lines.append(f"budgets (one set of weights; dev / held-out {metric}):")
    for budget in budgets:
        keep = ",".join(str(k) for k in budget["retention"])
        lines.append(
            f"  {budget['signature']:<11} FLOPs {budget['flops_fraction']:.3f}  {keep:<24} "
            f"{budget['dev']:6.2f} / {budget['held_out']:6.2f}"
        )
    search = results.get("search") or {}
    candidates = search.get("candidates") or []
    if not any(c.get("verdict") for c in candidates):
        return "\n".join(lines)
    plan = [tuple(keep) for keep in search.get("plan") or []]
    refused = {tuple(r["retention"]) for r in results.get("refused") or []}
    lines.append(
        f"candidates (held-out {metric} of the fine-tuned model with elimination, no training; "
        "the loss and its bound):"
    )
    for candidate in candidates:
        verdict = candidate.get("verdict") or {}
        keep = tuple(candidate["retention"])
        mark = f"  <- retrain {plan.index(keep) + 1}" if keep in plan else ""
        mark += ", refused" if keep in refused else ""
        passed = " pass" if verdict.get("passes") else " fail"
        lines.append(
            f"  FLOPs {candidate['flops_fraction']:.3f}  {','.join(map(str, keep)):<24} "
            f"{verdict['metric']:6.2f}  {verdict['drop']:6.2f} <= {verdict['bound']:6.2f}{passed}{mark}"
        )
    return "\n".join(lines)
