"""Deciding under noise (training/selection.py) and how the search judges its configurations
(search_step.SearchStep._judge_ladder): checked against hand statistics and a stub pipeline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import f1_score

from power_bert_tf.retention import project_onto_budget
from power_bert_tf.search_step import SearchStep
from power_bert_tf.training.search import Candidate, ladder
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


def test_the_length_check_bounds_the_loss_over_examples_drawn_by_token_count():
    """A candidate that errs only on long inputs: within D as drawn, not when examples are drawn
    in proportion to their length. For accuracy the size-biased bound sits at the weighted mean
    difference + z * (weighted sd) / sqrt(n), computed by hand."""
    rng = np.random.default_rng(2)
    n = 3000
    lengths = rng.integers(5, 65, n)
    labels = rng.integers(0, 2, n)
    reference = np.where(rng.random(n) < 0.9, labels, 1 - labels)
    candidate = reference.copy()
    hurt = (lengths >= 55) & (rng.random(n) < 0.05)  # long inputs only
    candidate[hurt] = 1 - candidate[hurt]
    differences = 100.0 * ((reference == labels).astype(float) - (candidate == labels))
    weights = lengths / lengths.sum()
    mean = float(weights @ differences)
    spread = float(np.sqrt(weights @ (differences - mean) ** 2))
    by_hand = mean + stats.norm.ppf(0.8) * spread / np.sqrt(n)
    as_drawn = differences.mean() + stats.norm.ppf(0.8) * differences.std(ddof=1) / np.sqrt(n)
    assert as_drawn < 1.0 < by_hand  # the case the check exists for

    def verdict(lengths=None):
        return judge(
            labels, reference, candidate, accuracy, 1.0, False, resamples=4000, lengths=lengths
        )

    plain, checked = verdict(), verdict(lengths)
    assert plain.passes and plain.bound_by_length is None and plain.bound_as_drawn is None
    assert checked.bound_by_length == pytest.approx(by_hand, abs=0.1)
    assert checked.bound_as_drawn == pytest.approx(as_drawn, abs=0.1)
    assert checked.bound == checked.bound_by_length and not checked.passes
    assert checked.drop == plain.drop  # the point estimate stays the held-out part's own
    # Losses spread evenly over lengths: the size-biased draw sees about the same loss.
    even = reference.copy()
    spread_out = rng.random(n) < 0.004
    even[spread_out] = 1 - even[spread_out]
    calm = judge(labels, reference, even, accuracy, 1.0, False, lengths=lengths)
    assert calm.passes and abs(calm.bound_by_length - calm.bound_as_drawn) < 0.3


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
    with pytest.raises(ValueError, match="positive token counts"):
        judge(np.zeros(3), np.zeros(3), np.ones(3), accuracy, 1.0, False, lengths=[3, 0, 2])
    with pytest.raises(ValueError, match="positive token counts"):
        judge(np.zeros(3), np.zeros(3), np.ones(3), accuracy, 1.0, False, lengths=[3, 2])
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


# -- the search's judgement of its configurations ----------------------------------------
class _FineTuned:
    """Stands for the fine-tuned model: with `keep` word-vectors in all, it gets wrong the
    first `errors(keep)` held-out examples it got right."""

    mode = "none"

    def __init__(self, labels, errors):
        self.labels, self.errors, self.views = labels, errors, []

    def sharing_weights(self, retention):
        self.views.append(retention.to_list())
        view = SimpleNamespace(predictions=self.labels.copy())
        wrong = self.errors(sum(retention.keep))
        view.predictions[:wrong] = 1 - view.predictions[:wrong]
        return view

    @property
    def predictions(self):
        return self.labels


class _Search(SearchStep):
    def __init__(self):
        self.config = SimpleNamespace(
            max_metric_drop=1.0, selection_confidence=0.8, seed=0, length_check=False
        )
        self.task = SimpleNamespace(metric="accuracy", is_regression=False)
        self.strategy = SimpleNamespace(scope=lambda: _NoScope())

    def _metrics(self, labels, predictions):
        return {"accuracy": accuracy(labels, predictions)}

    def _predictions(self, model, examples):
        return model.predictions


class _NoScope:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def test_each_shape_descends_the_ladder_judged_without_training_until_beyond_reach():
    labels = np.array([0, 1] * 200)
    budget = (16, 8, 32, None)  # seq_len 16, hidden 8, intermediate 32, padded count
    # Fewer word-vectors, more errors: 1 in 400 per word-vector dropped below 80.
    fine_tuned = _FineTuned(labels, errors=lambda kept: max(0, 80 - kept))
    points = [
        Candidate(10, 0.5, [], 0.5, masses=[16.0, 14.0, 12.0, 10.0]),
        Candidate(20, 0.2, [], 0.2, masses=[16.0, 8.0, 4.0, 2.0]),
    ]
    judged = _Search()._judge_ladder(
        fine_tuned, points, SimpleNamespace(labels=labels), budget, 0.1
    )
    assert [c.flops_fraction for c in judged] == sorted(c.flops_fraction for c in judged)
    by_keep = {tuple(c.retention): c for c in judged}
    assert len(by_keep) == len(judged) == len(fine_tuned.views)  # each configuration once
    for point in points:
        # Hand walk: the rungs of this shape, in order, until the first one beyond reach.
        for target in ladder(0.1):
            keep = tuple(project_onto_budget(point.masses, target, *budget).to_list())
            candidate = by_keep[keep]
            wrong = max(0, 80 - sum(keep))
            assert candidate.verdict["drop"] == pytest.approx(100.0 * wrong / 400)
            assert candidate.verdict["reference"] == 100.0
            if candidate.verdict["bound"] > 3.0:
                break
        else:
            raise AssertionError("the walk never went beyond reach")
    # Nothing beyond the first out-of-reach rung of any shape was judged.
    beyond = [c for c in judged if c.verdict["bound"] > 3.0]
    assert len(beyond) <= len(points)
