"""The three PoWER-BERT steps end to end on a GLUE task, one method per step.

fine-tune ("none" mode) -> configuration search ("soft" mode, towards a goal:
`training.search`) -> retention configuration -> retrain ("hard" mode). Epochs and
configurations are chosen on a held-out part of the training set; the dev set is read
once per delivered model, for the reported number. What lands in the output
directory, and which checkpoint each step starts from: `power_bert_tf.runs`.

A run is resumable: each step's record in results.json says when it finished, the same
command again skips finished steps and continues an interrupted one from its last
finished epoch (`training.resume`); `--overwrite` starts afresh.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from power_bert_tf import data
from power_bert_tf.backbones import default_backbone, load_backbone, load_preprocessor
from power_bert_tf.config import PipelineError, RunConfig, format_summary, warn
from power_bert_tf.distribute import distribute_options, is_chief, make_strategy, worker_output_dir
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig, RetentionConfigError
from power_bert_tf.runs import (
    DELIVERED,
    STARTS_FROM,
    STEPS,
    RunDirectory,
    RunError,
    load_classifier,
    resolve_checkpoint,
    run_directory_of,
    summarize,
)
from power_bert_tf.training import Trainer, TrainConfig, retention_gradients
from power_bert_tf.training.budgets import Budget, ConfigurationDraw, budget_configurations
from power_bert_tf.training.resume import ResumeError, ResumeState
from power_bert_tf.checkpoint_step import CheckpointStep
from power_bert_tf.search_step import SearchStep

__all__ = ["Pipeline", "PipelineError", "RunConfig", "format_summary", "make_strategy", "run_glue"]


def _load(path: str, prefer: tuple[str, ...] = DELIVERED) -> PowerBertClassifier:
    try:
        return load_classifier(path, prefer)
    except RunError as error:
        raise PipelineError(f"--checkpoint {error}") from None


class Pipeline(SearchStep, CheckpointStep):
    """One task's data, model and steps, sharing a strategy and a run directory."""

    def __init__(self, config: RunConfig):
        self.config = config.resolved()
        self.task = data.get_task(self.config.task)
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        # Before any TensorFlow op: a multi-worker strategy configures collectives at start-up.
        self.strategy = make_strategy(self.config.distribute)
        # The chief writes the run; other workers write a private copy of it (power_bert_tf.distribute).
        self.run_dir = RunDirectory(worker_output_dir(self.config.output_dir, self.strategy))
        self.data_dir = data.resolve_data_dir(self.task, self.config.data_dir)
        self._preprocessor = None
        self._encoded: dict = {}  # id(examples) -> (examples, their features): `dataset`

    # -- data ----------------------------------------------------------------------
    def examples(self, split: str) -> data.GlueExamples:
        examples = data.load_split(self.task, split, self.data_dir)
        limit = {"train": self.config.max_train_examples, "dev": self.config.max_dev_examples}.get(split)
        return examples.take(limit, seed=self.config.seed) if limit else examples

    def training_split(self) -> tuple[data.GlueExamples, data.GlueExamples]:
        """(train, held out): the training set less the part held out to choose on."""
        try:
            return self.examples("train").split_off(self.config.held_out_fraction)
        except ValueError as error:
            raise PipelineError(f"--held-out-fraction: {error}") from None

    def dataset(self, examples, shuffle=False, seed: int | None = None):
        """Batches of `examples`, trimmed to their longest sentence; each split is tokenized once."""
        key = id(examples)
        if key not in self._encoded:  # the examples object too: its id stays its own
            self._encoded[key] = (examples, data.encode_examples(examples, self.preprocessor))
        return data.make_encoded_dataset(
            self._encoded[key][1], examples.labels, self.config.batch_size, shuffle=shuffle,
            seed=self.config.seed if seed is None else seed,
        ).with_options(distribute_options())

    def epoch_datasets(self, examples):
        """epoch -> that epoch's shuffled batches (a resumed run sees the same order)."""
        return lambda epoch: self.dataset(examples, shuffle=True, seed=self.config.seed * 1000 + epoch)

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
        return next(step for step in STEPS if step in self.config.steps)

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
        start = self._started_from()
        if start:
            return self._load(start)
        with self.strategy.scope():
            model = PowerBertClassifier(
                load_backbone(self._backbone_source()),
                num_classes=self.task.num_classes,
                sequence_length=self.config.seq_len,
                preprocessor=self.preprocessor,
            )
            model.build_from_example()
            return model

    def start_of(self, step: str) -> PowerBertClassifier:
        """The model `step` starts from: this run's predecessor, else the --checkpoint's."""
        own = [s for s in STARTS_FROM.get(step, ()) if s in self.config.steps[: self.config.steps.index(step)]]
        path = self.run_dir.existing_checkpoint(tuple(own)) if own else None
        return self._load(path) if path else self.initial_model()

    def _load(self, path: str) -> PowerBertClassifier:
        with self.strategy.scope():
            model = _load(path)
        self._adopt_preprocessor(model)
        return model

    def _train(self, model, step: str, train, held_out, train_config: TrainConfig, controller=None, views=(),
               draw=None):
        trainer = Trainer(
            model, train_config, self._metrics, self.task.metric,
            steps_per_epoch=self.steps_per_epoch(train), strategy=self.strategy, log_dir=self.run_dir.path,
            name=step, verbose=self.config.verbose if is_chief(self.strategy) else 0, controller=controller,
            eval_name="held_out", views=views, draw=draw,
        )
        history = trainer.fit(
            self.epoch_datasets(train), self.dataset(held_out), held_out.labels,
            checkpoint_path=self.run_dir.checkpoint(step), resume=self._resume_state(step),
        )
        best = max(history, key=lambda record: record.metrics[self.task.metric])
        # Summed over epochs: a resumed step counts the epochs of the run that was killed too.
        return {"seconds": sum(record.seconds for record in history), "best_epoch": best.epoch,
                "held_out": best.metrics[self.task.metric], "epochs": len(history)}, history

    def steps_per_epoch(self, train) -> int:
        return int(np.ceil(len(train) / self.config.batch_size))

    def _resume_state(self, step: str) -> ResumeState:
        state = ResumeState(self.run_dir.file(f"{step}.resume"), self.config.identity())
        try:
            state.load()
        except ResumeError as error:
            raise PipelineError(str(error)) from None
        return state

    def _metrics(self, labels, predictions) -> dict:
        return data.compute_metrics(self.task, labels, predictions)

    # -- the steps -----------------------------------------------------------------
    def finetune(self, train, held_out, dev) -> dict:
        model = self.initial_model()
        plain = TrainConfig(epochs=self.config.epochs, lr_bert=self.config.lr_bert, lambda_=0.0)
        record, _ = self._train(model, "finetune", train, held_out, plain)
        record["dev"] = self._evaluate(self._load(self.run_dir.checkpoint("finetune")), dev)  # the best epoch
        return record

    def baseline(self, held_out, dev) -> dict:
        """The record of a fine-tuned --checkpoint this run starts from."""
        model = self.initial_model()
        if model.mode != "none":
            return {}
        return {"checkpoint": self._started_from(), "held_out": self._evaluate(model, held_out),
                "dev": self._evaluate(model, dev)}

    def retrain(self, retention: RetentionConfig, masses, train, held_out, dev, baseline_held_out) -> dict:
        """Hard-Extract training at `retention`; with --budgets, of one set of weights for it and
        for each budget's projection of the search's `masses` (`training.budgets`)."""
        model = self.start_of("retrain")
        budgets = self._budgets(model, masses)
        with self.strategy.scope():
            model = model.with_mode("hard", retention)
            views = [model.sharing_weights(budget.retention) for budget in budgets]
        # The best epoch is the chosen configuration's: it is what serving_default serves.
        draw = ConfigurationDraw(1 + len(views), self.config.seed) if views else None
        retrain = TrainConfig(epochs=self.config.epochs, lr_bert=self.config.lr_bert, lambda_=0.0)
        record, _ = self._train(model, "retrain", train, held_out, retrain, views=views, draw=draw)
        delivered = self._load(self.run_dir.checkpoint("retrain"))
        record.update({"retention": retention.to_list(), "flops_fraction": model.flops_fraction(self.config.seq_len),
                       "dev": self._evaluate(delivered, dev)})
        if budgets:
            record["budgets"] = [self._budget_record(delivered, budget, held_out, dev) for budget in budgets]
        drop = self.config.max_metric_drop
        if drop is not None and baseline_held_out is not None:
            # The candidate was scored before retraining: check the delivered model again.
            record["within_max_metric_drop"] = record["held_out"] >= baseline_held_out - drop
            if not record["within_max_metric_drop"]:
                warn(f"after retraining, the held-out {self.task.metric} is {record['held_out']:.2f}, more than "
                      f"{drop} below the fine-tuned model's {baseline_held_out:.2f}")
        return record

    def run(self) -> dict:
        """Run the configured steps, skipping finished ones; returns (and writes) results.json's content."""
        config = self.config
        # The data first: a bad file stops the run before any model is built.
        train, held_out = self.training_split()
        dev = self.examples("dev")
        if config.overwrite:
            self.run_dir.clear()
        records = self._records()
        self._write_run_config()
        context = {
            "task": self.task.name, "backbone": self._backbone_source(), "started_from": self._started_from(),
            "metric": self.task.metric, "seq_len": config.seq_len, "train_examples": len(train),
            "held_out_examples": len(held_out), "dev_examples": len(dev),
            "hyper_parameters": config.hyper_parameters(), "defaults_applied": config.applied_defaults,
            "identity": config.identity(),
        }

        def step(name: str, compute) -> dict:
            if records.get(name, {}).get("finished"):
                print(f"{name}: finished earlier ({self.run_dir.path}), skipped")
                return records[name]
            for later in STEPS[STEPS.index(name) + 1:] + ("baseline",) * (name == "finetune"):
                records.pop(later, None)  # they depended on the old result
            # Each step seeds its own initialisation and dropout: a resumed run repeats it exactly.
            keras.utils.set_random_seed(config.seed + STEPS.index(name))
            records[name] = {**compute(), "finished": True, "identity": config.identity()}
            self._write_results(context, records)
            ResumeState(self.run_dir.file(f"{name}.resume")).clear()
            return records[name]

        if "finetune" in config.steps:
            step("finetune", lambda: self.finetune(train, held_out, dev))
        elif config.checkpoint and self._started_from() not in (
                records.get("baseline", {}).get("checkpoint"), os.path.abspath(self.run_dir.checkpoint("finetune"))):
            records["baseline"] = self.baseline(held_out, dev)
        baseline_held_out = (records.get("baseline") or records.get("finetune") or {}).get("held_out")
        retention = config.retention_config(num_layers=None)
        if "search" in config.steps and retention is None:
            searched = step("search", lambda: self.search(train, held_out))
            retention = None if searched["retention"] is None else RetentionConfig(tuple(searched["retention"]))
        elif "retrain" in config.steps and retention is None:
            retention = self._saved_retention()
        if "retrain" in config.steps and retention is not None:
            masses = self._search_masses(records, retention)
            step("retrain", lambda: self.retrain(retention, masses, train, held_out, dev, baseline_held_out))
        return self._write_results(context, records)

    def _records(self) -> dict:
        """Each step's record from an earlier run in --output-dir; refuses one of other settings."""
        records = self._read("results.json").get("steps", {})
        for name in self.config.steps:
            recorded = records.get(name, {}).get("identity")
            if recorded is not None and recorded != self.config.identity():
                changed = sorted(k for k in set(recorded) | set(self.config.identity())
                                 if recorded.get(k) != self.config.identity().get(k))
                raise PipelineError(
                    f"{self.run_dir.path} holds a {name} step run with other settings ({', '.join(changed)}): "
                    "pass --overwrite to start afresh, or another --output-dir")
        return records

    def _write_results(self, context: dict, records: dict) -> dict:
        results = {**context, **summarize(records), "steps": records}
        self.run_dir.write("results.json", results)
        return results

    def retention_gradients(self, max_batches: int = 20) -> np.ndarray:
        """`training.retention_gradients` of --checkpoint on shuffled training batches."""
        if not self.config.checkpoint:
            raise PipelineError("--checkpoint is required (a fine-tuned run or .keras file)")
        model = self.initial_model()
        return retention_gradients(model, self.dataset(self.examples("train"), shuffle=True), max_batches)

    # -- scoring ---------------------------------------------------------------------
    def _predictions(self, model, examples: data.GlueExamples) -> np.ndarray:
        """Class ids (or scores) of `model` on `examples`, in their order."""
        return outputs_to_predictions(Predictor(model).predict(self.dataset(examples)), model.is_regression)

    def _evaluate(self, model, examples: data.GlueExamples) -> float:
        return self._metrics(examples.labels, self._predictions(model, examples))[self.task.metric]

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

    def _saved_search(self) -> dict:
        """The search step's record: in --output-dir, else in the --checkpoint's run ({} if none)."""
        directories = [self.run_dir] + ([run_directory_of(self.config.checkpoint)] if self.config.checkpoint else [])
        for directory in directories:
            try:
                search = directory.results().get("steps", {}).get("search", {})
            except RunError as error:
                raise PipelineError(str(error)) from None
            if search.get("retention"):
                return search
        return {}

    def _saved_retention(self) -> RetentionConfig:
        """The configuration a search found (`_saved_search`)."""
        search = self._saved_search()
        if not search:
            raise PipelineError(
                "the retrain step needs --retention-config, or a finished search step in "
                f"{self.config.output_dir} or in the --checkpoint's run"
            )
        return RetentionConfig(tuple(search["retention"]))

    def _search_masses(self, records: dict, retention: RetentionConfig) -> list[float]:
        """What --budgets projects: this run's search masses, else a saved search's, else (a
        --retention-config without a search) the configuration's own lengths."""
        if not self.config.budgets:
            return []
        search = records.get("search") or (self._saved_search() if self.config.retention is None else {})
        return list(search.get("masses") or retention.to_list())

    def _budgets(self, model, masses) -> list[Budget]:
        """--budgets' configurations at the model's dimensions."""
        if not self.config.budgets:
            return []
        adapter = model.encoder.adapter
        try:
            return budget_configurations(masses, [float(b) for b in self.config.budgets], self.config.seq_len,
                                         adapter.hidden_dim, adapter.intermediate_dim)
        except RetentionConfigError as error:
            raise PipelineError(f"--budgets: {error}") from None

    def _budget_record(self, delivered, budget: Budget, held_out, dev) -> dict:
        """One budget of the retrained family: its configuration and both scores."""
        with self.strategy.scope():
            view = delivered.sharing_weights(budget.retention)
        return {"target": budget.target, "signature": budget.signature, "retention": budget.retention.to_list(),
                "flops_fraction": view.flops_fraction(self.config.seq_len),
                "held_out": self._evaluate(view, held_out), "dev": self._evaluate(view, dev)}


def run_glue(config: RunConfig) -> dict:
    """Run the configured steps; returns results.json's content."""
    return Pipeline(config).run()
