"""Inference-time benchmark: PoWER-BERT against the model without elimination.

In one process and on the same inputs this times

* the baseline: the same network with no word-vector elimination (the run's
  ``finetune.keras`` when present, else ``retrain.keras`` switched to
  ``with_mode("none")``; the result says which),
* PoWER-BERT: ``retrain.keras`` in hard mode (or another retention
  configuration given as an override),

on one batch pre-tokenized to the fixed ``seq_len`` and padded, as the paper
measured (batch 128, full ``seq_len``), through a compiled function with a
fixed input signature (``tf.function``; ``jax.jit`` under the JAX backend).
Calls are interleaved (baseline, PoWER-BERT, truncation, baseline, ...) after
warm-up, and the median of the repeats is reported, so that slow drifts of the
machine hit every variant alike.

It also times what a user would try instead of PoWER-BERT:

* static truncation: the baseline on inputs tokenized to a shorter length,
  the one whose full-model FLOPs fraction is closest to PoWER-BERT's
  (`truncation_length`), with its dev metric;
* length-bucketed (dynamic padding) inference on the real dev sentences:
  sorted by length, batched, each batch trimmed to its longest sentence;
  the whole dev set, for the baseline, PoWER-BERT and the truncation.

Trimming padding is exact for every mode (padding is masked in attention and
ranks below every real token), so the dev metrics of the bucketed passes equal
those of the padded ones; the result reports both and the largest logit
difference between them as a check.

Everything timed is inference only: tokenization happens once, beforehand,
and inputs are already tensors on the device.

Example:
>>> result = run_benchmark(BenchmarkConfig(checkpoint="runs/cola", repeats=10))
>>> print(format_report(result))
"""

from __future__ import annotations

import gc
import os
import platform
import sys
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from power_bert_tf.files import read_json_if_present
from power_bert_tf.retention import RetentionConfig, _encoder_flops

FEATURES = ("token_ids", "segment_ids", "padding_mask")

# BERT-base (Devlin et al., 2019) for --random-bert-base.
BERT_BASE = dict(
    vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
    intermediate_dim=3072, max_sequence_length=512,
)
BERT_BASE_SEQ_LEN = 128


class BenchmarkError(ValueError):
    """A benchmark that cannot run as asked; the message names the flag or file."""


@dataclass
class BenchmarkConfig:
    """What to benchmark and how. See `run_benchmark`.

    Args:
        checkpoint: a run's output directory (``retrain.keras``,
            ``finetune.keras``, ``run_config.json``) or a ``.keras`` file.
        retention: a retention configuration ("29,28,...") overriding the
            checkpoint's (required with ``random_bert_base``).
        batch_size: rows per timed batch (the paper: 128).
        seq_len: padded input length; default the run's ``sequence_length``
            (``BERT_BASE_SEQ_LEN`` with ``random_bert_base``).
        repeats: timed calls per variant (median reported).
        warmup: untimed calls per variant first (compilation, caches).
        data_dir: the task's GLUE directory with the dev file; default
            ``$GLUE_DIR/<Task>`` from ``run_config.json``'s task (else TFDS).
        max_examples: use a reproducible random subset of the dev set.
        task: GLUE task name; default ``run_config.json``'s.
        baseline: "auto" (``finetune.keras`` when present, else the
            retrained weights with no elimination), "finetune" or "retrain".
        extras: also run the truncation and length-bucketed comparisons
            (need dev data; skipped for random weights).
        profile: also time the pieces of each layer (`profile_layers`).
        random_bert_base: no checkpoint: a randomly initialised BERT
            (``random_backbone``'s shape, BERT-base by default) on random
            token ids, for accelerators without a trained run.
        backend_note: free text stored in the result (e.g. "taskset -c 0").
        command: the command line, stored in the result.
    """

    checkpoint: str | None = None
    retention: str | None = None
    batch_size: int = 128
    seq_len: int | None = None
    repeats: int = 10
    warmup: int = 2
    data_dir: str | None = None
    max_examples: int | None = None
    task: str | None = None
    baseline: str = "auto"
    extras: bool = True
    profile: bool = False
    random_bert_base: bool = False
    random_backbone: dict = field(default_factory=lambda: dict(BERT_BASE))
    backend_note: str | None = None
    command: str | None = None
    seed: int = 0


# -- FLOPs and the truncation baseline -----------------------------------------
def full_model_flops(seq_len: int, num_layers: int, hidden_dim: int, intermediate_dim: int) -> float:
    """Analytic encoder FLOPs of the model without elimination at `seq_len`.

    The same count as `RetentionConfig.flops_fraction` uses.
    """
    full = RetentionConfig.full(num_layers, seq_len)
    return _encoder_flops(full, seq_len, hidden_dim, intermediate_dim)


def truncation_length(
    flops_fraction: float, seq_len: int, num_layers: int, hidden_dim: int, intermediate_dim: int
) -> int:
    """The input length whose full-model FLOPs fraction is closest to `flops_fraction`.

    The fraction of length L against `seq_len` S is
    ``L (2d + L + f) / (S (2d + S + f))`` (d: hidden, f: intermediate size).
    Ties go to the longer length.
    """
    if not 0.0 < flops_fraction <= 1.0:
        raise BenchmarkError(f"flops_fraction must be in (0, 1], got {flops_fraction}")
    full = full_model_flops(seq_len, num_layers, hidden_dim, intermediate_dim)
    best, best_gap = seq_len, float("inf")
    for length in range(seq_len, 0, -1):
        fraction = full_model_flops(length, num_layers, hidden_dim, intermediate_dim) / full
        gap = abs(fraction - flops_fraction)
        if gap < best_gap - 1e-12:
            best, best_gap = length, gap
    return best


def _model_dims(model) -> tuple[int, int, int]:
    backbone = model.backbone
    return len(model.encoder.schedule), backbone.hidden_dim, backbone.intermediate_dim


# -- compiled inference and timing -----------------------------------------------
def _backend() -> str:
    return keras.backend.backend()


def make_inference_fn(model, batch_size: int | None = None, seq_len: int | None = None, dtypes=None):
    """A compiled `inputs dict -> logits` function of `model` (inference mode).

    TensorFlow: a `tf.function` whose input signature is fixed to
    ``[batch_size, seq_len]`` (None: any size, traced once). JAX: `jax.jit`
    over `stateless_call` (one compilation per input shape). Other backends:
    the eager call.
    """
    backend = _backend()
    dtypes = dtypes or {"token_ids": "int32", "segment_ids": "int32", "padding_mask": "bool"}
    if backend == "tensorflow":
        import tensorflow as tf

        signature = {
            name: tf.TensorSpec([batch_size, seq_len], tf.as_dtype(dtypes[name]), name=name)
            for name in FEATURES
        }
        def infer(inputs):
            return model(inputs, training=False)

        return tf.function(infer, input_signature=[signature])
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def call(trainable, non_trainable, inputs):
            outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
            return outputs

        return lambda inputs: call(trainable, non_trainable, inputs)
    return lambda inputs: model(inputs, training=False)


def to_device(features: dict) -> dict:
    """Numpy features as backend tensors, so that timing leaves out the copy."""
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return {name: tf.constant(features[name]) for name in FEATURES}
    if backend == "jax":
        import jax

        return {name: jax.device_put(features[name]) for name in FEATURES}
    return {name: keras.ops.convert_to_tensor(features[name]) for name in FEATURES}


def _block(outputs):
    """Wait for the result (device work included); return it as numpy."""
    if hasattr(outputs, "block_until_ready"):
        outputs.block_until_ready()
    return np.asarray(keras.ops.convert_to_numpy(outputs))


def time_interleaved(calls: dict, repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Milliseconds of each call, interleaved round by round.

    Args:
        calls: name -> zero-argument callable that runs one timed unit and
            waits for its result.
        repeats: timed rounds; warmup: untimed rounds first.

    Returns:
        name -> list of `repeats` times in ms.
    """
    for _ in range(max(0, warmup)):
        for run in calls.values():
            run()
    times = {name: [] for name in calls}
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, run in calls.items():
                start = time.perf_counter()
                run()
                times[name].append(1000.0 * (time.perf_counter() - start))
    finally:
        if enabled:
            gc.enable()
    return times


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))


# -- data ----------------------------------------------------------------------
def tokenize(preprocessor, texts: tuple, seq_len: int) -> dict:
    """Token features of every example, padded to `seq_len`, as numpy."""
    previous = preprocessor.sequence_length
    preprocessor.sequence_length = seq_len
    try:
        x = texts[0] if len(texts) == 1 else tuple(texts)
        features = preprocessor(x, y=None)
    finally:
        preprocessor.sequence_length = previous
    return {name: np.asarray(keras.ops.convert_to_numpy(features[name])) for name in FEATURES}


def fixed_batch(features: dict, batch_size: int) -> dict:
    """The first `batch_size` rows (cycled when there are fewer)."""
    count = len(features["token_ids"])
    rows = np.arange(batch_size) % count
    return {name: features[name][rows] for name in FEATURES}


def bucket_batches(features: dict, batch_size: int) -> tuple[list[dict], np.ndarray]:
    """Length-bucketed batches: sorted by length, each trimmed to its longest.

    Returns:
        (batches, order): `order[i]` is the example at row i of the
        concatenated batches.
    """
    lengths = np.asarray(features["padding_mask"]).astype(bool).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    batches = []
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        longest = max(1, int(lengths[rows].max()))
        batches.append({name: features[name][rows, :longest] for name in FEATURES})
    return batches, order


def padded_batches(features: dict, batch_size: int) -> tuple[list[dict], int]:
    """Fixed-size batches at the full padded length; the last one filled up.

    Returns:
        (batches, count): outputs past the first `count` rows are filler.
    """
    count = len(features["token_ids"])
    batches = []
    for start in range(0, count, batch_size):
        rows = np.arange(start, start + batch_size) % count
        batches.append({name: features[name][rows] for name in FEATURES})
    return batches, count


def synthetic_features(batch_size: int, seq_len: int, vocabulary_size: int, seed: int = 0) -> dict:
    """Random token ids, one segment, no padding."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(5, vocabulary_size, size=(batch_size, seq_len), dtype=np.int32)
    return {
        "token_ids": token_ids,
        "segment_ids": np.zeros((batch_size, seq_len), np.int32),
        "padding_mask": np.ones((batch_size, seq_len), bool),
    }


def _run_batches(fn, batches: list[dict]) -> np.ndarray:
    return np.concatenate([_block(fn(batch)) for batch in batches], axis=0)


# -- environment -------------------------------------------------------------------
def cpu_description() -> tuple[str, int]:
    """CPU model name (from /proc/cpuinfo) and the cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return name, cores


def describe_device() -> str:
    """The accelerator's name, or the CPU's with its core count."""
    backend = _backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return f"{device.device_kind} ({device.platform}, {jax.device_count()} device(s))"
        elif backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"{details.get('device_name', gpus[0].name)} (GPU, {len(gpus)} device(s))"
    except Exception:  # noqa: BLE001 - a description is best effort
        pass
    name, cores = cpu_description()
    return f"{name}, {cores} cores (CPU)"


def environment() -> dict:
    """Backend, library versions, device and threading facts for the result."""
    import keras_hub

    info = {
        "device": describe_device(),
        "cpu": cpu_description()[0],
        "cpu_cores": cpu_description()[1],
        "keras_backend": _backend(),
        "keras_version": keras.__version__,
        "keras_hub_version": keras_hub.__version__,
        "python_version": platform.python_version(),
    }
    try:
        import tensorflow as tf

        info["tf_version"] = tf.__version__
        info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    except ImportError:  # pragma: no cover
        info["tf_version"] = None
    if _backend() == "jax":
        import jax

        info["jax_version"] = jax.__version__
    return info


# -- models -------------------------------------------------------------------------
def _read_run_config(directory: str) -> dict:
    try:
        return read_json_if_present(os.path.join(directory, "run_config.json"))
    except ValueError as error:
        raise BenchmarkError(str(error)) from None


def load_models(config: BenchmarkConfig):
    """(baseline, power, facts) for a checkpoint or random BERT weights."""
    from power_bert_tf.model import PowerBertClassifier

    if config.random_bert_base:
        if config.retention is None:
            raise BenchmarkError("--random-bert-base needs --retention-config")
        import keras_hub

        keras.utils.set_random_seed(config.seed)
        seq_len = config.seq_len or BERT_BASE_SEQ_LEN
        backbone = keras_hub.models.BertBackbone(**config.random_backbone)
        power = PowerBertClassifier(
            backbone, num_classes=2, retention=config.retention, mode="hard", sequence_length=seq_len,
        )
        power.build_from_example()
        baseline = power.with_mode("none")
        shape = ", ".join(f"{k}={v}" for k, v in config.random_backbone.items())
        facts = {
            "checkpoint": None, "task": None, "run_config": {},
            "baseline_source": "random weights, with_mode('none')",
            "power_source": f"random BertBackbone({shape})",
            "sequence_length": seq_len,
        }
        return baseline, power, facts

    from power_bert_tf.pipeline import PipelineError, load_checkpoint, resolve_checkpoint

    if config.checkpoint is None:
        raise BenchmarkError("--checkpoint is required (or --random-bert-base)")
    path = config.checkpoint
    if not os.path.exists(path):
        raise BenchmarkError(f"--checkpoint {path}: no such file or directory")
    directory = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    try:
        power_source = resolve_checkpoint(path, prefer=("retrain",))
        power = load_checkpoint(power_source)
    except PipelineError as error:
        raise BenchmarkError(str(error)) from error
    if config.retention is not None:
        retention = RetentionConfig.parse(config.retention, num_layers=len(power.encoder.schedule))
        power = power.with_mode("hard", retention)
        power_source += f" with_mode('hard', {retention})"
    elif power.mode != "hard":
        raise BenchmarkError(
            f"--checkpoint {path}: the model is in {power.mode!r} mode; "
            "give a hard-mode retrain.keras or --retention-config"
        )

    run_config = _read_run_config(directory)
    finetune_path = os.path.join(directory, "finetune.keras")
    started_from = run_config.get("started_from")
    if not os.path.exists(finetune_path) and started_from and os.path.isfile(started_from):
        # A `--steps search,retrain` run: its baseline is the fine-tuned model it started from.
        finetune_path = started_from
    choice = config.baseline
    if choice not in ("auto", "finetune", "retrain"):
        raise BenchmarkError(f"--baseline must be auto, finetune or retrain, got {choice!r}")
    if choice == "finetune" and not os.path.exists(finetune_path):
        raise BenchmarkError(f"--baseline finetune: no {finetune_path}")
    if choice != "retrain" and os.path.exists(finetune_path):
        baseline = load_checkpoint(finetune_path)
        if baseline.mode != "none":
            baseline = baseline.with_mode("none")
        baseline_source = finetune_path
    else:
        baseline = power.with_mode("none")
        baseline_source = f"{power_source} with_mode('none')"
    facts = {
        "checkpoint": path,
        "task": config.task or run_config.get("task"),
        "run_config": run_config,
        "baseline_source": baseline_source,
        "power_source": power_source,
        "sequence_length": int(run_config.get("sequence_length") or power.sequence_length),
    }
    return baseline, power, facts


def _preprocessor_for(power, baseline, facts, seq_len):
    for model in (power, baseline):
        if model.preprocessor is not None:
            return model.preprocessor
    from power_bert_tf.backbones import load_preprocessor

    source = facts["run_config"].get("backbone")
    if source is None:
        raise BenchmarkError("the checkpoint has no preprocessor and run_config.json names no backbone")
    return load_preprocessor(source, seq_len)


# -- the benchmark ----------------------------------------------------------------------
def run_benchmark(config: BenchmarkConfig) -> dict:
    """Time the baseline, PoWER-BERT and the alternatives; see the module docstring.

    Returns:
        A JSON-ready dict. Always: ``baseline_ms``, ``power_ms`` (median ms
        per batch), ``speedup`` (= baseline_ms / power_ms), ``speedup_limit``
        (= 1 / flops_fraction), ``efficiency`` (= speedup / speedup_limit),
        ``flops_fraction``, ``retention``, ``batch_size``, ``seq_len``,
        ``repeats``, ``times_ms`` (every repeat), the environment
        (`environment`) and ``command``. With dev data: ``metric``,
        ``metrics`` (dev metric per variant), ``truncation`` and
        ``bucketed``. With ``profile``: ``profile`` (`profile_layers`).
    """
    if config.batch_size < 1 or config.repeats < 1 or config.warmup < 0:
        raise BenchmarkError("--batch-size and --repeats must be at least 1, --warmup at least 0")
    if config.max_examples is not None and config.max_examples < 1:
        raise BenchmarkError("--max-examples must be at least 1")
    baseline, power, facts = load_models(config)
    seq_len = int(config.seq_len or facts["sequence_length"])
    if seq_len < 1 or seq_len > power.sequence_length:
        raise BenchmarkError(
            f"--seq-len {seq_len}: must be between 1 and the model's sequence_length {power.sequence_length}"
        )
    num_layers, hidden, intermediate = _model_dims(power)
    retention = power.retention
    flops_fraction = retention.flops_fraction(seq_len, hidden, intermediate)

    result: dict = {
        "checkpoint": facts["checkpoint"],
        "task": facts["task"],
        "baseline_source": facts["baseline_source"],
        "power_source": facts["power_source"],
        "batch_size": config.batch_size,
        "seq_len": seq_len,
        "repeats": config.repeats,
        "warmup": config.warmup,
        "retention": retention.to_list(),
        "effective_lengths": [out for _, out in retention.layer_lengths(seq_len)],
        "flops_fraction": flops_fraction,
        "speedup_limit": 1.0 / flops_fraction,
        "model": {"num_layers": num_layers, "hidden_dim": hidden, "intermediate_dim": intermediate},
        **environment(),
        "backend_note": config.backend_note,
        "command": config.command if config.command is not None else " ".join(sys.argv),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    # Inputs: the dev sentences (or random ids for random weights).
    examples = None
    if config.random_bert_base:
        features = synthetic_features(config.batch_size, seq_len, power.backbone.vocabulary_size, config.seed)
        preprocessor = None
    else:
        examples = _dev_examples(config, facts)
        preprocessor = _preprocessor_for(power, baseline, facts, seq_len)
        features = tokenize(preprocessor, examples.texts, seq_len)
        result["dev_examples"] = len(examples)
        result["dev_path"] = examples.path
    dtypes = {name: str(features[name].dtype) for name in FEATURES}

    # Truncation length of about the same FLOPs as PoWER-BERT.
    truncated_len = truncation_length(flops_fraction, seq_len, num_layers, hidden, intermediate)
    truncation = {
        "seq_len": truncated_len,
        "flops_fraction": full_model_flops(truncated_len, num_layers, hidden, intermediate)
        / full_model_flops(seq_len, num_layers, hidden, intermediate),
    }

    # Fixed-shape timing: [batch_size, seq_len] and [batch_size, truncated_len].
    fixed = to_device(fixed_batch(features, config.batch_size))
    baseline_fn = make_inference_fn(baseline, config.batch_size, seq_len, dtypes)
    power_fn = make_inference_fn(power, config.batch_size, seq_len, dtypes)
    calls = {
        "baseline": lambda: _block(baseline_fn(fixed)),
        "power": lambda: _block(power_fn(fixed)),
    }
    truncated_features = None
    if preprocessor is not None:
        truncated_features = tokenize(preprocessor, examples.texts, truncated_len)
    else:
        truncated_features = {name: value[:, :truncated_len] for name, value in features.items()}
    fixed_truncated = to_device(fixed_batch(truncated_features, config.batch_size))
    truncated_fn = make_inference_fn(baseline, config.batch_size, truncated_len, dtypes)
    calls["truncation"] = lambda: _block(truncated_fn(fixed_truncated))
    times = time_interleaved(calls, config.repeats, config.warmup)
    result["times_ms"] = times
    result["baseline_ms"] = median(times["baseline"])
    result["power_ms"] = median(times["power"])
    result["speedup"] = result["baseline_ms"] / result["power_ms"]
    result["efficiency"] = result["speedup"] / result["speedup_limit"]
    truncation["ms"] = median(times["truncation"])
    truncation["speedup"] = result["baseline_ms"] / truncation["ms"]
    result["truncation"] = truncation

    if examples is not None and config.extras:
        _dev_set_comparisons(
            result, examples, features, truncated_features, baseline, power, config, dtypes
        )
    if config.profile:
        result["profile"] = profile_layers(power, config.batch_size, seq_len, config.repeats, config.warmup)
    return result


def _dev_examples(config: BenchmarkConfig, facts: dict):
    from power_bert_tf import glue

    if not facts["task"]:
        raise BenchmarkError("no task: the run directory has no run_config.json; pass --task")
    try:
        task = glue.get_task(facts["task"])
        examples = glue.load_split(task, "dev", config.data_dir)
    except glue.GlueDataError as error:
        raise BenchmarkError(f"dev data: {error}") from error
    except ValueError as error:
        raise BenchmarkError(f"--task: {error}") from error
    if config.max_examples:
        examples = examples.take(config.max_examples, seed=config.seed)
    return examples


def _dev_set_comparisons(result, examples, features, truncated_features, baseline, power, config, dtypes):
    """Whole-dev-set passes: padded (metrics), bucketed (time and metrics)."""
    from power_bert_tf import glue
    from power_bert_tf.training import outputs_to_predictions

    task = examples.task
    batch = config.batch_size
    seq_len = result["seq_len"]
    models = {"baseline": baseline, "power": power, "truncation": baseline}
    inputs = {"baseline": features, "power": features, "truncation": truncated_features}

    # Bucketed: one tf.function per model with a [None, None] signature.
    dynamic = {name: make_inference_fn(model, None, None, dtypes) for name, model in models.items()}
    bucketed, orders = {}, {}
    for name, data in inputs.items():
        batches, orders[name] = bucket_batches(data, batch)
        bucketed[name] = [to_device(b) for b in batches]
    outputs = {}

    def pass_over(name):
        def run():
            outputs[name] = _run_batches(dynamic[name], bucketed[name])
        return run

    times = time_interleaved({name: pass_over(name) for name in models}, config.repeats, config.warmup or 1)
    lengths = features["padding_mask"].astype(bool).sum(axis=1)
    bucketed_result = {
        "batch_size": batch,
        "examples": len(examples),
        "batches": len(bucketed["baseline"]),
        "mean_length": float(lengths.mean()),
        "padded_token_fraction": float(
            sum(b["token_ids"].shape[0] * b["token_ids"].shape[1] for b in bucketed["baseline"])
            / (len(examples) * seq_len)
        ),
        "times_s": {name: [t / 1000.0 for t in values] for name, values in times.items()},
    }
    for name in models:
        bucketed_result[f"{name}_s"] = median(times[name]) / 1000.0
    bucketed_result["speedup"] = bucketed_result["baseline_s"] / bucketed_result["power_s"]
    result["bucketed"] = bucketed_result

    # Back to file order.
    unsorted = {}
    for name, order in orders.items():
        restored = np.empty_like(outputs[name])
        restored[order] = outputs[name]
        unsorted[name] = restored

    # Padded full-length pass (the fixed-shape functions) for the exactness check.
    padded = {}
    for name in ("baseline", "power"):
        fn = make_inference_fn(models[name], batch, seq_len, dtypes)
        batches, count = padded_batches(features, batch)
        padded[name] = _run_batches(fn, [to_device(b) for b in batches])[:count]
    result["bucketed"]["max_abs_logit_diff_vs_padded"] = float(max(
        np.max(np.abs(padded[name] - unsorted[name])) for name in padded
    ))

    if examples.labels is None:
        return
    metric = task.metric

    def score(outputs_):
        return glue.compute_metrics(task, examples.labels, outputs_to_predictions(task, outputs_))[metric]

    result["metric"] = metric
    result["metrics"] = {
        "baseline": score(padded["baseline"]),
        "power": score(padded["power"]),
        "truncation": score(unsorted["truncation"]),
        "bucketed_baseline": score(unsorted["baseline"]),
        "bucketed_power": score(unsorted["power"]),
    }
    result["truncation"]["metric"] = result["metrics"]["truncation"]


# -- per-layer profile -------------------------------------------------------------------
def _compile(fn):
    backend = _backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, autograph=False)  # no tensor-dependent Python control flow
    if backend == "jax":
        import jax

        return jax.jit(fn)
    return fn


def _attention_sublayer(layer, x, padding_mask, return_probs):
    """Self-attention, dropout (off), residual and layer norm, as the encoder runs them."""
    from keras import ops

    attention_mask = ops.expand_dims(ops.cast(padding_mask, "int32"), 1)
    residual = x
    if layer.normalize_first:
        x = layer._self_attention_layer_norm(x)
    probs = None
    if return_probs:
        x, probs = layer._self_attention_layer(
            query=x, value=x, attention_mask=attention_mask, return_attention_scores=True, training=False
        )
    else:
        x = layer._self_attention_layer(query=x, value=x, attention_mask=attention_mask, training=False)
    x = x + residual
    if not layer.normalize_first:
        x = layer._self_attention_layer_norm(x)
    return (x, probs) if return_probs else x


def _feedforward_sublayer(layer, x):
    residual = x
    if layer.normalize_first:
        x = layer._feedforward_layer_norm(x)
    x = layer._feedforward_output_dense(layer._feedforward_intermediate_dense(x))
    x = x + residual
    if not layer.normalize_first:
        x = layer._feedforward_layer_norm(x)
    return x


def profile_layers(model, batch_size: int, seq_len: int, repeats: int = 10, warmup: int = 2, seed: int = 0) -> list[dict]:
    """Median ms of each piece of each encoder layer at the given shape.

    Per depth j (input length n_in, kept n_out): ``attention`` (self-attention
    sublayer at n_in without returning the probabilities: what a layer that
    keeps everything runs), ``attention_probs`` (the same returning them),
    ``significance`` (`SignificanceScore` on [b, heads, n_in, n_in]),
    ``rank_gather`` (ranking, top-k and the three gathers), ``ffn`` (the
    feed-forward sublayer at n_out), ``layer`` (the whole layer as the encoder
    runs it) and ``baseline_layer`` (the same layer without elimination at
    `seq_len`). ``used`` sums the pieces the encoder actually runs at that
    depth. Each piece is its own compiled function on random inputs, so the
    sum leaves out the fusion across pieces and includes a call overhead per
    piece. A last row, ``depth = "total"``, sums the columns.
    """
    from power_bert_tf.layers import HardExtract

    encoder = model.encoder
    rng = np.random.default_rng(seed)
    retention = encoder.retention or RetentionConfig.full(len(encoder.schedule), seq_len)
    hidden = model.backbone.hidden_dim
    rows = []

    def timed(fn, *args):
        compiled = _compile(fn)
        tensors = [keras.ops.convert_to_tensor(a) for a in args]
        return median(time_interleaved({"x": lambda: _block_tree(compiled(*tensors))}, repeats, warmup)["x"])

    def normal(*shape):
        return rng.normal(size=shape).astype("float32")

    for depth, ((n_in, n_out), layer, extractor) in enumerate(
        zip(retention.layer_lengths(seq_len), encoder.schedule, encoder.extractors), start=1
    ):
        heads = layer._self_attention_layer.num_heads
        x_in = normal(batch_size, n_in, hidden)
        mask_in = np.ones((batch_size, n_in), bool)
        positions = np.tile(np.arange(n_in, dtype=np.int32), (batch_size, 1))
        probs = rng.random((batch_size, heads, n_in, n_in)).astype("float32")
        probs /= probs.sum(-1, keepdims=True)
        significance = rng.random((batch_size, n_in)).astype("float32")
        shrinks = extractor is not None and n_out < n_in
        extract = extractor if extractor is not None else HardExtract(max(n_out, 1))

        def rank_gather(s, x, m, p, extract=extract):
            kept = extract.kept_positions(s)
            return tuple(_gather_positions(t, kept) for t in (x, m, p))

        row = {
            "depth": depth, "n_in": n_in, "n_out": n_out, "eliminates": bool(shrinks),
            "attention": timed(lambda x, m, layer=layer: _attention_sublayer(layer, x, m, False), x_in, mask_in),
            "attention_probs": timed(
                lambda x, m, layer=layer: _attention_sublayer(layer, x, m, True), x_in, mask_in
            ),
            "significance": timed(lambda p, m: encoder.significance(p, m), probs, mask_in),
            "rank_gather": timed(rank_gather, significance, x_in, mask_in, positions),
            "ffn": timed(lambda x, layer=layer: _feedforward_sublayer(layer, x), normal(batch_size, n_out, hidden)),
            "layer": timed(
                lambda x, m, p, layer=layer, extractor=extractor: encoder._transformer_layer(
                    layer, extractor, x, m, p, False
                )[0],
                x_in, mask_in, positions,
            ),
        }
        x_full = normal(batch_size, seq_len, hidden)
        mask_full = np.ones((batch_size, seq_len), bool)
        positions_full = np.tile(np.arange(seq_len, dtype=np.int32), (batch_size, 1))
        row["baseline_layer"] = timed(
            lambda x, m, p, layer=layer: encoder._transformer_layer(layer, None, x, m, p, False)[0],
            x_full, mask_full, positions_full,
        )
        if shrinks:
            row["used"] = row["attention_probs"] + row["significance"] + row["rank_gather"] + row["ffn"]
        else:
            row["used"] = row["attention"] + row["ffn"]
        rows.append(row)
    columns = ("attention", "attention_probs", "significance", "rank_gather", "ffn", "used", "layer", "baseline_layer")
    total = {"depth": "total", "n_in": None, "n_out": None, "eliminates": None}
    total.update({c: float(sum(r[c] for r in rows)) for c in columns})
    rows.append(total)
    return rows


def _gather_positions(tensor, positions):
    """The encoder's gather of the kept positions (`layers.gather_positions` when it exists)."""
    try:
        from power_bert_tf.layers import gather_positions
    except ImportError:  # older layers.py: the encoder's inline take_along_axis
        from keras import ops

        index = positions
        for _ in range(len(tensor.shape) - 2):
            index = ops.expand_dims(index, -1)
        return ops.take_along_axis(tensor, index, axis=1)
    return gather_positions(tensor, positions)


def _block_tree(outputs):
    if isinstance(outputs, (tuple, list)):
        return [_block(o) for o in outputs]
    return _block(outputs)


# -- reporting -----------------------------------------------------------------------------
def format_profile(rows: list[dict]) -> str:
    """A small aligned table of `profile_layers` rows (ms)."""
    columns = [
        ("depth", "layer"), ("lengths", "n_in->out"), ("attention", "attn"), ("attention_probs", "attn+probs"),
        ("significance", "signif"), ("rank_gather", "rank+gather"), ("ffn", "ffn"), ("used", "sum used"),
        ("layer", "layer"), ("baseline_layer", "baseline"),
    ]
    table = []
    for row in rows:
        cells = []
        for key, _ in columns:
            if key == "depth":
                cells.append(str(row["depth"]))
            elif key == "lengths":
                cells.append("" if row["n_in"] is None else f"{row['n_in']}->{row['n_out']}")
            else:
                cells.append(f"{row[key]:.2f}")
        table.append(cells)
    header = [title for _, title in columns]
    widths = [max(len(header[i]), *(len(r[i]) for r in table)) for i in range(len(columns))]
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
