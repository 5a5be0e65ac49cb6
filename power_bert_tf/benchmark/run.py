"""`run_benchmark`: time the baseline, PoWER-BERT and static truncation, then the extras.

On one batch pre-tokenized to the fixed ``seq_len`` and padded, as the paper
measured (batch 128, full ``seq_len``), each model runs through its compiled
inference function (`power_bert_tf.inference.Predictor`, with a fixed input
signature). Calls are interleaved (baseline, PoWER-BERT, truncation, baseline,
...) after warm-up and the median of the repeats is reported.
"""

from __future__ import annotations

import sys
import time

from power_bert_tf.benchmark.comparisons import dev_set_comparisons, truncation_inputs
from power_bert_tf.benchmark.config import BenchmarkConfig, BenchmarkError
from power_bert_tf.benchmark.environment import environment
from power_bert_tf.benchmark.inputs import dev_examples, fixed_batch, synthetic_features, tokenize
from power_bert_tf.benchmark.models import load_models, model_dims, preprocessor_for
from power_bert_tf.benchmark.profile import profile_layers
from power_bert_tf.benchmark.timing import block, median, time_interleaved, to_device
from power_bert_tf.inference import Predictor


def run_benchmark(config: BenchmarkConfig) -> dict:
    """Time the baseline, PoWER-BERT and the alternatives; see `power_bert_tf.benchmark`.

    Returns:
        A JSON-ready dict. Always: ``baseline_ms``, ``power_ms`` (median ms
        per batch), ``speedup`` (= baseline_ms / power_ms), ``speedup_limit``
        (= 1 / flops_fraction), ``efficiency`` (= speedup / speedup_limit),
        ``flops_fraction``, ``retention``, ``batch_size``, ``seq_len``,
        ``repeats``, ``times_ms`` (every repeat), ``truncation``, the
        environment (`environment`) and ``command``. With dev data and
        ``extras``: ``bucketed``, ``metric``, ``metrics`` (dev metric per
        variant). With ``profile``: ``profile`` (`profile_layers`).

    Raises:
        BenchmarkError: naming the flag or file.
    """
    config.check()
    baseline, power, facts = load_models(config)
    seq_len = int(config.seq_len or facts["sequence_length"])
    if seq_len < 1 or seq_len > power.sequence_length:
        raise BenchmarkError(
            f"--seq-len {seq_len}: must be between 1 and the model's sequence_length {power.sequence_length}"
        )
    dims = model_dims(power)
    num_layers, hidden, intermediate = dims
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

    # Inputs: the dev sentences (or random ids for random weights), tokenized once.
    examples, preprocessor = None, None
    if config.random_bert_base:
        features = synthetic_features(config.batch_size, seq_len, power.backbone.vocabulary_size, config.seed)
    else:
        examples = dev_examples(facts["task"], config.data_dir, config.max_examples, config.seed)
        preprocessor = preprocessor_for(power, baseline, facts, seq_len)
        features = tokenize(preprocessor, examples.texts, seq_len)
        result["dev_examples"] = len(examples)
        result["dev_path"] = examples.path
    dtypes = {name: str(features[name].dtype) for name in power.input_features}
    truncation, truncated_features = truncation_inputs(
        flops_fraction, seq_len, dims, features, preprocessor, examples.texts if examples else None
    )

    # Fixed-shape timing: [batch_size, seq_len], and [batch_size, truncated length] for the truncation.
    variants = {
        "baseline": (baseline, features, seq_len),
        "power": (power, features, seq_len),
        "truncation": (baseline, truncated_features, truncation["seq_len"]),
    }
    calls = {
        name: _timed_call(Predictor(model, config.batch_size, length, dtypes), fixed_batch(data, config.batch_size))
        for name, (model, data, length) in variants.items()
    }
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
        dev_set_comparisons(
            result, examples,
            inputs={name: data for name, (_, data, _) in variants.items()},
            models={name: model for name, (model, _, _) in variants.items()},
            batch_size=config.batch_size, repeats=config.repeats, warmup=config.warmup, dtypes=dtypes,
        )
    if config.profile:
        result["profile"] = profile_layers(power, config.batch_size, seq_len, config.repeats, config.warmup)
    return result


def _timed_call(predictor: Predictor, batch: dict):
    """One timed unit: the predictor on a batch already on the device, waiting for the result."""
    inputs = to_device(batch)
    return lambda: block(predictor(inputs))
