"""The learning-rate schedule of every training step: linear warm-up, then linear decay."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="power_bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then linear decay to 0 from the full `peak` (unlike the original AdamWarmup).

    Args:
        peak: learning rate reached at the end of warm-up.
        total_steps: optimizer steps in the whole run.
        warmup_steps: steps of linear warm-up.
        decay: False holds `peak` after warm-up (a search following a moving target).
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int, decay: bool = True):
        self.peak = float(peak)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, int(warmup_steps))
        self.decay = bool(decay)

    def __call__(self, step):
        step = ops.cast(step, "float32")  # optimizer steps already taken
        warmup = float(self.warmup_steps)
        rising = self.peak * (step + 1.0) / max(warmup, 1.0)
        if self.decay:
            remaining = ops.maximum(self.total_steps - step, 0.0)
            falling = self.peak * remaining / max(self.total_steps - warmup, 1.0)
        else:
            falling = ops.full_like(step, self.peak)
        return ops.where(step < warmup, rising, falling)

    def total(self) -> float:
        """The sum of the rate over every step: how far a parameter moving at the rate can go."""
        warmup = min(self.warmup_steps, self.total_steps)
        rising = self.peak * (warmup + 1) / 2 if warmup else 0.0
        after = self.total_steps - warmup
        falling = self.peak * (after + 1) / 2 if self.decay and after else self.peak * after
        return rising + falling

    def get_config(self):
        return {
            name: getattr(self, name) for name in ("peak", "total_steps", "warmup_steps", "decay")
        }
