"""power_bert_tf.data.tfds: the TFDS loader, offline (a fake builder)."""

from __future__ import annotations

import types

import numpy as np
import pytest

from power_bert_tf.data import GlueDataError, load_tfds_split
from power_bert_tf.data import tfds as data_tfds


class _FakeBuilder:
    def __init__(self, prepared: bool, data: dict | None = None, names=None):
        self.prepared, self.data, self.downloaded, self.splits = prepared, data, False, []
        self.info = types.SimpleNamespace(features={"label": types.SimpleNamespace(names=names)})

    def is_prepared(self):
        return self.prepared

    def download_and_prepare(self):
        self.downloaded = True
        raise AssertionError("must not download")

    def as_dataset(self, split, batch_size):
        import tensorflow as tf

        assert batch_size == -1
        self.splits.append(split)
        return {
            k: tf.constant(v) for k, v in self.data.items()
        }  # what TFDS returns for batch_size=-1


def test_tfds_offline_fails_fast_with_clear_message(monkeypatch):
    import tensorflow_datasets as tfds

    builder = _FakeBuilder(prepared=False)
    monkeypatch.setattr(tfds, "builder", lambda name: builder)
    monkeypatch.setattr(data_tfds.urllib.request, "getproxies", lambda: {})

    def no_network(address, timeout):
        assert timeout <= 10
        raise OSError("[Errno -2] Name or service not known")

    monkeypatch.setattr(data_tfds.socket, "create_connection", no_network)
    with pytest.raises(GlueDataError) as info:
        load_tfds_split("cola", "dev")
    message = str(info.value)
    assert "\n" not in message and "TFDS could not be reached" in message
    assert (
        "--data-dir" in message and "GLUE_DIR" in message and "Name or service not known" in message
    )
    assert not builder.downloaded


def test_tfds_examples_are_mapped_to_glue_order(monkeypatch):
    import tensorflow_datasets as tfds

    data = {
        "premise": np.array([b"p2", b"p0", b"p1"]),
        "hypothesis": np.array([b"h2", b"h0", b"h1"]),
        "label": np.array([2, 0, 1]),
        "idx": np.array([2, 0, 1], np.int32),
    }
    builder = _FakeBuilder(
        True, data, names=["entailment", "neutral", "contradiction"]
    )  # TFDS order
    monkeypatch.setattr(tfds, "builder", lambda name: builder)
    ex = load_tfds_split("mnli-mm", "dev")
    assert builder.splits == ["validation_mismatched"]
    assert ex.texts == (["p0", "p1", "p2"], ["h0", "h1", "h2"])
    assert (
        ex.labels.tolist() == [1, 2, 0] and ex.labels.dtype == np.int32
    )  # entailment, neutral, contradiction
    test = load_tfds_split("mnli-m", "test")
    assert (
        builder.splits[-1] == "test_matched"
        and test.labels is None
        and test.indices.tolist() == [0, 1, 2]
    )


def test_run_glue_offline_names_the_data_not_a_flag(monkeypatch, capsys, tmp_path):
    """Without --data-dir or GLUE_DIR and no network, run_glue.py says so in one line, and
    does not blame an unrelated flag (a data error raised while the held-out part was drawn
    once came out as "--held-out-fraction: ...")."""
    from conftest import load_script

    def offline(task, split):
        raise GlueDataError(
            f"TFDS could not be reached for glue/{task.name} split '{split}'; "
            "pass --data-dir or set GLUE_DIR"
        )

    monkeypatch.setattr(data_tfds, "load_tfds_split", offline)
    monkeypatch.delenv("GLUE_DIR", raising=False)
    code = load_script("run_glue").main(
        ["--task", "mrpc", "--backbone", "minilm", "--output-dir", str(tmp_path / "run"), "--quiet"]
    )
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and error == [
        "run_glue.py: error: TFDS could not be reached for glue/mrpc split 'train'; "
        "pass --data-dir or set GLUE_DIR"
    ]
