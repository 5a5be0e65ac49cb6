"""One model, several FLOPs budgets: the budgets' configurations, the per-step draw, weight-sharing
views, the training loop over views, and `--budgets` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from conftest import hand_flops, load_script
from power_bert_tf import data
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.training import TrainConfig, Trainer
from power_bert_tf.training.budgets import (
    ConfigurationDraw,
    budget_configurations,
    budget_signature,
    parse_budgets,
)

pytestmark = pytest.mark.tensorflow_only
run_glue_script = load_script("run_glue")


def test_parse_budgets_sorts_and_names():
    assert parse_budgets(["0.25", "0.6", "0.4"]) == (0.6, 0.4, 0.25)
    assert [budget_signature(b) for b in (0.6, 0.25, 0.333)] == [
        "budget_60",
        "budget_25",
        "budget_33",
    ]
    for values, message in [
        (["abc"], "'abc' is not a number"),
        (["1.5"], "in (0, 1), got 1.5"),
        (["0"], "in (0, 1)"),
        (["0.25", "0.251"], "budget_25 repeat"),
    ]:
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            parse_budgets(values, "--budgets")


def test_budget_configurations_land_on_their_targets():
    masses = [40.2, 30.7, 20.1, 12.9, 6.5, 2.2]
    for budget in budget_configurations(masses, [0.6, 0.4, 0.25], 64, 384, 1536):
        keep = budget.retention.to_list()
        fraction = hand_flops(keep, 64, 384, 1536) / hand_flops([64] * 6, 64, 384, 1536)
        assert abs(fraction - budget.target) < 0.01, (keep, fraction)
        assert keep == sorted(keep, reverse=True) and budget.signature == budget_signature(
            budget.target
        )


def test_draw_follows_its_probabilities_and_repeats_itself():
    draw = ConfigurationDraw(4, seed=3)
    picks = np.array([draw.pick(step) for step in range(6000)])
    frequencies = np.bincount(picks, minlength=4) / len(picks)
    np.testing.assert_allclose(frequencies, [0.5, 1 / 6, 1 / 6, 1 / 6], atol=0.02)
    again = ConfigurationDraw(4, seed=3)
    assert [again.pick(step) for step in range(50)] == picks[
        :50
    ].tolist()  # a resumed run draws the same
    assert ConfigurationDraw(1, seed=0).probabilities == [1.0]


@pytest.fixture(scope="module")
def hard_model(tiny_preset):
    model = PowerBertClassifier.from_preset(
        str(tiny_preset), num_classes=2, sequence_length=16, retention="16,12", dropout=0.0
    )
    return model


def test_a_view_shares_every_variable_and_computes_its_configuration(hard_model):
    view = hard_model.sharing_weights("8,4")
    assert [id(v) for v in view.variables] == [id(v) for v in hard_model.variables]
    # The reference: a separate model at 8,4 with the weights copied.
    reference = hard_model.with_mode("hard", "8,4")
    features = hard_model.preprocessor([" ".join(["the quick brown fox"] * 4), "a dog"])
    np.testing.assert_allclose(view(features), reference(features), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="soft-mode"):
        hard_model.with_mode("soft").sharing_weights("8,4")


def test_training_a_view_trains_the_shared_weights(tiny_preset, tiny_glue):
    """A trainer whose draw always picks the view ends where training a separate model at the
    view's configuration ends, and the trainer's own model holds those weights."""
    examples = data.read_glue_split("cola", "train", tiny_glue / "CoLA")

    def trained(make):
        keras.utils.set_random_seed(0)
        base = PowerBertClassifier.from_preset(
            str(tiny_preset), num_classes=2, sequence_length=16, retention="16,12", dropout=0.0
        )
        model, views, draw = make(base)
        features = data.encode_examples(examples, base.preprocessor)
        dataset = data.make_encoded_dataset(features, examples.labels, 8)
        trainer = Trainer(
            model,
            TrainConfig(epochs=1, lr_bert=1e-3, warmup_fraction=0.0),
            lambda y, p: {"m": 0.0},
            "m",
            steps_per_epoch=3,
            verbose=0,
            views=views,
            draw=draw,
        )
        trainer.fit(dataset.take(3), dataset.take(1), examples.labels[:8])
        return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]

    always_the_view = ConfigurationDraw(2, seed=0, chosen_weight=0.0)
    shared = trained(lambda base: (base, [base.sharing_weights("6,3")], always_the_view))
    separate = trained(lambda base: (base.with_mode("hard", "6,3"), [], None))
    for got, want in zip(shared, separate):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="ConfigurationDraw"):
        trained(lambda base: (base, [base.sharing_weights("6,3")], None))


def test_budgets_end_to_end(tiny_run, tiny_glue, tmp_path):
    """--budgets: one retrain, one record per budget with its configuration (projected from the
    tiny run's search masses) and both scores; the summary and the checkpoint carry them."""
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
                    "retrain",
                    "--budgets",
                    "0.5,0.7",
                    "--flops-count",
                    "padded",
                    "--epochs",
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
    budgets = results["steps"]["retrain"]["budgets"]
    assert [b["signature"] for b in budgets] == ["budget_70", "budget_50"] and results[
        "budgets"
    ] == budgets
    masses = json.loads((Path(tiny_run) / "results.json").read_text())["steps"]["search"]["masses"]
    expected = budget_configurations(masses, [0.7, 0.5], 24, 16, 32)
    for budget, want in zip(budgets, expected):
        assert budget["retention"] == want.retention.to_list()
        assert budget["flops_fraction"] == pytest.approx(
            hand_flops(budget["retention"], 24, 16, 32) / hand_flops([24, 24], 24, 16, 32)
        )
        assert -100 <= budget["dev"] <= 100 and -100 <= budget["held_out"] <= 100
    assert results["identity"]["budgets"] == ["0.7", "0.5"]


def test_budgets_counted_over_the_training_lengths_by_default(tiny_run, tiny_glue, tmp_path):
    """The default count (dynamic): each budget's FLOPs fraction is the hand count over the
    training part's token lengths, recorded beside it; the paper's padded count is kept too."""
    argv = ["--task", "cola", "--data-dir", tiny_glue / "CoLA", "--checkpoint", tiny_run]
    argv += ["--steps", "retrain", "--budgets", "0.8", "--epochs", 1, "--batch-size", 8]
    assert run_glue_script.main([str(a) for a in (*argv, "--output-dir", tmp_path, "--quiet")]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    lengths = {int(n): c for n, c in results["flops_lengths"].items()}
    assert sum(lengths.values()) == results["train_examples"] and max(lengths) <= 24
    (budget,) = results["budgets"]
    keep = budget["retention"]
    spent = sum(c * hand_flops(keep, n, 16, 32) for n, c in lengths.items())
    full = sum(c * hand_flops([n, n], n, 16, 32) for n, c in lengths.items())
    assert budget["flops_fraction"] == pytest.approx(spent / full)
    assert budget["padded_flops_fraction"] == pytest.approx(
        hand_flops(keep, 24, 16, 32) / hand_flops([24, 24], 24, 16, 32)
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--budgets", "0.5,x"], "--budgets: 'x' is not a number"),
        (["--budgets", "1.2"], "--budgets: each budget is a FLOPs fraction in (0, 1), got 1.2"),
        (
            ["--budgets", "0.5", "--steps", "finetune,search"],
            "--budgets trains in the retrain step",
        ),
        (["--budgets", "0.05"], "--budgets: target FLOPs fraction 0.05 is below the cheapest"),
    ],
)
def test_bad_budgets_are_refused_in_one_line(argv, message, tiny_preset, tiny_glue, capsys):
    code = run_glue_script.main(
        [
            str(a)
            for a in [
                "--task",
                "cola",
                "--data-dir",
                tiny_glue / "CoLA",
                "--backbone",
                tiny_preset,
                "--seq-len",
                24,
                *argv,
            ]
        ]
    )
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and message in error, error
