"""Facts about the process and machine a test ran on: memory, load, threads, versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform

import tensorflow as tf


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


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (other processes compete for the cores)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine() -> dict:
    """CPU count (and the cores this process may use), platform and Python version."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def thread_settings() -> dict:
    """TensorFlow's inter- and intra-op thread pools (0: the runtime's default)."""
    return {
        "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
    }


def versions() -> dict:
    """TensorFlow's and tensorflow-text's versions (the latter's package is not imported)."""
    try:
        text = importlib.metadata.version("tensorflow-text")
    except importlib.metadata.PackageNotFoundError:
        text = None
    return {"tensorflow": tf.__version__, "tensorflow_text": text}


def environment(load_start: list[float] | None, load_end: list[float] | None) -> dict:
    """The result's "machine" (with the load averages at a test's start and end), "threads", "versions"."""
    facts = machine()
    facts["load_average"] = {"start": load_start, "end": load_end}
    return {"machine": facts, "threads": thread_settings(), "versions": versions()}
