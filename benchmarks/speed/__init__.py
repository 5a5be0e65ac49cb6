"""Inference-time benchmark: PoWER-BERT against the model without elimination.

In one process and on the same inputs this times the baseline (the same
network with no word-vector elimination) and PoWER-BERT (hard mode), plus what
a user would try instead: static truncation to a length of about the same
FLOPs, other checkpoints (``--models``), the exported SavedModels, and, for the
padded protocol, length-bucketed inference over the whole dev set. Three
protocols (`protocols`): ``padded`` (the paper's: one padded batch),
``dynamic`` (the dev set in file order, batches trimmed to their longest) and
``batch1`` (one sentence at a time). The variants run in rounds in a shuffled
order; each speedup has a bootstrap 95% interval; the machine's load is
watched. Everything timed is inference only: tokenization happens once,
beforehand (or in another process: ``--save-inputs`` / ``--inputs``, which
need no TensorFlow), and inputs are already tensors on the device.

Modules, one role each:

    config       BenchmarkConfig (what to benchmark), BenchmarkError, random backbone shapes
    run          run_benchmark: variants timed under a protocol, then the extras; save_dev_inputs
    protocols    what one timed unit is: padded, dynamic, batch1
    variants     Variant, unit_call: the timed things (extra checkpoints, exports)
    models       load_models: baseline and PoWER-BERT for a run directory (via
                 power_bert_tf.runs) or random weights; load_extra_model
    savedmodel   SavedModelVariant: an export's token-id signature
    inputs       dev examples, tokenization, fixed/padded/bucketed batches, random ids, .npz inputs
    timing       warm_up, time_interleaved (shuffled rounds), median, block, to_device
    stats        bootstrap_ratio, speedup_with_interval
    load         the load check: other processes' CPU share, load averages
    comparisons  static truncation and length bucketing over the dev set
    profile      profile_layers: per-layer times, through the backbone adapter
    environment  device, CPU, library versions, threads
    report       format_report, format_profile

The FLOPs count (and the truncation length) is `power_bert_tf.retention`'s; the
compiled inference function is `power_bert_tf.inference.Predictor`.

Example:
>>> result = run_benchmark(BenchmarkConfig(checkpoint="runs/cola", repeats=10))  # doctest: +SKIP
>>> print(format_report(result))  # doctest: +SKIP
"""

from benchmarks.load import LoadMonitor, other_cpu_fraction, parse_proc_stat, sample_other_load
from benchmarks.speed.config import (
    BERT_BASE,
    BERT_BASE_SEQ_LEN,
    MINILM,
    RANDOM_BACKBONES,
    BenchmarkConfig,
    BenchmarkError,
    parse_models,
)
from benchmarks.speed.inputs import (
    bucket_batches,
    fixed_batch,
    load_inputs,
    padded_batches,
    save_inputs,
    synthetic_features,
    tokenize,
)
from benchmarks.speed.models import load_models
from benchmarks.speed.profile import profile_layers
from benchmarks.speed.protocols import PROTOCOLS, file_order_batches, protocol_batches
from benchmarks.speed.report import format_profile, format_report
from benchmarks.speed.run import run_benchmark, save_dev_inputs
from benchmarks.speed.stats import bootstrap_ratio, speedup_with_interval
from benchmarks.speed.timing import block, median, time_interleaved, to_device, warm_up
from benchmarks.system import cpu_description, cpu_identity, describe_device, environment, threads

__all__ = [
    "BERT_BASE",
    "BERT_BASE_SEQ_LEN",
    "BenchmarkConfig",
    "BenchmarkError",
    "LoadMonitor",
    "MINILM",
    "PROTOCOLS",
    "RANDOM_BACKBONES",
    "block",
    "bootstrap_ratio",
    "bucket_batches",
    "cpu_description",
    "cpu_identity",
    "describe_device",
    "environment",
    "file_order_batches",
    "fixed_batch",
    "format_profile",
    "format_report",
    "load_inputs",
    "load_models",
    "median",
    "other_cpu_fraction",
    "padded_batches",
    "parse_models",
    "parse_proc_stat",
    "profile_layers",
    "protocol_batches",
    "run_benchmark",
    "sample_other_load",
    "save_dev_inputs",
    "save_inputs",
    "speedup_with_interval",
    "synthetic_features",
    "threads",
    "time_interleaved",
    "to_device",
    "tokenize",
    "warm_up",
]
