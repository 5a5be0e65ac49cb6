"""The three PoWER-BERT steps end to end on a GLUE task, one method per step.

fine-tune ("none" mode) -> configuration search ("soft" mode, lambda) ->
retention configuration (floor of each layer's mass, >= 1, non-increasing)
-> retrain ("hard" mode). What lands in the output directory, and which
checkpoint each step starts from: `power_bert_tf.runs`.
"""

from __future__ import annotations

import os
import time

import keras
import numpy as np
import tensorflow as tf

from power_bert_tf import data
from power_bert_tf.backbones import default_backbone, load_backbone, load_preprocessor
from power_bert_tf.config import PipelineError, RunConfig, check_target_flops, format_summary
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig, project_onto_budget
from power_bert_tf.runs import (
    DELIVERED,
    STARTS_FROM,
    RunDirectory,
    RunError,
    load_classifier,
    resolve_checkpoint,
    run_directory_of,
)
from power_bert_tf.training import Trainer, TrainConfig, retention_gradients

__all__ = ["Pipeline", "PipelineError", "RunConfig", "format_summary", "make_strategy", "run_glue"]


def make_strategy(name: str) -> tf.distribute.Strategy:
    """The tf.distribute strategy of `--distribute`."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # Every GPU; without GPUs every (logical) CPU device, so the strategy
        # can be exercised on a CPU split into several logical devices.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise PipelineError(f"--distribute must be 'default' or 'mirrored', got '{name}'")


def _load(path: str, prefer: tuple[str, ...] = DELIVERED) -> PowerBertClassifier:
    try:
        return load_classifier(path, prefer)
    except RunError as error:
        raise PipelineError(f"--checkpoint {error}") from None


class Pipeline:
    """One task's data, model and steps, sharing a strategy and a run directory."""

    def __init__(self, config: RunConfig):
        self.config = config.resolved()
        self.task = data.get_task(self.config.task)
        self.run_dir = RunDirectory(self.config.output_dir)
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.strategy = make_strategy(self.config.distribute)
        self.data_dir = data.resolve_data_dir(self.task, self.config.data_dir)
        self._preprocessor = None

    # -- data ----------------------------------------------------------------------
    def examples(self, split: str) -> data.GlueExamples:
        examples = data.load_split(self.task, split, self.data_dir)
        limit = {"train": self.config.max_train_examples, "dev": self.config.max_dev_examples}.get(split)
        return examples.take(limit, seed=self.config.seed) if limit else examples

    def dataset(self, examples, shuffle=False):
        return data.make_split_dataset(
            examples, self.preprocessor, self.config.batch_size, shuffle=shuffle, seed=self.config.seed,
        )

    @property
    def preprocessor(self):
        if self._preprocessor is None:
            self._preprocessor = load_preprocessor(self._backbone_source(), self.config.seq_len)
        return self._preprocessor

    def _backbone_source(self) -> str:
        # Starting from a checkpoint, the backbone is whatever the run that wrote it recorded.
        if self.config.backbone:
            return self.config.backbone
        start = self._started_from()
        if start:
            recorded = run_directory_of(start).run_config().get("backbone")
            if recorded:
                return recorded
        return default_backbone()

    def _first_step(self) -> str:
        return next(step for step in ("finetune", "search", "retrain") if step in self.config.steps)

    def _started_from(self) -> str | None:
        """The .keras file this run starts from (None: a fresh backbone)."""
        if not self.config.checkpoint:
            return None
        prefer = STARTS_FROM.get(self._first_step(), ("finetune",))
        try:
            return os.path.abspath(resolve_checkpoint(self.config.checkpoint, prefer))
        except RunError as error:
            raise PipelineError(f"--checkpoint {error}") from None

    def _adopt_preprocessor(self, model) -> None:
        if model.preprocessor is not None:
            self._preprocessor = model.preprocessor

    # -- models --------------------------------------------------------------------
    def initial_model(self) -> PowerBertClassifier:
        """The model the first step starts from: its predecessor's checkpoint, or a fresh backbone."""
        with self.strategy.scope():
            start = self._started_from()
            if start:
                model = _load(start)
                self._adopt_preprocessor(model)
                return model
            keras.utils.set_random_seed(self.config.seed)
            model = PowerBertClassifier(
                load_backbone(self._backbone_source()),
                num_classes=self.task.num_classes,
                sequence_length=self.config.seq_len,
                preprocessor=self.preprocessor,
            )
            model.build_from_example()
            return model

    def _train(self, model, step: str, train, dev, train_config: TrainConfig):
        trainer = Trainer(
            model, train_config, self._metrics, self.task.metric,
            steps_per_epoch=int(np.ceil(len(train[0]) / self.config.batch_size)),
            strategy=self.strategy, log_dir=self.run_dir.path, name=step, verbose=self.config.verbose,
        )
        start = time.time()
        history = trainer.fit(train[1], dev[1], dev[0].labels, checkpoint_path=self.run_dir.checkpoint(step))
        best = max(record.metrics[self.task.metric] for record in history)
        return history, best, time.time() - start

    def _metrics(self, labels, predictions) -> dict:
        return data.compute_metrics(self.task, labels, predictions)

    # -- the steps -----------------------------------------------------------------
    def finetune(self, model, train, dev, results: dict) -> PowerBertClassifier:
        plain = TrainConfig(epochs=self.config.epochs, lr_bert=self.config.lr_bert, lambda_=0.0)
        _, results["baseline"], results["seconds"]["finetune"] = self._train(model, "finetune", train, dev, plain)
        with self.strategy.scope():
            return _load(self.run_dir.checkpoint("finetune"))  # the best epoch

    def search(self, model, train, dev, results: dict) -> tuple[PowerBertClassifier, RetentionConfig]:
        config = self.config
        if model.mode == "hard":
            raise PipelineError(
                "the search step needs a fine-tuned model, but the checkpoint is a retrained "
                f"(hard-mode, retention {model.retention}) model: pass the run's finetune.keras"
            )
        adapter = model.encoder.adapter
        budget = (config.seq_len, adapter.hidden_dim, adapter.intermediate_dim)
        if config.target_flops is not None:  # a preset name had no config files to check it against
            check_target_flops(config.target_flops, model.encoder.num_layers, *budget)
        with self.strategy.scope():
            model = model.with_mode("soft")
        search = TrainConfig(
            epochs=config.search_epochs, lr_bert=config.lr_bert, lr_soft_extract=config.lr_soft_extract,
            lambda_=config.lambda_, keep_best=False,
        )
        history, _, results["seconds"]["search"] = self._train(model, "search", train, dev, search)
        masses = model.encoder.retention_masses()
        searched = RetentionConfig.from_masses(masses)
        retention = searched
        if config.target_flops is not None:
            retention = project_onto_budget(masses, config.target_flops, *budget)
        results["search_metric"] = history[-1].metrics[self.task.metric]
        self.run_dir.write("retention.json", {
            "retention": retention.to_list(), "searched": searched.to_list(), "masses": masses,
            "lambda": config.lambda_, "target_flops": config.target_flops, "seq_len": config.seq_len,
        })
        return model, retention

    def retrain(self, model, retention: RetentionConfig, train, dev, results: dict) -> PowerBertClassifier:
        with self.strategy.scope():
            model = model.with_mode("hard", retention)
        retrain = TrainConfig(epochs=self.config.epochs, lr_bert=self.config.lr_bert, lambda_=0.0)
        _, results["power"], results["seconds"]["retrain"] = self._train(model, "retrain", train, dev, retrain)
        results["retention"] = retention.to_list()
        results["flops_fraction"] = model.flops_fraction(self.config.seq_len)
        results["target_flops"] = self.config.target_flops
        self.run_dir.write("retention.json", {**self.run_dir.retention(), "retention": retention.to_list()})
        return model

    def run(self) -> dict:
        """Run the configured steps; returns (and writes) results.json's content."""
        config, task = self.config, self.task
        # The data first: a bad file stops the run before any model is built.
        train_examples, dev_examples = self.examples("train"), self.examples("dev")
        model = self.initial_model()
        retention = config.retention_config(num_layers=model.encoder.num_layers)
        train = (train_examples, self.dataset(train_examples, shuffle=True))
        dev = (dev_examples, self.dataset(dev_examples))
        self._write_run_config()
        results = self._read("results.json")
        results.update({
            "task": task.name, "backbone": self._backbone_source(), "started_from": self._started_from(),
            "metric": task.metric, "seq_len": config.seq_len, "train_examples": len(train_examples),
            "dev_examples": len(dev_examples), "hyper_parameters": config.hyper_parameters(),
            "defaults_applied": config.applied_defaults,
        })
        results.setdefault("seconds", {})

        if "finetune" in config.steps:
            model = self.finetune(model, train, dev, results)
        elif "baseline" not in results and model.mode == "none":
            results["baseline"] = self._evaluate(model, dev)
        if "search" in config.steps and retention is None:
            model, retention = self.search(model, train, dev, results)
        if "retrain" in config.steps:
            retention = retention or self._saved_retention()
            self.retrain(model, retention, train, dev, results)
        self.run_dir.write("results.json", results)
        return results

    def retention_gradients(self, max_batches: int = 20) -> np.ndarray:
        """`training.retention_gradients` of --checkpoint on shuffled training batches."""
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required (a fine-tuned run or .keras file)")
        model = self.initial_model()
        return retention_gradients(model, self.dataset(self.examples("train"), shuffle=True), max_batches)

    # -- eval / predict -----------------------------------------------------------
    def _evaluate(self, model, dev) -> float:
        outputs = Predictor(model).predict(dev[1])
        predictions = outputs_to_predictions(outputs, model.is_regression)
        return self._metrics(dev[0].labels, predictions)[self.task.metric]

    def checkpoint_model(self) -> PowerBertClassifier:
        """The model --checkpoint delivers (retrain, else finetune), at --retention-config if given."""
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required with --eval-only / --predict-only")
        with self.strategy.scope():
            model = _load(self.config.checkpoint)
            retention = self.config.retention_config(num_layers=model.encoder.num_layers)
            if retention is not None:
                model = model.with_mode("hard", retention)
        self._adopt_preprocessor(model)
        return model

    def evaluate(self) -> dict:
        model = self.checkpoint_model()
        dev_examples = self.examples("dev")
        outputs = Predictor(model).predict(self.dataset(dev_examples))
        metrics = self._metrics(dev_examples.labels, outputs_to_predictions(outputs, model.is_regression))
        result = {
            "task": self.task.name, "checkpoint": self.config.checkpoint, "metric": self.task.metric,
            "metrics": metrics, "retention": None if model.retention is None else model.retention.to_list(),
            "flops_fraction": model.flops_fraction(self.config.seq_len), "dev_examples": len(dev_examples),
        }
        self.run_dir.write("eval_results.json", result)
        return result

    def predict(self, pred_glue: bool = False) -> str:
        model = self.checkpoint_model()
        test_examples = self.examples("test")
        outputs = Predictor(model).predict(self.dataset(test_examples))
        predictions = outputs_to_predictions(outputs, model.is_regression)
        if pred_glue:
            suffix = {"mnli-m": "-m", "mnli-mm": "-mm"}.get(self.task.name, "")
            path = self.run_dir.file(f"{self.task.directory}{suffix}.tsv")
            data.write_glue_predictions(path, self.task, test_examples, predictions)
        else:
            path = self.run_dir.file("test_predictions.tsv")
            data.write_prediction_rows(path, test_examples.indices, predictions)
        return path

    # -- files ---------------------------------------------------------------------
    def _write_run_config(self) -> None:
        self.run_dir.write("run_config.json", {
            "task": self.task.name,
            "backbone": self._backbone_source(),
            "sequence_length": self.config.seq_len,
            "num_classes": self.task.num_classes,
            "label_names": list(self.task.label_names),
            "is_pair": self.task.is_pair,
            # The fine-tuned model a `--steps search,retrain` run starts from: its baseline.
            "started_from": self._started_from(),
        })

    def _read(self, name: str) -> dict:
        try:
            return self.run_dir.read(name)
        except RunError as error:
            raise PipelineError(str(error)) from None

    def _saved_retention(self) -> RetentionConfig:
        saved = self._read("retention.json")
        if "retention" not in saved:
            raise PipelineError(
                "the retrain step needs --retention-config or a retention.json "
                f"from a search step in {self.config.output_dir}"
            )
        return RetentionConfig(tuple(saved["retention"]))


def run_glue(config: RunConfig) -> dict:
    """Run the configured steps; returns results.json's content."""
    return Pipeline(config).run()
