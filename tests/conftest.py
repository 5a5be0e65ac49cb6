"""Shared test set-up: tiny backbones of every family, a tiny run directory, the script loader.

Backends: tests run on the backend Keras is configured with (KERAS_BACKEND). Tests
that need TensorFlow itself (tf.GradientTape, tf.function, tf.data, SavedModel) are
marked `tensorflow_only` (a whole module with `pytestmark`) and skipped on others.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# Must happen before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if os.environ.get("KERAS_BACKEND") == "jax" and "XLA_FLAGS" not in os.environ:
    # Eager JAX compiles every op for every new shape (hundreds per test); unoptimized
    # code for the tests' tiny tensors saves a fifth of the JAX suite. Before jax starts.
    os.environ["XLA_FLAGS"] = "--xla_backend_optimization_level=0"

ROOT = Path(__file__).resolve().parents[1]
GLUE_DIR = Path(os.environ.get("GLUE_DIR", ROOT.parent / "shared" / "glue"))
if importlib.util.find_spec("power_bert_tf") is None:
    # Plain `pytest` (not `python -m pytest`) from an uninstalled checkout.
    sys.path.insert(0, str(ROOT))

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# One tiny random backbone per keras-hub family (and ALBERT's two sharing patterns).
BACKBONE_SPECS = {
    "bert": (
        keras_hub.models.BertBackbone,
        dict(
            vocabulary_size=100,
            num_layers=3,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            dropout=0.0,
        ),
    ),
    "bert_4heads_dropout": (
        keras_hub.models.BertBackbone,
        dict(
            vocabulary_size=100,
            num_layers=2,
            num_heads=4,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            dropout=0.3,
        ),
    ),
    "albert_g1": (
        keras_hub.models.AlbertBackbone,
        dict(
            vocabulary_size=100,
            num_layers=3,
            num_heads=2,
            embedding_dim=8,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            num_groups=1,
            num_inner_repetitions=1,
        ),
    ),
    "albert_g2r2": (
        keras_hub.models.AlbertBackbone,
        dict(
            vocabulary_size=100,
            num_layers=4,
            num_heads=2,
            embedding_dim=8,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            num_groups=2,
            num_inner_repetitions=2,
        ),
    ),
    "roberta": (
        keras_hub.models.RobertaBackbone,
        dict(
            vocabulary_size=100,
            num_layers=3,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            dropout=0.0,
        ),
    ),
    "distilbert": (
        keras_hub.models.DistilBertBackbone,
        dict(
            vocabulary_size=100,
            num_layers=2,
            num_heads=4,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            dropout=0.0,
        ),
    ),
}
FAMILIES = list(BACKBONE_SPECS)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tensorflow_only: needs TensorFlow itself (skipped on other backends)"
    )


# Docstring examples that train (the training loop is TensorFlow's).
TENSORFLOW_ONLY_DOCTESTS = {"power_bert_tf.accelerate.accelerate"}


def pytest_collection_modifyitems(config, items):
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow only; KERAS_BACKEND={keras.backend.backend()}")
    for item in items:
        if "tensorflow_only" in item.keywords or item.name in TENSORFLOW_ONLY_DOCTESTS:
            item.add_marker(skip)


def hand_flops(keep, seq_len: int, d: int, f: int) -> int:
    """Encoder FLOPs written from the spec, independent of power_bert_tf.retention: per layer,
    Q/K/V and the two seq x seq products on its input length n_in, the attention output
    projection (kept queries only) and the feed-forward sublayer on its output length n_out."""
    total, n_in = 0, seq_len
    for k in keep:
        n_out = min(k, n_in)
        total += 2 * (3 * n_in * d * d + n_out * d * d + 2 * n_in * n_in * d) + 2 * (
            2 * n_out * d * f
        )
        n_in = n_out
    return total


def np_(tensor) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def infer(model, inputs: dict) -> np.ndarray:
    """`model(inputs, training=False)` as numpy: eager on TensorFlow; under JAX through
    `predict()`, one compiled pass (eager JAX compiles each op it runs, seconds per model)."""
    if keras.backend.backend() == "jax":
        return np.asarray(
            model.predict(inputs, batch_size=len(next(iter(inputs.values()))), verbose=0)
        )
    return np_(model(inputs, training=False))


def randomize(backbone, seed: int) -> None:
    """Re-draw the weights: larger than the 0.02 init so attention is peaked and significance well
    separated, but scaled by fan-in so activations (and float32 rounding) stay moderate and the
    tanh pooler does not saturate."""
    rng = np.random.default_rng(seed)
    for v in backbone.trainable_weights:
        shape, path = tuple(v.shape), v.path
        if path.endswith("gamma"):
            value = 1.0 + 0.1 * rng.normal(size=shape)
        elif path.endswith("beta") or path.endswith("bias"):
            value = 0.1 * rng.normal(size=shape)
        elif "embedding/" in path or path.endswith("embeddings"):
            value = rng.normal(size=shape)
        else:
            gain = 2.0 if ("query" in path or "key" in path) else 1.0
            fan_in = np.prod(shape[:-1]) if "attention_output" in path else shape[0]
            value = gain * rng.normal(size=shape) / np.sqrt(fan_in)
        v.assign(value.astype("float32"))


def make_backbone(name: str, seed: int = 0):
    cls, kwargs = BACKBONE_SPECS[name]
    backbone = cls(**kwargs)
    randomize(backbone, seed)
    return backbone


def has_segments(backbone) -> bool:
    return isinstance(backbone, (keras_hub.models.BertBackbone, keras_hub.models.AlbertBackbone))


def backbone_inputs(backbone, token_ids, padding_mask) -> dict:
    """The feature dict `backbone` takes (segment_ids only where the family has them)."""
    inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
    if has_segments(backbone):
        inputs["segment_ids"] = np.zeros_like(token_ids)
    return inputs


def backbone_sequence_output(backbone, inputs):
    """keras-hub's own sequence output (BERT/ALBERT return a dict, the others a tensor)."""
    outputs = backbone(inputs)
    return outputs["sequence_output"] if isinstance(outputs, dict) else outputs


class Backbones(dict):
    """name -> make_backbone(name, seed=its index in FAMILIES), built when first asked for
    (a module that needs two families does not build six: under JAX each costs seconds)."""

    def __missing__(self, name: str):
        self[name] = backbone = make_backbone(name, seed=FAMILIES.index(name))
        return backbone


@pytest.fixture(scope="session")
def backbones() -> Backbones:
    """name -> a tiny random backbone of every family (see BACKBONE_SPECS)."""
    return Backbones()


SCRIPT_DIRS = (ROOT / "scripts", ROOT / "benchmarks")  # the user's commands; the measurement tools


def script_path(name: str) -> Path:
    """scripts/<name>.py or benchmarks/<name>.py."""
    found = [folder / f"{name}.py" for folder in SCRIPT_DIRS if (folder / f"{name}.py").is_file()]
    assert len(found) == 1, f"{name}.py: found in {found or 'neither of'} {SCRIPT_DIRS}"
    return found[0]


def load_script(name: str):
    """scripts/<name>.py or benchmarks/<name>.py as a module (its `main(argv)` is what the
    command line runs)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", script_path(name))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def built_once(tmp_path_factory, name: str, build) -> Path:
    """`build(path)` run once per test session, however many xdist workers share it.

    The first worker to get here builds into the session's common temporary folder under an
    exclusive file lock; the others wait for it and reuse the result (a tiny three-step run
    costs tens of seconds, and each worker would otherwise pay for it).
    """
    import fcntl

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by the workers of this session
    target, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            if target.exists():  # a build that failed half-way in this session
                import shutil

                shutil.rmtree(target)
            build(target)
            done.touch()
    return target


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory) -> Path:
    """A random tiny BERT saved as a local keras-hub preset (backbone + preprocessor)."""
    from glue_files import write_tiny_preset

    def build(path: Path) -> None:
        path.mkdir()
        write_tiny_preset(path)

    return built_once(tmp_path_factory, "preset", build)


@pytest.fixture(scope="session")
def tiny_glue(tmp_path_factory) -> Path:
    """Small files in the official GLUE layout for every task."""
    from glue_files import write_task

    from power_bert_tf.data import TASKS

    def build(root: Path) -> None:
        root.mkdir()
        for name in TASKS:
            write_task(name, root)

    return built_once(tmp_path_factory, "glue", build)


def tiny_run_argv(tiny_glue: Path, tiny_preset: Path, output: Path, *extra) -> list[str]:
    """scripts/run_glue.py's arguments for `tiny_run` (into `output`, with `extra` flags)."""
    return [
        str(a)
        for a in (
            "--task",
            "cola",
            "--data-dir",
            tiny_glue / "CoLA",
            "--backbone",
            tiny_preset,
            "--seq-len",
            24,
            "--epochs",
            2,
            "--search-epochs",
            2,
            "--batch-size",
            8,
            "--lambda",
            0.5,
            "--output-dir",
            output,
            "--quiet",
            *extra,
        )
    ]


@pytest.fixture(scope="session")
def tiny_run(tiny_preset, tiny_glue, tmp_path_factory) -> Path:
    """A finished three-step CoLA run on the tiny preset, built once per session through the
    command line (`tiny_run_argv`: 2 epochs per step, the retrain distilled, LAMBDA 0.5, the Soft-Extract rate scaled
    to the search's steps): finetune, search and retrain checkpoints. Read it, never write it.
    What the run printed on stderr is beside it, in ``tiny_run.stderr``."""
    import contextlib

    def build(output: Path) -> None:
        with (
            open(output.parent / "tiny_run.stderr", "w") as stderr,
            contextlib.redirect_stderr(stderr),
        ):
            code = load_script("run_glue").main(tiny_run_argv(tiny_glue, tiny_preset, output))
        assert code == 0, (output.parent / "tiny_run.stderr").read_text()[-3000:]

    return built_once(tmp_path_factory, "tiny_run", build)
