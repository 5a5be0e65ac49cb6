"""What a user would try instead of PoWER-BERT: static truncation and length bucketing.

* Static truncation: the baseline on inputs tokenized to a shorter length, the
  one whose full-model FLOPs fraction is closest to PoWER-BERT's
  (`truncation_length`).
* Length-bucketed (dynamic padding) inference on the real dev sentences:
  sorted by length, batched, each batch trimmed to its longest sentence; the
  whole dev set, for the baseline, PoWER-BERT and the truncation.

Trimming padding is exact for every mode (padding is masked in attention and
ranks below every real token), so the dev metrics of the bucketed passes equal
those of the padded ones; the result reports both and the largest logit
difference between them as a check.
"""

from __future__ import annotations

import numpy as np

from benchmarks.speed.inputs import bucket_batches, padded_batches, tokenize, truncate, unsort
from benchmarks.speed.timing import median, time_interleaved, to_device
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.retention import full_model_flops


def truncation_length(
    flops_fraction: float, seq_len: int, num_layers: int, hidden_dim: int, intermediate_dim: int
) -> int:
    """The input length whose full-model FLOPs fraction is closest to `flops_fraction` (static
    truncation's match for a retention configuration); ties go to the longer length.

    Raises:
        ValueError: `flops_fraction` outside (0, 1].

    Example:
    >>> truncation_length(0.5, 64, 6, 384, 1536)
    32
    """
    if not 0.0 < flops_fraction <= 1.0:
        raise ValueError(f"flops_fraction must be in (0, 1], got {flops_fraction}")
    full = full_model_flops(seq_len, num_layers, hidden_dim, intermediate_dim)
    best, best_gap = seq_len, float("inf")
    for length in range(seq_len, 0, -1):
        fraction = full_model_flops(length, num_layers, hidden_dim, intermediate_dim) / full
        gap = abs(fraction - flops_fraction)
        if gap < best_gap - 1e-12:
            best, best_gap = length, gap
    return best


def truncation_inputs(
    flops_fraction: float,
    seq_len: int,
    dims: tuple[int, int, int],
    features: dict,
    preprocessor=None,
    texts: tuple | None = None,
) -> tuple[dict, dict]:
    """The truncation of about `flops_fraction`'s cost, and its inputs.

    Args:
        dims: (num_layers, hidden_dim, intermediate_dim).
        features: the inputs at `seq_len`; cut to the truncated length when
            there is no `preprocessor` (random ids), else `texts` are
            tokenized again at that length (so that [SEP] ends them).

    Returns:
        (truncation, truncated_features): ``truncation`` holds the result's
        ``seq_len`` and ``flops_fraction``.
    """
    length = truncation_length(flops_fraction, seq_len, *dims)
    truncation = {
        "seq_len": length,
        "flops_fraction": full_model_flops(length, *dims) / full_model_flops(seq_len, *dims),
    }
    if preprocessor is None:
        return truncation, truncate(features, length)
    return truncation, tokenize(preprocessor, texts, length)


def dev_set_comparisons(
    result: dict,
    examples,
    inputs: dict,
    models: dict,
    batch_size: int,
    repeats: int,
    warmup: int,
    dtypes: dict,
) -> None:
    """Whole-dev-set passes: bucketed (time and metrics), padded (metrics); adds to `result`.

    Adds ``bucketed`` and, when the dev set has labels, ``metric``,
    ``metrics`` and ``truncation["metric"]``.

    Args:
        examples: the dev set (`GlueExamples`).
        inputs: "baseline", "power", "truncation" -> that variant's features.
        models: the same names -> the model each runs.
    """
    seq_len = result["seq_len"]
    features = inputs["baseline"]

    # Bucketed: one compiled function per variant, any batch shape.
    bucketed, orders, outputs = {}, {}, {}
    for name, data in inputs.items():
        batches, orders[name] = bucket_batches(data, batch_size)
        bucketed[name] = [to_device(batch) for batch in batches]
    dynamic = {name: Predictor(model, None, None, dtypes) for name, model in models.items()}

    def pass_over(name):
        def run():
            outputs[name] = dynamic[name].predict(bucketed[name])

        return run

    times = time_interleaved({name: pass_over(name) for name in models}, repeats, warmup or 1)
    lengths = features["padding_mask"].astype(bool).sum(axis=1)
    summary = {
        "batch_size": batch_size,
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
        summary[f"{name}_s"] = median(times[name]) / 1000.0
    summary["speedup"] = summary["baseline_s"] / summary["power_s"]
    result["bucketed"] = summary
    in_order = {name: unsort(outputs[name], order) for name, order in orders.items()}

    # Padded full-length passes (fixed-shape functions) for the exactness check and the metrics.
    batches, count = padded_batches(features, batch_size)
    batches = [to_device(batch) for batch in batches]
    padded = {
        name: Predictor(models[name], batch_size, seq_len, dtypes).predict(batches)[:count]
        for name in ("baseline", "power")
    }
    summary["max_abs_logit_diff_vs_padded"] = float(
        max(np.max(np.abs(padded[name] - in_order[name])) for name in padded)
    )

    if examples.labels is None:
        return
    task = examples.task

    def score(outputs_):
        from power_bert_tf.data import compute_metrics

        predictions = outputs_to_predictions(outputs_, task.is_regression)
        return compute_metrics(task, examples.labels, predictions)[task.metric]

    result["metric"] = task.metric
    result["metrics"] = {
        "baseline": score(padded["baseline"]),
        "power": score(padded["power"]),
        "truncation": score(in_order["truncation"]),
        "bucketed_baseline": score(in_order["baseline"]),
        "bucketed_power": score(in_order["power"]),
    }
    result["truncation"]["metric"] = result["metrics"]["truncation"]
