"""The inference benchmark (scripts/benchmark.py, power_bert_tf.benchmark) and the lambda-sweep plot.

A tiny random run directory is made once per module, as training leaves it: retrain.keras (hard mode),
finetune.keras (no elimination), run_config.json, and a few CoLA-layout dev sentences. Timings on it mean
nothing; the tests check the result's keys and that its numbers agree with each other.
"""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

import keras
import keras_hub
from conftest import load_script

from power_bert_tf import PowerBertClassifier, RetentionConfig
from power_bert_tf import benchmark as B
from power_bert_tf.retention import truncation_length

SEQ_LEN = 16
RETENTION = "12,6"
HIDDEN, INTERMEDIATE = 16, 32
VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "a", "quick", "brown", "fox", "jump", "##ed", "##s", "over", "lazy",
    "dog", "cat", "run", ".", ",", "is", "not", "good", "bad", "it", "was", "i", "saw",
]
SENTENCES = [
    ("1", "The quick brown fox jumped over the lazy dog."),
    ("0", "Dog the the over."),
    ("1", "I saw a cat."),
    ("0", "Cat a saw."),
    ("1", "It was good."),
    ("0", "Good was was it it it."),
    ("1", "The dog runs."),
    ("1", "A lazy cat is not bad."),
    ("0", "Quick quick."),
    ("1", "The brown dog jumped over the quick lazy brown cat, it was good."),
    ("0", "Was."),
    ("1", "I saw the dog run."),
]
BATCH = 4


def _run_main(module, argv):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = module.main(argv)
    return code, stdout.getvalue()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory from a tiny random model, with CoLA-layout dev data."""
    root = tmp_path_factory.mktemp("bench")
    run = root / "run"
    run.mkdir()
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB), num_layers=2, num_heads=2, hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE, max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True), sequence_length=SEQ_LEN,
    )
    model = PowerBertClassifier(
        backbone, num_classes=2, retention=RETENTION, sequence_length=SEQ_LEN, preprocessor=preprocessor,
    )
    model.build_from_example()
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # outputs that depend clearly on the input
        noise = rng.normal(0.0, 0.3, tuple(variable.shape)).astype("float32")
        variable.assign(keras.ops.convert_to_numpy(variable) + noise)
    model.save(run / "retrain.keras")
    model.with_mode("none").save(run / "finetune.keras")
    (run / "run_config.json").write_text(json.dumps({
        "task": "cola", "backbone": "tiny-bert", "sequence_length": SEQ_LEN, "num_classes": 2,
        "label_names": ["unacceptable", "acceptable"], "is_pair": False,
    }))
    data = root / "CoLA"
    data.mkdir()
    (data / "dev.tsv").write_text("".join(f"src\t{label}\t\t{text}\n" for label, text in SENTENCES))
    return run, data, model


@pytest.fixture(scope="module")
def result(run_dir, tmp_path_factory):
    run, data, _ = run_dir
    out = tmp_path_factory.mktemp("out") / "bench.json"
    code, stdout = _run_main(load_script("benchmark"), [
        "--checkpoint", str(run), "--data-dir", str(data), "--batch-size", str(BATCH),
        "--repeats", "2", "--warmup", "1", "--json", str(out), "--profile", "--backend-note", "test",
    ])
    assert code == 0, stdout
    assert "speedup" in stdout and "rank+gather" in stdout
    return json.loads(out.read_text())


def test_json_has_the_keys(result):
    for key in (
        "baseline_ms", "power_ms", "speedup", "speedup_limit", "efficiency", "flops_fraction", "device",
        "batch_size", "seq_len", "repeats", "retention", "keras_backend", "tf_version", "keras_version",
        "keras_hub_version", "command", "backend_note", "baseline_source", "power_source", "times_ms",
        "truncation", "bucketed", "metric", "metrics",
    ):
        assert key in result, key
    assert result["batch_size"] == BATCH and result["seq_len"] == SEQ_LEN and result["repeats"] == 2
    assert result["retention"] == [12, 6]
    assert result["backend_note"] == "test"
    assert result["keras_backend"] == keras.backend.backend()
    assert result["command"].startswith("python scripts/benchmark.py --checkpoint")
    assert result["baseline_source"].endswith("finetune.keras")
    assert result["device"]  # CPU model and cores, or a GPU name
    assert all(len(v) == 2 for v in result["times_ms"].values())


def test_numbers_are_consistent(result):
    assert result["baseline_ms"] == pytest.approx(float(np.median(result["times_ms"]["baseline"])))
    assert result["power_ms"] == pytest.approx(float(np.median(result["times_ms"]["power"])))
    assert result["speedup"] == pytest.approx(result["baseline_ms"] / result["power_ms"])
    expected = RetentionConfig.parse(RETENTION).flops_fraction(SEQ_LEN, HIDDEN, INTERMEDIATE)
    assert result["flops_fraction"] == pytest.approx(expected)
    assert result["speedup_limit"] == pytest.approx(1.0 / expected)
    assert result["efficiency"] == pytest.approx(result["speedup"] * expected)
    truncation = result["truncation"]
    assert truncation["seq_len"] == truncation_length(expected, SEQ_LEN, 2, HIDDEN, INTERMEDIATE)
    assert truncation["speedup"] == pytest.approx(result["baseline_ms"] / truncation["ms"])


def test_dev_set_passes(result, run_dir):
    _, _, model = run_dir
    bucketed = result["bucketed"]
    assert bucketed["examples"] == len(SENTENCES) and bucketed["batches"] == -(-len(SENTENCES) // BATCH)
    assert bucketed["speedup"] == pytest.approx(bucketed["baseline_s"] / bucketed["power_s"])
    assert 0 < bucketed["padded_token_fraction"] <= 1
    # Trimming padding is exact, so bucketed and padded passes agree.
    assert bucketed["max_abs_logit_diff_vs_padded"] < 1e-4
    metrics = result["metrics"]
    assert result["metric"] == "mcc"
    assert set(metrics) == {"baseline", "power", "truncation", "bucketed_baseline", "bucketed_power"}
    assert metrics["baseline"] == pytest.approx(metrics["bucketed_baseline"])
    assert metrics["power"] == pytest.approx(metrics["bucketed_power"])
    assert result["truncation"]["metric"] == metrics["truncation"]
    # The PoWER-BERT dev metric is the hard-mode model's on the padded sentences.
    from power_bert_tf import data
    from power_bert_tf.inference import outputs_to_predictions

    examples = data.read_glue_split("cola", "dev", run_dir[1])
    logits = model.predict_text(examples.texts[0])
    expected = data.compute_metrics("cola", examples.labels, outputs_to_predictions(logits, is_regression=False))
    assert metrics["power"] == pytest.approx(expected["mcc"], abs=1e-6)


def test_profile_rows(result):
    rows = result["profile"]
    assert [r["depth"] for r in rows] == [1, 2, "total"]
    assert [(r["n_in"], r["n_out"]) for r in rows[:2]] == [(16, 12), (12, 6)]
    assert all(r["eliminates"] for r in rows[:2])
    for key in ("attention", "attention_probs", "significance", "rank_gather", "ffn", "layer", "baseline_layer"):
        assert rows[-1][key] == pytest.approx(sum(r[key] for r in rows[:2]))
        assert all(r[key] > 0 for r in rows)


def test_bucket_batches_sort_and_trim():
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], bool)
    features = {"token_ids": mask.astype("int32") * 7, "segment_ids": np.zeros_like(mask, "int32"),
                "padding_mask": mask}
    batches, order = B.bucket_batches(features, 2)
    assert order.tolist() == [1, 3, 4, 0, 2]
    assert [b["token_ids"].shape for b in batches] == [(2, 2), (2, 3), (1, 4)]


def test_cli_refuses_bad_flags(tmp_path, capsys):
    script = load_script("benchmark")
    assert script.main([]) == 2
    assert "--checkpoint is required" in capsys.readouterr().err
    assert script.main(["--random-bert-base"]) == 2
    assert "--retention-config" in capsys.readouterr().err
    assert script.main(["--checkpoint", str(tmp_path), "--repeats", "0"]) == 2
    assert "--repeats" in capsys.readouterr().err
    assert script.main(["--checkpoint", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_random_weights_path(monkeypatch):
    """--random-bert-base, on a tiny shape instead of BERT-base (no dev data, no extras)."""
    config = B.BenchmarkConfig(
        random_bert_base=True, retention="8,4", seq_len=8, batch_size=2, repeats=1, warmup=1,
        random_backbone=dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=8,
                             intermediate_dim=16, max_sequence_length=16),
        command="test",
    )
    result = B.run_benchmark(config)
    assert result["retention"] == [8, 4] and result["seq_len"] == 8
    assert result["flops_fraction"] == pytest.approx(RetentionConfig((8, 4)).flops_fraction(8, 8, 16))
    assert "bucketed" not in result and "metrics" not in result
    assert result["speedup"] == pytest.approx(result["baseline_ms"] / result["power_ms"])


def _fake_run(root, name, lam, retention, fraction, power_metric, power_ms, trunc_ms, trunc_metric):
    """Synthetic results.json + benchmark JSON (made-up numbers, for the plot test only)."""
    run = root / name
    run.mkdir()
    (run / "results.json").write_text(json.dumps({
        "task": "cola", "metric": "mcc", "baseline": 50.0, "power": power_metric,
        "hyper_parameters": {"lambda": lam}, "retention": retention, "flops_fraction": fraction,
    }))
    bench = run / "benchmark.json"
    bench.write_text(json.dumps({
        "baseline_ms": 100.0, "power_ms": power_ms, "flops_fraction": fraction, "batch_size": 128,
        "seq_len": 64, "device": "synthetic", "metrics": {"baseline": 50.0, "power": power_metric},
        "truncation": {"seq_len": 20, "ms": trunc_ms, "metric": trunc_metric, "flops_fraction": fraction},
    }))
    return run, bench


def test_plot_lambda_sweep_writes_png(tmp_path):
    runs = [
        _fake_run(tmp_path, "l1", 1e-3, [60, 50, 40, 30, 20, 10], 0.6, 49.0, 62.0, 61.0, 45.0),
        _fake_run(tmp_path, "l2", 7e-3, [30, 25, 20, 15, 10, 5], 0.35, 46.0, 38.0, 36.0, 35.0),
        _fake_run(tmp_path, "l3", 2e-2, [15, 10, 8, 6, 4, 2], 0.15, 40.0, 18.0, 17.0, 20.0),
    ]
    out = tmp_path / "docs" / "sweep.png"
    argv = ["--output", str(out), "--title", "synthetic"]
    argv += ["--run", str(runs[0][0])]  # benchmark.json found in the run directory
    for run, bench in runs[1:]:
        argv += ["--run", str(run), str(bench)]
    code, stdout = _run_main(load_script("plot_lambda_sweep"), argv)
    assert code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "3 runs" in stdout


def test_collect_results_records_and_errors(tmp_path, capsys):
    run, bench = _fake_run(tmp_path, "cola", 1e-3, [21, 18, 13, 6, 3, 1], 0.216, 28.4, 774.0, 736.0, 28.5)
    payload = json.loads(bench.read_text())
    payload.update(speedup=100.0 / 774.0, retention=[21, 18, 13, 6, 3, 1])
    payload["truncation"]["speedup"] = 100.0 / 736.0
    bench.write_text(json.dumps(payload))
    out = tmp_path / "results.json"
    collect = load_script("collect_results")
    code, _ = _run_main(collect, ["--run", str(run), str(bench), "--output", str(out)])
    assert code == 0
    [record] = json.loads(out.read_text())
    assert record == {
        "task": "cola", "metric": "mcc", "baseline": 50.0, "power": 28.4, "retention": [21, 18, 13, 6, 3, 1],
        "speedup": pytest.approx(100.0 / 774.0), "flops_fraction": 0.216, "device": "synthetic",
        "batch_size": 128, "seq_len": 64, "truncation": {"seq_len": 20, "speedup": pytest.approx(100.0 / 736.0), "metric": 28.5},
    }

    # A benchmark of another configuration, or a missing field, is refused naming the file; out survives.
    payload["retention"] = [30, 20, 10, 5, 2, 1]
    bench.write_text(json.dumps(payload))
    assert _run_main(collect, ["--run", str(run), str(bench), "--output", str(out)])[0] == 2
    assert "timed retention [30, 20, 10, 5, 2, 1]" in capsys.readouterr().err
    del payload["speedup"]
    bench.write_text(json.dumps(payload))
    assert _run_main(collect, ["--run", str(run), str(bench), "--output", str(out)])[0] == 2
    assert f"{bench}: no 'speedup'" in capsys.readouterr().err
    assert json.loads(out.read_text())[0]["power"] == 28.4
