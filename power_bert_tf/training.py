"""The custom training loop: task loss plus the retention-mass penalty.

One loop serves the three PoWER-BERT steps. In the configuration-search step
(soft mode) the loss gains `lambda * sum_j j * mass_j` over encoder layers
j = 1..L, and the SoftExtract retention weights learn at their own learning
rate (the original's `lr_mult`), clipped to [0, 1] after every step by their
weight constraint.

TensorFlow only: tf.GradientTape inside tf.function, under a
tf.distribute.Strategy (the default one-device strategy unless told).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from power_bert_tf import glue
from power_bert_tf.files import atomic_path
from power_bert_tf.model import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig


@keras.saving.register_keras_serializable(package="power_bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak` over `warmup_steps`, then linear decay to 0.

    The original's AdamWarmup schedule (warm-up: 10% of training).

    Args:
        peak: learning rate reached at the end of warm-up.
        total_steps: optimizer steps in the whole run.
        warmup_steps: steps of linear warm-up.
    """

    def __init__(self, peak: float, total_steps: int, warmup_steps: int):
        self.peak = float(peak)
        self.total_steps = max(1, int(total_steps))
        self.warmup_steps = max(0, int(warmup_steps))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)  # optimizer steps already taken
        warmup = float(self.warmup_steps)
        rising = self.peak * (step + 1.0) / max(warmup, 1.0)
        falling = self.peak * tf.maximum(self.total_steps - step, 0.0) / max(
            self.total_steps - warmup, 1.0
        )
        return tf.where(step < warmup, rising, falling)

    def get_config(self):
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
        }


@dataclass
class TrainConfig:
    """Hyper-parameters of one training step (fine-tune, search or retrain).

    `lambda_` and `lr_soft_extract` only matter in soft mode.
    """

    epochs: int = 3
    lr_bert: float = 3e-5
    lr_soft_extract: float = 1e-3
    lambda_: float = 1e-3
    warmup_fraction: float = 0.1
    keep_best: bool = True  # False: keep the last epoch (configuration search)


def mass_penalty(model: PowerBertClassifier, lambda_: float):
    """lambda * sum_j j * mass_j over the model's SoftExtract layers (j from 1)."""
    layers = model.encoder.soft_extract_layers
    if not layers or lambda_ == 0:
        return tf.constant(0.0)
    weighted = [float(j) * tf.cast(layer.mass, tf.float32) for j, layer in enumerate(layers, 1)]
    return tf.cast(lambda_, tf.float32) * tf.add_n(weighted)


def retention_variables(model: PowerBertClassifier) -> list:
    return [layer.retention for layer in model.encoder.soft_extract_layers]


def per_example_loss(task: glue.GlueTask, labels, outputs):
    """Squared error for regression (STS-B), else cross-entropy on logits; float32."""
    if task.num_classes == 1:
        scores = tf.cast(outputs[:, 0], tf.float32)
        return tf.square(scores - tf.cast(labels, tf.float32))
    return keras.losses.sparse_categorical_crossentropy(
        labels, tf.cast(outputs, tf.float32), from_logits=True
    )


def retention_gradients(model: PowerBertClassifier, dataset: tf.data.Dataset, task: glue.GlueTask,
                        max_batches: int = 20) -> np.ndarray:
    """The task loss's gradient with respect to every retention weight, averaged over batches.

    The search step settles r_k where this gradient balances the penalty's `lambda * j`, so
    comparing the two before searching tells which LAMBDA can eliminate what. Evaluated at the
    model's weights (a fine-tuned model gets r = 1), without dropout.

    Args:
        model: a soft-mode model, or any model (converted with `with_mode("soft")`).
        dataset: `(features, labels)` batches.
        task: the GLUE task (picks the loss).
        max_batches: batches to average over.

    Returns:
        float64 array `[num_layers, sequence_length]`: row j-1, column k is dLoss/dr_k of layer j
        (k = rank by significance, 0 = [CLS]).
    """
    if model.mode != "soft":
        model = model.with_mode("soft")
    variables = retention_variables(model)
    total = np.zeros((len(variables), int(variables[0].shape[0])))
    batches = 0
    for features, labels in dataset.take(max_batches):
        with tf.GradientTape() as tape:
            outputs = model(features, training=False)
            loss = tf.reduce_mean(per_example_loss(task, labels, outputs))
        for row, gradient in enumerate(tape.gradient(loss, variables)):
            if gradient is not None:  # None: the layer never reads it
                total[row] += np.asarray(gradient, dtype=np.float64)
        batches += 1
    if batches == 0:
        raise ValueError("retention_gradients: the dataset is empty")
    return total / batches


def predicted_retention(gradients: np.ndarray, lambda_: float):
    """The retention a search at `lambda_` heads for, to first order, from `retention_gradients`.

    r_k of layer j stays at 1 while the task pulls it up harder than the penalty pushes it down
    (-dLoss/dr_k > lambda * j) and falls to 0 otherwise; the kept counts then go through the
    same rounding as a real search (`RetentionConfig.from_masses`). A guide to the scale of
    LAMBDA, not to the configuration: a real search keeps several times more (each weight's
    pull grows as the others fall, and noisy gradients slow Adam near the balance), see
    docs/RESULTS.md.
    """
    layer_index = np.arange(1, gradients.shape[0] + 1)[:, None]
    kept = (-gradients > lambda_ * layer_index).sum(axis=1)
    return RetentionConfig.from_masses([float(k) for k in kept])


def save_atomically(model: keras.Model, path: str) -> None:
    """Write `path` via a temporary file and a rename: never half-written."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


@dataclass
class EpochRecord:
    step: str
    epoch: int
    loss: float
    penalty: float
    metrics: dict
    seconds: float
    masses: list = field(default_factory=list)
    learning_rate: float = 0.0


class Trainer:
    """Trains a `PowerBertClassifier` with a custom loop and logs each epoch.

    Args:
        model: the classifier, built inside `strategy.scope()`.
        task: the `glue.GlueTask` (loss type and dev metric).
        config: `TrainConfig`.
        steps_per_epoch: optimizer steps per epoch (for the LR schedule).
        strategy: a tf.distribute.Strategy; default the current one.
        log_dir: where TensorBoard scalars and `<name>_log.jsonl` go.
        name: the step's name in logs ("finetune", "search", "retrain").
    """

    def __init__(
        self,
        model: PowerBertClassifier,
        task: glue.GlueTask,
        config: TrainConfig,
        steps_per_epoch: int,
        strategy: tf.distribute.Strategy | None = None,
        log_dir: str | None = None,
        name: str = "train",
        verbose: int = 1,
    ):
        self.model = model
        self.task = task
        self.config = config
        self.strategy = strategy or tf.distribute.get_strategy()
        self.name = name
        self.log_dir = log_dir
        self.verbose = verbose
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        total = self.steps_per_epoch * config.epochs
        warmup = int(round(config.warmup_fraction * total))
        retention = retention_variables(model)
        retention_ids = {id(v) for v in retention}
        self.retention_vars = retention
        self.bert_vars = [v for v in model.trainable_variables if id(v) not in retention_ids]
        with self.strategy.scope():
            self.bert_optimizer = keras.optimizers.Adam(
                WarmupLinearDecay(config.lr_bert, total, warmup), name="adam_bert"
            )
            self.bert_optimizer.build(self.bert_vars)
            self.soft_optimizer = None
            if retention:
                self.soft_optimizer = keras.optimizers.Adam(
                    WarmupLinearDecay(config.lr_soft_extract, total, warmup),
                    name="adam_soft_extract",
                )
                self.soft_optimizer.build(retention)
        self._writer = (
            tf.summary.create_file_writer(os.path.join(log_dir, "tensorboard", name))
            if log_dir else None
        )
        self._predict_step = None

    # -- compiled steps ----------------------------------------------------
    def _train_step(self):
        """One optimizer step on a (distributed) batch; wrapped in tf.function by fit."""
        model, strategy, config = self.model, self.strategy, self.config
        replicas = strategy.num_replicas_in_sync

        def replica_step(features, labels, global_batch):
            with tf.GradientTape() as tape:
                outputs = model(features, training=True)
                per_example = per_example_loss(self.task, labels, outputs)
                task_loss = tf.reduce_sum(per_example) / global_batch
                penalty = mass_penalty(model, config.lambda_)
                # Gradients are summed over replicas: each adds its share.
                loss = task_loss + penalty / replicas
            variables = self.bert_vars + self.retention_vars
            gradients = tape.gradient(loss, variables)
            split = len(self.bert_vars)
            self.bert_optimizer.apply_gradients(zip(gradients[:split], self.bert_vars))
            if self.soft_optimizer is not None:
                self.soft_optimizer.apply_gradients(
                    zip(gradients[split:], self.retention_vars)
                )
            return task_loss, penalty / replicas

        def train_step(iterator_batch):
            features, labels = iterator_batch
            global_batch = tf.cast(
                _global_batch_size(strategy, labels), tf.float32
            )
            task_loss, penalty = strategy.run(
                replica_step, args=(features, labels, global_batch)
            )
            reduce = tf.distribute.ReduceOp.SUM
            return (
                strategy.reduce(reduce, task_loss, axis=None),
                strategy.reduce(reduce, penalty, axis=None),
            )

        return train_step

    # -- public ------------------------------------------------------------
    def predict(self, dataset: tf.data.Dataset) -> np.ndarray:
        """Model outputs (logits or scores) for every batch of `dataset`."""
        if self._predict_step is None:
            spec = dataset.element_spec
            spec = spec[0] if isinstance(spec, tuple) else spec

            def predict_step(features):
                return tf.cast(self.model(features, training=False), tf.float32)

            self._predict_step = tf.function(predict_step, input_signature=[spec])
        outputs = []
        for batch in dataset:
            features = batch[0] if isinstance(batch, tuple) else batch
            outputs.append(self._predict_step(features).numpy())
        if not outputs:
            return np.zeros((0, self.task.num_classes), np.float32)
        return np.concatenate(outputs, axis=0)

    def evaluate(self, dataset: tf.data.Dataset, labels: np.ndarray) -> dict:
        """GLUE metrics (0-100) of the model on a labelled dataset."""
        outputs = self.predict(dataset)
        return glue.compute_metrics(self.task, labels, outputs_to_predictions(self.task, outputs))

    def fit(
        self,
        train_dataset: tf.data.Dataset,
        dev_dataset: tf.data.Dataset,
        dev_labels: np.ndarray,
        checkpoint_path: str | None = None,
        on_epoch_end: Callable[[EpochRecord], None] | None = None,
    ) -> list[EpochRecord]:
        """Train for `config.epochs`; keep the best (or last) checkpoint."""
        distributed = self.strategy.experimental_distribute_dataset(train_dataset)
        # One trace for every batch shape (trimmed batches vary in length).
        train_step = tf.function(self._train_step(), input_signature=[distributed.element_spec])
        metric_name = self.task.metric
        best = -np.inf
        history: list[EpochRecord] = []
        for epoch in range(1, self.config.epochs + 1):
            start = time.time()
            progress = keras.utils.Progbar(
                self.steps_per_epoch, verbose=self.verbose,
                stateful_metrics=["loss", "penalty"],
            )
            total_loss, total_penalty, steps = 0.0, 0.0, 0
            for batch in distributed:
                loss, penalty = train_step(batch)
                steps += 1
                total_loss += float(loss)
                total_penalty += float(penalty)
                progress.update(
                    min(steps, self.steps_per_epoch),
                    [("loss", total_loss / steps), ("penalty", total_penalty / steps)],
                )
            metrics = self.evaluate(dev_dataset, dev_labels)
            record = EpochRecord(
                step=self.name,
                epoch=epoch,
                loss=total_loss / max(steps, 1),
                penalty=total_penalty / max(steps, 1),
                metrics=metrics,
                seconds=time.time() - start,
                masses=self.model.encoder.retention_masses()
                if self.model.mode == "soft" else [],
                learning_rate=float(self.bert_optimizer.learning_rate),
            )
            if self.verbose:
                progress.update(
                    self.steps_per_epoch,
                    [("loss", record.loss), ("penalty", record.penalty),
                     (f"dev_{metric_name}", metrics[metric_name])],
                    finalize=True,
                )
            history.append(record)
            self._log(record)
            improved = metrics[metric_name] > best
            best = max(best, metrics[metric_name])
            if checkpoint_path and (improved or not self.config.keep_best):
                save_atomically(self.model, checkpoint_path)
            if on_epoch_end:
                on_epoch_end(record)
        return history

    def _log(self, record: EpochRecord) -> None:
        if not self.log_dir:
            return
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, f"{self.name}_log.jsonl"), "a") as log:
            log.write(json.dumps(asdict(record)) + "\n")
        if self._writer is not None:
            with self._writer.as_default(step=record.epoch):
                tf.summary.scalar("loss", record.loss)
                tf.summary.scalar("penalty", record.penalty)
                for key, value in record.metrics.items():
                    tf.summary.scalar(f"dev/{key}", value)
                for j, mass in enumerate(record.masses, 1):
                    tf.summary.scalar(f"mass/layer_{j}", mass)
            self._writer.flush()


def outputs_to_predictions(task: glue.GlueTask, outputs: np.ndarray) -> np.ndarray:
    """Class ids from logits, or scores for regression."""
    if task.num_classes == 1:
        return outputs[:, 0]
    return np.argmax(outputs, axis=-1).astype(np.int32)


def _global_batch_size(strategy, labels):
    if strategy.num_replicas_in_sync == 1:
        return tf.shape(labels)[0]
    local = strategy.experimental_local_results(labels)
    return tf.add_n([tf.shape(t)[0] for t in local])
