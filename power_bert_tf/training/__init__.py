"""Training: the custom loop (`trainer`), its loss terms (`losses`), LR schedule and gradient probe."""

from power_bert_tf.training.losses import distillation_loss, mass_penalty, per_example_loss, retention_variables
from power_bert_tf.training.probe import predicted_retention, retention_gradients
from power_bert_tf.training.schedule import WarmupLinearDecay
from power_bert_tf.training.trainer import EpochRecord, Trainer, TrainConfig

__all__ = [
    "EpochRecord",
    "TrainConfig",
    "Trainer",
    "WarmupLinearDecay",
    "distillation_loss",
    "mass_penalty",
    "per_example_loss",
    "predicted_retention",
    "retention_gradients",
    "retention_variables",
]
