"""SavedModel / TF Serving export: layout, signatures, tokenization parity,
predictions, bad requests, a fresh process without Keras, the CLI, the
gRPC request helper and the REST response format.

Two tiny random BERT models are exported once per module: a single-sentence
classifier ("cola", exported through the CLI's `main`) and a sentence-pair
regressor ("stsb", exported through `export_savedmodel`). A tiny RoBERTa
classifier (no segment ids) checks the refusal of raw-text export and the
token-ids-only export.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the ops for tf.saved_model.load)

from conftest import ROOT, load_script
from power_bert_tf import PowerBertClassifier
from power_bert_tf import export as E
from power_bert_tf.export import packing

pytestmark = pytest.mark.tensorflow_only

SEQ_LEN = 16
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
    "cafe",
    "café",
    "##ing",
    "run",
    ".",
    ",",
    "!",
    "?",
    "'",
    "-",
    "hello",
    "world",
    "is",
    "not",
    "good",
    "bad",
    "un",
    "##believ",
    "##able",
    "movie",
    "it",
    "was",
    "i",
    "fi",
    "2",
    "中",
    "x",
    "##x",
    "film",
    "great",
]
# Text the in-graph tokenizer must agree on with keras-hub: punctuation,
# accents, unknown words and wordpieces, CJK, NFKC/case-folding, control and
# format characters, long inputs, words over 100 bytes, empty input.
SENTENCES = [
    "The quick brown fox jumped over the lazy dog.",
    "Hello, world! Isn't it good?",
    "CAFÉ café Cafe naïve résumé",
    "unbelievable movie!!!",
    "xxxxxx",
    "zzz qqq unknownword",
    "中文 text 中",
    "ﬁ Ｈｅｌｌｏ ² Ⅻ ① ㎏ ﬀ",
    "tabs\tand\nnewlines  and   spaces",
    "zero\u200bwidth soft\u00adhyphen",
    "emoji 😀 test",
    " ".join(["the quick brown fox"] * 20),
    "x" * 150,
    "",
    "   ",
    "İstanbul ß straße ΣΑΣ ǅ",
    "[CLS] [SEP] [PAD] [UNK] [MASK]",
    "\ufeffbom",
    "e\u0301 combining",
    "\u3000ideographic\u00a0nbsp\u2028ls",
    "a—b–c…d «e» ¿f? ¡g!",
    "$5 ^ ` ~ | \\ @ # %",
]
# keras-hub's own Python (eager) and TF (tf.data, training) paths disagree on
# NUL bytes: the TF path stops at the NUL. The export follows the TF path.
TF_PATH_ONLY = ["a\x00b the dog"]
PAIRS = list(zip(SENTENCES, reversed(SENTENCES))) + [
    ("short", " ".join(["a quick fox"] * 30)),
    (" ".join(["the dog"] * 30), " ".join(["a quick fox"] * 30)),
    (" ".join(["the dog"] * 30), "x"),
    ("", " ".join(["the dog"] * 30)),
    ("the dog", ""),
]
PREDICT_TEXTS = [
    "The quick brown fox jumped over the lazy dog.",
    "unbelievable movie!!!",
    "CAFÉ café naïve",
    "zzz qqq unknownword",
    "",
    " ".join(["the lazy dog was not good"] * 10),
    "hello world",
    "a great film , i run",
]
PREDICT_PAIRS = [(a, b) for a, b in zip(PREDICT_TEXTS, reversed(PREDICT_TEXTS))]
# The tf-text kernels the graph may use (all linked into TF Serving).
ALLOWED_CUSTOM_OPS = {
    "CaseFoldUTF8",
    "NormalizeUTF8",
    "RegexSplitWithOffsets",
    "FastWordpieceTokenizeWithOffsets",
}


def _make_run(run_dir: Path, *, task, num_classes, label_names, is_pair, seed):
    """A run directory as training leaves it, from a tiny random model."""
    keras.utils.set_random_seed(seed)
    run_dir.mkdir(parents=True)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(VOCAB),
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        keras_hub.tokenizers.BertTokenizer(vocabulary=VOCAB, lowercase=True),
        sequence_length=SEQ_LEN,
    )
    model = PowerBertClassifier(
        backbone,
        num_classes=num_classes,
        retention="16,8",
        sequence_length=SEQ_LEN,
        preprocessor=preprocessor,
    )
    _spread_weights(model, seed)
    model.save(run_dir / "retrain.keras")
    (run_dir / "run_config.json").write_text(
        json.dumps(
            {
                "task": task,
                "backbone": "tiny-bert",
                "sequence_length": SEQ_LEN,
                "num_classes": num_classes,
                "label_names": label_names,
                "is_pair": is_pair,
            }
        )
    )
    return model


def _spread_weights(model, seed):
    """Spread the weights so that outputs depend clearly on the input."""
    model.build_from_example()
    rng = np.random.default_rng(seed)
    for variable in model.trainable_variables:
        noise = rng.normal(0.0, 0.3, tuple(variable.shape))
        variable.assign(keras.ops.convert_to_numpy(variable) + noise.astype("float32"))


def _cli_main(argv):
    script = load_script("export_savedmodel")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = script.main(argv)
    return code, stdout.getvalue()


class Variant:
    def __init__(self, name, model, run_dir, export_dir, version_dir, is_pair):
        self.name, self.model, self.run_dir = name, model, run_dir
        self.export_dir, self.version_dir = export_dir, Path(version_dir)
        self.is_pair = is_pair
        self.loaded = tf.saved_model.load(str(version_dir))

    @property
    def text(self):
        return self.loaded.signatures[E.SIGNATURE_TEXT]

    @property
    def token_ids(self):
        return self.loaded.signatures[E.SIGNATURE_TOKEN_IDS]

    def call_text(self, texts):
        if self.is_pair:
            first, second = zip(*texts) if texts else ((), ())
            return self.text(
                sentence1=tf.constant(list(first), tf.string),
                sentence2=tf.constant(list(second), tf.string),
            )
        return self.text(sentence=tf.constant(list(texts), tf.string))

    def features(self, texts):
        """keras-hub's preprocessor, eager (Python path)."""
        pre = self.model.preprocessor
        if self.is_pair:
            first, second = zip(*texts)
            return pre((list(first), list(second)), y=None)
        return pre(list(texts))

    def expected(self, texts):
        """The in-memory Keras model's outputs on keras-hub features."""
        out = np.asarray(self.model(self.features(texts), training=False))
        return out[:, 0] if self.model.is_regression else out


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    base = tmp_path_factory.mktemp("export")
    cola_model = _make_run(
        base / "run_cola",
        task="cola",
        num_classes=2,
        label_names=["unacceptable", "acceptable"],
        is_pair=False,
        seed=1,
    )
    code, printed = _cli_main(
        [
            "--checkpoint",
            str(base / "run_cola"),
            "--export-dir",
            str(base / "serve_cola"),
        ]
    )
    assert code == 0, printed
    cola_dir = printed.strip().splitlines()[-1]

    stsb_model = _make_run(
        base / "run_stsb",
        task="stsb",
        num_classes=1,
        label_names=[],
        is_pair=True,
        seed=2,
    )
    # An older version and a non-version folder: the default version is 1 + max.
    (base / "serve_stsb" / "4").mkdir(parents=True)
    (base / "serve_stsb" / "notes").mkdir()
    stsb_dir = E.export_savedmodel(base / "run_stsb", base / "serve_stsb")
    return {
        "cola": Variant(
            "cola", cola_model, base / "run_cola", base / "serve_cola", cola_dir, False
        ),
        "stsb": Variant("stsb", stsb_model, base / "run_stsb", base / "serve_stsb", stsb_dir, True),
    }


@pytest.fixture(params=["cola", "stsb"])
def variant(request, variants):
    return variants[request.param]


# ---------------------------------------------------------------------------
# layout, versions, metadata
# ---------------------------------------------------------------------------
def test_serving_directory_layout(variants):
    cola, stsb = variants["cola"], variants["stsb"]
    assert cola.version_dir == cola.export_dir / "1"
    assert stsb.version_dir == stsb.export_dir / "5"
    for v in (cola, stsb):
        assert (v.version_dir / "saved_model.pb").is_file()
        assert (v.version_dir / "variables" / "variables.index").is_file()
        vocab = (v.version_dir / "assets" / "vocabulary.txt").read_text("utf-8").splitlines()
        assert vocab == VOCAB
        assert (v.version_dir / "assets.extra" / E.METADATA_FILENAME).is_file()
        # The temporary directory was renamed into place, nothing left over.
        assert not [p for p in v.export_dir.iterdir() if p.name.startswith(".tmp")]


def test_metadata_file_and_module_attributes(variants):
    cola, stsb = variants["cola"], variants["stsb"]
    meta = E.read_metadata(cola.version_dir)
    assert meta["task"] == "cola"
    assert meta["retention_config"] == "16,8" and meta["retention"] == [16, 8]
    assert meta["mode"] == "hard"
    assert meta["label_names"] == ["unacceptable", "acceptable"]
    assert meta["sequence_length"] == SEQ_LEN
    assert meta["flops_fraction"] == pytest.approx(cola.model.flops_fraction())
    assert meta["flops_fraction"] < 1.0
    assert meta["is_pair"] is False and meta["is_regression"] is False
    assert meta["signatures"]["serving_default"]["inputs"] == ["sentence"]
    assert meta["version"] == 1

    loaded = cola.loaded
    assert loaded.retention_config.numpy() == b"16,8"
    assert loaded.task.numpy() == b"cola"
    assert loaded.mode.numpy() == b"hard"
    assert list(loaded.label_names.numpy()) == [b"unacceptable", b"acceptable"]
    assert int(loaded.sequence_length.numpy()) == SEQ_LEN
    assert float(loaded.flops_fraction.numpy()) == pytest.approx(meta["flops_fraction"], rel=1e-6)
    assert json.loads(loaded.metadata_json.numpy().decode())["retention"] == [16, 8]
    # Also readable straight from the variables checkpoint, without the graph.
    reader = tf.train.load_checkpoint(str(cola.version_dir / "variables" / "variables"))
    assert reader.get_tensor("retention_config/.ATTRIBUTES/VARIABLE_VALUE") == b"16,8"

    meta = E.read_metadata(stsb.version_dir)
    assert meta["task"] == "stsb" and meta["is_regression"] and meta["is_pair"]
    assert meta["label_names"] == [] and meta["version"] == 5
    assert meta["signatures"]["serving_default"] == {
        "inputs": ["sentence1", "sentence2"],
        "outputs": ["score"],
    }
    assert stsb.loaded.label_names.numpy().shape == (0,)


def test_signatures_inputs_and_outputs(variants):
    cola, stsb = variants["cola"], variants["stsb"]
    assert set(cola.loaded.signatures) == {"serving_default", "serve_token_ids"}
    _, kwargs = cola.text.structured_input_signature
    assert {k: (s.dtype, s.shape.as_list()) for k, s in kwargs.items()} == {
        "sentence": (tf.string, [None]),
    }
    assert set(cola.text.structured_outputs) == {"logits", "probabilities", "label"}
    _, kwargs = stsb.text.structured_input_signature
    assert set(kwargs) == {"sentence1", "sentence2"}
    assert set(stsb.text.structured_outputs) == {"score"}
    _, kwargs = cola.token_ids.structured_input_signature
    assert {k: (s.dtype, s.shape.as_list()) for k, s in kwargs.items()} == {
        name: (tf.int32, [None, None]) for name in ("token_ids", "segment_ids", "padding_mask")
    }


def test_saved_model_cli_lists_both_signatures(variants):
    cli = Path(sys.executable).parent / "saved_model_cli"
    if not cli.exists():
        pytest.skip("saved_model_cli is not installed next to this python")
    result = subprocess.run(
        [str(cli), "show", "--all", "--dir", str(variants["cola"].version_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "signature_def['serving_default']" in out
    assert "signature_def['serve_token_ids']" in out
    for name in (
        "inputs['sentence']",
        "inputs['token_ids']",
        "outputs['probabilities']",
        "outputs['label']",
        "outputs['logits']",
    ):
        assert name in out


# ---------------------------------------------------------------------------
# tokenization parity with keras-hub
# ---------------------------------------------------------------------------
def _assert_same_features(ours, theirs, inputs):
    for key in ("token_ids", "segment_ids", "padding_mask"):
        a = np.asarray(ours[key]).astype("int32")
        b = np.asarray(theirs[key]).astype("int32")
        assert a.shape == b.shape == (len(inputs), SEQ_LEN), key
        for i, text in enumerate(inputs):
            assert np.array_equal(a[i], b[i]), f"{key} differs for {text!r}: {a[i]} != {b[i]}"


def test_in_graph_tokenizer_matches_keras_hub_single(variants):
    cola = variants["cola"]
    pre = cola.model.preprocessor
    ours = cola.loaded.tokenize(tf.constant(SENTENCES))
    _assert_same_features(ours, pre(SENTENCES), SENTENCES)  # eager (Python) path
    texts = SENTENCES + TF_PATH_ONLY
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(len(texts)).map(pre)
    _assert_same_features(cola.loaded.tokenize(tf.constant(texts)), next(iter(ds)), texts)
    # Sanity: the cases exercise [UNK], wordpieces and truncation.
    ids = np.asarray(ours["token_ids"])
    assert (ids == VOCAB.index("[UNK]")).any() and (ids == VOCAB.index("##x")).any()
    assert np.asarray(ours["padding_mask"]).all(axis=1).any()  # a full-length row


def test_in_graph_tokenizer_matches_keras_hub_pairs(variants):
    stsb = variants["stsb"]
    pre = stsb.model.preprocessor
    first, second = (list(x) for x in zip(*PAIRS))
    ours = stsb.loaded.tokenize(tf.constant(first), tf.constant(second))
    _assert_same_features(ours, pre((first, second), y=None), PAIRS)
    first, second = first + TF_PATH_ONLY, second + ["the dog"]
    ds = tf.data.Dataset.from_tensor_slices((first, second)).batch(len(first))
    ds = ds.map(lambda a, b: pre((a, b), y=None))
    _assert_same_features(
        stsb.loaded.tokenize(tf.constant(first), tf.constant(second)),
        next(iter(ds)),
        list(zip(first, second)),
    )
    segments = np.asarray(ours["segment_ids"])
    assert (segments == 1).any()


def test_round_robin_trimming_matches_keras_hub_packer():
    packer = keras_hub.layers.MultiSegmentPacker(
        start_value=2,
        end_value=3,
        pad_value=0,
        sequence_length=SEQ_LEN,
        truncate="round_robin",
    )
    rng = np.random.default_rng(0)
    lengths = [(a, b) for a in range(0, 20, 3) for b in range(0, 20, 2)]
    a = tf.ragged.constant([list(rng.integers(5, 40, n)) for n, _ in lengths], tf.int32)
    b = tf.ragged.constant([list(rng.integers(5, 40, n)) for _, n in lengths], tf.int32)
    expected_ids, expected_segments = packer((a, b))
    ours = packing.pack([a, b], SEQ_LEN, 2, 3, 0, "round_robin")
    np.testing.assert_array_equal(ours["token_ids"], expected_ids)
    np.testing.assert_array_equal(ours["segment_ids"], expected_segments)


# ---------------------------------------------------------------------------
# predictions
# ---------------------------------------------------------------------------
def test_text_signature_matches_in_memory_model(variant):
    texts = PREDICT_PAIRS if variant.is_pair else PREDICT_TEXTS
    out = variant.call_text(texts)
    expected = variant.expected(texts)
    assert np.std(expected, axis=0).max() > 1e-2  # outputs depend on the input
    if variant.is_pair:
        np.testing.assert_allclose(out["score"], expected, rtol=1e-5, atol=1e-5)
        return
    np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        out["probabilities"],
        keras.ops.convert_to_numpy(keras.ops.softmax(expected)),
        rtol=1e-5,
        atol=1e-5,
    )
    names = np.array(["unacceptable", "acceptable"])[expected.argmax(-1)]
    assert [s.decode() for s in out["label"].numpy()] == list(names)


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
@pytest.mark.parametrize("seq", [SEQ_LEN, 10, 5, 1])
def test_token_ids_signature_matches_in_memory_model(variant, seq):
    texts = PREDICT_PAIRS if variant.is_pair else PREDICT_TEXTS
    features = {k: np.asarray(v)[:, :seq] for k, v in variant.features(texts).items()}
    out = variant.token_ids(
        token_ids=tf.constant(features["token_ids"], tf.int32),
        segment_ids=tf.constant(features["segment_ids"], tf.int32),
        padding_mask=tf.constant(features["padding_mask"], tf.int32),
    )
    expected = np.asarray(variant.model(features, training=False))
    key = "score" if variant.is_pair else "logits"
    expected = expected[:, 0] if variant.is_pair else expected
    np.testing.assert_allclose(out[key], expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# bad requests
# ---------------------------------------------------------------------------
def _check_outputs(variant, out, batch):
    if variant.is_pair:
        assert out["score"].shape == (batch,)
        assert np.isfinite(out["score"].numpy()).all()
    else:
        assert out["logits"].shape == (batch, 2)
        assert out["probabilities"].shape == (batch, 2)
        assert out["label"].shape == (batch,)
        assert np.isfinite(out["probabilities"].numpy()).all()


def _raw(variant, texts):
    """Call the text signature with raw bytes (no encoding)."""
    if variant.is_pair:
        return variant.text(
            sentence1=tf.constant(texts, tf.string), sentence2=tf.constant(texts[::-1], tf.string)
        )
    return variant.text(sentence=tf.constant(texts, tf.string))


def test_bad_text_requests_give_defined_outputs(variant):
    # Empty batch.
    empty = _raw(variant, np.array([], dtype=object))
    _check_outputs(variant, empty, 0)
    # Empty strings, whitespace only.
    _check_outputs(variant, _raw(variant, [b"", b"   "]), 2)
    # Far longer than seq_len: truncated like keras-hub (first 16 tokens).
    long_text = " ".join(["the quick brown fox"] * 2500)  # 10k words
    out = _raw(variant, [long_text.encode(), b"the dog"])
    _check_outputs(variant, out, 2)
    if not variant.is_pair:
        np.testing.assert_allclose(
            out["logits"].numpy()[:1], variant.expected([long_text]), rtol=1e-5, atol=1e-5
        )
    # Bytes that are not UTF-8: replaced by U+FFFD before tokenizing.
    invalid = [b"\xff\xfe the \xc3\x28 dog \xed\xa0\x80", b"\x80"]
    out = _raw(variant, invalid)
    _check_outputs(variant, out, 2)
    replaced = [b.decode("utf-8", errors="replace").encode() for b in invalid]
    again = _raw(variant, replaced)
    for key in out:
        np.testing.assert_array_equal(out[key].numpy(), again[key].numpy())
    # The largest batch a request may hold (export's max_batch_size); one more is refused.
    _check_outputs(variant, _raw(variant, [b"the quick fox", b"a dog"] * 512), 1024)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 1024 examples"):
        _raw(variant, [b"a dog"] * 1025)


def test_bad_token_id_requests_raise_invalid_argument(variants):
    sig = variants["cola"].token_ids

    def call(ids, segments=None, mask=None):
        ids = np.asarray(ids, "int32")
        return sig(
            token_ids=tf.constant(ids),
            segment_ids=tf.constant(np.zeros_like(ids) if segments is None else segments, tf.int32),
            padding_mask=tf.constant(np.ones_like(ids) if mask is None else mask, tf.int32),
        )

    out = call(np.zeros((0, 7)))  # empty batch is fine
    assert out["logits"].shape == (0, 2)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 16 tokens"):
        call(np.full((2, SEQ_LEN + 4), 5))
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocabulary size"):
        call(np.full((2, 4), len(VOCAB)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="token_ids must be >= 0"):
        call(np.full((2, 4), -1))
    with pytest.raises(tf.errors.InvalidArgumentError, match="segment_ids"):
        call(np.full((2, 4), 5), segments=np.full((2, 4), 2))
    with pytest.raises(tf.errors.InvalidArgumentError, match="shape of token_ids"):
        call(np.full((2, 4), 5), mask=np.ones((2, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least one token"):
        call(np.zeros((2, 0)))


# ---------------------------------------------------------------------------
# a fresh process with only TensorFlow and the tf-text kernels
# ---------------------------------------------------------------------------
FRESH_SCRIPT = textwrap.dedent("""
    import glob, importlib.util, json, os, sys
    # The tf-text kernels, without its Python package (which imports Keras):
    # this is what TF Serving has.
    ops_dir = os.path.join(
        os.path.dirname(importlib.util.find_spec("tensorflow_text").origin), "python", "ops")
    for name in ("power_bert_tf", "keras_hub", "keras", "tf_keras", "tensorflow_text"):
        sys.modules[name] = None
    for name in ("power_bert_tf", "keras_hub", "keras"):
        try:
            __import__(name)
        except ImportError:
            pass
        else:
            raise SystemExit("could import " + name)
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    job = json.load(open(sys.argv[1]))
    result = {}
    for name, spec in job.items():
        proto = saved_model_pb2.SavedModel()
        with open(os.path.join(spec["dir"], "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
        graph = proto.meta_graphs[0].graph_def
        ops = {n.op for n in graph.node} | {
            n.op for fn in graph.library.function for n in fn.node_def}
        result[name] = {"custom_ops": sorted(o for o in ops if op_def_registry.get(o) is None)}
    for path in sorted(glob.glob(os.path.join(ops_dir, "_*.so"))):
        tf.load_op_library(path)
    arrays = {}
    for name, spec in job.items():
        loaded = tf.saved_model.load(spec["dir"])
        fn = loaded.signatures["serving_default"]
        inputs = {k: tf.constant(v, tf.string) for k, v in spec["inputs"].items()}
        for key, value in fn(**inputs).items():
            arrays[name + "/" + key] = value.numpy()
        result[name]["retention_config"] = loaded.retention_config.numpy().decode()
    np.savez(sys.argv[2], **arrays)
    loaded_modules = sorted(
        k for k, m in sys.modules.items()
        if m is not None and k.split(".")[0] in ("keras", "keras_hub", "power_bert_tf", "tensorflow_text"))
    result["imported"] = loaded_modules
    json.dump(result, open(sys.argv[3], "w"))
""")


def test_loads_and_runs_in_a_fresh_process_without_keras(variants, tmp_path):
    cola, stsb = variants["cola"], variants["stsb"]
    first, second = (list(x) for x in zip(*PREDICT_PAIRS))
    job = {
        "cola": {"dir": str(cola.version_dir), "inputs": {"sentence": PREDICT_TEXTS}},
        "stsb": {"dir": str(stsb.version_dir), "inputs": {"sentence1": first, "sentence2": second}},
    }
    (tmp_path / "job.json").write_text(json.dumps(job))
    (tmp_path / "fresh.py").write_text(FRESH_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "fresh.py", "job.json", "out.npz", "result.json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((tmp_path / "result.json").read_text())
    assert info["imported"] == []
    for name in ("cola", "stsb"):
        assert set(info[name]["custom_ops"]) <= ALLOWED_CUSTOM_OPS, info[name]
        assert info[name]["retention_config"] == "16,8"
    arrays = np.load(tmp_path / "out.npz", allow_pickle=True)
    np.testing.assert_allclose(
        arrays["cola/logits"], cola.expected(PREDICT_TEXTS), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        arrays["stsb/score"], stsb.expected(PREDICT_PAIRS), rtol=1e-5, atol=1e-5
    )


# ---------------------------------------------------------------------------
# client helpers
# ---------------------------------------------------------------------------
def test_make_predict_request_round_trip(variant):
    pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    texts = PREDICT_PAIRS if variant.is_pair else PREDICT_TEXTS
    request = E.make_predict_request(
        texts, model_name="power_bert", pair=variant.is_pair, version=3
    )
    assert request.model_spec.name == "power_bert"
    assert request.model_spec.signature_name == "serving_default"
    assert request.model_spec.version.value == 3
    inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
    assert set(inputs) == ({"sentence1", "sentence2"} if variant.is_pair else {"sentence"})
    from_request = variant.text(**{k: tf.constant(v) for k, v in inputs.items()})
    direct = variant.call_text(texts)
    for key in direct:
        np.testing.assert_array_equal(from_request[key].numpy(), direct[key].numpy())
    # Protos survive serialization (what goes over the wire).
    wire = type(request).FromString(request.SerializeToString())
    assert tf.make_ndarray(wire.inputs[next(iter(inputs))]).shape == (len(texts),)


def test_rest_response_format(variants):
    cola, stsb = variants["cola"], variants["stsb"]
    response = E.rest_response(cola.call_text(PREDICT_TEXTS[:2]))
    json.dumps(response)
    assert len(response["predictions"]) == 2
    row = response["predictions"][0]
    assert set(row) == {"label", "logits", "probabilities"}
    assert row["label"] in ("unacceptable", "acceptable") and len(row["probabilities"]) == 2
    response = E.rest_response(stsb.call_text(PREDICT_PAIRS[:3]))
    assert len(response["predictions"]) == 3
    assert all(isinstance(v, float) for v in response["predictions"])


def test_rest_response_matches_tf_serving_row_format():
    # TF Serving's REST predict API, row format: {"predictions": [...]}, one entry
    # per instance; several named outputs give one {name: value} object per
    # instance, a single output gives the bare values; non-UTF-8 bytes are
    # {"b64": ...}. Written out by hand (values exact in float32).
    outputs = {
        "logits": tf.constant([[0.5, -1.25], [2.0, 0.0]]),
        "probabilities": tf.constant([[0.75, 0.25], [0.125, 0.875]]),
        "label": tf.constant([b"acceptable", b"\xff\x00"]),
    }
    expected = json.loads("""
        {"predictions": [
            {"label": "acceptable", "logits": [0.5, -1.25], "probabilities": [0.75, 0.25]},
            {"label": {"b64": "/wA="}, "logits": [2.0, 0.0], "probabilities": [0.125, 0.875]}
        ]}
    """)
    assert json.loads(json.dumps(E.rest_response(outputs))) == expected
    single = {"score": tf.constant([0.5, 3.25, -1.0])}
    assert json.loads(json.dumps(E.rest_response(single))) == {"predictions": [0.5, 3.25, -1.0]}
    assert E.rest_response({"score": tf.zeros([0])}) == {"predictions": []}


# ---------------------------------------------------------------------------
# checkpoints, versions, CLI errors
# ---------------------------------------------------------------------------
def test_checkpoint_resolution(variants, tmp_path):
    run_dir = variants["cola"].run_dir
    keras_file, config = E.checkpoint_and_run_config(run_dir)
    assert keras_file.name == "retrain.keras" and config["task"] == "cola"
    keras_file, config = E.checkpoint_and_run_config(run_dir / "retrain.keras")
    assert config["label_names"] == ["unacceptable", "acceptable"]
    fallback = tmp_path / "run"
    fallback.mkdir()
    (fallback / "finetune.keras").write_bytes(b"")
    assert E.checkpoint_and_run_config(fallback)[0].name == "finetune.keras"
    for bad in (tmp_path / "missing", tmp_path / "empty", tmp_path / "model.h5"):
        if bad.name == "empty":
            bad.mkdir()
        elif bad.suffix:
            bad.write_bytes(b"")
        with pytest.raises(E.ExportError, match=str(bad)):
            E.checkpoint_and_run_config(bad)


def test_metadata_overrides_for_a_bare_keras_file(variants):
    model = variants["cola"].model
    meta = E.export_metadata(
        model, {"task": "sst2", "label_names": ["neg", "pos"], "is_pair": True}
    )
    assert meta["task"] == "sst2" and meta["label_names"] == ["neg", "pos"]
    assert meta["signatures"]["serving_default"]["inputs"] == ["sentence1", "sentence2"]
    assert E.export_metadata(model, {})["label_names"] == ["0", "1"]
    with pytest.raises(E.ExportError, match="label names"):
        E.export_metadata(model, {"label_names": ["a", "b", "c"]})


def test_versions_are_never_overwritten(variants, tmp_path, monkeypatch):
    cola = variants["cola"]
    assert E.version_directory(tmp_path / "nothing") == tmp_path / "nothing" / "1"
    assert E.version_directory(cola.export_dir) == cola.export_dir / "2"
    before = sorted(p.name for p in cola.version_dir.rglob("*"))
    with pytest.raises(E.ExportError, match="already exists"):
        E.export_savedmodel(cola.run_dir, cola.export_dir, version=1)
    with pytest.raises(E.ExportError, match="non-negative"):
        E.export_model(cola.model, tmp_path / "x", version=-1)
    assert sorted(p.name for p in cola.version_dir.rglob("*")) == before

    # A failure half-way leaves neither a version nor a temporary directory.
    def broken_save(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken_save)
    target = tmp_path / "serve"
    with pytest.raises(RuntimeError, match="disk full"):
        E.export_model(cola.model, target)
    assert list(target.iterdir()) == []


def test_cli_bad_checkpoint_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "no_such_run"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "export_savedmodel.py"),
            "--checkpoint",
            str(missing),
            "--export-dir",
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(missing) in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    with pytest.raises(E.ExportError) as raised:  # the library says the same
        E.checkpoint_and_run_config(missing)
    assert lines[0] == f"error: {raised.value}"


def test_cli_run_dir_without_checkpoint(tmp_path, capsys):
    empty = tmp_path / "run"
    empty.mkdir()
    code, printed = _cli_main(["--checkpoint", str(empty), "--export-dir", str(tmp_path / "out")])
    assert code == 2 and printed == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(empty) in err[0] and "retrain.keras" in err[0]


# ---------------------------------------------------------------------------
# a backbone without segment ids (RoBERTa): no raw-text signature, token ids only
# ---------------------------------------------------------------------------
ROBERTA_LABELS = ["entailment", "neutral", "contradiction"]


@pytest.fixture(scope="module")
def roberta_run(tmp_path_factory):
    """A run directory holding a tiny random RoBERTa classifier (no preprocessor)."""
    keras.utils.set_random_seed(3)
    backbone = keras_hub.models.RobertaBackbone(
        vocabulary_size=100,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
    )
    model = PowerBertClassifier(backbone, num_classes=3, retention="16,8", sequence_length=SEQ_LEN)
    _spread_weights(model, 3)
    run_dir = tmp_path_factory.mktemp("roberta") / "run"
    run_dir.mkdir()
    model.save(run_dir / "retrain.keras")
    (run_dir / "run_config.json").write_text(
        json.dumps(
            {
                "task": "mnli",
                "backbone": "tiny-roberta",
                "label_names": ROBERTA_LABELS,
            }
        )
    )
    return model, run_dir


def test_raw_text_export_refuses_a_backbone_without_segment_ids(roberta_run, tmp_path, capsys):
    model, run_dir = roberta_run
    assert model.input_features == ("token_ids", "padding_mask")
    with pytest.raises(E.ExportError, match="BERT/ALBERT") as raised:
        E.export_model(model, tmp_path / "serve")
    message = str(raised.value)
    assert "RobertaBackbone" in message and E.SIGNATURE_TOKEN_IDS in message
    assert "text_signature=False" in message
    with pytest.raises(E.ExportError, match="BERT/ALBERT"):
        E.export_metadata(model, {})
    assert not (tmp_path / "serve").exists()
    # The CLI: one line naming the way out, exit status 2, nothing written.
    code, printed = _cli_main(
        ["--checkpoint", str(run_dir), "--export-dir", str(tmp_path / "serve")]
    )
    assert code == 2 and printed == ""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--token-ids-only" in err[0] and "BERT/ALBERT" in err[0]
    assert not (tmp_path / "serve").exists()


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis")
def test_token_ids_only_export_takes_only_the_features_the_model_reads(roberta_run, tmp_path):
    model, run_dir = roberta_run
    code, printed = _cli_main(
        [
            "--checkpoint",
            str(run_dir),
            "--export-dir",
            str(tmp_path / "serve"),
            "--token-ids-only",
        ]
    )
    assert code == 0, printed
    version_dir = Path(printed.strip().splitlines()[-1])
    assert version_dir == tmp_path / "serve" / "1"
    loaded = tf.saved_model.load(str(version_dir))
    assert set(loaded.signatures) == {E.SIGNATURE_TOKEN_IDS}
    signature = loaded.signatures[E.SIGNATURE_TOKEN_IDS]
    _, kwargs = signature.structured_input_signature
    assert {k: (s.dtype, s.shape.as_list()) for k, s in kwargs.items()} == {
        "token_ids": (tf.int32, [None, None]),
        "padding_mask": (tf.int32, [None, None]),
    }
    assert set(signature.structured_outputs) == {"logits", "probabilities", "label"}
    meta = E.read_metadata(version_dir)
    assert meta["signatures"] == {
        E.SIGNATURE_TOKEN_IDS: {
            "inputs": ["token_ids", "padding_mask"],
            "outputs": ["logits", "probabilities", "label"],
        }
    }
    assert meta["task"] == "mnli" and meta["label_names"] == ROBERTA_LABELS
    assert meta["sequence_length"] == SEQ_LEN and meta["retention"] == [16, 8]
    assert int(loaded.sequence_length.numpy()) == SEQ_LEN

    rng = np.random.default_rng(0)
    for seq in (SEQ_LEN, 9, 1):
        token_ids = rng.integers(3, 100, (5, seq)).astype("int32")
        padding_mask = np.ones_like(token_ids)
        padding_mask[1, seq // 2 + 1 :] = 0
        token_ids[1, seq // 2 + 1 :] = 1  # RoBERTa's <pad>
        out = signature(token_ids=tf.constant(token_ids), padding_mask=tf.constant(padding_mask))
        expected = np.asarray(
            model({"token_ids": token_ids, "padding_mask": padding_mask}, training=False)
        )
        if seq > 1:
            assert np.std(expected, axis=0).max() > 1e-2  # outputs depend on the input
        np.testing.assert_allclose(out["logits"], expected, rtol=1e-5, atol=1e-5)
        names = np.array(ROBERTA_LABELS)[expected.argmax(-1)]
        assert [s.decode() for s in out["label"].numpy()] == list(names)
    ones = tf.ones((2, 4), tf.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="vocabulary size"):
        signature(token_ids=ones * 100, padding_mask=ones)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shape of token_ids"):
        signature(token_ids=ones, padding_mask=tf.ones((2, 3), tf.int32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 16 tokens"):
        signature(
            token_ids=tf.ones((2, SEQ_LEN + 1), tf.int32),
            padding_mask=tf.ones((2, SEQ_LEN + 1), tf.int32),
        )
