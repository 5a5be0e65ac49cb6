"""The search's goals (training/search.py): the multiplier, the target's path, the candidates,
the retention weights' learning rate; checked against hand computations, no model."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import hand_flops
from power_bert_tf.retention import RetentionConfig, flops_fraction_of, project_onto_budget
from power_bert_tf.training.schedule import WarmupLinearDecay
from power_bert_tf.training.search import (
    CANDIDATES,
    MULTIPLIER_RATE,
    RETRAIN_REACH,
    BudgetController,
    Candidate,
    SearchGoal,
    choose_candidate,
    ladder,
    retrain_plan,
    soft_extract_rate,
    travel,
)

SEQ, HIDDEN, INTERMEDIATE = 64, 384, 1536


def _fraction(masses):
    return flops_fraction_of(masses, SEQ, HIDDEN, INTERMEDIATE)


def _controller(goal, total=100, warmup=10):
    return BudgetController(
        goal,
        total,
        warmup,
        mass_fraction=_fraction,
        project=lambda masses, target: project_onto_budget(
            masses, target, SEQ, HIDDEN, INTERMEDIATE
        ),
        floor=0.1,
    )


def _verdict(drop: float, passes: bool, informative: bool = True) -> dict:
    return {
        "drop": drop,
        "bound": drop + 0.5,
        "max_drop": 1.0,
        "passes": passes,
        "informative": informative,
    }


def test_mass_fraction_is_the_hand_count_at_whole_and_fractional_lengths():
    for keep in ([64] * 6, [40, 30, 20, 10, 5, 1], [64, 64, 2, 2, 2, 2]):
        assert flops_fraction_of(keep, SEQ, HIDDEN, INTERMEDIATE) == pytest.approx(
            hand_flops(keep, SEQ, HIDDEN, INTERMEDIATE)
            / hand_flops([SEQ] * 6, SEQ, HIDDEN, INTERMEDIATE)
        )
    # A fractional mass is counted as it is (between its floor and its ceiling) ...
    low, mid, high = (_fraction([30.0, m, 10.0]) for m in (20.0, 20.5, 21.0))
    assert low < mid < high
    # ... and a mass above its input length counts as the input length.
    assert _fraction([10.0, 50.0]) == pytest.approx(_fraction([10.0, 10.0]))


def test_target_path_by_goal():
    lam = _controller(SearchGoal(1e-3))
    assert lam.target_at(50) is None and lam.candidate_steps == []
    # Target FLOPs: 1 until warm-up ends, down to F over half the remaining 90 steps, then F.
    flops = _controller(SearchGoal(1e-3, target_flops=0.4))
    assert flops.target_at(10) == 1.0
    assert flops.target_at(10 + 45 // 2) == pytest.approx(0.4 ** ((45 // 2) / 45))  # geometric
    assert flops.target_at(55) == flops.target_at(100) == pytest.approx(0.4)
    # Max metric drop: down to the floor at the very end, candidates evenly spaced after warm-up.
    sweep = _controller(SearchGoal(1e-3, max_metric_drop=1.0))
    assert sweep.target_at(100) == pytest.approx(0.1) and sweep.target_at(55) == pytest.approx(
        0.1**0.5
    )
    assert len(sweep.candidate_steps) == CANDIDATES and sweep.candidate_steps[-1] == 100
    assert np.diff(sweep.candidate_steps).min() >= 90 // CANDIDATES


def test_multiplier_follows_the_budget():
    """rate * lambda_0 * relative excess per step, computed by hand: up while the masses cost more
    than the target, down (never below 0) while they cost less."""
    controller = _controller(SearchGoal(0.01, target_flops=0.5), total=40, warmup=0)
    expensive, cheap = [60.0] * 6, [10.0] * 6
    value = 0.01
    # After the ramp (steps 1-20), the target holds at 0.5.
    for step, masses in enumerate([expensive] * 2 + [cheap] * 12, start=21):
        target = controller.target_at(step)
        controller.after_step(step, masses)
        value = max(value + MULTIPLIER_RATE * 0.01 * (_fraction(masses) - target) / target, 0.0)
        assert float(controller.multiplier.numpy()) == pytest.approx(value, rel=1e-5, abs=1e-9)
        if step == 22:
            grown = value
    assert grown > 0.01 and value == 0.0  # the cheap masses took it to the floor
    # A fixed lambda never moves.
    fixed = _controller(SearchGoal(0.01), total=20, warmup=0)
    fixed.after_step(1, expensive)
    assert float(fixed.multiplier.numpy()) == pytest.approx(0.01)


def test_search_points_are_projected_and_restored():
    controller = _controller(SearchGoal(1e-3, max_metric_drop=1.0), total=40, warmup=0)
    masses = [50.0, 40.0, 30.0, 20.0, 10.0, 5.0]
    for step in range(1, 41):
        controller.after_step(step, masses)
    assert [c.step for c in controller.candidates] == controller.candidate_steps
    for candidate in controller.candidates:
        expected = project_onto_budget(masses, candidate.target, SEQ, HIDDEN, INTERMEDIATE)
        assert candidate.retention == expected.to_list() and candidate.masses == masses
        assert candidate.verdict is None  # judged after the search, on the fine-tuned model
        assert candidate.flops_fraction == pytest.approx(
            hand_flops(expected.keep, SEQ, HIDDEN, INTERMEDIATE)
            / hand_flops([SEQ] * 6, SEQ, HIDDEN, INTERMEDIATE)
        )
    fractions = [c.flops_fraction for c in controller.candidates]
    assert fractions == sorted(fractions, reverse=True) and fractions[-1] < 0.15
    # A resumed search picks up the multiplier and the candidates.
    again = _controller(SearchGoal(1e-3, max_metric_drop=1.0), total=40, warmup=0)
    again.restore(controller.state())
    assert again.candidates == controller.candidates
    assert float(again.multiplier.numpy()) == pytest.approx(float(controller.multiplier.numpy()))


_PICKS = [
    Candidate(1, 0.9, [12], 0.9, verdict=_verdict(-0.5, True)),
    Candidate(2, 0.8, [9], 0.8, verdict=_verdict(2.0, False)),  # bound 2.5: within reach
    Candidate(3, 0.5, [5], 0.5, verdict=_verdict(0.5, True)),
    Candidate(4, 0.4, [4], 0.4, verdict=_verdict(0.1, True)),
    Candidate(5, 0.3, [3], 0.3, verdict=_verdict(2.4, False)),  # bound 2.9: within reach
    Candidate(6, 0.25, [2], 0.25, verdict=_verdict(2.4, False, informative=False)),
    Candidate(7, 0.2, [2], 0.2, verdict=_verdict(2.6, False)),  # bound 3.1: beyond
    Candidate(8, 0.1, [1], 0.1),  # not judged
]


def test_the_plan_is_the_cheapest_within_reach_then_the_cheapest_passing():
    assert RETRAIN_REACH == 2.0  # the numbers below are written for it
    assert choose_candidate(_PICKS).retention == [4]
    assert [c.step for c in retrain_plan(_PICKS)] == [5, 4]
    # Nothing within reach is cheaper than the safe one: the safe one alone.
    assert [c.step for c in retrain_plan(_PICKS[:4])] == [4]
    # Nothing passes: the ambitious one alone; nothing within reach either: nothing.
    failing = [c for c in _PICKS if not c.passes]
    assert [c.step for c in retrain_plan(failing)] == [5]
    assert retrain_plan([_PICKS[5], _PICKS[6], _PICKS[7]]) == []
    assert choose_candidate([]) is None and retrain_plan([]) == []


def test_the_ladder_steps_down_to_the_floor():
    assert ladder(0.1)[:3] == [0.95, 0.9, 0.85] and ladder(0.1)[-1] == pytest.approx(0.1)
    assert ladder(0.23)[-1] == pytest.approx(0.25) and len(ladder(0.23)) == 15
    assert ladder(0.96) == []


def test_soft_extract_rate_lets_each_weight_travel_its_budget():
    """The rate is scaled so the sum of the schedule over the search's steps (summed here
    step by step) is the travel asked for, with and without decay."""
    for steps, warmup, decay in ((723, 72, True), (723, 72, False), (30, 3, True), (5, 0, False)):
        rate = soft_extract_rate(steps, warmup, decay, travel=2.0)
        schedule = WarmupLinearDecay(rate, steps, warmup, decay)
        assert sum(float(schedule(step)) for step in range(steps)) == pytest.approx(2.0, rel=1e-4)
        assert travel(rate, steps, warmup, decay) == pytest.approx(2.0)
    # The original CoLA settings (LR_SOFT_EXTRACT 1.5e-3, 3 epochs of 268 steps) cannot get there.
    assert travel(1.5e-3, 804, 80, True) < 1.0


def test_goal_kind():
    assert SearchGoal(1e-3).kind == "lambda"
    assert SearchGoal(1e-3, target_flops=0.3).kind == "target_flops"
    assert SearchGoal(1e-3, max_metric_drop=1.0).kind == "max_metric_drop"
    assert RetentionConfig.from_masses([3.7, 2.2]).keep == (3, 2)
