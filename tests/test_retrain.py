"""The retrain step: where it starts, what it distils from, and the final check that can send it
back to a milder candidate. End to end on the tiny preset, the judgements stood in for."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import load_script
from power_bert_tf import search_step
from power_bert_tf.pipeline import Pipeline
from power_bert_tf.runs import load_classifier
from power_bert_tf.training.selection import Verdict
from power_bert_tf.training.trainer import Trainer

pytestmark = pytest.mark.tensorflow_only
run_glue_script = load_script("run_glue")


def _arrays(path: Path) -> set[bytes]:
    """Every array a Keras weights file holds, read with h5py (not Keras)."""
    found = set()
    with h5py.File(path, "r") as weights:
        weights.visititems(
            lambda name, item: (
                found.add(np.asarray(item).astype("float32").tobytes())
                if isinstance(item, h5py.Dataset)
                else None
            )
        )
    return found


def _verdict(drop: float) -> Verdict:
    return Verdict(
        metric=50.0 - drop,
        reference=50.0,
        drop=drop,
        bound=drop + 0.5,
        constant=0.0,
        max_drop=1.0,
        confidence=0.8,
    )


def test_the_retrain_starts_from_the_chosen_candidate_and_falls_back_to_a_milder_one(
    tiny_run, tiny_glue, tmp_path, monkeypatch, capsys
):
    """Every candidate passes (a stand-in judge), so the cheapest is chosen; its retrained model
    fails the final check, so the next milder candidate is retrained and delivered. Each retrain
    starts from the search's weights at its own candidate (every variable found in that file,
    read with h5py), not from finetune.keras or the end of the search."""
    monkeypatch.setattr(search_step, "judge", lambda *args, **kwargs: _verdict(0.0))
    checks = iter([_verdict(5.0), _verdict(0.2)])
    monkeypatch.setattr(Pipeline, "_final_check", lambda self, teacher, held_out: next(checks))
    starts = []
    fit = Trainer.fit

    def recording_fit(self, *args, **kwargs):
        if self.name == "retrain":
            kept = {f.name: _arrays(f) for f in (tmp_path / "search.candidates").iterdir()}
            starts.append(
                ([np.asarray(v.numpy(), "float32").tobytes() for v in self.model.weights], kept)
            )
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(Trainer, "fit", recording_fit)
    assert (
        run_glue_script.main(
            [
                str(a)
                for a in (
                    "--task",
                    "cola",
                    "--data-dir",
                    tiny_glue / "CoLA",
                    "--checkpoint",
                    tiny_run,
                    "--steps",
                    "search,retrain",
                    "--epochs",
                    1,
                    "--search-epochs",
                    1,
                    "--batch-size",
                    8,
                    "--output-dir",
                    tmp_path,
                    "--quiet",
                )
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "results.json").read_text())
    candidates = sorted(results["search"]["candidates"], key=lambda c: c["flops_fraction"])
    chosen, milder = candidates[0], candidates[1]
    assert results["search"]["chosen"]["step"] == chosen["step"]
    retrain = results["steps"]["retrain"]
    assert [a["retention"] for a in retrain["attempts"]] == [chosen["retention"]]
    assert retrain["attempts"][0]["started_from"] == chosen["weights"]
    assert retrain["attempts"][0]["refused_as"] == "retrain-refused-1.keras"
    assert retrain["started_from"] == milder["weights"] and retrain["distilled"]
    assert results["delivered"] == "retrain" and results["retention"] == milder["retention"]
    assert results["refused"][0]["retention"] == chosen["retention"]
    assert load_classifier(str(tmp_path)).retention.to_list() == milder["retention"]
    assert (tmp_path / "retrain-refused-1.keras").exists()
    assert not (tmp_path / "search.candidates").exists()  # large, and no longer needed
    assert "refused" in capsys.readouterr().err
    # Each retrain's first weights are its candidate's, and not the other candidate's.
    assert len(starts) == 2
    for (weights, kept), own, other in ((starts[0], chosen, milder), (starts[1], milder, chosen)):
        assert all(w in kept[os.path.basename(own["weights"])] for w in weights)
        assert not all(w in kept[os.path.basename(other["weights"])] for w in weights)
    finetuned = _arrays_of_model(tiny_run / "finetune.keras")
    assert not all(w in finetuned for w in starts[0][0])


def _arrays_of_model(path: Path) -> set[bytes]:
    model = load_classifier(str(path), ("finetune",))
    return {np.asarray(v.numpy(), "float32").tobytes() for v in model.weights}


def test_every_retrained_model_refused_delivers_the_fine_tuned_model(
    tiny_run, tiny_glue, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(search_step, "judge", lambda *args, **kwargs: _verdict(0.0))
    monkeypatch.setattr(Pipeline, "_final_check", lambda self, teacher, held_out: _verdict(3.0))
    assert (
        run_glue_script.main(
            [
                str(a)
                for a in (
                    "--task",
                    "cola",
                    "--data-dir",
                    tiny_glue / "CoLA",
                    "--checkpoint",
                    tiny_run,
                    "--steps",
                    "search,retrain",
                    "--epochs",
                    1,
                    "--search-epochs",
                    1,
                    "--batch-size",
                    8,
                    "--output-dir",
                    tmp_path,
                    "--quiet",
                )
            ]
        )
        == 0
    )
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["delivered"] == "finetune" and results["within_max_metric_drop"] is False
    assert results["flops_fraction"] == 1.0 and results["power"] == results["baseline"]
    assert len(results["refused"]) == 2 and not (tmp_path / "retrain.keras").exists()
    captured = capsys.readouterr()
    assert "delivers the fine-tuned model" in captured.err
    assert any(line.split() == ["delivered", "finetune"] for line in captured.out.splitlines())
