"""One set of weights for several FLOPs budgets: each budget's configuration (the search's masses
projected onto it) is a view of one model (`PowerBertClassifier.sharing_weights`), and each
training step trains one, drawn at random (`ConfigurationDraw`; LengthDrop, Kim and Cho 2021)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from power_bert_tf.retention import RetentionConfig, RetentionConfigError, project_onto_budget

CHOSEN_WEIGHT = 0.5  # the chosen configuration's share of the training steps


def budget_signature(target: float) -> str:
    """The export's signature name for a FLOPs budget: 0.25 -> "budget_25" (per cent)."""
    return f"budget_{int(round(100 * float(target)))}"


def parse_budgets(values: Sequence[str | float], flag: str = "--budgets") -> tuple[float, ...]:
    """FLOPs fractions in (0, 1), largest first, with distinct signature names.

    Raises:
        ValueError: naming `flag` and the bad value.
    """
    budgets = []
    for value in values:
        try:
            budget = float(value)
        except ValueError:
            raise ValueError(
                f"{flag}: '{value}' is not a number (give FLOPs fractions, e.g. 0.6,0.4,0.25)"
            ) from None
        if not 0.0 < budget < 1.0:
            raise ValueError(f"{flag}: each budget is a FLOPs fraction in (0, 1), got {value}")
        budgets.append(budget)
    names = [budget_signature(b) for b in budgets]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(
            f"{flag}: budgets must differ by at least 1% of the FLOPs; {', '.join(repeated)} repeat"
        )
    return tuple(sorted(budgets, reverse=True))


@dataclass(frozen=True)
class Budget:
    """One budget of a family: its FLOPs target, configuration and export signature."""

    target: float
    retention: RetentionConfig
    signature: str


def budget_configurations(
    masses: Sequence[float],
    targets: Sequence[float],
    seq_len: int,
    hidden_dim: int,
    intermediate_dim: int,
    lengths: Mapping[int, int] | None = None,
) -> list[Budget]:
    """Each target's configuration: the search's `masses` projected onto it (`project_onto_budget`).

    Raises:
        RetentionConfigError: a target below one word-vector per layer.
    """
    counted_at = (seq_len, hidden_dim, intermediate_dim, lengths)
    budgets = []
    for target in targets:
        try:
            retention = project_onto_budget(masses, target, *counted_at)
        except RetentionConfigError as error:
            raise RetentionConfigError(f"budget {target:g}: {error}") from None
        budgets.append(Budget(float(target), retention, budget_signature(target)))
    return budgets


class ConfigurationDraw:
    """Which configuration each training step trains, a function of `(seed, step)`.

    Args:
        count: number of configurations, the chosen one (index 0) first.
        seed: the run's seed.
        chosen_weight: its probability (1.0 when `count` is 1); the others share the rest evenly.
    """

    def __init__(self, count: int, seed: int, chosen_weight: float = CHOSEN_WEIGHT):
        if count < 1:
            raise ValueError("a configuration draw needs at least one configuration")
        self.seed = int(seed)
        others = count - 1
        self.probabilities = (
            [1.0] if not others else [chosen_weight] + [(1.0 - chosen_weight) / others] * others
        )

    def pick(self, step: int) -> int:
        """The configuration trained at optimizer step `step`."""
        generator = np.random.default_rng([self.seed, int(step)])
        return int(generator.choice(len(self.probabilities), p=self.probabilities))
