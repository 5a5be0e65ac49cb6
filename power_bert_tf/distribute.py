"""The tf.distribute strategies of `--distribute`, and who writes what under them (the chief
writes the run directory, other workers a private copy: `worker_output_dir`)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Mapping

import tensorflow as tf

from power_bert_tf.config import PipelineError

STRATEGIES = ("default", "mirrored", "multiworker")
TASK_TYPES = ("chief", "worker")


def cluster_from_env(environ: Mapping[str, str] = os.environ) -> dict:
    """The checked content of `TF_CONFIG` in `environ`: a "cluster" of chief/worker address
    lists and the "task" (type and index) this process runs.

    Raises:
        PipelineError: `TF_CONFIG` missing, not JSON, or not such a cluster and task.
    """
    example = '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        raise PipelineError(
            f"--distribute multiworker needs the TF_CONFIG variable, e.g. {example}"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise PipelineError(f"TF_CONFIG is not JSON ({error}): {text!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise PipelineError(
            f"TF_CONFIG needs a 'cluster' and a 'task' object, e.g. {example}; got {text!r}"
        )
    for kind, addresses in cluster.items():
        if kind not in TASK_TYPES or not isinstance(addresses, list) or not addresses:
            raise PipelineError(
                f"TF_CONFIG cluster: '{kind}' must be one of {TASK_TYPES} with a list "
                f"of 'host:port' addresses; got {addresses!r}"
            )
    kind, index = task.get("type"), task.get("index", 0)
    if (
        kind not in TASK_TYPES
        or not isinstance(index, int)
        or not 0 <= index < len(cluster.get(kind, []))
    ):
        raise PipelineError(
            f"TF_CONFIG task {task!r} is not a chief or worker of the cluster {cluster!r}"
        )
    return config


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy of `--distribute`.

    Args:
        name: "default" (the current, one-device strategy); "mirrored" (every GPU, else
            every logical CPU device); "multiworker" (over `TF_CONFIG`'s cluster; create it
            before any TensorFlow op runs).

    Raises:
        PipelineError: an unknown name, a missing or malformed `TF_CONFIG`, or a
            multi-worker strategy asked for after TensorFlow has already run an op.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        cluster_from_env()
        try:
            return tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver()
            )
        except RuntimeError as error:  # "Collective ops must be configured at program startup"
            raise PipelineError(
                f"--distribute multiworker: {error}; create the strategy before any TensorFlow op runs"
            ) from None
    raise PipelineError(f"--distribute must be one of {', '.join(STRATEGIES)}; got '{name}'")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: always for one-process strategies; under
    a cluster, the task "chief", or worker 0 when the cluster has no chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and int(resolver.task_id or 0) == 0


def worker_output_dir(path: str, strategy: tf.distribute.Strategy) -> str:
    """Where this process writes what belongs in `path`: `path` on the chief; on any other
    worker a private temporary directory (removed at exit) seeded with a copy of `path`'s
    files, so that it resumes from what the chief wrote. Call it at start, before training."""
    if is_chief(strategy):
        return path
    resolver = strategy.cluster_resolver
    private = tempfile.mkdtemp(
        prefix=f"{os.path.basename(os.path.normpath(path))}-{resolver.task_type}{resolver.task_id}-"
    )
    atexit.register(shutil.rmtree, private, ignore_errors=True)
    if os.path.isdir(path):  # hidden files are atomic writes in progress
        shutil.copytree(
            path,
            private,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".*"),
            copy_function=_copy_if_present,
        )
    return private


def _copy_if_present(source: str, target: str) -> None:
    try:
        shutil.copy2(source, target)
    except FileNotFoundError:  # replaced or removed by the chief meanwhile
        pass


def distribute_options() -> tf.data.Options:
    """`tf.data` options (`AutoShardPolicy.DATA`) that split every global batch across workers
    as one process sees it; for `dataset.with_options` before `experimental_distribute_dataset`."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options
