"""What the configuration search aims at; the goal sets `lambda`, `losses.mass_penalty`'s weight:

- **lambda**: fixed.
- **target FLOPs F**: a dual-ascent multiplier on "FLOPs fraction <= target", the target falling
  geometrically from 1 to F over the search's first half; the final masses are projected onto F.
- **max metric drop D**: the target falls geometrically to a floor; the masses at evenly spaced
  points, projected down a `ladder`, are judged untrained against the fine-tuned model
  (`selection.judge`), and `retrain_plan` picks what to retrain."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import keras

from power_bert_tf.retention import RetentionConfig
from power_bert_tf.training.schedule import WarmupLinearDecay

SEARCH_TRAVEL = 2.0  # a weight's [0, 1] range, twice: it can fall and come back
MIN_TRAVEL = 1.0  # below it a weight cannot even go from kept to dropped
CANDIDATES = 8  # points along a max-metric-drop search whose masses give a shape
LADDER_STEP = 0.05  # between the FLOPs fractions each shape is projected onto
RETRAIN_REACH = 2.0  # points beyond passing (by the bound) a retrain is trusted to win back
SWEEP_FLOOR = 0.1  # the cheapest FLOPs fraction a max-metric-drop search sweeps down to
RAMP_FRACTION = 0.5  # of a target-FLOPs search spent ramping the target down
MULTIPLIER_RATE = 0.2  # lambda_0 per step and per unit of relative excess


@dataclass(frozen=True)
class SearchGoal:
    """What a search aims at: a fixed `lambda_`, or (starting from it) `target_flops`, a FLOPs
    fraction in (0, 1], or `max_metric_drop`, the held-out points the delivered model may lose."""

    lambda_: float
    target_flops: float | None = None
    max_metric_drop: float | None = None

    @property
    def kind(self) -> str:
        if self.target_flops is not None:
            return "target_flops"
        if self.max_metric_drop is not None:
            return "max_metric_drop"
        return "lambda"


def soft_extract_rate(
    steps: int, warmup_steps: int, decay: bool, travel: float = SEARCH_TRAVEL
) -> float:
    """The retention weights' peak rate to travel `travel` in `steps` (Adam: ~its rate per step)."""
    return travel / WarmupLinearDecay(1.0, steps, warmup_steps, decay).total()


def travel(rate: float, steps: int, warmup_steps: int, decay: bool) -> float:
    """How far a retention weight can move over a search at peak learning rate `rate`."""
    return WarmupLinearDecay(rate, steps, warmup_steps, decay).total()


@dataclass
class Candidate:
    """A search point's masses projected onto `target`, and its `selection.Verdict` record."""

    step: int
    target: float
    retention: list[int]
    flops_fraction: float
    masses: list[float] = field(default_factory=list)
    verdict: dict | None = None

    @property
    def drop(self) -> float | None:
        """Points lost to elimination, by the verdict (None: not judged)."""
        return None if self.verdict is None else self.verdict["drop"]

    @property
    def passes(self) -> bool:
        return bool(self.verdict and self.verdict["passes"])

    def within(self, reach: float) -> bool:
        """Better than a constant predictor and its bound within D + `reach`."""
        verdict = self.verdict or {}
        return bool(
            verdict and verdict["informative"] and verdict["bound"] <= verdict["max_drop"] + reach
        )


def ladder(floor: float, step: float = LADDER_STEP) -> list[float]:
    """The FLOPs fractions a shape is projected onto, mildest first, down to `floor`."""
    rungs = int((1.0 - floor) / step + 1e-9)
    return [round(1.0 - k * step, 4) for k in range(1, rungs + 1)]


class BudgetController:
    """Sets the search's penalty weight after every step toward `target_at`, and takes candidates.

    Args:
        goal: the `SearchGoal`.
        total_steps, warmup_steps: optimizer steps of the search, and of its warm-up (the
            target starts moving after it).
        mass_fraction: masses -> their FLOPs fraction; project: (masses, target) -> the
            `RetentionConfig` on that budget.
        floor: the cheapest target a max-metric-drop search sweeps to.
    """

    def __init__(
        self,
        goal: SearchGoal,
        total_steps: int,
        warmup_steps: int,
        mass_fraction: Callable[[Sequence[float]], float],
        project: Callable[[Sequence[float], float], RetentionConfig],
        floor: float = SWEEP_FLOOR,
    ):
        self.goal = goal
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = min(max(0, int(warmup_steps)), self.total_steps - 1)
        self.mass_fraction = mass_fraction
        self.project = project
        self.floor = floor
        self.multiplier = keras.Variable(  # read by the compiled training step
            goal.lambda_, trainable=False, dtype="float32", name="lambda"
        )
        self.candidates: list[Candidate] = []
        span = self.total_steps - self.warmup_steps
        points = range(1, CANDIDATES + 1) if goal.kind == "max_metric_drop" else ()
        self.candidate_steps = sorted(
            {self.warmup_steps + max(1, round(k * span / CANDIDATES)) for k in points}
        )

    def target_at(self, step: int) -> float | None:
        """The FLOPs target after `step` optimizer steps (None: lambda is fixed)."""
        goal = self.goal
        if goal.kind == "lambda":
            return None
        end, span = self.floor, self.total_steps - self.warmup_steps
        if goal.kind == "target_flops":
            end, span = goal.target_flops, max(1, round(RAMP_FRACTION * span))
        progress = min(max((step - self.warmup_steps) / span, 0.0), 1.0)
        return end**progress  # geometric: the speedup grows evenly

    def after_step(self, step: int, masses: Sequence[float]) -> None:
        """Update the multiplier from the masses after `step` steps; take a candidate when due."""
        target = self.target_at(step)
        if target is None:
            return
        excess = (self.mass_fraction(masses) - target) / target
        value = float(self.multiplier.numpy()) + MULTIPLIER_RATE * self.goal.lambda_ * excess
        self.multiplier.assign(max(value, 0.0))
        if step in self.candidate_steps:
            retention = self.project(masses, target).to_list()
            fraction = self.mass_fraction(retention)
            self.candidates.append(
                Candidate(
                    step=step,
                    target=round(target, 4),
                    retention=retention,
                    flops_fraction=fraction,
                    masses=[float(m) for m in masses],
                )
            )

    def state(self) -> dict:
        return {
            "multiplier": float(self.multiplier.numpy()),
            "candidates": [asdict(c) for c in self.candidates],
        }

    def restore(self, state: dict) -> None:
        self.multiplier.assign(state["multiplier"])
        self.candidates = [Candidate(**c) for c in state.get("candidates", [])]


def choose_candidate(candidates: Sequence[Candidate]) -> Candidate | None:
    """The cheapest candidate whose verdict passes (ties: the smaller loss); None when none does."""
    passing = [c for c in candidates if c.passes]
    return min(passing, key=lambda c: (c.flops_fraction, c.drop), default=None)


def retrain_plan(candidates: Sequence[Candidate], reach: float = RETRAIN_REACH) -> list[Candidate]:
    """What the retrain tries, in turn: the cheapest candidate within `reach` points of passing
    when it is cheaper than the cheapest that passes, then that one. Empty: nothing is worth it."""
    safe = choose_candidate(candidates)
    within = [c for c in candidates if c.within(reach)]
    ambitious = min(within, key=lambda c: (c.flops_fraction, c.drop), default=None)
    plan = []
    if ambitious is not None and (safe is None or ambitious.flops_fraction < safe.flops_fraction):
        plan.append(ambitious)
    return plan + ([safe] if safe is not None else [])
