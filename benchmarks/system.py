"""Where a measurement ran: device, CPU, memory, library versions and threading, for its record.

One thread report (`threads`) and one environment for the timing protocols (`environment`)
and the serving tests (`host_facts`, with the load averages of `benchmarks.load`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

import keras


def _first_cpu(path: str = "/proc/cpuinfo") -> dict[str, str]:
    """The first processor's block of a cpuinfo file, field -> value ({} off Linux or on a read error)."""
    fields = {}
    try:
        with open(path) as handle:
            for line in handle:
                if not line.strip():
                    break  # the first processor's block ends here
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_description() -> tuple[str, int]:
    """CPU model name (from /proc/cpuinfo) and the cores this process may use."""
    name = _first_cpu().get("model name") or platform.processor() or platform.machine()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return name, cores


# The vector extensions that decide how fast the matrix products run: two CPUs that both call
# themselves "AMD EPYC" can differ by a factor of four (docs/RESULTS.md).
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def cpu_identity(path: str = "/proc/cpuinfo") -> dict:
    """The first CPU's vendor, family, model and vector extensions, as /proc/cpuinfo gives them.

    Args:
        path: the cpuinfo file (Linux); elsewhere or on a read error every field is None.

    Returns:
        ``vendor``, ``family`` and ``model`` (strings, None when absent) and ``simd``: the
        flags of `SIMD_FLAGS` the CPU has, in that order.

    Example:
    >>> sorted(cpu_identity("/nonexistent"))
    ['family', 'model', 'simd', 'vendor']
    """
    fields = _first_cpu(path)
    flags = fields.get("flags")
    return {
        "vendor": fields.get("vendor_id"),
        "family": fields.get("cpu family"),
        "model": fields.get("model"),
        "simd": None if flags is None else [flag for flag in SIMD_FLAGS if flag in flags.split()],
    }


def describe_device() -> str:
    """The accelerator's name, or the CPU's with its core count."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return f"{device.device_kind} ({device.platform}, {jax.device_count()} device(s))"
        elif backend == "tensorflow":
            tf = _tensorflow()
            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"{details.get('device_name', gpus[0].name)} (GPU, {len(gpus)} device(s))"
    except Exception:  # noqa: BLE001 - a description is best effort
        pass
    name, cores = cpu_description()
    identity = cpu_identity()
    if identity["family"] is not None:
        name = f"{name} (family {identity['family']}, model {identity['model']})"
    return f"{name}, {cores} cores (CPU)"


THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "XLA_FLAGS",
)


def _tensorflow():
    """The tensorflow module if the backend is TensorFlow or it is already imported; else None.

    Under JAX nothing here imports TensorFlow (it may be absent, or blocked).
    """
    import sys

    if keras.backend.backend() != "tensorflow" and sys.modules.get("tensorflow") is None:
        return None
    try:
        import tensorflow as tf
    except ImportError:
        return None
    return tf


def threads() -> dict:
    """How many threads the backend may use: its settings, the environment variables, the CPUs.

    Returns:
        ``backend``, ``cpu_count`` (`os.cpu_count`), ``env`` (OMP_NUM_THREADS,
        TF_NUM_INTRAOP_THREADS, TF_NUM_INTEROP_THREADS, XLA_FLAGS; None where
        unset), and ``tf_intra_op`` / ``tf_inter_op`` (0: TensorFlow's default)
        when TensorFlow is loaded, ``jax_devices`` under JAX.
    """
    info = {
        "backend": keras.backend.backend(),
        "cpu_count": os.cpu_count(),
        "env": {name: os.environ.get(name) for name in THREAD_VARIABLES},
    }
    tf = _tensorflow()
    if tf is not None:
        info["tf_intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_inter_op"] = tf.config.threading.get_inter_op_parallelism_threads()
    if info["backend"] == "jax":
        import jax

        info["jax_devices"] = [str(device) for device in jax.devices()]
    return info


def environment() -> dict:
    """Backend, library versions, device and threading facts for the result."""
    import keras_hub

    cpu, cores = cpu_description()
    info = {
        "device": describe_device(),
        "cpu": cpu,
        "cpu_cores": cores,
        "cpu_identity": cpu_identity(),
        "keras_backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "keras_hub_version": keras_hub.__version__,
        "python_version": platform.python_version(),
        "threads": threads(),
    }
    tf = _tensorflow()
    info["tf_version"] = tf.__version__ if tf is not None else None
    if tf is not None:
        info["tf_intra_op_threads"] = tf.config.threading.get_intra_op_parallelism_threads()
        info["tf_inter_op_threads"] = tf.config.threading.get_inter_op_parallelism_threads()
    if keras.backend.backend() == "jax":
        import jax

        info["jax_version"] = jax.__version__
    return info


def rss_mb() -> float | None:
    """This process's resident memory (VmRSS of /proc/self/status) in MiB; None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0  # the value is in kB
    except OSError:
        pass
    return None


def host_facts(load_start: list[float] | None, load_end: list[float] | None) -> dict:
    """A serving test's "machine" (CPUs, platform, the load averages at its start and end),
    "threads" (`threads`) and "versions" (TensorFlow, tensorflow-text)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = None
    try:
        text = importlib.metadata.version("tensorflow-text")
    except importlib.metadata.PackageNotFoundError:
        text = None
    tf = _tensorflow()
    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "usable_cores": usable,
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average": {"start": load_start, "end": load_end},
        },
        "threads": threads(),
        "versions": {
            "tensorflow": tf.__version__ if tf is not None else None,
            "tensorflow_text": text,
        },
    }
