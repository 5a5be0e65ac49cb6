"""GLUE splits loaded through TensorFlow Datasets (network or a prepared cache); offline, the
load fails fast with a `GlueDataError` that says how to point at local files."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np

from power_bert_tf.data.examples import GlueDataError, GlueExamples
from power_bert_tf.data.tasks import GlueTask, as_task, split_file

_TFDS_HOST = "dl.fbaipublicfiles.com"  # TFDS's GLUE downloads; tried first to fail fast offline

# TFDS feature names of each task's texts, by task directory.
_TFDS_TEXT: dict[str, tuple[str, ...]] = {
    "CoLA": ("sentence",),
    "SST-2": ("sentence",),
    "MRPC": ("sentence1", "sentence2"),
    "STS-B": ("sentence1", "sentence2"),
    "QQP": ("question1", "question2"),
    "MNLI": ("premise", "hypothesis"),
    "QNLI": ("question", "sentence"),
    "RTE": ("sentence1", "sentence2"),
    "WNLI": ("sentence1", "sentence2"),
}


def load_tfds_split(task: GlueTask | str, split: str) -> GlueExamples:
    """Load a split through TensorFlow Datasets (class ids in this package's order, rows in
    file order, ``path`` ``"tfds:<name>/<split>"``).

    Raises:
        GlueDataError: TFDS failed (e.g. offline); the one-line message suggests ``--data-dir``/``GLUE_DIR``.
    """
    task = as_task(task)
    # "validation" for dev; MNLI's carry the file suffix ("validation_matched").
    name = split_file(task, split).removesuffix(".tsv")
    tfds_split = name.replace("dev", "validation", 1) if split == "dev" else name
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(task.tfds_name)
        if not builder.is_prepared():
            if not urllib.request.getproxies():  # behind a proxy, a direct try says nothing
                socket.create_connection((_TFDS_HOST, 443), timeout=5.0).close()
            builder.download_and_prepare()
        data = tfds.as_numpy(builder.as_dataset(split=tfds_split, batch_size=-1))
    except Exception as e:  # noqa: BLE001 - any failure here means "no TFDS data"
        raise GlueDataError(
            f"TFDS could not be reached for {task.tfds_name} split {tfds_split!r} "
            f"({type(e).__name__}: {e}); pass --data-dir or set GLUE_DIR to a directory in the official "
            f"GLUE layout (<GLUE_DIR>/{task.directory}/train.tsv, {task.dev_file}, {task.test_file})"
        ) from e
    order = np.argsort(data["idx"], kind="stable")  # back to file order
    texts = tuple(
        [s.decode("utf-8") for s in data[key][order]] for key in _TFDS_TEXT[task.directory]
    )
    labels, indices = None, np.arange(len(order), dtype=np.int64)
    if split == "test":
        indices = data["idx"][order].astype(np.int64)
    elif task.is_regression:
        labels = data["label"][order].astype(np.float32)
    else:
        names = builder.info.features["label"].names
        to_ours = np.array([task.label_names.index(n) for n in names], np.int32)
        labels = to_ours[data["label"][order]]
    return GlueExamples(task, split, texts, labels, indices, f"tfds:{task.tfds_name}/{tfds_split}")
