"""Inference-time benchmark: PoWER-BERT against the model without elimination.

In one process and on the same inputs this times the baseline (the same
network with no word-vector elimination) and PoWER-BERT (hard mode), plus what
a user would try instead: static truncation to a length of about the same
FLOPs, and length-bucketed (dynamic padding) inference over the whole dev set.
Everything timed is inference only: tokenization happens once, beforehand, and
inputs are already tensors on the device.

Modules, one role each:

    config       BenchmarkConfig (what to benchmark), BenchmarkError
    run          run_benchmark: the fixed-shape timing, then the extras
    models       load_models: baseline and PoWER-BERT for a run directory (via
                 power_bert_tf.runs) or random BERT-base weights
    inputs       dev examples, tokenization, fixed/padded/bucketed batches, random ids
    timing       time_interleaved, median, block, to_device
    comparisons  static truncation and length bucketing over the dev set
    profile      profile_layers: per-layer times, through the backbone adapter
    environment  device, CPU, library versions
    report       format_report, format_profile

The FLOPs count (and the truncation length) is `power_bert_tf.retention`'s; the
compiled inference function is `power_bert_tf.inference.Predictor`.

Example:
>>> result = run_benchmark(BenchmarkConfig(checkpoint="runs/cola", repeats=10))  # doctest: +SKIP
>>> print(format_report(result))  # doctest: +SKIP
"""

from power_bert_tf.benchmark.config import BERT_BASE, BERT_BASE_SEQ_LEN, BenchmarkConfig, BenchmarkError
from power_bert_tf.benchmark.environment import cpu_description, describe_device, environment
from power_bert_tf.benchmark.inputs import (
    bucket_batches,
    fixed_batch,
    padded_batches,
    synthetic_features,
    tokenize,
)
from power_bert_tf.benchmark.models import load_models
from power_bert_tf.benchmark.profile import profile_layers
from power_bert_tf.benchmark.report import format_profile, format_report
from power_bert_tf.benchmark.run import run_benchmark
from power_bert_tf.benchmark.timing import block, median, time_interleaved, to_device

__all__ = [
    "BERT_BASE",
    "BERT_BASE_SEQ_LEN",
    "BenchmarkConfig",
    "BenchmarkError",
    "block",
    "bucket_batches",
    "cpu_description",
    "describe_device",
    "environment",
    "fixed_batch",
    "format_profile",
    "format_report",
    "load_models",
    "median",
    "padded_batches",
    "profile_layers",
    "run_benchmark",
    "synthetic_features",
    "time_interleaved",
    "to_device",
    "tokenize",
]
