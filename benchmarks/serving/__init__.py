"""Load and latency tests of an exported SavedModel, as a serving host runs it.

The export is loaded with `tf.saved_model.load` and the tensorflow-text kernels, not
through Keras, so the numbers are those of the graph TF Serving would run.

Where things are: `errors` (ServingError), `exports` (which text signatures to serve, their
budgets; on top of `power_bert_tf.export`'s versions and metadata), `devset` (request
texts from a GLUE dev set, via `power_bert_tf.data`), `model` (ServedModel: the loaded
signatures), `system` (memory, load, threads, versions), `loadtest` (concurrent
clients), `latency` (batch-1 latency against a baseline), `padding` (what padding costs
an export), `devcheck` (each signature's dev metric against its record), `report` (text
tables).
"""

from benchmarks.serving.devcheck import dev_metrics, format_dev_metrics
from benchmarks.serving.devset import dev_examples
from benchmarks.serving.errors import ServingError
from benchmarks.serving.exports import ExportInfo, inspect_export, text_signatures
from benchmarks.serving.latency import LatencyConfig, batch1_latency, format_latency
from benchmarks.serving.loadtest import LoadTestConfig, format_load_test, run_load_test
from benchmarks.serving.model import ServedModel
from benchmarks.serving.padding import PaddingConfig, format_padding_cost, padding_cost

__all__ = [
    "ExportInfo",
    "LatencyConfig",
    "LoadTestConfig",
    "PaddingConfig",
    "ServedModel",
    "ServingError",
    "batch1_latency",
    "dev_examples",
    "dev_metrics",
    "format_dev_metrics",
    "format_latency",
    "format_load_test",
    "format_padding_cost",
    "inspect_export",
    "padding_cost",
    "run_load_test",
    "text_signatures",
]
