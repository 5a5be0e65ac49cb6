"""GLUE data: the task table (`tasks`), your own files (`tables`), TSV readers, TFDS fallback,
tf.data pipelines (`datasets`), metrics and submission files."""

from power_bert_tf.data.datasets import encode_examples, make_encoded_dataset, trim_to_longest
from power_bert_tf.data.examples import GlueDataError, GlueExamples
from power_bert_tf.data.metrics import compute_metrics
from power_bert_tf.data.readers import (
    load_split,
    read_glue_split,
    resolve_data_dir,
    write_glue_predictions,
    write_prediction_rows,
)
from power_bert_tf.data.tables import read_table_split, table_record, table_task
from power_bert_tf.data.tasks import SPLITS, TASKS, GlueTask, as_task, get_task, split_file
from power_bert_tf.data.tfds import load_tfds_split

__all__ = [
    "SPLITS",
    "read_table_split",
    "table_record",
    "table_task",
    "TASKS",
    "GlueDataError",
    "GlueExamples",
    "GlueTask",
    "as_task",
    "compute_metrics",
    "get_task",
    "load_split",
    "load_tfds_split",
    "encode_examples",
    "make_encoded_dataset",
    "read_glue_split",
    "resolve_data_dir",
    "split_file",
    "trim_to_longest",
    "write_glue_predictions",
    "write_prediction_rows",
]
