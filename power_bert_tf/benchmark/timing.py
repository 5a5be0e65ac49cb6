"""Timing: interleaved rounds, the median, waiting for device work, inputs on the device."""

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


def time_interleaved(calls: dict, repeats: int, warmup: int = 2) -> dict[str, list[float]]:
    """Milliseconds of each call, interleaved round by round.

    Interleaving (a, b, c, a, b, c, ...) makes slow drifts of the machine hit
    every call alike; the garbage collector is off while timing.

    Args:
        calls: name -> zero-argument callable that runs one timed unit and
            waits for its result.
        repeats: timed rounds; warmup: untimed rounds first.

    Returns:
        name -> list of `repeats` times in ms.
    """
    for _ in range(max(0, warmup)):
        for run in calls.values():
            run()
    times = {name: [] for name in calls}
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            for name, run in calls.items():
                start = time.perf_counter()
                run()
                times[name].append(1000.0 * (time.perf_counter() - start))
    finally:
        if enabled:
            gc.enable()
    return times


def median(values) -> float:
    return float(np.median(np.asarray(values, dtype=np.float64)))
