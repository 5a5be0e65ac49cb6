"""Resumable runs: the same command again continues a killed run; --overwrite starts afresh;
results.json is rebuilt from each step's own record."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import load_script
from conftest import tiny_run_argv as _argv
from power_bert_tf.runs import load_classifier
from power_bert_tf.training.resume import ResumeState

pytestmark = pytest.mark.tensorflow_only
run_glue_script = load_script("run_glue")


class Killed(Exception):
    """Stands in for a kill right after an epoch's state was saved."""


def _epochs(run: Path, step: str) -> list[int]:
    return [
        json.loads(line)["epoch"] for line in (run / f"{step}_log.jsonl").read_text().splitlines()
    ]


def _weights(run: Path, step: str) -> list[np.ndarray]:
    model = load_classifier(str(run / f"{step}.keras"), (step,))
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


@pytest.fixture(scope="module")
def uninterrupted(tiny_run) -> Path:
    """conftest's tiny run: the same command (`tiny_run_argv`), never killed."""
    return tiny_run


def test_a_killed_run_continues_where_it_stopped(
    uninterrupted, tiny_glue, tiny_preset, tmp_path, monkeypatch, capsys
):
    """Killed after the search's first epoch, run again, killed after the retrain's first epoch,
    run again: the same run as one never killed."""
    save = ResumeState.save
    outputs = []
    for killed_step in ("search", "retrain"):

        def save_then_die(self, epoch, *args, killed_step=killed_step, **kwargs):
            save(self, epoch, *args, **kwargs)
            if self.path.endswith(f"{killed_step}.resume") and epoch == 1:
                raise Killed

        with monkeypatch.context() as patch:
            patch.setattr(ResumeState, "save", save_then_die)
            with pytest.raises(Killed):
                run_glue_script.main(_argv(tiny_glue, tiny_preset, tmp_path))
        assert (tmp_path / f"{killed_step}.resume" / "state.json").exists()
        finished = json.loads((tmp_path / "results.json").read_text())["steps"]
        assert killed_step not in finished and finished["finetune"]["finished"]
        outputs.append(capsys.readouterr().out)
    assert (
        "search: resuming after epoch 1 of 2" in outputs[1]
    )  # the second run continued the search
    finetune_record = finished["finetune"]

    assert run_glue_script.main(_argv(tiny_glue, tiny_preset, tmp_path)) == 0
    out = capsys.readouterr().out
    assert "finetune: finished earlier" in out and "search: finished earlier" in out
    assert "retrain: resuming after epoch 1 of 2" in out
    # Each epoch logged once; no state left behind.
    for step in ("finetune", "search"):
        assert _epochs(tmp_path, step) == [1, 2], step
    assert _epochs(tmp_path, "retrain") == [0, 1, 2]  # 0: its start, scored before training
    assert not list(tmp_path.glob("*.resume"))
    # The finished finetune step was not run again: its record is the one written before the kills.
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["steps"]["finetune"] == finetune_record
    # The same run as one that was never killed (same data order per epoch, optimizer state restored).
    expected = json.loads((uninterrupted / "results.json").read_text())
    assert results["retention"] == expected["retention"]
    assert results["steps"]["search"]["masses"] == pytest.approx(
        expected["steps"]["search"]["masses"], abs=1e-5
    )
    for got, want in zip(_weights(tmp_path, "retrain"), _weights(uninterrupted, "retrain")):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_a_log_line_is_written_only_for_an_epoch_a_rerun_will_not_repeat(
    uninterrupted, tiny_glue, tiny_preset, tmp_path, monkeypatch
):
    """Killed while saving epoch 1's state: the log holds no line for epoch 1 (the rerun trains it
    again); the rerun's log is the uninterrupted run's, line for line (less the timings)."""

    def die_while_saving(self, epoch, *args, **kwargs):
        raise Killed

    argv = _argv(tiny_glue, tiny_preset, tmp_path, "--steps", "finetune")
    with monkeypatch.context() as patch:
        patch.setattr(ResumeState, "save", die_while_saving)
        with pytest.raises(Killed):
            run_glue_script.main(argv)
    log = tmp_path / "finetune_log.jsonl"
    assert not log.exists() or _epochs(tmp_path, "finetune") == []
    assert run_glue_script.main(argv) == 0

    def lines(run: Path) -> list[dict]:
        records = [
            json.loads(line) for line in (run / "finetune_log.jsonl").read_text().splitlines()
        ]
        return [
            {key: value for key, value in record.items() if key != "seconds"} for record in records
        ]

    assert lines(tmp_path) == lines(uninterrupted)


def test_finished_runs_are_skipped_and_overwrite_starts_afresh(
    uninterrupted, tiny_glue, tiny_preset, tmp_path, capsys
):
    run = tmp_path / "run"
    shutil.copytree(uninterrupted, run)  # a finished run
    first = json.loads((run / "results.json").read_text())
    capsys.readouterr()
    assert run_glue_script.main(_argv(tiny_glue, tiny_preset, run)) == 0
    assert capsys.readouterr().out.count("finished earlier") == 3
    assert json.loads((run / "results.json").read_text())["steps"] == first["steps"]

    # Other settings in the same directory: refused, naming what changed.
    assert run_glue_script.main(_argv(tiny_glue, tiny_preset, run, "--lr-bert", 3e-4)) == 2
    error = capsys.readouterr().err
    assert "lr_bert" in error and "--overwrite" in error and len(error.strip().splitlines()) == 1

    # --overwrite with the finetune step alone: nothing of the old search or retrain is left.
    (run / "notes.txt").write_text("mine")
    assert (
        run_glue_script.main(
            _argv(tiny_glue, tiny_preset, run, "--steps", "finetune", "--overwrite")
        )
        == 0
    )
    results = json.loads((run / "results.json").read_text())
    assert set(results["steps"]) == {"finetune"}
    for stale in ("power", "retention", "flops_fraction", "search"):
        assert stale not in results, stale
    assert not (run / "search.keras").exists() and not (run / "retrain.keras").exists()
    assert _epochs(run, "finetune") == [1, 2] and not (run / "search_log.jsonl").exists()
    assert (run / "notes.txt").read_text() == "mine"


def test_resume_state_round_trip_and_refusals(tmp_path):
    """Weights, every optimizer variable and the dropout RNG state come back as saved (compared
    with the arrays read before saving); an older epoch's files are removed; a state of other
    settings, or a broken one, is refused naming its directory."""
    from power_bert_tf.training.resume import ResumeError

    def build():
        inputs = keras.Input((4,))
        model = keras.Model(inputs, keras.layers.Dropout(0.5)(keras.layers.Dense(3)(inputs)))
        optimizer = keras.optimizers.Adam(1e-2)
        optimizer.build(model.trainable_variables)
        return model, optimizer

    model, optimizer = build()
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    for _ in range(2):  # move weights, Adam's moments and the RNG state away from their start
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) ** 2)
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        )
    saved = [np.array(v.numpy()) for v in model.variables + optimizer.variables]
    state = ResumeState(str(tmp_path / "step.resume"), identity={"lr": 1e-2})
    state.save(1, model, [optimizer], {"best": 0.5})
    state.save(2, model, [optimizer], {"best": 0.7})
    assert sorted(p.name for p in (tmp_path / "step.resume").iterdir()) == [
        "model-epoch2.weights.h5",
        "optimizers-epoch2.npz",
        "state.json",
    ]

    fresh_model, fresh_optimizer = build()
    loaded = state.load()
    assert loaded["epoch"] == 2 and loaded["best"] == 0.7
    state.restore(loaded, fresh_model, [fresh_optimizer])
    for got, want in zip(fresh_model.variables + fresh_optimizer.variables, saved):
        np.testing.assert_array_equal(np.array(got.numpy()), want)

    with pytest.raises(
        ResumeError, match="step.resume: an interrupted step of a run with other settings"
    ):
        ResumeState(str(tmp_path / "step.resume"), identity={"lr": 3e-2}).load()
    (tmp_path / "step.resume" / "state.json").write_text("{not json")
    with pytest.raises(ResumeError, match="step.resume"):
        state.load()
    state.clear()
    assert not (tmp_path / "step.resume").exists() and state.load() is None


def test_overwrite_keeps_the_checkpoint_the_run_starts_from(tmp_path):
    """--overwrite removes what a run wrote, but not your files, nor a --checkpoint lying in
    --output-dir (a run started from it would find it gone)."""
    from power_bert_tf.runs import RunDirectory

    names = ["given.keras", "search.keras", "results.json", "search_log.jsonl", "notes.txt"]
    for name in names:
        (tmp_path / name).write_text(name)
    RunDirectory(str(tmp_path)).clear(keep=str(tmp_path / "given.keras"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["given.keras", "notes.txt"]
    RunDirectory(str(tmp_path)).clear()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_run_directory_names_its_files_and_the_summary_is_rebuilt_from_the_records():
    from power_bert_tf.runs import RunDirectory, summarize

    run = RunDirectory("runs/cola-not-run-yet")
    assert run.checkpoint("search") == "runs/cola-not-run-yet/search.keras"
    assert run.existing_checkpoint() is None
    assert summarize({"finetune": {"dev": 30.0, "held_out": 31.0, "seconds": 9.0}}) == {
        "baseline": 30.0,
        "baseline_held_out": 31.0,
        "seconds": {"finetune": 9.0},
    }
