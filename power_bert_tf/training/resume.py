"""Where an interrupted training step continues from: its last finished epoch.

`<run>/<step>.resume/` holds the weights, optimizer variables and dropout random states of an
epoch, and `state.json`, written last and atomically, which names them.
"""

from __future__ import annotations

import glob
import os
import shutil

import numpy as np

from power_bert_tf.errors import PowerBertError
from power_bert_tf.files import read_json_if_present, write_json_atomically

STATE_FILE = "state.json"


class ResumeError(PowerBertError, ValueError):
    """A resume state that does not fit the run; the message names the directory."""


class ResumeState:
    """The resume directory of one training step.

    Args:
        path: the directory (`<run>/<step>.resume`); created on the first save.
        identity: what the run's results depend on (JSON-able); `load` refuses another's state.
    """

    def __init__(self, path: str, identity: dict | None = None):
        self.path = os.fspath(path)
        self.identity = identity

    def load(self) -> dict | None:
        """The last saved state, or None when there is none."""
        try:
            state = read_json_if_present(os.path.join(self.path, STATE_FILE))
        except ValueError as error:
            raise ResumeError(
                f"{self.path}: {error}; remove the directory to restart the step"
            ) from None
        if state and self.identity is not None and state.get("identity") != self.identity:
            raise ResumeError(
                f"{self.path}: an interrupted step of a run with other settings; "
                "pass --overwrite to start afresh"
            )
        return state or None

    def save(self, epoch: int, model, optimizers: list, record: dict) -> None:
        """Write epoch `epoch`'s weights, optimizer variables and `record` (JSON-able)."""
        os.makedirs(self.path, exist_ok=True)
        weights = f"model-epoch{epoch}.weights.h5"
        variables = f"optimizers-epoch{epoch}.npz"
        model.save_weights(os.path.join(self.path, weights))
        arrays = {
            f"{i}_{j}": np.asarray(v.numpy())
            for i, optimizer in enumerate(optimizers)
            for j, v in enumerate(optimizer.variables)
        }
        for j, v in enumerate(_random_states(model)):
            arrays[f"rng_{j}"] = np.asarray(v.numpy())
        np.savez(os.path.join(self.path, variables), **arrays)
        state = {
            **record,
            "epoch": epoch,
            "weights": weights,
            "optimizers": variables,
            "identity": self.identity,
        }
        write_json_atomically(os.path.join(self.path, STATE_FILE), state)
        for stale in glob.glob(os.path.join(self.path, "*-epoch*")):
            if os.path.basename(stale) not in (weights, variables):
                os.remove(stale)

    def restore(self, state: dict, model, optimizers: list) -> None:
        """Load `state`'s weights into `model` and its variables into `optimizers` (built)."""
        try:
            model.load_weights(os.path.join(self.path, state["weights"]))
            with np.load(os.path.join(self.path, state["optimizers"])) as arrays:
                for i, optimizer in enumerate(optimizers):
                    for j, variable in enumerate(optimizer.variables):
                        variable.assign(arrays[f"{i}_{j}"])
                for j, variable in enumerate(_random_states(model)):
                    variable.assign(arrays[f"rng_{j}"])
        except (OSError, KeyError, ValueError) as error:
            raise ResumeError(
                f"{self.path}: cannot resume epoch {state.get('epoch')} ({type(error).__name__}: {error}); "
                "remove the directory to restart the step"
            ) from None

    def clear(self) -> None:
        """Remove the directory (the step finished)."""
        if os.path.isdir(self.path):
            shutil.rmtree(self.path)


def _random_states(model) -> list:
    """The dropout layers' random-generator states (the variables `save_weights` leaves out)."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]
