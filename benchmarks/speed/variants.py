"""The things a benchmark times side by side (variants), and one timed unit of each.

A variant is a model on its own inputs: the baseline and PoWER-BERT on the
features at ``seq_len``, the static truncation on the features at its shorter
length, the baseline on [CLS] alone (the floor of any elimination), each
``--models`` checkpoint at its run's ``sequence_length``, and the exports of
``--savedmodel`` / ``--baseline-savedmodel`` on the baseline's features.
Every variant sees the same examples in the same order; its ``flops_fraction``
is relative to the baseline at ``seq_len``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.speed.config import BenchmarkError, parse_models
from benchmarks.speed.inputs import truncate
from benchmarks.speed.models import load_extra_model, model_dims
from benchmarks.speed.protocols import protocol_batches
from benchmarks.speed.timing import block, to_device
from power_bert_tf.inference import Predictor
from power_bert_tf.retention import full_model_flops


@dataclass
class Variant:
    """One timed thing.

    Attributes:
        name: its key in the result.
        features: its inputs (numpy, every example, at `seq_len`).
        seq_len: the length its inputs are tokenized (or cut) to.
        source: where the weights come from.
        flops_fraction: its FLOPs over the baseline's at the benchmark's seq_len (None: unknown).
        retention: its retention configuration (None: no elimination).
        model: a Keras classifier, or `export`: a `SavedModelVariant`.
    """

    name: str
    features: dict
    seq_len: int
    source: str
    flops_fraction: float | None
    retention: list | None
    model: object = None
    export: object = None

    def summary(self) -> dict:
        """The result's description of the variant (no timings)."""
        return {
            "flops_fraction": self.flops_fraction,
            "retention": self.retention,
            "seq_len": self.seq_len,
            "source": self.source,
        }


def unit_call(
    variant: Variant,
    protocol: str,
    batch_size: int,
    length_multiple: int = 1,
    jit_compile: bool = False,
) -> Callable[[], object]:
    """A zero-argument callable that runs one timed unit of `protocol` and waits for it.

    The batches are made and put on the device first; a Keras model runs
    through its compiled `Predictor` (a fixed signature for the padded
    protocol, any shape otherwise), an export through its token-id signature.
    """
    batches = protocol_batches(variant.features, protocol, batch_size, length_multiple)
    if variant.export is not None:
        export = variant.export
        prepared = [export.prepare(batch) for batch in batches]
        return lambda: [export(tensors) for tensors in prepared]
    model = variant.model
    dtypes = {name: str(variant.features[name].dtype) for name in model.input_features}
    shape = (batch_size, variant.seq_len) if protocol == "padded" else (None, None)
    predictor = Predictor(model, *shape, dtypes, jit_compile=jit_compile)
    on_device = [to_device(batch) for batch in batches]
    return lambda: block([predictor(batch) for batch in on_device])


def relative_flops(model, length: int, seq_len: int, dims: tuple[int, int, int]) -> float:
    """FLOPs of `model` on inputs of `length` over the full model of `dims` at `seq_len`."""
    own = model_dims(model)
    full = full_model_flops(length, *own)
    if model.mode == "hard" and model.retention is not None:
        full *= model.retention.flops_fraction(length, own[1], own[2])
    return full / full_model_flops(seq_len, *dims)


def cls_only_variant(
    baseline, features: dict, seq_len: int, dims: tuple[int, int, int], source: str
) -> Variant:
    """The baseline on [CLS] alone: the time below which no word-vector elimination can go.

    Every layer still runs on at least one vector, reading all of its weights; where that
    dominates (one short sentence per call on a CPU), removing word-vectors cannot pay much.
    """
    return Variant(
        "cls_only",
        truncate(features, 1),
        1,
        f"{source}, inputs cut to [CLS] alone",
        relative_flops(baseline, 1, seq_len, dims),
        None,
        model=baseline,
    )


def extra_variants(
    models: str | None,
    seq_len: int,
    dims: tuple[int, int, int],
    inputs_at: Callable[[int, object], tuple[dict, str]],
) -> list[Variant]:
    """The ``--models`` checkpoints as variants.

    Args:
        models: the flag's ``NAME=PATH,...``.
        seq_len, dims: the baseline's length and (layers, hidden, intermediate).
        inputs_at: (length, preprocessor or None) -> (features at that length, how they were made).

    Raises:
        BenchmarkError: naming --models.
    """
    variants = []
    for name, path in parse_models(models):
        model, facts = load_extra_model(name, path)
        length = facts["sequence_length"]
        if length > model.sequence_length:
            raise BenchmarkError(
                f"--models {name}: run sequence_length {length} exceeds the model's "
                f"{model.sequence_length}"
            )
        try:
            features, how = inputs_at(length, model.preprocessor)
        except BenchmarkError as error:
            raise BenchmarkError(f"--models {name}: {error}") from None
        missing = [feature for feature in model.input_features if feature not in features]
        if missing:
            raise BenchmarkError(
                f"--models {name}: the model reads {', '.join(missing)}, which the inputs lack"
            )
        retention = (
            model.retention.to_list()
            if model.mode == "hard" and model.retention is not None
            else None
        )
        variants.append(
            Variant(
                name,
                features,
                length,
                f"{facts['source']} ({model.mode}; inputs {how})",
                relative_flops(model, length, seq_len, dims),
                retention,
                model=model,
            )
        )
    return variants


def savedmodel_variants(
    power_path: str | None, baseline_path: str | None, features: dict, seq_len: int
) -> list[Variant]:
    """``power_savedmodel`` / ``baseline_savedmodel``: the exports on the baseline's features.

    Raises:
        BenchmarkError: naming the flag (no TensorFlow, an unusable export, a
            sequence length the export cannot take).
    """
    from benchmarks.speed.savedmodel import SavedModelVariant

    variants = []
    for name, path, flag in (
        ("power_savedmodel", power_path, "--savedmodel"),
        ("baseline_savedmodel", baseline_path, "--baseline-savedmodel"),
    ):
        if path is None:
            continue
        export = SavedModelVariant(path, flag)
        facts = export.facts
        if facts["sequence_length"] and seq_len > int(facts["sequence_length"]):
            raise BenchmarkError(
                f"{flag} {export.version_dir}: exported for sequence_length "
                f"{facts['sequence_length']}, the benchmark's is {seq_len}"
            )
        fraction = facts["flops_fraction"] if facts["mode"] == "hard" else 1.0
        retention = facts["retention"] if facts["mode"] == "hard" else None
        variants.append(
            Variant(name, features, seq_len, facts["source"], fraction, retention, export=export)
        )
    return variants
