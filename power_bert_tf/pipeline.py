"""The three PoWER-BERT steps end to end on a GLUE task: fine-tune ("none" mode) -> configuration
search ("soft" mode, `training.search`) -> retrain ("hard" mode, distilling from the fine-tuned
model) -> the final check against the fine-tuned model. Epochs and configurations are chosen on a
held-out part of the training set; dev is read only for the reported numbers. The same command
resumes a run: finished steps are skipped, an interrupted one continues (`training.resume`);
`--overwrite` starts afresh; the output directory: `power_bert_tf.runs`."""

from __future__ import annotations

import os

import keras
import numpy as np

from power_bert_tf import data
from power_bert_tf.backbones import default_backbone, load_backbone, load_preprocessor
from power_bert_tf.checkpoint_step import CheckpointStep
from power_bert_tf.config import RunConfig
from power_bert_tf.errors import PipelineError, as_pipeline_error
from power_bert_tf.inference import Predictor, outputs_to_predictions
from power_bert_tf.models import PowerBertClassifier
from power_bert_tf.retention import RetentionConfig, batch_longest
from power_bert_tf.retrain_step import RetrainStep
from power_bert_tf.runs import (
    STARTS_FROM,
    STEPS,
    RunDirectory,
    RunError,
    format_summary,
    load_classifier,
    resolve_checkpoint,
    run_directory_of,
    summarize,
)
from power_bert_tf.search_step import SearchStep
from power_bert_tf.training import TrainConfig, Trainer, make_strategy
from power_bert_tf.training.resume import ResumeError, ResumeState

__all__ = ["Pipeline", "PipelineError", "RunConfig", "format_summary", "run_glue"]


class Pipeline(SearchStep, RetrainStep, CheckpointStep):
    """One task's data, model and steps, sharing a strategy and a run directory."""

    def __init__(self, config: RunConfig, splits: dict[str, data.GlueExamples] | None = None):
        """Args: config: the run's settings; splits: "train" and "dev" examples in memory
        (`accelerate`) instead of the files the config names."""
        self.config = config.resolved()
        self._splits = dict(splits or {})
        self.on_epoch_end = None  # on_epoch_end(step, record) after every epoch (`accelerate`)
        self.task = self.config.get_task()
        if self.config.mixed_precision:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        self.strategy = make_strategy(self.config.distribute)
        self.run_dir = RunDirectory(self.config.output_dir)
        in_files = not (self.task.table or self._splits)
        self.data_dir = data.resolve_data_dir(self.task, self.config.data_dir) if in_files else None
        self._preprocessor = None
        self._encoded: dict = {}  # id(examples) -> (examples, their features): `dataset`
        self._flops_lengths: dict[int, int] | None = None  # `flops_lengths` of the run's train part

    def examples(self, split: str) -> data.GlueExamples:
        """A split's examples: dev subsampled to --max-dev-examples; train whole (its training
        part is subsampled to --max-train-examples once the held-out part is drawn)."""
        if split in self._splits:
            return self._splits[split]
        examples = data.load_split(self.task, split, self.data_dir)
        limit = self.config.max_dev_examples if split == "dev" else None
        return examples.take(limit, seed=self.config.seed) if limit else examples

    def training_split(self) -> tuple[data.GlueExamples, data.GlueExamples]:
        """(train, held out): the training set less the part held out to choose on,
        --max-train-examples of them in all (the split stays in `self.held_out_split`)."""
        train = self.examples("train")  # its data errors name the file, not this flag
        config = self.config
        with as_pipeline_error(ValueError, "--held-out-fraction: "):
            self.held_out_split = train.hold_out(
                config.held_out_fraction, seed=config.seed, total=config.max_train_examples
            )
        return self.held_out_split.train, self.held_out_split.held_out

    def flops_lengths(self, train) -> dict[int, int] | None:
        """What FLOPs fractions are counted over (`--flops-count`): None, every input at --seq-len;
        else a histogram {token count: examples} of the training part, trimmed as served: each
        example at its own length ('dynamic') or at its batch's longest ('batched')."""
        if self.config.flops_count == "padded":
            return None
        counts = self._token_counts(train)
        # 'dynamic' is the batched count with batches of one: each example at its own length.
        batch_size = self.config.batch_size if self.config.flops_count == "batched" else 1
        return batch_longest(counts, batch_size, self.config.seed)

    def dataset(
        self, examples, shuffle=False, seed: int | None = None, teacher: np.ndarray | None = None
    ):
        """Batches of `examples`, trimmed to their longest sentence; each split is tokenized once.
        With `teacher` (its outputs on `examples`, in order), batches are `(x, (y, teacher's))`."""
        labels = examples.labels if teacher is None else (examples.labels, teacher)
        return data.make_encoded_dataset(
            self._features(examples),
            labels,
            self.config.batch_size,
            shuffle=shuffle,
            seed=self.config.seed if seed is None else seed,
        )

    def _features(self, examples) -> dict[str, np.ndarray]:
        """`examples` tokenized, once per split (`data.encode_examples`)."""
        key = id(examples)
        if key not in self._encoded:  # the examples object too: its id stays its own
            self._encoded[key] = (examples, data.encode_examples(examples, self.preprocessor))
        return self._encoded[key][1]

    def _token_counts(self, examples) -> np.ndarray:
        """Each example's token count, `[n]` ints (its tokenized padding mask summed)."""
        return self._features(examples)["padding_mask"].sum(axis=1).astype(int)

    @property
    def preprocessor(self):
        if self._preprocessor is None and self._started_from():
            self._load(self._started_from())  # the checkpoint's own preprocessor
        if self._preprocessor is None:
            self._preprocessor = load_preprocessor(self._backbone_source(), self.config.seq_len)
        return self._preprocessor

    def _backbone_source(self) -> str:
        # Starting from a checkpoint, the backbone is whatever the run that wrote it recorded.
        if self.config.backbone:
            return self.config.backbone
        start = self._started_from()
        recorded = run_directory_of(start).run_config().get("backbone") if start else None
        return recorded or default_backbone()

    def _started_from(self) -> str | None:
        """The .keras file this run starts from (None: a fresh backbone)."""
        if not self.config.checkpoint:
            return None
        first = next(step for step in STEPS if step in self.config.steps)
        prefer = STARTS_FROM.get(first, ("finetune",))
        with as_pipeline_error(RunError, "--checkpoint "):
            return os.path.abspath(resolve_checkpoint(self.config.checkpoint, prefer))

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
        earlier = self.config.steps[: self.config.steps.index(step)]
        own = tuple(s for s in STARTS_FROM.get(step, ()) if s in earlier)
        path = self.run_dir.existing_checkpoint(own) if own else None
        return self._load(path) if path else self.initial_model()

    def _load(self, path: str) -> PowerBertClassifier:
        with as_pipeline_error(RunError, "--checkpoint "), self.strategy.scope():
            model = load_classifier(path)
        if model.preprocessor is not None:
            self._preprocessor = model.preprocessor
        return model

    def _train(
        self,
        model,
        step: str,
        train,
        held_out,
        train_config: TrainConfig,
        controller=None,
        views=(),
        draw=None,
        teacher: np.ndarray | None = None,
    ):
        trainer = Trainer(
            model,
            train_config,
            self._metrics,
            self.task.metric,
            steps_per_epoch=self.steps_per_epoch(train),
            strategy=self.strategy,
            log_dir=self.run_dir.path,
            name=step,
            verbose=self.config.verbose,
            controller=controller,
            eval_name="held_out",
            views=views,
            draw=draw,
        )
        history = trainer.fit(  # each epoch's own shuffle: a resumed run sees the same order
            lambda epoch: self.dataset(
                train, shuffle=True, seed=self.config.seed * 1000 + epoch, teacher=teacher
            ),
            self.dataset(held_out),
            held_out.labels,
            checkpoint_path=self.run_dir.checkpoint(step),
            resume=self._resume_state(step),
            on_epoch_end=self.on_epoch_end and (lambda record: self.on_epoch_end(step, record)),
        )
        scores = [record.metrics[self.task.metric] for record in history]
        best = history[scores.index(max(scores))]
        # Summed over epochs: a resumed step counts the epochs of the run that was killed too.
        return {
            "seconds": sum(record.seconds for record in history),
            "best_epoch": best.epoch,
            "held_out": max(scores),
            "epochs": sum(1 for record in history if record.epoch > 0),  # not the scored start
            "converged": train_config.converged(scores),
        }

    def _until_converged(self, **settings) -> TrainConfig:
        """The fine-tune's and retrain's training: up to --epochs, stopping after --patience."""
        return TrainConfig(
            epochs=self.config.epochs,
            lr_bert=self.config.lr_bert,
            lambda_=0.0,
            patience=self.config.patience,
            **settings,
        )

    def steps_per_epoch(self, train) -> int:
        return int(np.ceil(len(train) / self.config.batch_size))

    def _resume_state(self, step: str) -> ResumeState:
        state = ResumeState(self.run_dir.file(f"{step}.resume"), self.config.identity())
        with as_pipeline_error(ResumeError):
            state.load()
        return state

    def _metrics(self, labels, predictions) -> dict:
        return data.compute_metrics(self.task, labels, predictions)

    def finetune(self, train, held_out, dev) -> dict:
        model = self.initial_model()
        record = self._train(model, "finetune", train, held_out, self._until_converged())
        best = self._load(self.run_dir.checkpoint("finetune"))  # the best epoch
        record["dev"] = self._evaluate(best, dev)
        return record

    def baseline(self, held_out, dev) -> dict:
        """The record of a fine-tuned --checkpoint this run starts from."""
        model = self.initial_model()
        if model.mode != "none":
            return {}
        return {
            "checkpoint": self._started_from(),
            "held_out": self._evaluate(model, held_out),
            "dev": self._evaluate(model, dev),
        }

    def run(self) -> dict:
        """Run the configured steps, skipping finished ones; returns (and writes) results.json's content."""
        config = self.config
        train, held_out = self.training_split()  # first: a bad file stops the run early
        dev = self.examples("dev")
        self._flops_lengths = self.flops_lengths(train)
        if config.overwrite:
            self.run_dir.clear(keep=self._started_from())
        records = self._records()
        # A step skipped as finished keeps the defaults it applied (e.g. the search's rate).
        for name, applied in self._read("results.json").get("defaults_applied", {}).items():
            config.applied_defaults.setdefault(name, applied)
        self._write_run_config()
        context = {
            "task": self.task.name,
            "backbone": self._backbone_source(),
            "started_from": self._started_from(),
            "metric": self.task.metric,
            "seq_len": config.seq_len,
            "flops_count": config.flops_count,
            **({"flops_lengths": self._flops_lengths} if self._flops_lengths else {}),
            "train_examples": len(train),
            "held_out_examples": len(held_out),
            "dev_examples": len(dev),
            "held_out_split": self.held_out_split.record(),
            "dev_lengths": dev.length_summary(),
            "hyper_parameters": config.hyper_parameters(),
            "defaults_applied": config.applied_defaults,
            "identity": config.identity(),
        }

        def step(name: str, compute) -> dict:
            if records.get(name, {}).get("finished"):
                print(f"{name}: finished earlier ({self.run_dir.path}), skipped")
                return records[name]
            for later in STEPS[STEPS.index(name) + 1 :] + ("baseline",) * (name == "finetune"):
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
            records.get("baseline", {}).get("checkpoint"),
            os.path.abspath(self.run_dir.checkpoint("finetune")),
        ):
            records["baseline"] = self.baseline(held_out, dev)
        retention = config.retention_config(num_layers=None)
        search = records.get("search") or {}
        if retention is None and "search" in config.steps:
            search = step("search", lambda: self.search(train, held_out))
        elif retention is None and "retrain" in config.steps:
            search = self._saved_search()
        if retention is None and search.get("retention"):  # the configuration the search found
            retention = RetentionConfig(tuple(search["retention"]))
        if "retrain" in config.steps and retention is not None:
            # What --budgets projects: the search's masses, else the configuration's lengths.
            masses = list(search.get("masses") or retention.to_list()) if config.budgets else []
            earlier = records.get("retrain") or {}  # a killed run's refused attempts

            def save_progress(progress: dict) -> None:
                records["retrain"] = {**progress, "finished": False, "identity": config.identity()}
                self._write_results(context, records)

            step(
                "retrain",
                lambda: self.retrain(
                    retention, masses, train, held_out, dev, search, earlier, save_progress
                ),
            )
        return self._write_results(context, records)

    def _records(self) -> dict:
        """Each step's record from an earlier run in --output-dir; refuses one of other settings."""
        records = self._read("results.json").get("steps", {})
        identity = self.config.identity()
        for name in self.config.steps:
            recorded = records.get(name, {}).get("identity")
            if recorded is not None and recorded != identity:
                keys = set(recorded) | set(identity)
                changed = sorted(k for k in keys if recorded.get(k) != identity.get(k))
                raise PipelineError(
                    f"{self.run_dir.path} holds a {name} step run with other settings ({', '.join(changed)}): "
                    "pass --overwrite to start afresh, or another --output-dir"
                )
        return records

    def _write_results(self, context: dict, records: dict) -> dict:
        results = {**context, **summarize(records), "steps": records}
        self.run_dir.write("results.json", results)
        return results

    def _predictions(self, model, examples: data.GlueExamples) -> np.ndarray:
        """Class ids (or scores) of `model` on `examples`, in their order."""
        return outputs_to_predictions(
            Predictor(model).predict(self.dataset(examples)), model.is_regression
        )

    def _evaluate(self, model, examples: data.GlueExamples) -> float:
        return self._metrics(examples.labels, self._predictions(model, examples))[self.task.metric]

    def _write_run_config(self) -> None:
        self.run_dir.write(
            "run_config.json",
            {
                "task": self.task.name,
                "backbone": self._backbone_source(),
                "sequence_length": self.config.seq_len,
                "num_classes": self.task.num_classes,
                "label_names": list(self.task.label_names),
                "is_pair": self.task.is_pair,
                # Your own files: how to read them again (the benchmark's dev sentences).
                **({"table": data.table_record(self.task)} if self.task.table else {}),
                # The fine-tuned model a `--steps search,retrain` run starts from: its baseline.
                "started_from": self._started_from(),
            },
        )

    def _read(self, name: str, directory: RunDirectory | None = None) -> dict:
        with as_pipeline_error(RunError):
            return (directory or self.run_dir).read(name)

    def _saved_search(self) -> dict:
        """The record of a search that found a configuration: in --output-dir, else in the
        --checkpoint's run.

        Raises:
            PipelineError: no such search (the retrain step then needs --retention-config).
        """
        directories = [self.run_dir] + (
            [run_directory_of(self.config.checkpoint)] if self.config.checkpoint else []
        )
        for directory in directories:
            search = self._read("results.json", directory).get("steps", {}).get("search", {})
            if search.get("retention"):
                return search
        raise PipelineError(
            "the retrain step needs --retention-config, or a finished search step in "
            f"{self.config.output_dir} or in the --checkpoint's run"
        )


def run_glue(config: RunConfig) -> dict:
    """Run the configured steps; returns results.json's content."""
    return Pipeline(config).run()
