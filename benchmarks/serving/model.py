"""`ServedModel`: an export's text signatures, loaded with TensorFlow and tensorflow-text's kernels."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from benchmarks.serving.errors import ServingError
from benchmarks.serving.exports import ExportInfo


def register_text_ops() -> None:
    """Register the tensorflow-text kernels (`RegexSplitWithOffsets`, ...) the graphs use.

    Raises:
        ServingError: tensorflow-text is not installed.
    """
    try:
        importlib.import_module("tensorflow_text")  # registers the kernels
    except ImportError as error:
        raise ServingError(
            f"tensorflow-text is needed to load the export's tokenizer ops ({error})"
        ) from None


class ServedModel:
    """The chosen text signatures of a loaded SavedModel, called with examples.

    An example is a tuple with one text per signature input (`(sentence,)` or
    `(sentence1, sentence2)`). Calls may come from several threads at once.

    Args:
        info: the export, from `inspect_export`.

    Raises:
        ServingError: the SavedModel cannot be loaded, or lacks a signature its metadata lists.

    Example:
    >>> model = ServedModel(inspect_export("export/power_bert"))  # doctest: +SKIP
    >>> model("serving_default", [("a fine film",)])["probabilities"]  # doctest: +SKIP
    """

    def __init__(self, info: ExportInfo):
        register_text_ops()
        self.info = info
        try:
            loaded = tf.saved_model.load(str(info.version_dir))
        except (OSError, ValueError, tf.errors.OpError) as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ServingError(
                f"{info.version_dir}: cannot load the SavedModel ({type(error).__name__}: {first})"
            ) from error
        missing = [name for name in info.signatures if name not in loaded.signatures]
        if missing:
            raise ServingError(
                f"{info.version_dir}: power_bert.json lists {', '.join(missing)}, which the "
                f"SavedModel lacks (it has: {', '.join(loaded.signatures)})"
            )
        self._loaded = loaded  # the signatures use its variables: keep it alive
        self._functions = {name: loaded.signatures[name] for name in info.signatures}

    @property
    def signatures(self) -> tuple[str, ...]:
        return self.info.signatures

    def __call__(
        self, signature: str, examples: Sequence[tuple[str, ...]]
    ) -> dict[str, np.ndarray]:
        """Run `signature` on a batch of examples; its outputs as numpy arrays.

        Raises:
            ServingError: `signature` is not one of the chosen signatures.
        """
        if signature not in self._functions:
            raise ServingError(f"no signature {signature!r}; loaded: {', '.join(self._functions)}")
        columns = {
            name: tf.constant(
                [example[i] for example in examples], tf.string, shape=[len(examples)]
            )
            for i, name in enumerate(self.info.inputs)
        }
        outputs = self._functions[signature](**columns)
        return {name: value.numpy() for name, value in outputs.items()}

    def warm_up(self, example: tuple[str, ...]) -> None:
        """One call per signature (the first call of a function is slower)."""
        for signature in self.signatures:
            self(signature, [example])
