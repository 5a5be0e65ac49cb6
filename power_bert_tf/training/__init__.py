"""Training: the custom loop (`trainer`), its loss terms (`losses`) and LR schedule."""

from power_bert_tf.training.losses import (
    distillation_loss,
    mass_penalty,
    per_example_loss,
    retention_variables,
)
from power_bert_tf.training.schedule import WarmupLinearDecay
from power_bert_tf.training.trainer import EpochRecord, TrainConfig, Trainer, make_strategy

__all__ = [
    "EpochRecord",
    "TrainConfig",
    "Trainer",
    "WarmupLinearDecay",
    "distillation_loss",
    "make_strategy",
    "mass_penalty",
    "per_example_loss",
    "retention_variables",
]
