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
import sys
from dataclasses import asdict

import keras
import numpy as np

from power_bert_tf import data
from power_bert_tf.backbones import default_backbone, load_backbone, load_preprocessor
from power_bert_tf.config import PipelineError, RunConfig, check_target_flops, format_summary
from power_bert_tf.distribute import distribute_options, is_chief, make_strategy, worker_output_dir
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig, mass_flops_fraction, project_onto_budget
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
from power_bert_tf.training.resume import ResumeError, ResumeState
from power_bert_tf.training.search import (
    MIN_TRAVEL,
    PROBE_STEPS,
    SEARCH_TRAVEL,
    SWEEP_FLOOR,
    BudgetController,
    SearchGoal,
    choose_candidate,
    soft_extract_rate,
    travel,
)

__all__ = ["Pipeline", "PipelineError", "RunConfig", "format_summary", "make_strategy", "run_glue"]


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


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
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        # Before any TensorFlow op: a multi-worker strategy configures collectives at start-up.
        self.strategy = make_strategy(self.config.distribute)
        # The chief writes the run; other workers write a private copy of it (power_bert_tf.distribute).
        self.run_dir = RunDirectory(worker_output_dir(self.config.output_dir, self.strategy))
        self.data_dir = data.resolve_data_dir(self.task, self.config.data_dir)
        self._preprocessor = None

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
        return data.make_split_dataset(
            examples, self.preprocessor, self.config.batch_size, shuffle=shuffle,
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

    def _train(self, model, step: str, train, held_out, train_config: TrainConfig, controller=None):
        trainer = Trainer(
            model, train_config, self._metrics, self.task.metric,
            steps_per_epoch=self.steps_per_epoch(train), strategy=self.strategy, log_dir=self.run_dir.path,
            name=step, verbose=self.config.verbose if is_chief(self.strategy) else 0, controller=controller,
            eval_name="held_out",
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

    def search(self, train, held_out) -> dict:
        config = self.config
        model = self.start_of("search")
        if model.mode == "hard":
            raise PipelineError(
                "the search step needs a fine-tuned model, but the checkpoint is a retrained "
                f"(hard-mode, retention {model.retention}) model: pass the run's finetune.keras"
            )
        adapter = model.encoder.adapter
        budget = (config.seq_len, adapter.hidden_dim, adapter.intermediate_dim)
        if config.target_flops is not None:  # a preset name had no config files to check it against
            check_target_flops(config.target_flops, model.encoder.num_layers, *budget)
        goal = SearchGoal(config.lambda_, config.target_flops, config.max_metric_drop)
        with self.strategy.scope():
            model = model.with_mode("soft")
        search = TrainConfig(epochs=config.search_epochs, lr_bert=config.lr_bert, lambda_=config.lambda_,
                             keep_best=False, soft_extract_decay=not goal.moves_target)
        steps, warmup = self._search_steps(train, search)
        rate, reach = self._soft_extract_rate(steps, warmup, search.soft_extract_decay)
        search.lr_soft_extract = rate
        cheapest = RetentionConfig((1,) * model.encoder.num_layers).flops_fraction(*budget)
        with self.strategy.scope():
            controller = BudgetController(
                goal, steps, warmup,
                mass_fraction=lambda masses: mass_flops_fraction(masses, *budget),
                project=lambda masses, target: project_onto_budget(masses, target, *budget),
                floor=max(SWEEP_FLOOR, cheapest + 0.01),
                score=(lambda retention: self._score(model, retention, held_out))
                if goal.kind == "max_metric_drop" else None,
                probe=(lambda retention: self._probe(model, retention, train, held_out))
                if goal.kind == "max_metric_drop" else None,
            )
        record, _ = self._train(model, "search", train, held_out, search, controller)
        masses = model.encoder.retention_masses()
        record.update({
            "goal": goal.kind, "lambda": config.lambda_, "target_flops": goal.target_flops,
            "max_metric_drop": goal.max_metric_drop, "final_lambda": float(controller.multiplier.numpy()),
            "lr_soft_extract": rate, "retention_travel": reach, "masses": masses,
            "searched": RetentionConfig.from_masses(masses).to_list(),
            "candidates": [asdict(c) for c in controller.candidates],
        })
        if goal.kind == "target_flops":
            retention = project_onto_budget(masses, goal.target_flops, *budget)
        elif goal.kind == "max_metric_drop":
            chosen = choose_candidate(controller.candidates, goal.max_metric_drop)
            record["chosen"] = asdict(chosen) if chosen else None
            retention = RetentionConfig(tuple(chosen.retention)) if chosen else None
            if chosen is None:
                _warn(f"no configuration along the search lost at most {goal.max_metric_drop} points of held-out "
                      f"{self.task.metric} to elimination: the run delivers the fine-tuned model")
        else:
            retention = RetentionConfig.from_masses(masses)
        record["retention"] = None if retention is None else retention.to_list()
        record["flops_fraction"] = None if retention is None else retention.flops_fraction(*budget)
        return record

    def _search_steps(self, train, search: TrainConfig) -> tuple[int, int]:
        per_epoch = self.steps_per_epoch(train)
        return per_epoch * search.epochs, search.warmup_steps(per_epoch)

    def _soft_extract_rate(self, steps: int, warmup: int, decay: bool) -> tuple[float, float]:
        """--lr-soft-extract, else the rate that lets each weight travel SEARCH_TRAVEL; and its reach."""
        rate = self.config.lr_soft_extract
        if rate is None:
            rate = soft_extract_rate(steps, warmup, decay)
            self.config.applied_defaults["lr_soft_extract"] = {
                "value": rate, "why": f"each retention weight can travel {SEARCH_TRAVEL:g}x its range "
                                      f"over the search's {steps} steps"}
        reach = travel(rate, steps, warmup, decay)
        if reach < MIN_TRAVEL:
            _warn(f"--lr-soft-extract {rate:g} over {steps} search steps lets a retention weight move "
                  f"at most {reach:.2f} of its [0, 1] range: the search will stop where the optimizer runs "
                  "out, not where its goal is met; leave --lr-soft-extract unset to scale it to the steps")
        return rate, reach

    def _score(self, soft_model, retention: RetentionConfig | None, held_out) -> float:
        """The held-out metric of the search's current weights in Hard-Extract mode at `retention`
        (None: without elimination)."""
        with self.strategy.scope():
            model = soft_model.with_mode("none") if retention is None else soft_model.with_mode("hard", retention)
        return self._evaluate(model, held_out)

    def _probe(self, soft_model, retention: RetentionConfig, train, held_out) -> float:
        """The held-out metric of `retention` after `PROBE_STEPS` steps of Hard-Extract training
        from the search's current weights (no checkpoint, no log)."""
        with self.strategy.scope():
            model = soft_model.with_mode("hard", retention)
        steps = min(PROBE_STEPS, self.steps_per_epoch(train))
        trainer = Trainer(
            model, TrainConfig(epochs=1, lr_bert=self.config.lr_bert, lambda_=0.0), self._metrics,
            self.task.metric, steps_per_epoch=steps, strategy=self.strategy, name="probe", verbose=0,
        )
        batches = self.dataset(train, shuffle=True, seed=self.config.seed).take(steps)
        return trainer.fit(batches, self.dataset(held_out), held_out.labels)[-1].metrics[self.task.metric]

    def retrain(self, retention: RetentionConfig, train, held_out, dev, baseline_held_out) -> dict:
        model = self.start_of("retrain")
        with self.strategy.scope():
            model = model.with_mode("hard", retention)
        retrain = TrainConfig(epochs=self.config.epochs, lr_bert=self.config.lr_bert, lambda_=0.0)
        record, _ = self._train(model, "retrain", train, held_out, retrain)
        record.update({"retention": retention.to_list(), "flops_fraction": model.flops_fraction(self.config.seq_len),
                       "dev": self._evaluate(self._load(self.run_dir.checkpoint("retrain")), dev)})
        drop = self.config.max_metric_drop
        if drop is not None and baseline_held_out is not None:
            # The candidate was scored before retraining: check the delivered model again.
            record["within_max_metric_drop"] = record["held_out"] >= baseline_held_out - drop
            if not record["within_max_metric_drop"]:
                _warn(f"after retraining, the held-out {self.task.metric} is {record['held_out']:.2f}, more than "
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
            step("retrain", lambda: self.retrain(retention, train, held_out, dev, baseline_held_out))
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

    # -- eval / predict -----------------------------------------------------------
    def _evaluate(self, model, examples: data.GlueExamples) -> float:
        outputs = Predictor(model).predict(self.dataset(examples))
        predictions = outputs_to_predictions(outputs, model.is_regression)
        return self._metrics(examples.labels, predictions)[self.task.metric]

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
        """The configuration a search found: in --output-dir, else in the --checkpoint's run."""
        directories = [self.run_dir] + ([run_directory_of(self.config.checkpoint)] if self.config.checkpoint else [])
        for directory in directories:
            try:
                search = directory.results().get("steps", {}).get("search", {})
            except RunError as error:
                raise PipelineError(str(error)) from None
            if search.get("retention"):
                return RetentionConfig(tuple(search["retention"]))
        raise PipelineError(
            "the retrain step needs --retention-config, or a finished search step in "
            f"{self.config.output_dir} or in the --checkpoint's run"
        )


def run_glue(config: RunConfig) -> dict:
    """Run the configured steps; returns results.json's content."""
    return Pipeline(config).run()
