"""benchmarks.serving: the load test, batch-1 latency, their errors and the CLI.

A tiny random CoLA export (as tests/test_export.py builds it) is made once per module.
Hand-made SavedModels with two text signatures (one single-sentence, one sentence-pair)
whose outputs tell which signature answered and what text it got check the routing of
requests without a real model.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from glue_files import write_task
from test_export import _make_run

from benchmarks.serving import ServingError, dev_examples, inspect_export, text_signatures
from benchmarks.serving.exports import budget_of
from benchmarks.serving.latency import LatencyConfig, batch1_latency, format_latency
from benchmarks.serving.loadtest import (
    LoadTestConfig,
    format_load_test,
    plan_requests,
    run_load_test,
)
from benchmarks.serving.model import register_text_ops
from conftest import ROOT, load_script
from power_bert_tf.export import export_savedmodel

pytestmark = pytest.mark.tensorflow_only

SCALES = {"serving_default": 1.0, "budget_50": 0.5}  # the fake signatures' "scale" output


def _tsv_column(path: Path, column: int, header: bool) -> list[str]:
    """A column of a TSV file, split by hand (the reference for the reader)."""
    lines = path.read_text("utf-8-sig").splitlines()[1 if header else 0 :]
    return [line.split("\t")[column] for line in lines]


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------
def _fake_signature(pair: bool, scale: float):
    """A text signature whose outputs are the sent text's length and `scale`."""

    def outputs(first, second=None):
        length = tf.strings.length(first)
        if second is not None:  # 1000 * len(first) + len(second)
            length = 1000 * length + tf.strings.length(second)
        return {"length": length, "scale": tf.fill(tf.shape(first), scale)}

    def spec(name):
        return tf.TensorSpec([None], tf.string, name=name)

    if pair:

        def serve(sentence1, sentence2):
            return outputs(sentence1, sentence2)

        return tf.function(serve, input_signature=[spec("sentence1"), spec("sentence2")])
    return tf.function(lambda sentence: outputs(sentence), input_signature=[spec("sentence")])


def _fake_export(version_dir: Path, pair: bool, task: str, listed=tuple(SCALES)) -> Path:
    module = tf.Module()
    module.functions = {name: _fake_signature(pair, scale) for name, scale in SCALES.items()}
    tf.saved_model.save(module, str(version_dir), signatures=module.functions)
    inputs = ["sentence1", "sentence2"] if pair else ["sentence"]
    signatures = {name: {"inputs": inputs, "outputs": ["length", "scale"]} for name in listed}
    signatures["serve_token_ids"] = {"inputs": ["token_ids", "padding_mask"], "outputs": ["length"]}
    (version_dir / "assets.extra").mkdir()
    (version_dir / "assets.extra" / "power_bert.json").write_text(
        json.dumps({"task": task, "is_pair": pair, "signatures": signatures})
    )
    return version_dir


@pytest.fixture(scope="module")
def glue(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("glue")
    for task in ("cola", "sst-2", "mrpc", "sts-b"):
        write_task(task, root)
    return root


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory) -> Path:
    """A tiny random CoLA classifier exported as tests/test_export.py does."""
    base = tmp_path_factory.mktemp("serving")
    _make_run(
        base / "run",
        task="cola",
        num_classes=2,
        label_names=["unacceptable", "acceptable"],
        is_pair=False,
        seed=1,
    )
    return Path(export_savedmodel(base / "run", base / "serve"))


@pytest.fixture(scope="module")
def fakes(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("fakes")
    return {
        "single": _fake_export(base / "single" / "1", pair=False, task="sst-2"),
        "pair": _fake_export(base / "pair" / "3", pair=True, task="sts-b"),
    }


@pytest.fixture(scope="module")
def load_result(tiny_export, glue):
    """2 clients x 5 requests on the tiny export, every response kept."""
    responses, lock = [], threading.Lock()

    def keep(request, texts, outputs):
        with lock:
            responses.append((request, texts, outputs))

    config = LoadTestConfig(
        clients=2, requests_per_client=5, sizes=(1, 3), data_dir=str(glue / "CoLA"), seed=7
    )
    result = run_load_test(tiny_export.parent, config, on_response=keep, keep_records=True)
    return result, responses


# ---------------------------------------------------------------------------
# load test
# ---------------------------------------------------------------------------
def test_load_test_counts(load_result, tiny_export):
    result, responses = load_result
    overall = result["overall"]
    assert result["savedmodel"] == str(tiny_export)  # the base directory's highest version
    assert overall["requests"] == 10 and overall["errors"] == 0 and len(responses) == 10
    records = result["records"]
    assert len(records) == 10 and all(1 <= r["size"] <= 3 and r["error"] is None for r in records)
    assert overall["sentences"] == sum(r["size"] for r in records)
    per = result["per_signature"]
    assert list(per) == ["serving_default"] == result["config"]["signatures"]
    assert sum(s["requests"] for s in per.values()) == 10
    assert sum(s["sentences"] for s in per.values()) == overall["sentences"]
    assert 0 < overall["p50_ms"] <= overall["p99_ms"] <= overall["max_ms"]
    assert overall["requests_per_s"] == pytest.approx(10 / result["wall_s"], rel=1e-3)
    rss = result["rss_mb"]
    assert 0 < rss["before_load"] and 0 < rss["start"] and 0 < rss["end"]
    assert rss["growth_fraction"] == pytest.approx(rss["end"] / rss["start"] - 1)
    assert result["config"]["clients"] == 2 and result["config"]["sizes"] == [1, 3]
    assert result["versions"]["tensorflow"] == tf.__version__
    assert {"tf_inter_op", "tf_intra_op"} <= set(result["threads"])
    assert len(result["machine"]["load_average"]["start"]) == 3
    json.dumps(result)  # JSON-ready
    report = format_load_test(result)
    assert "serving_default" in report and "p99 ms" in report and "RSS" in report


def test_load_test_outputs_equal_a_direct_call(load_result, tiny_export, glue):
    _, responses = load_result
    sentences = _tsv_column(glue / "CoLA" / "dev.tsv", 3, header=False)
    register_text_ops()
    loaded = tf.saved_model.load(str(tiny_export))  # an independent load
    for request, texts, outputs in responses[:3]:
        assert texts == [(sentences[row],) for row in request.rows]
        direct = loaded.signatures[request.signature](sentence=tf.constant([t[0] for t in texts]))
        assert set(outputs) == set(direct) == {"logits", "probabilities", "label"}
        for name, value in direct.items():
            if value.dtype == tf.string:
                assert list(outputs[name]) == list(value.numpy())
            else:
                np.testing.assert_allclose(outputs[name], value.numpy(), rtol=1e-6, atol=1e-6)


def test_requests_are_routed_to_every_signature_with_pairs(fakes, glue):
    sts = glue / "STS-B" / "dev.tsv"
    first, second = _tsv_column(sts, 7, header=True), _tsv_column(sts, 8, header=True)
    responses = []
    config = LoadTestConfig(
        clients=3, requests_per_client=4, sizes=(2, 5), seed=1, data_dir=str(sts.parent)
    )
    result = run_load_test(fakes["pair"], config, on_response=lambda *r: responses.append(r))
    per = result["per_signature"]
    assert set(per) == set(SCALES)  # serve_token_ids is no text signature
    assert sum(s["requests"] for s in per.values()) == 12 == len(responses)
    assert result["overall"]["errors"] == 0
    for request, texts, outputs in responses:
        assert 2 <= len(texts) <= 5
        assert texts == [(first[row], second[row]) for row in request.rows]
        assert list(outputs["length"]) == [
            1000 * len(a.encode()) + len(b.encode()) for a, b in texts
        ]
        assert set(outputs["scale"]) == {np.float32(SCALES[request.signature])}


def test_memory_is_read_after_every_interval_of_requests_over_all_clients(fakes, glue, monkeypatch):
    """3 clients x 7 requests, read every 5: after the 5th, 10th, 15th and 20th answer (counted
    over all clients), each reading taken then; the report lists them."""
    from benchmarks.serving import loadtest

    readings = iter(range(500, 600))
    monkeypatch.setattr(loadtest, "RSS_EVERY", 5)
    monkeypatch.setattr(loadtest.system, "rss_mb", lambda: float(next(readings)))
    config = LoadTestConfig(
        clients=3,
        requests_per_client=7,
        sizes=(1, 2),
        signatures=("budget_50",),
        data_dir=str(glue / "SST-2"),
    )
    result = run_load_test(fakes["single"], config)
    every = result["rss_mb"]["every"]
    assert [sample["requests"] for sample in every] == [5, 10, 15, 20]
    # Read after the start's reading and before the end's, in order.
    assert (
        result["rss_mb"]["start"] < every[0]["rss_mb"]
        and every[-1]["rss_mb"] < result["rss_mb"]["end"]
    )
    assert [sample["rss_mb"] for sample in every] == sorted(sample["rss_mb"] for sample in every)
    assert "after every 5 requests: 5: " in format_load_test(result)


def test_plan_is_seeded_and_within_range():
    config = LoadTestConfig(clients=3, requests_per_client=20, sizes=(2, 4), seed=5)
    plan = plan_requests(config, ["a", "b"], 7)
    assert plan == plan_requests(config, ["a", "b"], 7)
    assert plan != plan_requests(
        LoadTestConfig(clients=3, requests_per_client=20, sizes=(2, 4)), ["a", "b"], 7
    )
    requests = [r for client in plan for r in client]
    assert len(requests) == 60 and {r.signature for r in requests} == {"a", "b"}
    assert {len(r.rows) for r in requests} == {2, 3, 4}
    assert all(0 <= row < 7 for r in requests for row in r.rows)


def test_failed_requests_are_counted_not_raised(fakes, glue):
    def fail(request, texts, outputs):
        if request.index % 2:
            raise RuntimeError("bad answer\nsecond line")

    config = LoadTestConfig(
        clients=2, requests_per_client=4, signatures=("budget_50",), data_dir=str(glue / "SST-2")
    )
    result = run_load_test(fakes["single"], config, on_response=fail)
    summary = result["per_signature"]["budget_50"]
    assert summary["requests"] == 8 and summary["errors"] == 4
    assert summary["error_messages"] == {"on_response: RuntimeError: bad answer": 4}
    assert "bad answer" in format_load_test(result)


# ---------------------------------------------------------------------------
# batch-1 latency
# ---------------------------------------------------------------------------
def test_batch1_latency_of_a_model_against_itself(tiny_export, glue):
    config = LatencyConfig(
        sentences=4, repeats=5, bootstrap=200, seed=3, data_dir=str(glue / "CoLA")
    )
    result = batch1_latency({"baseline": tiny_export, "model": tiny_export}, config=config)
    assert result["reference"] == {"model": "baseline", "signature": "serving_default"}
    baseline, model = result["pairs"]
    assert (baseline["model"], model["model"]) == ("baseline", "model")
    assert baseline["ratio"] == 1.0 and baseline["ratio_ci95"] == [1.0, 1.0]
    assert 0.25 < model["ratio"] < 4.0
    low, high = model["ratio_ci95"]
    assert 0.1 < low <= high < 10.0
    for pair in result["pairs"]:
        assert len(pair["times_ms"]) == 5 and all(t > 0 for t in pair["times_ms"])
        assert pair["median_ms"] == pytest.approx(np.median(pair["times_ms"]), abs=1e-3)
        assert pair["per_sentence_ms"] == pytest.approx(pair["median_ms"] / 4, abs=1e-3)
    assert result["config"]["sentences"] == 4
    flops = json.loads((tiny_export / "assets.extra" / "power_bert.json").read_text())[
        "flops_fraction"
    ]
    assert baseline["flops_fraction"] == model["flops_fraction"] == pytest.approx(flops)
    json.dumps(result)
    assert "95% CI" in format_latency(result)


def test_batch1_latency_of_several_signatures(fakes, glue):
    config = LatencyConfig(sentences=3, repeats=2, bootstrap=50, data_dir=str(glue / "SST-2"))
    result = batch1_latency(
        {"fake": fakes["single"]}, reference=("fake", "budget_50"), config=config
    )
    assert [p["signature"] for p in result["pairs"]] == ["serving_default", "budget_50"]
    assert result["pairs"][1]["ratio"] == 1.0
    with pytest.raises(ServingError, match="reference other/serving_default is not timed"):
        batch1_latency(
            {"fake": fakes["single"]}, reference=("other", "serving_default"), config=config
        )


# ---------------------------------------------------------------------------
# exports and dev files
# ---------------------------------------------------------------------------
def test_export_errors(tmp_path, fakes, glue):
    dev = str(glue / "SST-2")
    with pytest.raises(ServingError, match=re.escape(f"{tmp_path / 'missing'}: not a directory")):
        run_load_test(tmp_path / "missing", LoadTestConfig(data_dir=dev))
    with pytest.raises(
        ServingError,
        match="no text signature named 'budget_1'; available: serving_default, budget_50",
    ):
        run_load_test(fakes["single"], LoadTestConfig(signatures=("budget_1",), data_dir=dev))
    with pytest.raises(ServingError, match="no text signature named 'serve_token_ids'"):
        inspect_export(fakes["single"], ["serve_token_ids"])
    with pytest.raises(
        ServingError, match=re.escape(f"{tmp_path / 'nowhere'}: GLUE data directory not found")
    ):
        run_load_test(fakes["single"], LoadTestConfig(data_dir=str(tmp_path / "nowhere")))
    with pytest.raises(ServingError, match="not a SavedModel version directory"):
        inspect_export(tmp_path)

    bare = tmp_path / "bare" / "2"
    bare.mkdir(parents=True)
    (bare / "saved_model.pb").write_bytes(b"")
    with pytest.raises(ServingError, match=r"assets.extra/power_bert\.json: missing"):
        inspect_export(bare.parent)
    (bare / "assets.extra").mkdir()
    (bare / "assets.extra" / "power_bert.json").write_text('{"signatures": []}')
    with pytest.raises(ServingError, match="field 'signatures'"):
        inspect_export(bare)
    (bare / "assets.extra" / "power_bert.json").write_text(
        '{"signatures": {"serve_token_ids": {"inputs": ["token_ids"]}}}'
    )
    with pytest.raises(ServingError, match="no text signature .* it has: serve_token_ids"):
        inspect_export(bare)

    # Listed in power_bert.json, absent from the SavedModel.
    ghost = _fake_export(
        tmp_path / "ghost" / "1", pair=False, task="sst-2", listed=("serving_default", "budget_99")
    )
    with pytest.raises(ServingError, match="lists budget_99, which the SavedModel lacks"):
        run_load_test(ghost, LoadTestConfig(data_dir=dev))


def test_base_directory_resolves_to_the_highest_version(tmp_path, fakes):
    base = tmp_path / "model"
    for version in ("2", "10"):
        shutil.copytree(fakes["single"], base / version)
    (base / "notes").mkdir()
    assert inspect_export(base).version_dir == base / "10"
    assert inspect_export(base / "2").version_dir == base / "2"


def test_text_signatures_any_number_default_first():
    inputs = {"inputs": ["sentence"]}
    metadata = {
        "signatures": {
            "budget_40": inputs,
            "serve_token_ids": {"inputs": ["token_ids"]},
            "budget_60": inputs,
            "serving_default": inputs,
        }
    }
    assert text_signatures(metadata) == ["serving_default", "budget_40", "budget_60"]
    metadata["budgets"] = [
        {
            "signature": "budget_40",
            "retention": [4, 2],
            "flops_fraction": 0.4,
            "dev_metric": 51.0,
            "token_ids_signature": "budget_40_token_ids",
        }
    ]
    assert budget_of(metadata, "budget_40") == {
        "retention": [4, 2],
        "flops_fraction": 0.4,
        "dev_metric": 51.0,
    }
    assert budget_of(metadata, "budget_60") == dict.fromkeys(
        ["retention", "flops_fraction", "dev_metric"]
    )


def test_dev_sets_read_with_the_package_reader(glue, tmp_path, monkeypatch):
    cola, sst = glue / "CoLA" / "dev.tsv", glue / "SST-2" / "dev.tsv"
    assert dev_examples("cola", 1, glue / "CoLA") == (
        str(cola),
        [(s,) for s in _tsv_column(cola, 3, False)],
    )
    mrpc = glue / "MRPC" / "dev.tsv"
    assert dev_examples("MRPC", 2, glue / "MRPC")[1] == list(
        zip(_tsv_column(mrpc, 3, True), _tsv_column(mrpc, 4, True))
    )
    monkeypatch.setenv("GLUE_DIR", str(glue))  # the default: $GLUE_DIR/<Task>
    assert dev_examples("sst2", 1) == (str(sst), [(s,) for s in _tsv_column(sst, 0, True)])
    with pytest.raises(ServingError, match="cola examples have 1 text.s., the signatures take 2"):
        dev_examples("cola", 2)
    with pytest.raises(ServingError, match="no GLUE directory for rte: set .GLUE_DIR"):
        dev_examples("rte", 2)
    with pytest.raises(ServingError, match="task '' is not a GLUE task"):
        dev_examples("", 1)
    bad = tmp_path / "SST-2"  # the package reader's errors name file and line
    bad.mkdir()
    (bad / "dev.tsv").write_text("sentence\tlabel\na fine film\t1\nno label\n", encoding="utf-8")
    with pytest.raises(ServingError, match=re.escape(f"{bad / 'dev.tsv'}:3: expected at least 2")):
        dev_examples("sst-2", 1, bad)


# ---------------------------------------------------------------------------
# the package, and the command line
# ---------------------------------------------------------------------------
def test_package_imports_its_names_eagerly():
    import keras

    import power_bert_tf

    assert set(power_bert_tf.__all__) <= set(vars(power_bert_tf))
    registered = keras.saving.get_registered_object("power_bert_tf>PowerBertClassifier")
    assert registered is power_bert_tf.PowerBertClassifier


def test_cli_error_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "missing"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "serve_load_test.py"),
            "--savedmodel",
            str(missing),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {missing}: not a directory (expected a SavedModel version directory)"
    ]
    assert result.stdout == ""


def _cli(argv) -> tuple[int, str, str]:
    script = load_script("serve_load_test")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = script.main(argv)
    return code, out.getvalue(), err.getvalue()


def test_cli_load_test_and_batch1(fakes, glue, tmp_path):
    dev = str(glue / "SST-2")
    code, out, err = _cli(
        [
            "--savedmodel",
            str(fakes["single"]),
            "--clients",
            "2",
            "--requests",
            "3",
            "--signatures",
            "budget_50",
            "--data-dir",
            dev,
            "--output",
            str(tmp_path / "load.json"),
        ]
    )
    assert code == 0, err
    assert (
        "budget_50" in out
        and json.loads((tmp_path / "load.json").read_text())["overall"]["requests"] == 6
    )
    code, out, err = _cli(
        [
            "--savedmodel",
            str(fakes["single"]),
            "--batch1",
            "--compare",
            str(fakes["single"]),
            "--repeats",
            "2",
            "--sentences",
            "2",
            "--data-dir",
            dev,
        ]
    )
    assert code == 0, err
    assert "baseline" in out and "ratio" in out
    code, out, err = _cli(
        ["--savedmodel", str(fakes["single"]), "--signatures", "nope", "--data-dir", dev]
    )
    assert (
        code == 2 and err.startswith("error: ") and "available: serving_default, budget_50" in err
    )
    assert len(err.splitlines()) == 1 and out == ""
