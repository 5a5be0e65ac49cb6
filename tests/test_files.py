"""Atomic writes: the target is either untouched or complete, and no temporary is left."""

import json
import os
import stat

import pytest

from power_bert_tf.files import atomic_path, write_json_atomically, write_text_atomically


def test_write_json_creates_directories_and_reads_back(tmp_path):
    path = tmp_path / "a" / "b" / "results.json"
    write_json_atomically(path, {"mcc": 28.2, "retention": [3, 2]})
    assert json.loads(path.read_text()) == {"mcc": 28.2, "retention": [3, 2]}
    assert os.listdir(path.parent) == ["results.json"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "predictions.tsv"
    write_text_atomically(path, "index\tprediction\n0\t1\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(path) as temporary:
            with open(temporary, "w") as handle:
                handle.write("index\tpred")  # half-written
            raise KeyboardInterrupt
    assert path.read_text() == "index\tprediction\n0\t1\n"
    assert os.listdir(tmp_path) == ["predictions.tsv"]


def test_suffix_is_kept_for_writers_that_check_it(tmp_path):
    with atomic_path(tmp_path / "model.keras", suffix=".keras") as temporary:
        assert temporary.endswith(".keras")
        assert os.path.dirname(temporary) == str(tmp_path)
        open(temporary, "w").close()
    assert (tmp_path / "model.keras").exists()


def test_read_json_if_present(tmp_path):
    from power_bert_tf.files import read_json_if_present

    assert read_json_if_present(tmp_path / "missing.json") == {}
    good = tmp_path / "good.json"
    good.write_text('{"a": 1}')
    assert read_json_if_present(good) == {"a": 1}
    bad = tmp_path / "bad.json"
    bad.write_text('{"a": ')
    with pytest.raises(ValueError, match="bad.json: not JSON"):
        read_json_if_present(bad)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ValueError, match="list.json: expected a JSON object"):
        read_json_if_present(listed)
