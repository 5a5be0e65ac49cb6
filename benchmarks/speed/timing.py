"""Timing: warm-up, interleaved rounds in a shuffled order, the median, waiting for device work, inputs on the device."""

from __future__ import annotations

import gc
import time

import keras
import numpy as np


def to_device(features: dict) -> dict:
    """Numpy features as backend tensors, so that timing leaves out the copy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return {name: tf.constant(value) for name, value in features.items()}
    if backend == "jax":
        import jax

        return {name: jax.device_put(value) for name, value in features.items()}
    return {name: keras.ops.convert_to_tensor(value) for name, value in features.items()}


def block(outputs):
    """Wait for the result (device work included); return it as numpy (a list for a tuple)."""
    if isinstance(outputs, (tuple, list)):
        return [block(output) for output in outputs]
    if hasattr(outputs, "block_until_ready"):
        outputs.block_until_ready()
    return np.asarray(keras.ops.convert_to_numpy(outputs))


def warm_up(calls: dict, rounds: int) -> None:
    """Run every call `rounds` times, untimed (compilation of every shape, caches)."""
    for _ in range(max(0, rounds)):
        for run in calls.values():
            run()


def time_interleaved(
    calls: dict,
    repeats: int,
    warmup: int = 2,
    rng: np.random.Generator | None = None,
    orders: list | None = None,
) -> dict[str, list[float]]:
    """Milliseconds of each call, interleaved round by round.

    Interleaving (every call once per round) makes slow drifts of the machine
    hit every call alike; with `rng` the order of the calls is shuffled anew
    each round (a fixed order would give one call the same neighbour, and
    whatever it leaves behind, every time). The garbage collector is off while
    timing.

    Args:
        calls: name -> zero-argument callable that runs one timed unit and
            waits for its result.
        repeats: timed rounds; warmup: untimed rounds first (`warm_up`).
        rng: shuffles each round's order (``rng.permutation``); None: the
            order of `calls` every round.
        orders: if given, each round's order (a list of names) is appended.

    Returns:
        name -> list of `repeats` times in ms.
    """
    warm_up(calls, warmup)
    names = list(calls)
    times = {name: [] for name in names}
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()  # a collection would land on whichever call happens to be timed
    try:
        for _ in range(repeats):
            order = [names[i] for i in rng.permutation(len(names))] if rng is not None else names
            if orders is not None:
                orders.append(list(order))
            for name in order:
                start = time.perf_counter()
                calls[name]()
                times[name].append(1000.0 * (time.perf_counter() - start))
    finally:
        if enabled:
            gc.enable()
    return times


def time_rows(runs: list, repeats: int, warmup: int, rng: np.random.Generator) -> np.ndarray:
    """`time_interleaved` over a list of callables: `[len(runs), repeats]` milliseconds."""
    times = time_interleaved(dict(enumerate(runs)), repeats, warmup, rng)
    return np.array([times[i] for i in range(len(runs))], dtype=np.float64).reshape(
        len(runs), repeats
    )


def median(values) -> float:
    """The median as a float."""
    return float(np.median(np.asarray(values, dtype=np.float64)))
