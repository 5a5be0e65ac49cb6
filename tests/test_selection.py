"""Deciding under noise (training/selection.py) and how the search judges a candidate
(search_step.SearchStep._assess): checked against hand statistics and a stub pipeline."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from power_bert_tf.runs import RunDirectory
from power_bert_tf.search_step import SearchStep
from power_bert_tf.training.search import Candidate
from power_bert_tf.training.selection import constant_metric, judge


def accuracy(labels, predictions):
    return 100.0 * float(np.mean(labels == predictions))


def f1(labels, predictions):
    return 100.0 * float(f1_score(labels, predictions, zero_division=0))


def test_the_bound_is_the_paired_normal_bound_for_accuracy():
    """For accuracy the drop is a mean of per-example differences, so the bootstrap's quantile
    sits at the normal approximation drop + z * sd / sqrt(n) (computed by hand)."""
    rng = np.random.default_rng(1)
    n = 2000
    labels = rng.integers(0, 2, n)
    reference = np.where(rng.random(n) < 0.85, labels, 1 - labels)
    candidate = reference.copy()
    flipped = rng.random(n) < 0.08  # disagree on 8% of the examples
    candidate[flipped] = 1 - candidate[flipped]
    differences = 100.0 * ((reference == labels).astype(float) - (candidate == labels))
    by_hand = differences.mean() + stats.norm.ppf(0.8) * differences.std(ddof=1) / np.sqrt(n)
    verdict = judge(
        labels,
        reference,
        candidate,
        accuracy,
        max_drop=1.0,
        is_regression=False,
        confidence=0.8,
        resamples=4000,
    )
    assert verdict.drop == pytest.approx(differences.mean())
    assert verdict.bound == pytest.approx(by_hand, abs=0.15)
    assert verdict.passes == (by_hand <= 1.0 and verdict.metric > verdict.constant)


def test_a_point_estimate_within_d_is_not_enough_on_a_small_part():
    """A candidate that loses 0.5 point of accuracy on 300 examples, disagreeing with its
    reference on 15% of them: within D = 1 by the estimate, not by the bound."""
    labels = np.array([0, 1] * 150)
    reference = labels.copy()
    reference[:30] = 1 - reference[:30]  # 90% right
    candidate = reference.copy()
    # 23 more wrong, 22 more right: 45 disagreements, a net loss of one example (1/3 point).
    wrong = np.flatnonzero(reference == labels)[:23]
    right = np.flatnonzero(reference != labels)[:22]
    candidate[wrong] = 1 - candidate[wrong]
    candidate[right] = 1 - candidate[right]
    verdict = judge(labels, reference, candidate, accuracy, max_drop=1.0, is_regression=False)
    assert verdict.drop == pytest.approx(100.0 / 300)
    assert verdict.bound > 1.0 and not verdict.passes
    # The same loss with far fewer disagreements passes: the bound follows the pairing.
    close = reference.copy()
    close[wrong[:1]] = 1 - close[wrong[:1]]
    assert judge(labels, reference, close, accuracy, max_drop=1.0, is_regression=False).passes


def test_a_constant_predictor_is_refused_whatever_its_loss():
    """MRPC's trap: "paraphrase" for every pair scores an F1 near 80 (by hand: 2p / (1 + p))."""
    labels = np.array([1] * 68 + [0] * 32)
    everything = np.ones(100, int)
    assert constant_metric(labels, f1, is_regression=False) == pytest.approx(100 * 2 * 0.68 / 1.68)
    reference = labels.copy()
    reference[:10] = 0  # a real model, a little worse than perfect
    verdict = judge(labels, reference, everything, f1, max_drop=100.0, is_regression=False)
    assert verdict.bound <= 100.0 and not verdict.informative and not verdict.passes


def test_identical_predictions_lose_nothing_and_the_verdict_is_reproducible():
    labels = np.arange(50) % 3
    predictions = (labels + (np.arange(50) % 7 == 0)) % 3
    same = judge(labels, predictions, predictions, accuracy, 0.0, is_regression=False)
    assert (same.drop, same.bound) == (0.0, 0.0) and same.passes
    other = np.roll(predictions, 1)
    first, again = (
        judge(labels, predictions, other, accuracy, 1.0, is_regression=False, seed=3) for _ in "ab"
    )
    assert first == again


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="equally long"):
        judge(np.zeros(3), np.zeros(3), np.zeros(2), accuracy, 1.0, is_regression=False)
    with pytest.raises(ValueError, match="confidence"):
        judge(
            np.zeros(3),
            np.zeros(3),
            np.zeros(3),
            accuracy,
            1.0,
            is_regression=False,
            confidence=1.0,
        )


# -- the search's judgement of a candidate ------------------------------------------------
class _Model:
    """Stands for a model: its predictions on the held-out part, and what a probe makes them."""

    def __init__(self, predictions, probed=None, mode="soft"):
        self.predictions, self.probed, self.mode = predictions, probed, mode

    def with_mode(self, mode, retention=None):
        outcome = self.outcomes[mode]
        return _Model(outcome[0], outcome[1], mode)

    def save_weights(self, path):
        Path(path).write_text("weights")


class _Search(SearchStep):
    def __init__(self, directory, labels):
        self.config = SimpleNamespace(max_metric_drop=1.0, selection_confidence=0.8, seed=0)
        self.task = SimpleNamespace(metric="accuracy", is_regression=False)
        self.run_dir = RunDirectory(directory)
        self.strategy = SimpleNamespace(scope=lambda: _NoScope())
        self.held_out = SimpleNamespace(labels=labels)
        self.probed = []

    def _metrics(self, labels, predictions):
        return {"accuracy": accuracy(labels, predictions)}

    def _predictions(self, model, examples):
        return model.predictions

    def _probe(self, model, train, held_out):
        self.probed.append(model.mode)
        model.predictions = model.probed


class _NoScope:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_a_failing_candidate_and_its_reference_get_the_same_short_retrain(tmp_path):
    labels = np.array([0, 1] * 200)
    good = labels.copy()
    good[:40] = 1 - good[:40]  # 90%
    collapsed = np.zeros_like(labels)  # cut from soft weights: a constant answer
    recovered = good.copy()
    recovered[200:202] = 1 - recovered[200:202]  # after the short retrain: 2 examples apart
    better_reference = good.copy()
    better_reference[:4] = labels[:4]  # the reference improves with the same retrain
    search = _Search(tmp_path, labels)
    soft = _Model(None)
    soft.outcomes = {"hard": (collapsed, recovered), "none": (good, better_reference)}
    candidate = Candidate(step=7, target=0.3, retention=[3, 2], flops_fraction=0.3)
    search._assess(soft, candidate, retention=None, train=None, held_out=search.held_out)
    assert sorted(search.probed) == ["hard", "none"]  # both, or neither
    assert candidate.held_out == pytest.approx(50.0) and candidate.reference == pytest.approx(90.0)
    assert candidate.probed == pytest.approx(accuracy(labels, recovered))
    assert candidate.probed_reference == pytest.approx(accuracy(labels, better_reference))
    # Judged against the retrained reference (91), not the one as taken (90).
    assert candidate.drop == pytest.approx(
        accuracy(labels, better_reference) - accuracy(labels, recovered)
    )
    # The search's weights at this step are kept for the retrain, named in the candidate.
    assert candidate.weights == os.path.join("search.candidates", "step-7.weights.h5")
    assert (tmp_path / candidate.weights).read_text() == "weights"


def test_a_passing_candidate_is_not_retrained(tmp_path):
    labels = np.array([0, 1] * 200)
    search = _Search(tmp_path, labels)
    soft = _Model(None)
    soft.outcomes = {"hard": (labels, None), "none": (labels, None)}
    candidate = Candidate(step=3, target=0.8, retention=[6, 5], flops_fraction=0.8)
    search._assess(soft, candidate, retention=None, train=None, held_out=search.held_out)
    assert search.probed == [] and candidate.passes and candidate.probed is None
