"""The three PoWER-BERT steps end to end on a GLUE task.

fine-tune ("none" mode) -> configuration search ("soft" mode, lambda) ->
retention configuration (floor of each layer's mass, >= 1, non-increasing)
-> retrain ("hard" mode). Everything lands in `output_dir`:

    finetune.keras, search.keras, retrain.keras   checkpoints (full models)
    retention.json                                 configuration and masses
    results.json                                   the summary of the run
    run_config.json                                task facts for export
    <step>_log.jsonl, tensorboard/                 per-epoch logs
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

import keras
import numpy as np
import tensorflow as tf

from power_bert_tf import glue
from power_bert_tf.backbones import (
    default_backbone,
    load_backbone,
    load_preprocessor,
    peek_num_layers,
)
from power_bert_tf.files import read_json_if_present, write_json_atomically
from power_bert_tf.model import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig
from power_bert_tf.training import (
    Trainer,
    TrainConfig,
    outputs_to_predictions,
    retention_gradients,
)

STEPS = ("finetune", "search", "retrain")
CHECKPOINTS = {step: f"{step}.keras" for step in STEPS}


class PipelineError(ValueError):
    """A run that cannot start as asked; the message names the flag or file."""


@dataclass
class RunConfig:
    """Everything a run needs. None means: the task's default (original README)."""

    task: str
    output_dir: str
    data_dir: str | None = None
    backbone: str | None = None
    epochs: int = 3
    search_epochs: int | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    lr_bert: float | None = None
    lr_soft_extract: float | None = None
    lambda_: float | None = None
    max_train_examples: int | None = None
    max_dev_examples: int | None = None  # a quick, only indicative dev metric
    seed: int = 0
    retention: str | None = None
    checkpoint: str | None = None
    steps: tuple[str, ...] = STEPS
    distribute: str = "default"
    mixed_precision: bool = False
    verbose: int = 1
    extra: dict = field(default_factory=dict)

    def resolved(self) -> "RunConfig":
        """Fill task defaults; refuse bad values before anything is built."""
        try:
            task = glue.get_task(self.task)
        except ValueError as error:
            raise PipelineError(f"--task: {error}") from None
        steps = tuple(self.steps)
        for step in steps:
            if step not in STEPS:
                raise PipelineError(f"unknown step '{step}'; steps are {', '.join(STEPS)}")
        config = replace(
            self,
            task=task.name,
            batch_size=self.batch_size or task.batch_size,
            seq_len=self.seq_len or task.seq_len,
            lr_bert=self.lr_bert if self.lr_bert is not None else task.lr_bert,
            lr_soft_extract=self.lr_soft_extract
            if self.lr_soft_extract is not None else task.lr_soft_extract,
            lambda_=self.lambda_ if self.lambda_ is not None else task.lambda_,
            search_epochs=self.search_epochs or self.epochs,
            steps=steps,
        )
        for name in ("epochs", "batch_size", "seq_len"):
            if getattr(config, name) < 1:
                raise PipelineError(f"--{name.replace('_', '-')} must be at least 1")
        if config.retention is not None:
            source = config.checkpoint or config.backbone or default_backbone()
            config.retention_config(num_layers=peek_num_layers(source))
        if "finetune" not in steps and config.checkpoint is None:
            raise PipelineError(
                "--checkpoint is required when the finetune step is skipped"
            )
        return config

    def retention_config(self, num_layers: int | None) -> RetentionConfig | None:
        if self.retention is None:
            return None
        return RetentionConfig.parse(self.retention, num_layers=num_layers, seq_len=self.seq_len)


# -- data ------------------------------------------------------------------
def trim_to_longest(features, *labels):
    """Cut a padded batch to its longest real sequence.

    Exact for every mode: padding is masked in attention and ranks below
    real tokens, so it never changes a real token's output; it only costs
    time on a 2-core CPU.
    """
    mask = tf.cast(features["padding_mask"], tf.int32)
    longest = tf.maximum(tf.reduce_max(tf.reduce_sum(mask, axis=1)), 1)
    trimmed = {key: value[:, :longest] for key, value in features.items()}
    return (trimmed, *labels) if labels else trimmed


def make_split_dataset(
    examples: glue.GlueExamples, preprocessor, batch_size: int,
    shuffle: bool = False, seed: int = 0,
) -> tf.data.Dataset:
    dataset = glue.make_dataset(examples, preprocessor, batch_size, shuffle=shuffle, seed=seed)
    return dataset.map(trim_to_longest, num_parallel_calls=tf.data.AUTOTUNE)


# -- checkpoints -------------------------------------------------------------
def resolve_checkpoint(path: str, prefer: tuple[str, ...] = ("retrain", "search", "finetune")) -> str:
    """The .keras file `path` names: itself, or in a run directory the first of `prefer` present."""
    if not os.path.isdir(path):
        return path
    for step in prefer:
        candidate = os.path.join(path, CHECKPOINTS[step])
        if os.path.exists(candidate):
            return candidate
    raise PipelineError(f"--checkpoint {path}: no {', '.join(CHECKPOINTS[s] for s in prefer)} in it")


def load_checkpoint(path: str, prefer: tuple[str, ...] = ("retrain", "search", "finetune")):
    """A `PowerBertClassifier` from a .keras file or a run directory."""
    path = resolve_checkpoint(path, prefer)
    if not os.path.exists(path):
        raise PipelineError(f"--checkpoint {path}: no such file")
    try:
        model = keras.saving.load_model(path)
    except Exception as error:  # keras raises several types for a bad file
        raise PipelineError(f"--checkpoint {path}: not a loadable .keras model ({error})") from error
    if not isinstance(model, PowerBertClassifier):
        raise PipelineError(f"--checkpoint {path}: holds a {type(model).__name__}, not a PowerBertClassifier")
    return model


def _read_json(path: str) -> dict:
    try:
        return read_json_if_present(path)
    except ValueError as error:
        raise PipelineError(str(error)) from None


def make_strategy(name: str) -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # Every GPU; without GPUs every (logical) CPU device, so the strategy
        # can be exercised on a CPU split into several logical devices.
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise PipelineError(f"--distribute must be 'default' or 'mirrored', got '{name}'")


# -- the run -------------------------------------------------------------------
class Pipeline:
    """One task's data, model and steps, sharing a strategy and output dir."""

    def __init__(self, config: RunConfig):
        self.config = config.resolved()
        self.task = glue.get_task(self.config.task)
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.strategy = make_strategy(self.config.distribute)
        self.data_dir = glue.resolve_data_dir(self.task, self.config.data_dir)
        self._preprocessor = None

    # data
    def examples(self, split: str) -> glue.GlueExamples:
        examples = glue.load_split(self.task, split, self.data_dir)
        limit = {"train": self.config.max_train_examples, "dev": self.config.max_dev_examples}.get(split)
        if limit:
            examples = examples.take(limit, seed=self.config.seed)
        return examples

    def dataset(self, examples, shuffle=False):
        return make_split_dataset(
            examples, self.preprocessor, self.config.batch_size,
            shuffle=shuffle, seed=self.config.seed,
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
            recorded = _read_json(os.path.join(os.path.dirname(start), "run_config.json")).get("backbone")
            if recorded:
                return recorded
        return default_backbone()

    def _started_from(self) -> str | None:
        """The absolute path of the .keras file this run starts from (None: a fresh backbone)."""
        if not self.config.checkpoint:
            return None
        return resolve_checkpoint(os.path.abspath(self.config.checkpoint))

    def path(self, name: str) -> str:
        return os.path.join(self.config.output_dir, name)

    # models
    def initial_model(self) -> PowerBertClassifier:
        with self.strategy.scope():
            if self.config.checkpoint:
                model = load_checkpoint(self.config.checkpoint)
                if model.preprocessor is not None:
                    self._preprocessor = model.preprocessor
                return model
            keras.utils.set_random_seed(self.config.seed)
            backbone = load_backbone(self._backbone_source())
            model = PowerBertClassifier(
                backbone,
                num_classes=self.task.num_classes,
                sequence_length=self.config.seq_len,
                preprocessor=self.preprocessor,
            )
            model.build_from_example()
            return model

    def train(self, model, step: str, train, dev, train_config: TrainConfig):
        trainer = Trainer(
            model, self.task, train_config,
            steps_per_epoch=int(np.ceil(len(train[0]) / self.config.batch_size)),
            strategy=self.strategy, log_dir=self.config.output_dir, name=step,
            verbose=self.config.verbose,
        )
        start = time.time()
        history = trainer.fit(train[1], dev[1], dev[0].labels, checkpoint_path=self.path(CHECKPOINTS[step]))
        seconds = time.time() - start
        best = max(record.metrics[self.task.metric] for record in history)
        return history, best, seconds

    def run(self) -> dict:
        config, task = self.config, self.task
        model = self.initial_model()
        retention = config.retention_config(num_layers=len(model.encoder.schedule))
        train_examples = self.examples("train")
        dev_examples = self.examples("dev")
        train = (train_examples, self.dataset(train_examples, shuffle=True))
        dev = (dev_examples, self.dataset(dev_examples))
        self._write_run_config()
        results = self._read_json("results.json")
        results.update({
            "task": task.name,
            "backbone": self._backbone_source(),
            "started_from": self._started_from(),
            "metric": task.metric,
            "seq_len": config.seq_len,
            "train_examples": len(train_examples),
            "dev_examples": len(dev_examples),
            "hyper_parameters": {
                "epochs": config.epochs, "search_epochs": config.search_epochs,
                "batch_size": config.batch_size, "lr_bert": config.lr_bert,
                "lr_soft_extract": config.lr_soft_extract, "lambda": config.lambda_,
                "seed": config.seed,
            },
        })
        results.setdefault("seconds", {})
        plain = TrainConfig(epochs=config.epochs, lr_bert=config.lr_bert, lambda_=0.0)

        if "finetune" in config.steps:
            _, results["baseline"], results["seconds"]["finetune"] = self.train(
                model, "finetune", train, dev, plain)
            with self.strategy.scope():
                model = load_checkpoint(self.path(CHECKPOINTS["finetune"]))
        elif "baseline" not in results and model.mode == "none":
            results["baseline"] = self._evaluate(model, dev)

        if "search" in config.steps and retention is None:
            with self.strategy.scope():
                model = model.with_mode("soft")
            search = TrainConfig(
                epochs=config.search_epochs, lr_bert=config.lr_bert,
                lr_soft_extract=config.lr_soft_extract, lambda_=config.lambda_,
                keep_best=False,
            )
            history, _, results["seconds"]["search"] = self.train(model, "search", train, dev, search)
            masses = model.encoder.retention_masses()
            retention = RetentionConfig.from_masses(masses)
            results["search_metric"] = history[-1].metrics[task.metric]
            write_json_atomically(self.path("retention.json"), {
                "retention": retention.to_list(), "searched": retention.to_list(), "masses": masses,
                "lambda": config.lambda_, "seq_len": config.seq_len,
            })

        if "retrain" in config.steps:
            if retention is None:
                retention = self._saved_retention()
            with self.strategy.scope():
                model = model.with_mode("hard", retention)
            retrain = TrainConfig(epochs=config.epochs, lr_bert=config.lr_bert, lambda_=0.0)
            _, results["power"], results["seconds"]["retrain"] = self.train(
                model, "retrain", train, dev, retrain)
            results["retention"] = retention.to_list()
            results["flops_fraction"] = model.flops_fraction()
            write_json_atomically(self.path("retention.json"), {
                **self._read_json("retention.json"), "retention": retention.to_list(),
            })
        write_json_atomically(self.path("results.json"), results)
        return results

    def retention_gradients(self, max_batches: int = 20) -> np.ndarray:
        """`training.retention_gradients` of --checkpoint on shuffled training batches."""
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required (a fine-tuned run or .keras file)")
        model = self.initial_model()
        examples = self.examples("train")
        return retention_gradients(model, self.dataset(examples, shuffle=True), self.task, max_batches)

    # eval / predict
    def _evaluate(self, model, dev) -> float:
        trainer = self._inference_trainer(model)
        return trainer.evaluate(dev[1], dev[0].labels)[self.task.metric]

    def checkpoint_model(self) -> PowerBertClassifier:
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required with --eval-only / --predict-only")
        with self.strategy.scope():
            model = load_checkpoint(self.config.checkpoint)
            retention = self.config.retention_config(num_layers=len(model.encoder.schedule))
            if retention is not None:
                model = model.with_mode("hard", retention)
        if model.preprocessor is not None:
            self._preprocessor = model.preprocessor
        return model

    def evaluate(self) -> dict:
        model = self.checkpoint_model()
        dev_examples = self.examples("dev")
        trainer = self._inference_trainer(model)
        metrics = trainer.evaluate(self.dataset(dev_examples), dev_examples.labels)
        result = {
            "task": self.task.name, "checkpoint": self.config.checkpoint,
            "metric": self.task.metric, "metrics": metrics,
            "retention": None if model.retention is None else model.retention.to_list(),
            "flops_fraction": model.flops_fraction(), "dev_examples": len(dev_examples),
        }
        write_json_atomically(self.path("eval_results.json"), result)
        return result

    def predict(self, pred_glue: bool = False) -> str:
        model = self.checkpoint_model()
        test_examples = self.examples("test")
        trainer = self._inference_trainer(model)
        predictions = outputs_to_predictions(self.task, trainer.predict(self.dataset(test_examples)))
        if pred_glue:
            path = self.path(f"{self.task.directory}{_mnli_suffix(self.task)}.tsv")
            glue.write_glue_predictions(path, self.task, test_examples, predictions)
        else:
            path = self.path("test_predictions.tsv")
            glue.write_prediction_rows(path, test_examples.indices, predictions)
        return path

    def _inference_trainer(self, model) -> Trainer:
        """A Trainer used only for its predict/evaluate (no training steps)."""
        return Trainer(model, self.task, TrainConfig(), 1, self.strategy, verbose=0)

    # files
    def _write_run_config(self) -> None:
        write_json_atomically(self.path("run_config.json"), {
            "task": self.task.name,
            "backbone": self._backbone_source(),
            "sequence_length": self.config.seq_len,
            "num_classes": self.task.num_classes,
            "label_names": list(self.task.label_names),
            "is_pair": self.task.is_pair,
            # The fine-tuned model a `--steps search,retrain` run starts from: its baseline.
            "started_from": self._started_from(),
        })

    def _read_json(self, name: str) -> dict:
        return _read_json(self.path(name))

    def _saved_retention(self) -> RetentionConfig:
        saved = self._read_json("retention.json")
        if "retention" not in saved:
            raise PipelineError(
                "the retrain step needs --retention-config or a retention.json "
                f"from a search step in {self.config.output_dir}"
            )
        return RetentionConfig(tuple(saved["retention"]))


def _mnli_suffix(task: glue.GlueTask) -> str:
    return {"mnli-m": "-m", "mnli-mm": "-mm"}.get(task.name, "")


def format_summary(results: dict) -> str:
    """A small aligned table of a run's (or an evaluation's) results."""
    rows = []
    for key in ("task", "backbone", "checkpoint", "metric", "baseline", "search_metric",
                "power", "metrics", "retention", "flops_fraction", "seconds"):
        if key not in results or results[key] is None:
            continue
        value = results[key]
        if isinstance(value, float):
            value = f"{value:.2f}" if key != "flops_fraction" else f"{value:.3f}"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = ", ".join(
                f"{k} {v:.1f}" + ("s" if key == "seconds" else "") for k, v in value.items()
            )
        rows.append((key, str(value)))
    width = max(len(key) for key, _ in rows)
    rule = "-" * (width + 2 + max(len(value) for _, value in rows))
    return "\n".join([rule] + [f"{key:<{width}}  {value}" for key, value in rows] + [rule])


def run_glue(config: RunConfig) -> dict:
    """Run the configured steps; returns results.json's content."""
    return Pipeline(config).run()
