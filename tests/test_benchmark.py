"""The inference benchmark (benchmarks/benchmark.py, benchmarks.speed) and the lambda-sweep plot.

A tiny random run directory is made once per module, as training leaves it: retrain.keras (hard mode),
finetune.keras (no elimination), run_config.json, and a few CoLA-layout dev sentences. Timings on it mean
nothing; the tests check the result's keys and that its numbers agree with each other.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json

import keras
import keras_hub
import numpy as np
import pytest

from benchmarks import speed as B
from benchmarks.speed.comparisons import truncation_length
from conftest import hand_flops, load_script
from power_bert_tf import PowerBertClassifier, RetentionConfig

SEQ_LEN = 16
RETENTION = "12,6"
HIDDEN, INTERMEDIATE = 16, 32
VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "quick",
    "brown",
    "fox",
    "jump",
    "##ed",
    "##s",
    "over",
    "lazy",
    "dog",
    "cat",
    "run",
    ".",
    ",",
    "is",
    "not",
    "good",
    "bad",
    "it",
    "was",
    "i",
    "saw",
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
SHORT_LEN = 8


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
        vocabulary_size=len(VOCAB),
        num_layers=2,
        num_heads=2,
        hidden_dim=HIDDEN,
        intermediate_dim=INTERMEDIATE,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True),
        sequence_length=SEQ_LEN,
    )
    model = PowerBertClassifier(
        backbone,
        num_classes=2,
        retention=RETENTION,
        sequence_length=SEQ_LEN,
        preprocessor=preprocessor,
    )
    model.build_from_example()
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:  # outputs that depend clearly on the input
        noise = rng.normal(0.0, 0.3, tuple(variable.shape)).astype("float32")
        variable.assign(keras.ops.convert_to_numpy(variable) + noise)
    model.save(run / "retrain.keras")
    model.with_mode("none").save(run / "finetune.keras")
    (run / "run_config.json").write_text(
        json.dumps(
            {
                "task": "cola",
                "backbone": "tiny-bert",
                "sequence_length": SEQ_LEN,
                "num_classes": 2,
                "label_names": ["unacceptable", "acceptable"],
                "is_pair": False,
            }
        )
    )
    short = root / "short"  # a baseline "fine-tuned" at a shorter length, for --models
    short.mkdir()
    model.with_mode("none").save(short / "finetune.keras")
    (short / "run_config.json").write_text(
        json.dumps({"task": "cola", "sequence_length": SHORT_LEN})
    )
    data = root / "CoLA"
    data.mkdir()
    (data / "dev.tsv").write_text("".join(f"src\t{label}\t\t{text}\n" for label, text in SENTENCES))
    return run, data, model


@pytest.fixture(scope="module")
def result(run_dir, tmp_path_factory):
    run, data, _ = run_dir
    out = tmp_path_factory.mktemp("out") / "bench.json"
    code, stdout = _run_main(
        load_script("benchmark"),
        [
            "--checkpoint",
            str(run),
            "--data-dir",
            str(data),
            "--batch-size",
            str(BATCH),
            "--repeats",
            "2",
            "--warmup",
            "1",
            "--json",
            str(out),
            "--profile",
            "--backend-note",
            "test",
            "--load-sample-seconds",
            "0.2",
        ],
    )
    assert code == 0, stdout
    assert "speedup" in stdout and "rank+gather" in stdout
    return json.loads(out.read_text())


def test_json_has_the_keys(result):
    for key in (
        "baseline_ms",
        "power_ms",
        "speedup",
        "speedup_limit",
        "efficiency",
        "flops_fraction",
        "device",
        "batch_size",
        "seq_len",
        "repeats",
        "retention",
        "keras_backend",
        "tf_version",
        "keras_version",
        "keras_hub_version",
        "command",
        "backend_note",
        "baseline_source",
        "power_source",
        "times_ms",
        "truncation",
        "bucketed",
        "metric",
        "metrics",
        "cpu_identity",
    ):
        assert key in result, key
    assert result["batch_size"] == BATCH and result["seq_len"] == SEQ_LEN and result["repeats"] == 2
    assert result["retention"] == [12, 6]
    assert result["backend_note"] == "test"
    assert result["keras_backend"] == keras.backend.backend()
    assert result["command"].startswith("python benchmarks/benchmark.py --checkpoint")
    assert result["baseline_source"].endswith("finetune.keras")
    assert result["device"]  # CPU model and cores, or a GPU name
    assert all(len(v) == 2 for v in result["times_ms"].values())


CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
flags\t\t: fpu amx_tile
"""


def test_cpu_identity_reads_the_first_processor(tmp_path, monkeypatch):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    environment = importlib.import_module("benchmarks.system")  # the module, not the function
    real = environment.cpu_identity
    monkeypatch.setattr(environment, "cpu_identity", lambda: real(str(path)))
    assert (
        "(family 26, model 2), " in B.describe_device()
    )  # the device line tells the two EPYCs apart
    assert B.cpu_identity(str(path)) == {
        "vendor": "AuthenticAMD",
        "family": "26",
        "model": "2",
        "simd": ["avx2", "fma", "avx512f", "avx512_bf16"],
    }
    assert B.cpu_identity(str(tmp_path / "missing")) == {
        "vendor": None,
        "family": None,
        "model": None,
        "simd": None,
    }


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
    assert bucketed["examples"] == len(SENTENCES) and bucketed["batches"] == -(
        -len(SENTENCES) // BATCH
    )
    assert bucketed["speedup"] == pytest.approx(bucketed["baseline_s"] / bucketed["power_s"])
    assert 0 < bucketed["padded_token_fraction"] <= 1
    # Trimming padding is exact, so bucketed and padded passes agree.
    assert bucketed["max_abs_logit_diff_vs_padded"] < 1e-4
    metrics = result["metrics"]
    assert result["metric"] == "mcc"
    assert set(metrics) == {
        "baseline",
        "power",
        "truncation",
        "bucketed_baseline",
        "bucketed_power",
    }
    assert metrics["baseline"] == pytest.approx(metrics["bucketed_baseline"])
    assert metrics["power"] == pytest.approx(metrics["bucketed_power"])
    assert result["truncation"]["metric"] == metrics["truncation"]
    # The PoWER-BERT dev metric is the hard-mode model's on the padded sentences.
    from power_bert_tf import data
    from power_bert_tf.inference import outputs_to_predictions

    examples = data.read_glue_split("cola", "dev", run_dir[1])
    logits = model.predict(examples.texts[0], verbose=0)
    expected = data.compute_metrics(
        "cola", examples.labels, outputs_to_predictions(logits, is_regression=False)
    )
    assert metrics["power"] == pytest.approx(expected["mcc"], abs=1e-6)


def test_profile_rows(result):
    rows = result["profile"]
    assert [r["depth"] for r in rows] == [1, 2, "total"]
    assert [(r["n_in"], r["n_out"]) for r in rows[:2]] == [(16, 12), (12, 6)]
    assert all(r["eliminates"] for r in rows[:2])
    for key in (
        "attention",
        "attention_probs",
        "significance",
        "rank_gather",
        "ffn",
        "layer",
        "baseline_layer",
    ):
        assert rows[-1][key] == pytest.approx(sum(r[key] for r in rows[:2]))
        assert all(r[key] > 0 for r in rows)


def test_bucket_batches_sort_and_trim():
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 0, 0]], bool)
    features = {
        "token_ids": mask.astype("int32") * 7,
        "segment_ids": np.zeros_like(mask, "int32"),
        "padding_mask": mask,
    }
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
        random_bert_base=True,
        retention="8,4",
        seq_len=8,
        batch_size=2,
        repeats=1,
        warmup=1,
        random_backbone=dict(
            vocabulary_size=50,
            num_layers=2,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=16,
        ),
        command="test",
    )
    result = B.run_benchmark(config)
    assert result["retention"] == [8, 4] and result["seq_len"] == 8
    assert result["flops_fraction"] == pytest.approx(
        RetentionConfig((8, 4)).flops_fraction(8, 8, 16)
    )
    assert "bucketed" not in result and "metrics" not in result
    assert result["speedup"] == pytest.approx(result["baseline_ms"] / result["power_ms"])


@pytest.mark.tensorflow_only
def test_jit_compile_times_xla_compiled_predictors(monkeypatch):
    """--jit-compile reaches every timed Keras model's Predictor and the record says so."""
    from benchmarks.speed import variants

    made = []
    predictor = variants.Predictor

    def recording(*args, **kwargs):
        made.append(kwargs.get("jit_compile"))
        return predictor(*args, **kwargs)

    monkeypatch.setattr(variants, "Predictor", recording)
    config = B.BenchmarkConfig(
        random_bert_base=True,
        retention="8,4",
        seq_len=8,
        batch_size=2,
        repeats=1,
        warmup=1,
        jit_compile=True,
        random_backbone=dict(
            vocabulary_size=50,
            num_layers=2,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=16,
        ),
        command="test",
    )
    result = B.run_benchmark(config)
    assert result["jit_compile"] is True and made and all(made)


def _fake_run(root, name, lam, retention, fraction, power_metric, power_ms, trunc_ms, trunc_metric):
    """Synthetic results.json + benchmark JSON (made-up numbers, for the plot test only)."""
    run = root / name
    run.mkdir()
    (run / "results.json").write_text(
        json.dumps(
            {
                "task": "cola",
                "metric": "mcc",
                "baseline": 50.0,
                "power": power_metric,
                "hyper_parameters": {"lambda": lam},
                "retention": retention,
                "flops_fraction": fraction,
            }
        )
    )
    bench = run / "benchmark.json"
    bench.write_text(
        json.dumps(
            {
                "baseline_ms": 100.0,
                "power_ms": power_ms,
                "flops_fraction": fraction,
                "batch_size": 128,
                "seq_len": 64,
                "device": "synthetic",
                "metrics": {"baseline": 50.0, "power": power_metric},
                "truncation": {
                    "seq_len": 20,
                    "ms": trunc_ms,
                    "metric": trunc_metric,
                    "flops_fraction": fraction,
                },
            }
        )
    )
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


def _check_speedups(result, names):
    assert set(result["variants"]) == set(names)
    for name, row in result["variants"].items():
        low, high = row["speedup_ci"]
        assert low <= row["speedup"] <= high, name
        assert row["speedup"] == pytest.approx(result["baseline_ms"] / row["ms"])
        assert row["ms"] == pytest.approx(float(np.median(result["times_ms"][name])))
        assert {"flops_fraction", "retention", "seq_len", "source", "ms_per_sentence"} <= set(row)
    assert result["speedup_ci"] == result["variants"]["power"]["speedup_ci"]
    assert result["speedup"] == result["variants"]["power"]["speedup"]
    for key in (
        "protocol",
        "baseline_ms",
        "power_ms",
        "times_ms",
        "repeats",
        "batch_size",
        "seq_len",
        "load",
        "threads",
    ):
        assert key in result, key
    assert {"before", "after", "other_cpu_fraction", "busy", "cpu_count"} <= set(result["load"])
    assert result["threads"]["backend"] == keras.backend.backend()
    assert "OMP_NUM_THREADS" in result["threads"]["env"]


def test_padded_protocol_intervals_and_variants(result):
    assert result["protocol"] == "padded"
    _check_speedups(result, {"baseline", "power", "truncation", "cls_only"})
    assert result["truncation"]["speedup_ci"] == result["variants"]["truncation"]["speedup_ci"]
    assert result["variants"]["truncation"]["seq_len"] == result["truncation"]["seq_len"]
    # The floor: the baseline on [CLS] alone, its FLOPs counted by hand (no elimination).
    floor = result["variants"]["cls_only"]
    model = result["model"]
    d, f, layers, seq = (
        model["hidden_dim"],
        model["intermediate_dim"],
        model["num_layers"],
        result["seq_len"],
    )
    assert floor["seq_len"] == 1 and floor["retention"] is None
    assert floor["flops_fraction"] == pytest.approx(
        hand_flops([1] * layers, 1, d, f) / hand_flops([seq] * layers, seq, d, f)
    )


@pytest.mark.parametrize("protocol", ["dynamic", "batch1"])
def test_dynamic_and_batch1_protocols(protocol, run_dir, tmp_path):
    run, data, _ = run_dir
    out = tmp_path / "bench.json"
    extra = (
        ["--models", f"short={run.parent / 'short'},again={run / 'retrain.keras'}"]
        if protocol == "dynamic"
        else []
    )  # loading checkpoints is slow: once is enough
    code, stdout = _run_main(
        load_script("benchmark"),
        [
            "--checkpoint",
            str(run),
            "--data-dir",
            str(data),
            "--protocol",
            protocol,
            "--batch-size",
            "4" if protocol == "dynamic" else "1",
            "--max-examples",
            "6",
            "--repeats",
            "3",
            "--load-sample-seconds",
            "0",
            "--bootstrap",
            "200",
            *extra,
            "--json",
            str(out),
        ],
    )
    assert code == 0, stdout
    assert f"protocol         {protocol}" in stdout
    result = json.loads(out.read_text())
    assert result["protocol"] == protocol and result["examples_per_unit"] == 6
    assert result["batches_per_unit"] == (2 if protocol == "dynamic" else 6)
    if protocol == "batch1":
        _check_speedups(result, {"baseline", "power", "truncation", "cls_only"})
        assert result["variants"]["power"]["ms_per_sentence"] == pytest.approx(
            result["power_ms"] / 6
        )
        return
    _check_speedups(result, {"baseline", "power", "truncation", "cls_only", "short", "again"})
    short = result["variants"]["short"]
    assert (
        short["seq_len"] == SHORT_LEN and short["retention"] is None and short["flops_fraction"] < 1
    )
    assert result["variants"]["again"]["retention"] == [12, 6]
    assert "bucketed" not in result  # the whole-dev-set passes belong to the padded protocol


def test_bootstrap_against_numpy():
    rng = np.random.default_rng(1)
    slow = 100.0 + rng.normal(0, 3, 15)
    fast = 50.0 + rng.normal(0, 2, 11)
    low, high = B.bootstrap_ratio(slow, fast, 500, np.random.default_rng(7), paired=False)
    # The same thing written out: each side's repeats resampled independently.
    draws = np.random.default_rng(7)
    a = draws.integers(0, len(slow), size=(500, len(slow)))
    b = draws.integers(0, len(fast), size=(500, len(fast)))
    expected = np.percentile(np.median(slow[a], axis=1) / np.median(fast[b], axis=1), [2.5, 97.5])
    assert (low, high) == pytest.approx(tuple(expected))
    assert B.bootstrap_ratio(slow, fast, 500, np.random.default_rng(7), paired=False) == (low, high)
    assert 1.0 < low < 2.0 < high  # clearly faster: the interval excludes 1
    # Paired (the serving tools'): the same repeats of both.
    pairs = slow[:11]
    picks = np.random.default_rng(3).integers(0, 11, size=(400, 11))
    paired = np.percentile(
        np.median(pairs[picks], axis=1) / np.median(fast[picks], axis=1), [2.5, 97.5]
    )
    assert B.bootstrap_ratio(pairs, fast, 400, np.random.default_rng(3)) == pytest.approx(
        tuple(paired)
    )
    speedup, (lo, hi) = B.speedup_with_interval(slow, fast, 500, np.random.default_rng(7))
    assert speedup == pytest.approx(np.median(slow) / np.median(fast)) and lo <= speedup <= hi


def test_dynamic_and_batch1_batches():
    mask = np.array(
        [[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]], bool
    )
    features = {"token_ids": np.arange(25, dtype="int32").reshape(5, 5), "padding_mask": mask}
    batches = B.protocol_batches(features, "dynamic", 2)
    lengths = mask.sum(axis=1)
    expected = [(0, 2), (2, 4), (4, 5)]  # file order, consecutive rows
    assert len(batches) == len(expected)
    for batch, (start, stop) in zip(batches, expected):
        longest = lengths[start:stop].max()
        np.testing.assert_array_equal(
            batch["token_ids"], features["token_ids"][start:stop, :longest]
        )
        np.testing.assert_array_equal(batch["padding_mask"], mask[start:stop, :longest])
    singles = B.protocol_batches(features, "batch1", 64)  # batch1 ignores the batch size
    assert len(singles) == 5
    for row, batch in enumerate(singles):
        np.testing.assert_array_equal(
            batch["token_ids"], features["token_ids"][row : row + 1, : lengths[row]]
        )
    [padded] = B.protocol_batches(features, "padded", 3)
    assert padded["token_ids"].shape == (3, 5)
    # Rounded up to a multiple of 2, never past the full width: lengths 3,1,4,2,2 -> 4,2,4,2,2.
    rounded = B.protocol_batches(features, "batch1", 1, length_multiple=2)
    assert [batch["token_ids"].shape[1] for batch in rounded] == [4, 2, 4, 2, 2]
    assert [
        b["token_ids"].shape[1]
        for b in B.protocol_batches(features, "dynamic", 5, length_multiple=3)
    ] == [5]


def test_rounds_are_shuffled_and_complete():
    ran = []
    calls = {name: (lambda name=name: ran.append(name)) for name in "abcd"}
    orders = []
    times = B.time_interleaved(calls, 8, warmup=1, rng=np.random.default_rng(0), orders=orders)
    assert all(len(values) == 8 for values in times.values())
    assert ran[:4] == list("abcd")  # the warm-up round
    rounds = [ran[4 + 4 * i : 8 + 4 * i] for i in range(8)]
    assert rounds == orders
    assert all(sorted(order) == list("abcd") for order in orders)  # every variant once per round
    assert len({tuple(order) for order in orders}) > 1  # the order changes across rounds


def test_load_check_with_fake_readings():
    from benchmarks.load import CpuReading, LoadMonitor

    text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1\n"
    assert B.parse_proc_stat(text) == (150, 1000)
    # 2 s of two CPUs at 100 jiffies/s = 400 jiffies; 300 busy, 1 s of it this process's own.
    idle_before, busy_after = CpuReading(0, 0, 0.0), CpuReading(300, 400, 1.0)
    assert B.other_cpu_fraction(idle_before, busy_after, ticks=100) == pytest.approx(0.5)
    assert B.other_cpu_fraction(idle_before, CpuReading(110, 400, 1.0), ticks=100) == pytest.approx(
        0.025
    )
    assert B.other_cpu_fraction(None, busy_after) is None
    readings = iter([idle_before, busy_after])
    with LoadMonitor(0.15, precheck=0.01, reader=lambda: next(readings)) as monitor:
        pass
    summary = monitor.summary()
    assert summary["busy"] is True and summary["other_cpu_fraction"] == pytest.approx(0.5, abs=0.5)
    readings = iter([idle_before, CpuReading(101, 400, 1.0)])
    with LoadMonitor(0.15, precheck=0.01, reader=lambda: next(readings)) as monitor:
        pass
    assert monitor.summary()["busy"] is False
    assert (
        B.sample_other_load(
            1.0, reader=iter([idle_before, busy_after]).__next__, sleep=lambda s: None
        )
        >= 0
    )


def test_require_idle_refuses_a_busy_machine(monkeypatch, capsys):
    from benchmarks import load

    monkeypatch.setattr(load, "sample_other_load", lambda seconds: 0.6)
    script = load_script("benchmark")
    assert (
        script.main(
            [
                "--random-backbone",
                "tiny",
                "--retention-config",
                "4",
                "--seq-len",
                "8",
                "--require-idle",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("benchmark.py: error: --require-idle") and "\n" not in err and "60%" in err
    )


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--protocol", "foo"], "--protocol"),
        (["--models", "bad"], "--models"),
        (["--models", "x=/no/such/file"], "--models x"),
        (["--models", "baseline=."], "--models"),
    ],
)
def test_cli_one_line_errors(argv, flag, run_dir, capsys):
    assert load_script("benchmark").main(["--checkpoint", str(run_dir[0]), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"benchmark.py: error: {flag}") and "\n" not in err


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--protocol", "dynamic"], "--protocol dynamic"),
        (["--protocol", "batch1"], "--protocol batch1"),
        (["--task", "mrpc", "--data-dir", "."], "--data-dir and --task"),
    ],
)
def test_random_ids_are_never_timed_as_the_tasks_sentences(argv, flag, capsys):
    """Without --inputs a random backbone has no sentences: a protocol over them, or a task or data
    directory it would ignore, is refused in one line."""
    script = load_script("benchmark")
    assert (
        script.main(
            ["--random-backbone", "tiny", "--retention-config", "4", "--seq-len", "8", *argv]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"benchmark.py: error: {flag}") and "\n" not in err and "--inputs" in err


NO_TF = (
    "import runpy, sys; sys.modules['tensorflow'] = None; sys.modules['tensorflow_text'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__'); "
    "assert sys.modules['tensorflow'] is None"
)


def test_tensorflow_free_jax_path(tmp_path):
    """--inputs + --random-backbone under JAX with tensorflow and tensorflow_text blocked."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    lengths = np.array([5, 9, 3, 12, 7, 12])
    mask = np.arange(12)[None, :] < lengths[:, None]
    token_ids = np.where(mask, np.random.default_rng(0).integers(5, 1000, mask.shape), 0).astype(
        "int32"
    )
    B.save_inputs(
        str(tmp_path / "x.npz"),
        {"token_ids": token_ids, "padding_mask": mask, "segment_ids": np.zeros_like(token_ids)},
        np.ones(6, "int32"),
        "cola",
        12,
    )
    features, labels, task, seq_len = B.load_inputs(str(tmp_path / "x.npz"))
    assert task == "cola" and seq_len == 12 and labels.tolist() == [1] * 6
    np.testing.assert_array_equal(features["padding_mask"], mask)

    out = tmp_path / "jax.json"
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "benchmark.py"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    env.setdefault(
        "XLA_FLAGS", "--xla_backend_optimization_level=0"
    )  # as conftest: compiling is the cost
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TF,
            str(script),
            "--inputs",
            str(tmp_path / "x.npz"),
            "--random-backbone",
            "tiny",
            "--retention-config",
            "4",
            "--protocol",
            "dynamic",
            "--batch-size",
            "4",
            "--repeats",
            "3",
            "--load-sample-seconds",
            "0",
            "--bootstrap",
            "200",
            "--json",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["keras_backend"] == "jax" and result["tf_version"] is None
    assert (
        result["protocol"] == "dynamic"
        and result["seq_len"] == 12
        and result["examples_per_unit"] == 6
    )
    assert result["batch_shapes"] == 2  # [4, 12] and [2, 12]: each compiled in the warm-up
    low, high = result["speedup_ci"]
    assert low <= result["speedup"] <= high
    assert set(result["variants"]) == {"baseline", "power", "truncation", "cls_only"}
