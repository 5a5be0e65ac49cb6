"""`--distribute multiworker`: MultiWorkerMirroredStrategy from TF_CONFIG (power_bert_tf.distribute).

Two workers run as local processes on 127.0.0.1 and train the same tiny model as one process
under the default strategy; weights and losses must match to float rounding. TensorFlow only.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

import power_bert_tf
from power_bert_tf.config import PipelineError
from power_bert_tf.distribute import is_chief, make_strategy, worker_output_dir

pytestmark = pytest.mark.tensorflow_only

# -- the strategy from TF_CONFIG ------------------------------------------------------
CLUSTER = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "needs the TF_CONFIG variable"),
        ("{not json", "TF_CONFIG is not JSON"),
        ('["a list"]', "needs a 'cluster' and a 'task'"),
        (
            json.dumps({"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}),
            "'ps' must be one of",
        ),
        (
            json.dumps({"cluster": CLUSTER, "task": {"type": "worker", "index": 2}}),
            "is not a chief or worker",
        ),
    ],
)
def test_multiworker_needs_a_valid_tf_config(monkeypatch, tf_config, message):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(PipelineError, match=message):  # before any collective op is configured
        make_strategy("multiworker")


def test_unknown_strategy():
    with pytest.raises(PipelineError, match="multiworker"):
        make_strategy("parameter_server")


def _fake_strategy(cluster: dict, task_type: str, task_id: int):
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id
    )
    return SimpleNamespace(cluster_resolver=resolver)


def test_is_chief():
    assert is_chief(tf.distribute.get_strategy())
    assert is_chief(_fake_strategy(CLUSTER, "worker", 0))
    assert not is_chief(_fake_strategy(CLUSTER, "worker", 1))
    with_chief = {"chief": ["127.0.0.1:3"], **CLUSTER}
    assert is_chief(_fake_strategy(with_chief, "chief", 0))
    assert not is_chief(_fake_strategy(with_chief, "worker", 0))


def test_worker_output_dir_is_a_private_copy_off_the_chief(tmp_path):
    run = tmp_path / "run"
    (run / "finetune.resume").mkdir(parents=True)
    (run / "results.json").write_text("{}")
    (run / "finetune.resume" / "state.json").write_text('{"epoch": 1}')
    (run / ".results.json.tmp").write_text("half")  # an atomic write in progress
    assert worker_output_dir(str(run), _fake_strategy(CLUSTER, "worker", 0)) == str(run)
    private = Path(worker_output_dir(str(run), _fake_strategy(CLUSTER, "worker", 1)))
    assert private != run and private.is_dir()
    assert sorted(str(p.relative_to(private)) for p in private.rglob("*")) == [
        "finetune.resume",
        "finetune.resume/state.json",
        "results.json",
    ]


# -- two local workers against one process -------------------------------------------
WORKER = textwrap.dedent("""
    import json, os, sys
    import numpy as np
    from power_bert_tf.distribute import distribute_options, is_chief, make_strategy, worker_output_dir

    mode, out, run_dir = sys.argv[1:4]
    # First: MultiWorkerMirroredStrategy must exist before TensorFlow runs any op.
    strategy = make_strategy("multiworker" if mode == "worker" else "default")
    import keras, keras_hub
    import tensorflow as tf
    from power_bert_tf.data import trim_to_longest
    from power_bert_tf.models import PowerBertClassifier
    from power_bert_tf.training import Trainer, TrainConfig

    # 9 examples in global batches of 4: the last (1 example) leaves worker 1 an empty batch.
    n, batch, seq = 9, 4, 12
    rng = np.random.default_rng(0)
    features = {"token_ids": rng.integers(5, 100, (n, seq)).astype("int32"),
                "segment_ids": np.zeros((n, seq), "int32"),
                "padding_mask": np.arange(seq)[None] < rng.integers(3, seq + 1, (n, 1))}
    labels = rng.integers(0, 2, n).astype("int32")
    dataset = (tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch)
               .map(trim_to_longest).with_options(distribute_options()))
    with strategy.scope():
        keras.utils.set_random_seed(1)
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=100, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
            max_sequence_length=32, dropout=0.0)
        model = PowerBertClassifier(backbone, num_classes=2, sequence_length=seq, mode="soft", dropout=0.0)
        model.build_from_example()
        trainer = Trainer(
            model, TrainConfig(epochs=2, lr_bert=1e-3, lr_soft_extract=1e-2, lambda_=0.1, warmup_fraction=0.0),
            lambda y, p: {"accuracy": float(np.mean(y == p))}, "accuracy",
            int(np.ceil(n / batch)), strategy=strategy, verbose=0)
    output_dir = worker_output_dir(run_dir, strategy)
    history = trainer.fit(dataset, dataset, labels, os.path.join(output_dir, "model.keras"))
    np.savez(out + ".npz", **{v.path: v.numpy() for v in model.weights})
    with open(out + ".json", "w") as f:
        json.dump({"replicas": strategy.num_replicas_in_sync, "chief": is_chief(strategy),
                   "output_dir": output_dir, "loss": [r.loss for r in history],
                   "penalty": [r.penalty for r in history], "masses": history[-1].masses}, f)
""")


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _run_all(commands: dict, tmp_path: Path, timeout: float = 240) -> None:
    """Start every `name -> (argv, env)` process at once; wait, killing all on any failure."""
    processes = {}
    for name, (argv, env) in commands.items():
        with open(tmp_path / f"{name}.log", "w") as log:
            processes[name] = subprocess.Popen(
                argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
            )
    deadline, failed = time.monotonic() + timeout, None
    try:
        while failed is None and any(p.poll() is None for p in processes.values()):
            failed = next((n for n, p in processes.items() if p.poll() not in (None, 0)), None)
            if time.monotonic() > deadline:
                failed = "timeout"
            time.sleep(0.2)
        failed = failed or next((n for n, p in processes.items() if p.returncode != 0), None)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    if failed:
        logs = {n: (tmp_path / f"{n}.log").read_text()[-2500:] for n in processes}
        pytest.fail(
            f"{failed} failed:\n" + "\n".join(f"--- {n}\n{text}" for n, text in logs.items())
        )


def test_two_local_workers_match_one_process(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    # The workers import the same power_bert_tf as this test.
    package_root = str(Path(power_bert_tf.__file__).resolve().parents[1])
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")])),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="",
    )
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(2)]}
    run_dir = tmp_path / "run"
    commands = {
        "single": (
            [
                sys.executable,
                str(script),
                "single",
                str(tmp_path / "single"),
                str(tmp_path / "single_run"),
            ],
            env,
        )
    }
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        commands[f"worker{i}"] = (
            [sys.executable, str(script), "worker", str(tmp_path / f"worker{i}"), str(run_dir)],
            {**env, "TF_CONFIG": tf_config},
        )
    _run_all(commands, tmp_path)

    result = {name: json.loads((tmp_path / f"{name}.json").read_text()) for name in commands}
    weights = {name: dict(np.load(tmp_path / f"{name}.npz")) for name in commands}
    assert [result[n]["replicas"] for n in commands] == [1, 2, 2]
    assert [result[n]["chief"] for n in commands] == [True, True, False]
    # The chief alone wrote into the run directory; worker 1 wrote its own copy elsewhere.
    assert result["worker0"]["output_dir"] == str(run_dir)
    assert result["worker1"]["output_dir"] != str(run_dir)
    assert sorted(os.listdir(run_dir)) == ["model.keras"]
    # The replicas stay identical: both apply the same all-reduced gradients.
    for key, value in weights["worker0"].items():
        np.testing.assert_array_equal(weights["worker1"][key], value, err_msg=key)
    # Against one process: the same sums, split in two and all-reduced, differ by rounding only
    # (observed <= 1.2e-7). A global batch taken as the local one doubles the loss, and a
    # misplaced shard changes the data: both move weights by ~1e-3 after these 6 steps.
    single, multi = result["single"], result["worker0"]
    np.testing.assert_allclose(
        multi["loss"],
        single["loss"],
        rtol=1e-5,
        err_msg="the loss divides by the global batch, summed over workers",
    )
    np.testing.assert_allclose(multi["penalty"], single["penalty"], rtol=1e-5)
    np.testing.assert_allclose(multi["masses"], single["masses"], rtol=1e-5)
    assert weights["single"].keys() == weights["worker0"].keys()
    for key, value in weights["single"].items():
        np.testing.assert_allclose(
            weights["worker0"][key], value, rtol=1e-4, atol=1e-5, err_msg=key
        )
