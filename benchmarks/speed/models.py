"""The models a benchmark compares: the baseline (no elimination) and PoWER-BERT.

From a run directory (`power_bert_tf.runs` says which checkpoint is which):

* PoWER-BERT: the checkpoint the run delivers (``retrain.keras``, else
  ``finetune.keras``), in hard mode, or switched to the retention
  configuration given as an override;
* the baseline: the run's fine-tuned model (its ``finetune.keras``, or the one
  a ``--steps search,retrain`` run started from) with no elimination, else the
  PoWER-BERT weights switched to ``with_mode("none")``; the result says which.

Or, with no checkpoint, a randomly initialised BERT of a given shape
(`config.RANDOM_BACKBONES`). And the extra checkpoints of ``--models``
(`load_extra_model`).
"""

from __future__ import annotations

import os

import keras

from benchmarks.speed.config import BERT_BASE_SEQ_LEN, BenchmarkConfig, BenchmarkError
from power_bert_tf.retention import RetentionConfig
from power_bert_tf.runs import RunError, load_classifier, resolve_checkpoint, run_directory_of


def baseline_checkpoint(run) -> str | None:
    """The fine-tuned model a run directory's model is compared with, or None."""
    own = run.existing_checkpoint(("finetune",))
    if own:
        return own
    started_from = run.run_config().get("started_from")
    return started_from if started_from and os.path.isfile(started_from) else None


def load_models(config: BenchmarkConfig, default_seq_len: int | None = None):
    """(baseline, power, facts) for a checkpoint or random BERT weights.

    Args:
        config: the benchmark's settings.
        default_seq_len: a random backbone's sequence length when --seq-len is
            not given (that of --inputs); else ``BERT_BASE_SEQ_LEN``.

    `facts` holds ``checkpoint``, ``task``, ``run_config``, ``baseline_source``,
    ``power_source`` and ``sequence_length`` (the run's).

    Raises:
        BenchmarkError: naming the flag or file.
    """
    config.check()
    if config.backbone_shape() is not None:
        return _random_models(config, default_seq_len)
    if config.checkpoint is None:
        raise BenchmarkError("--checkpoint is required (or --random-backbone)")
    try:
        return _checkpoint_models(config)
    except RunError as error:
        raise BenchmarkError(f"--checkpoint {error}") from error


def _random_models(config: BenchmarkConfig, default_seq_len: int | None):
    import keras_hub

    from power_bert_tf.models import PowerBertClassifier

    if config.retention is None:
        raise BenchmarkError("--random-backbone needs --retention-config")
    keras.utils.set_random_seed(config.seed)
    seq_len = config.seq_len or default_seq_len or BERT_BASE_SEQ_LEN
    shape = config.backbone_shape()
    if seq_len > shape["max_sequence_length"]:
        raise BenchmarkError(
            f"--seq-len {seq_len}: the random backbone's max_sequence_length is "
            f"{shape['max_sequence_length']}"
        )
    backbone = keras_hub.models.BertBackbone(**shape)
    power = PowerBertClassifier(
        backbone,
        num_classes=2,
        retention=config.retention,
        mode="hard",
        sequence_length=seq_len,
    )
    power.build_from_example()
    baseline = power.with_mode("none")
    shape = ", ".join(f"{k}={v}" for k, v in shape.items())
    facts = {
        "checkpoint": None,
        "task": None,
        "table": None,
        "run_config": {},
        "baseline_source": "random weights, with_mode('none')",
        "power_source": f"random BertBackbone({shape})",
        "sequence_length": seq_len,
    }
    return baseline, power, facts


def _checkpoint_models(config: BenchmarkConfig):
    """Raises RunError (a file's problem) or BenchmarkError (a flag's)."""
    path = config.checkpoint
    power_source = resolve_checkpoint(path)
    power = load_classifier(power_source)
    if config.retention is not None:
        retention = RetentionConfig.parse(config.retention, num_layers=len(power.encoder.schedule))
        power = power.with_mode("hard", retention)
        power_source += f" with_mode('hard', {retention})"
    elif power.mode != "hard":
        raise BenchmarkError(
            f"--checkpoint {path}: the model is in {power.mode!r} mode; "
            "give a hard-mode retrain.keras or --retention-config"
        )

    run = run_directory_of(path)
    run_config = run.run_config()
    finetuned = baseline_checkpoint(run)
    if config.baseline == "finetune" and finetuned is None:
        raise BenchmarkError(
            f"--baseline finetune: {run.path} has no finetune.keras and its run_config.json "
            "names no started_from checkpoint"
        )
    if config.baseline != "retrain" and finetuned is not None:
        baseline = load_classifier(finetuned)
        if baseline.mode != "none":
            baseline = baseline.with_mode("none")
        baseline_source = finetuned
    else:
        baseline = power.with_mode("none")
        baseline_source = f"{power_source} with_mode('none')"
    facts = {
        "checkpoint": path,
        "task": config.task or run_config.get("task"),
        # The run's own files (None for a GLUE task, or when --task names one).
        "table": None if config.task else run_config.get("table"),
        "run_config": run_config,
        "baseline_source": baseline_source,
        "power_source": power_source,
        "sequence_length": int(run_config.get("sequence_length") or power.sequence_length),
    }
    return baseline, power, facts


def model_dims(model) -> tuple[int, int, int]:
    """(num_layers, hidden_dim, intermediate_dim) of a `PowerBertClassifier`, as FLOPs counts them."""
    adapter = model.encoder.adapter
    return len(model.encoder.schedule), adapter.hidden_dim, adapter.intermediate_dim


def preprocessor_for(power, baseline, facts: dict, seq_len: int):
    """The checkpoints' preprocessor, else the one of the backbone `run_config.json` names."""
    for model in (power, baseline):
        if model.preprocessor is not None:
            return model.preprocessor
    from power_bert_tf.backbones import load_preprocessor

    source = facts["run_config"].get("backbone")
    if source is None:
        raise BenchmarkError(
            "the checkpoint has no preprocessor and run_config.json names no backbone"
        )
    return load_preprocessor(source, seq_len)


def load_extra_model(name: str, path: str):
    """An extra checkpoint of ``--models``: (model, facts).

    A hard-mode model is timed as PoWER-BERT, one with no elimination as a
    baseline; its inputs are tokenized to its run's ``sequence_length``
    (``run_config.json``, else the model's).

    Returns:
        (model, facts): facts hold ``source``, ``sequence_length`` and ``run_config``.

    Raises:
        BenchmarkError: naming --models and the name, for an unusable checkpoint or a soft-mode model.
    """
    try:
        source = resolve_checkpoint(path)
        model = load_classifier(source)
        run_config = run_directory_of(path).run_config()
    except (RunError, OSError, ValueError) as error:
        raise BenchmarkError(f"--models {name}: {error}") from error
    if model.mode not in ("hard", "none"):
        raise BenchmarkError(
            f"--models {name}: {source} is in {model.mode!r} mode; give a hard-mode or fine-tuned checkpoint"
        )
    length = int(run_config.get("sequence_length") or model.sequence_length)
    return model, {"source": source, "sequence_length": length, "run_config": run_config}
