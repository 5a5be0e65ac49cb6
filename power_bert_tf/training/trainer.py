"""The custom training loop (TensorFlow, under a tf.distribute.Strategy) of all three steps:
soft mode adds `losses.mass_penalty` and trains the retention weights at their own rate; a
teacher's outputs mix `losses.distillation_loss` into the task loss. Each epoch ends with an
evaluation, the best (or last) checkpoint, a resume state and one log line."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from power_bert_tf.errors import PipelineError
from power_bert_tf.files import save_checkpoint
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.training.losses import (
    distillation_loss,
    mass_penalty,
    per_example_loss,
    retention_variables,
)
from power_bert_tf.training.resume import ResumeState
from power_bert_tf.training.schedule import WarmupLinearDecay

MetricFn = Callable[[np.ndarray, np.ndarray], dict]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """A `Trainer`'s tf.distribute.Strategy: "default" (the current one, one device) or "mirrored"
    (every GPU, else every logical CPU device, of this machine); ValueError for another name."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"strategy must be 'default' or 'mirrored', got {name!r}")


@dataclass
class TrainConfig:
    """Hyper-parameters of one training step (fine-tune, search or retrain)."""

    epochs: int = 3  # with `patience`, the most epochs
    lr_bert: float = 3e-5
    lr_soft_extract: float = 1e-3  # soft mode only
    lambda_: float = 1e-3  # soft mode only
    warmup_fraction: float = 0.1
    keep_best: bool = True  # False: keep the last epoch (configuration search)
    soft_extract_decay: bool = True  # False: hold lr_soft_extract after warm-up (moving targets)
    patience: int = 0  # stop after this many epochs without improvement (0: train every epoch)
    distill_weight: float = 0.5  # with a teacher: distillation's share (the labels get the rest)
    temperature: float = 2.0  # softens both distributions
    score_start: bool = False  # score the untrained model as "epoch 0" (a candidate best)

    def converged(self, scores: Sequence[float]) -> bool:
        """True when the last `patience` epochs' `scores` did not beat the best before them."""
        if self.patience < 1 or len(scores) <= self.patience:
            return False
        return max(scores[-self.patience :]) <= max(scores[: -self.patience])

    def schedule(self, peak: float, steps_per_epoch: int, decay: bool = True) -> WarmupLinearDecay:
        total = steps_per_epoch * self.epochs
        return WarmupLinearDecay(peak, total, self.warmup_steps(steps_per_epoch), decay)

    def warmup_steps(self, steps_per_epoch: int) -> int:
        return int(round(self.warmup_fraction * steps_per_epoch * self.epochs))


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
        config: `TrainConfig`.
        compute_metrics: `(labels, predictions) -> {name: value}` on the evaluation set.
        metric: the key of `compute_metrics`'s result that picks the best epoch.
        steps_per_epoch: optimizer steps per epoch (for the LR schedule).
        strategy: a tf.distribute.Strategy; default the current one.
        log_dir: where TensorBoard scalars and `<name>_log.jsonl` go.
        name: the step's name in logs ("finetune", "search", "retrain").
        controller: a `search.BudgetController` setting the penalty weight; None: `lambda_`.
        eval_name: what the evaluation set is, in the progress bar and TensorBoard ("held_out").
        views: models sharing `model`'s variables (`sharing_weights`), trained as `draw` picks.
        draw: a `budgets.ConfigurationDraw` over `[model, *views]` (needed with `views`).
    """

    def __init__(
        self,
        model,
        config: TrainConfig,
        compute_metrics: MetricFn,
        metric: str,
        steps_per_epoch: int,
        strategy: tf.distribute.Strategy | None = None,
        log_dir: str | None = None,
        name: str = "train",
        verbose: int = 1,
        controller=None,
        eval_name: str = "eval",
        views: Sequence = (),
        draw=None,
    ):
        backend = keras.backend.backend()  # the loop is tf.function + tf.GradientTape
        if backend != "tensorflow":
            raise PipelineError(f"training needs KERAS_BACKEND=tensorflow, not {backend!r}")
        if views and (draw is None or len(draw.probabilities) != 1 + len(views)):
            raise ValueError("views need a ConfigurationDraw over the model and every view")
        self.model = model
        self.config = config
        self.compute_metrics = compute_metrics
        self.metric = metric
        self.strategy = strategy or tf.distribute.get_strategy()
        self.name = name
        self.log_dir = log_dir
        self.verbose = verbose
        self.controller = controller
        self.eval_name = eval_name
        self.models = [model, *views]
        self.draw = draw
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.retention_vars = retention = retention_variables(model)
        retention_ids = {id(v) for v in retention}
        self.bert_vars = [v for v in model.trainable_variables if id(v) not in retention_ids]
        with self.strategy.scope():
            rate = config.schedule(config.lr_bert, self.steps_per_epoch)
            self.bert_optimizer = keras.optimizers.Adam(rate, name="adam_bert")
            self.bert_optimizer.build(self.bert_vars)
            self.soft_optimizer = None
            if retention:
                rate = config.schedule(
                    config.lr_soft_extract, self.steps_per_epoch, config.soft_extract_decay
                )
                self.soft_optimizer = keras.optimizers.Adam(rate, name="adam_soft_extract")
                self.soft_optimizer.build(retention)
            self.penalty_weight = (  # a variable: the compiled step reads its current value
                controller.multiplier
                if controller is not None
                else keras.Variable(config.lambda_, trainable=False, dtype="float32", name="lambda")
            )
        self._optimizers = [o for o in (self.bert_optimizer, self.soft_optimizer) if o is not None]
        self._predictor = Predictor(model)  # traced once, reused every epoch
        if log_dir:
            self._log_file = os.path.join(log_dir, f"{name}_log.jsonl")
            self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "tensorboard", name))

    def _train_step(self, model):
        """One optimizer step of `model` (this trainer's or a view) on a (distributed) batch."""
        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync
        total = tf.distribute.ReduceOp.SUM

        def replica_step(features, labels, global_batch):
            teacher = None
            if isinstance(labels, (tuple, list)):  # (labels, the teacher's outputs): distillation
                labels, teacher = labels
            with tf.GradientTape() as tape:
                outputs = model(features, training=True)
                per_example = per_example_loss(model.is_regression, labels, outputs)
                if teacher is not None:
                    weight = self.config.distill_weight
                    distilled = distillation_loss(
                        model.is_regression, teacher, outputs, self.config.temperature
                    )
                    per_example = (1.0 - weight) * per_example + weight * distilled
                task_loss = tf.reduce_sum(per_example) / global_batch
                penalty = ops.cast(self.penalty_weight, "float32") * mass_penalty(model, 1.0)
                # Gradients are summed over replicas: each adds its share.
                loss = task_loss + penalty / replicas
            gradients = tape.gradient(loss, self.bert_vars + self.retention_vars)
            split = len(self.bert_vars)
            self.bert_optimizer.apply_gradients(zip(gradients[:split], self.bert_vars))
            if self.soft_optimizer is not None:
                self.soft_optimizer.apply_gradients(zip(gradients[split:], self.retention_vars))
            return task_loss, penalty / replicas

        def train_step(iterator_batch):
            features, labels = iterator_batch
            first = labels[0] if isinstance(labels, (tuple, list)) else labels
            # Examples in this step over every replica: the loss is a mean over the global batch.
            sizes = strategy.run(lambda t: tf.cast(tf.shape(t)[0], tf.float32), args=(first,))
            global_batch = strategy.reduce(total, sizes, axis=None)
            task_loss, penalty = strategy.run(replica_step, args=(features, labels, global_batch))
            return tuple(strategy.reduce(total, t, axis=None) for t in (task_loss, penalty))

        return train_step

    def fit(
        self,
        train_dataset: tf.data.Dataset | Callable[[int], tf.data.Dataset],
        eval_dataset: tf.data.Dataset,
        eval_labels: np.ndarray,
        checkpoint_path: str | None = None,
        on_epoch_end: Callable[[EpochRecord], None] | None = None,
        resume: ResumeState | None = None,
    ) -> list[EpochRecord]:
        """Train up to `config.epochs` epochs (see `patience`); keep the best (or last) checkpoint.

        Args:
            train_dataset: `(features, labels)` batches (`labels` `(labels, teacher outputs)` to
                distil), or `epoch -> batches` (a resumed run then sees each epoch's own order).
            eval_dataset, eval_labels: what each epoch is scored on.
            checkpoint_path: where the best (or last) epoch's model goes.
            on_epoch_end: called with each trained epoch's record (not the scored start).
            resume: where the state after each epoch goes; when it holds one, training
                continues after its epoch (model, optimizers, multiplier, history).

        Returns:
            One record per epoch, the resumed ones included.
        """
        epoch_data = train_dataset if callable(train_dataset) else (lambda epoch: train_dataset)
        distribute = self.strategy.experimental_distribute_dataset
        state = resume.load() if resume is not None else None
        best, history, first_epoch = (
            self._restore(resume, state) if state is not None else (-np.inf, [], 1)
        )
        distributed = distribute(epoch_data(first_epoch))
        # One trace for every batch shape (trimmed batches vary in length); one per view.
        train_steps = [
            tf.function(self._train_step(model), input_signature=[distributed.element_spec])
            for model in self.models
        ]
        # The log as the resume state knows it (one line per finished epoch; none when run afresh).
        if self.log_dir and (history or os.path.isfile(self._log_file)):
            self._write_log(history, "w")
        if state is None and self.config.score_start:
            record = self._record(0, 0.0, 0.0, 0, time.time(), eval_dataset, eval_labels)
            best = self._end_epoch(record, history, best, checkpoint_path, resume, on_epoch_end)
        step = int(self.bert_optimizer.iterations.numpy())
        for epoch in range(first_epoch, self.config.epochs + 1):
            if self.config.converged([r.metrics[self.metric] for r in history]):
                break
            if epoch > first_epoch:
                distributed = distribute(epoch_data(epoch))
            start = time.time()
            progress = keras.utils.Progbar(
                self.steps_per_epoch, verbose=self.verbose, stateful_metrics=["loss", "penalty"]
            )
            total_loss, total_penalty, steps = 0.0, 0.0, 0
            for batch in distributed:
                index = self.draw.pick(step) if self.draw is not None else 0
                loss, penalty = train_steps[index](batch)
                steps, step = steps + 1, step + 1
                total_loss += float(loss)
                total_penalty += float(penalty)
                if self.controller is not None:
                    self.controller.after_step(step, self.model.encoder.retention_masses())
                progress.update(
                    min(steps, self.steps_per_epoch),
                    [("loss", total_loss / steps), ("penalty", total_penalty / steps)],
                )
            record = self._record(
                epoch, total_loss, total_penalty, steps, start, eval_dataset, eval_labels
            )
            score = (f"{self.eval_name}_{self.metric}", record.metrics[self.metric])
            progress.update(self.steps_per_epoch, [score], finalize=True)  # loss, penalty: as last
            best = self._end_epoch(record, history, best, checkpoint_path, resume, on_epoch_end)
        return history

    def _end_epoch(self, record, history, best, checkpoint_path, resume, on_epoch_end) -> float:
        """Keep `record`, the checkpoint if it is the best (or last), the resume state; log it."""
        history.append(record)
        improved = record.metrics[self.metric] > best
        best = max(best, record.metrics[self.metric])
        if checkpoint_path and (improved or not self.config.keep_best):
            save_checkpoint(self.model, checkpoint_path)
        # The state before the log line: a logged epoch is one a rerun will not repeat.
        if resume is not None and record.epoch > 0:
            state = {"step": self.name, "best": best, "history": [asdict(r) for r in history]}
            state["controller"] = self.controller.state() if self.controller is not None else None
            resume.save(record.epoch, self.model, self._optimizers, state)
        self._log(record)
        if on_epoch_end and record.epoch > 0:  # as Keras callbacks: trained epochs only
            on_epoch_end(record)
        return best

    def _record(
        self, epoch, total_loss, total_penalty, steps, start, eval_dataset, eval_labels
    ) -> EpochRecord:
        outputs = self._predictor.predict(eval_dataset)
        predictions = outputs_to_predictions(outputs, self.model.is_regression)
        return EpochRecord(
            step=self.name,
            epoch=epoch,
            loss=total_loss / max(steps, 1),
            penalty=total_penalty / max(steps, 1),
            metrics=self.compute_metrics(eval_labels, predictions),
            seconds=time.time() - start,
            masses=self.model.encoder.retention_masses() if self.model.mode == "soft" else [],
            learning_rate=float(self.bert_optimizer.learning_rate),
        )

    def _restore(self, resume: ResumeState, state: dict):
        """Load `state`; returns the best score, the history and the epoch to continue from."""
        resume.restore(state, self.model, self._optimizers)
        if self.controller is not None and state.get("controller"):
            self.controller.restore(state["controller"])
        history = [EpochRecord(**record) for record in state["history"]]
        # Said even with --quiet: a resumed step is not a fresh one.
        print(f"{self.name}: resuming after epoch {state['epoch']} of {self.config.epochs}")
        return state["best"], history, state["epoch"] + 1

    def _write_log(self, records: Sequence[EpochRecord], mode: str) -> None:
        os.makedirs(self.log_dir, exist_ok=True)
        with open(self._log_file, mode) as log:
            log.writelines(json.dumps(asdict(record)) + "\n" for record in records)

    def _log(self, record: EpochRecord) -> None:
        if not self.log_dir:
            return
        self._write_log([record], "a")
        with self._writer.as_default(step=record.epoch):
            tf.summary.scalar("loss", record.loss)
            tf.summary.scalar("penalty", record.penalty)
            for key, value in record.metrics.items():
                tf.summary.scalar(f"{self.eval_name}/{key}", value)  # e.g. held_out/mcc
            for j, mass in enumerate(record.masses, 1):
                tf.summary.scalar(f"mass/layer_{j}", mass)
        self._writer.flush()
