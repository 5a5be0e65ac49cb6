"""`RunConfig`: everything a PoWER-BERT run needs, each setting declared once.

Each field's metadata carries its command-line help (and flag, where it differs from the
name): `scripts/flags.py` builds the parser from it. None means: the task's default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING

from power_bert_tf.errors import PipelineError, as_pipeline_error
from power_bert_tf.retention import RetentionConfig, RetentionConfigError, project_onto_budget
from power_bert_tf.runs import STEPS, RunDirectory

if TYPE_CHECKING:
    from power_bert_tf.data.tasks import GlueTask

# The per-task table is tuned for BERT-base; narrower backbones need a larger fine-tuning rate.
BERT_BASE_HIDDEN = 768
NARROW_BACKBONE_LR_BERT = 1e-4
FLOPS_COUNTS = ("batched", "dynamic", "padded")  # --flops-count
STRATEGIES = ("default", "mirrored")  # --distribute


def option(default, help: str, **extra):
    """A dataclass field with its command-line help (and `flag`, `csv`, `choices`, `required`,
    `invert` for a "--no-x" switch)."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass
class RunConfig:
    """The settings of one run (fine-tune, search, retrain, or a subset)."""

    task: str | None = option(
        None,
        "a GLUE task: cola, sst-2, mrpc, sts-b, qqp, mnli-m, mnli-mm, qnli, rte, wnli "
        "(or your own files: --train-file)",
    )
    train_file: str | None = option(
        None, "your own training data instead of --task: a .csv, .tsv or .jsonl file"
    )
    validation_file: str | None = option(
        None, "with --train-file: the data the reported numbers come from (dev)"
    )
    test_file: str | None = option(None, "with --train-file: what --predict-only predicts")
    text_columns: tuple[str, ...] = option(
        (),
        "with --train-file: the text column, or two for a pair (default: every column but the "
        "label and an id column)",
        csv=True,
    )
    label_column: str = option("label", "with --train-file: the label's column")
    regression: bool = option(
        False, "with --train-file: a regression task, whatever the labels look like"
    )
    classification: bool = option(
        False,
        "with --train-file: a classification task, whatever the labels look like (default: "
        "regression when the labels are numbers and not all whole)",
    )
    metric: str | None = option(
        None,
        "with --train-file: accuracy (default), f1 or mcc for classification; pearson (default) "
        "or spearman for regression",
    )
    output_dir: str | None = option(None, "where checkpoints and results go (default: runs/<task>)")
    data_dir: str | None = option(
        None, "the task's GLUE directory (default: $GLUE_DIR/<Task>, else TFDS)"
    )
    backbone: str | None = option(
        None,
        "keras-hub preset name, local preset / Hugging Face directory, or 'minilm' "
        "(default: minilm when installed, else bert_base_en_uncased)",
    )
    epochs: int = option(10, "the most epochs of fine-tuning and of retraining (see --patience)")
    patience: int = option(
        2,
        "stop fine-tuning or retraining after this many epochs without a held-out improvement "
        "(0: train every --epochs)",
    )
    search_epochs: int = option(3, "epochs of configuration search")
    batch_size: int | None = option(None, "default: the task's")
    seq_len: int | None = option(None, "default: the task's")
    lr_bert: float | None = option(
        None, "learning rate of the encoder and head (default: the task's)"
    )
    lr_soft_extract: float | None = option(
        None,
        "peak learning rate of the retention weights (default: each can travel its range twice)",
    )
    lambda_: float | None = option(
        None,
        "search at this fixed weight of the mass penalty (the original's LAMBDA) instead of a "
        "target; excludes --target-flops and --max-metric-drop",
        flag="--lambda",
    )
    max_train_examples: int | None = option(None, "train on a random subsample of this size")
    max_dev_examples: int | None = option(
        None, "evaluate on a random dev subsample (quick runs; the metric is then indicative)"
    )
    seed: int = option(0, "random seed (initialisation, shuffling, subsamples)")
    target_flops: float | None = option(
        None,
        "search for this FLOPs fraction in (0, 1]: the penalty's weight follows the budget during "
        "the search and the masses are projected onto it at the end",
    )
    max_metric_drop: float | None = option(
        None,
        "search for the fastest configuration that loses at most this many held-out points to "
        "elimination, by a confidence bound; a retrained model that fails that check is replaced "
        "by the next milder one's, or the fine-tuned model (default 1.0 without --lambda or "
        "--target-flops)",
    )
    flops_count: str = option(
        "batched",
        "what FLOPs fractions (--target-flops, --budgets, candidates) count: 'batched', training "
        "examples in shuffled batches of --batch-size, each at its batch's longest (dynamic "
        "padding); 'dynamic', each at its own length (batch 1); 'padded', all at --seq-len (the "
        "paper's count, where removing padding alone looks like a saving)",
        choices=FLOPS_COUNTS,
    )
    selection_confidence: float = option(
        0.8,
        "a candidate configuration passes when the one-sided bound at this level on its held-out "
        "loss (paired bootstrap) is within --max-metric-drop",
    )
    length_check: bool = option(
        True,
        "judge candidates and the retrained model on the held-out part as drawn only (by default "
        "also on it drawn in proportion to token count, where elimination costs most)",
        flag="--no-length-check",
        invert=True,
    )
    distill: bool = option(
        True,
        "retrain without distilling from the fine-tuned model (labels only)",
        flag="--no-distill",
        invert=True,
    )
    distill_weight: float = option(0.5, "the distillation term's share of the retrain's loss")
    distill_temperature: float = option(2.0, "the softening of both distributions when distilling")
    held_out_fraction: float = option(
        0.1,
        "part of the training set held out to choose epochs and configurations on (the dev set is "
        "only read for the reported numbers)",
    )
    retention: str | None = option(
        None,
        "e.g. 64,48,32,...: skip the search, retrain (or evaluate) at this configuration",
        flag="--retention-config",
    )
    budgets: tuple[str, ...] = option(
        (),
        "FLOPs fractions, e.g. 0.6,0.4,0.25: the retrain step trains one set of weights for the chosen "
        "configuration and one per budget (the search's masses projected onto it); the export serves each "
        "as a signature (default: none)",
        csv=True,
    )
    checkpoint: str | None = option(None, "a run directory or .keras file to start from / evaluate")
    steps: tuple[str, ...] = option(
        STEPS,
        "comma-separated subset of finetune,search,retrain (others need --checkpoint)",
        csv=True,
    )
    distribute: str = option("default", "one device, or every GPU (mirrored)", choices=STRATEGIES)
    mixed_precision: bool = option(False, "mixed_bfloat16 compute")
    overwrite: bool = option(
        False,
        "start afresh in --output-dir (default: continue the run found there, skipping finished steps)",
    )
    verbose: int = option(1, "progress bars (0: none)", flag=None)
    # Filled by `resolved`: each default that was applied, and why (results.json records it).
    applied_defaults: dict = field(default_factory=dict)
    # The task --train-file makes, read once (`get_task`), or the one `accelerate` is given.
    _task: GlueTask | None = field(default=None, repr=False, compare=False)

    def resolved(self) -> RunConfig:
        """Fill defaults (the task's, adjusted to the backbone); refuse bad values before
        anything is built."""
        # Imported here: the TensorFlow-free benchmark path imports this module.
        from power_bert_tf.backbones import default_backbone, peek_backbone
        from power_bert_tf.training.budgets import parse_budgets

        task = self.get_task()
        steps = tuple(self.steps)
        for step in steps:
            if step not in STEPS:
                raise PipelineError(f"--steps: unknown step '{step}'; steps are {', '.join(STEPS)}")
        # Config files only: the model a checkpoint (or run directory) holds, else the backbone's.
        source = self.checkpoint or self.backbone or default_backbone()
        if self.checkpoint and os.path.isdir(self.checkpoint):
            source = RunDirectory(self.checkpoint).existing_checkpoint()
        facts = peek_backbone(source) if source else {}
        applied, table = {}, f"the {task.name} task table"

        def default(name, value, why):
            applied[name] = {"value": value, "why": why}
            return value

        seq_len = self.seq_len or (
            default("seq_len", facts["sequence_length"], "the checkpoint's sequence_length")
            if self.checkpoint and "sequence_length" in facts
            else default("seq_len", task.seq_len, table)
        )
        dims = ("num_layers", "hidden_dim", "intermediate_dim")

        def check_flops(target: float, flag: str = "--target-flops") -> None:
            if set(dims) <= facts.keys():
                layers, hidden, intermediate = (facts[k] for k in dims)
                check_target_flops(target, layers, seq_len, hidden, intermediate, flag=flag)

        lr_bert = self.lr_bert
        if lr_bert is None:
            hidden = facts.get("hidden_dim")
            if hidden is not None and hidden < BERT_BASE_HIDDEN:
                lr_bert = default(
                    "lr_bert",
                    NARROW_BACKBONE_LR_BERT,
                    f"backbone hidden size {hidden} < {BERT_BASE_HIDDEN}: the task table's "
                    f"{task.lr_bert:g} is tuned for BERT-base",
                )
            else:
                lr_bert = default("lr_bert", task.lr_bert, table)
        given = {
            "--lambda": self.lambda_,
            "--target-flops": self.target_flops,
            "--max-metric-drop": self.max_metric_drop,
            "--retention-config": self.retention,
        }
        goals = [flag for flag, value in given.items() if value is not None]
        if len(goals) > 1:
            raise PipelineError(
                f"{' and '.join(goals)} exclude each other: give the search one goal"
            )
        max_metric_drop = self.max_metric_drop
        if not goals and "search" in steps:
            max_metric_drop = default(
                "max_metric_drop",
                1.0,
                "no --lambda, --target-flops or --retention-config: the paper's "
                "promise, within 1 point of the fine-tuned model (trained to convergence)",
            )
        config = replace(
            self,
            task=task.name,
            output_dir=self.output_dir or f"runs/{task.name}",
            batch_size=self.batch_size or default("batch_size", task.batch_size, table),
            seq_len=seq_len,
            lr_bert=lr_bert,
            lambda_=self.lambda_
            if self.lambda_ is not None
            else default("lambda", task.lambda_, f"{table} (the multiplier's start)"),
            max_metric_drop=max_metric_drop,
            steps=steps,
            applied_defaults=applied,
        )
        at_least_one = lambda v: v >= 1  # noqa: E731
        bounds = [  # (setting, its check, what it must be); None passes only where it is the default
            ("epochs", at_least_one, "at least 1"),
            ("search_epochs", at_least_one, "at least 1"),
            ("batch_size", at_least_one, "at least 1"),
            ("seq_len", at_least_one, "at least 1"),
            ("max_train_examples", at_least_one, "at least 1"),  # 0 is not "all"
            ("max_dev_examples", at_least_one, "at least 1"),
            ("patience", lambda v: v >= 0, "at least 0"),
            ("selection_confidence", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
            ("distill_weight", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
            ("distill_temperature", lambda v: v > 0, "positive"),
            ("held_out_fraction", lambda v: 0.0 < v < 1.0, "in (0, 1)"),
            ("max_metric_drop", lambda v: v >= 0, "at least 0"),
            ("lr_soft_extract", lambda v: v > 0, "positive"),
            ("target_flops", lambda v: 0.0 < v <= 1.0, "in (0, 1]"),
            ("flops_count", lambda v: v in FLOPS_COUNTS, f"one of {', '.join(FLOPS_COUNTS)}"),
            ("distribute", lambda v: v in STRATEGIES, f"one of {', '.join(STRATEGIES)}"),
        ]
        optional = {f.name for f in fields(RunConfig) if f.default is None}
        for name, valid, bound in bounds:
            value = getattr(config, name)
            if value is None and name in optional:
                continue  # not given
            if value is None or not valid(value):
                raise PipelineError(f"--{name.replace('_', '-')} must be {bound}, got {value!r}")
        if config.target_flops is not None:
            check_flops(config.target_flops)
        if config.retention is not None:
            config.retention_config(num_layers=facts.get("num_layers"))
        if config.budgets:
            if "retrain" not in steps:
                raise PipelineError("--budgets trains in the retrain step: add retrain to --steps")
            with as_pipeline_error(ValueError):
                budgets = parse_budgets(config.budgets)
            for budget in budgets:
                check_flops(budget, "--budgets")
            config = replace(config, budgets=tuple(f"{b:g}" for b in budgets))
        if "finetune" not in steps and config.checkpoint is None:
            raise PipelineError("--checkpoint is required when the finetune step is skipped")
        return config

    def get_task(self) -> GlueTask:
        """The run's task: the GLUE preset --task names, or the one your --train-file makes.

        Raises:
            PipelineError: neither or both given, an unknown task, or a bad file (naming it).
        """
        from power_bert_tf.data import GlueDataError, get_task, table_task

        if self._task is not None and self.train_file is None:
            return self._task  # data in memory (`accelerate`)
        own = {
            "--validation-file": self.validation_file,
            "--test-file": self.test_file,
            "--text-columns": self.text_columns or None,
            "--regression": self.regression or None,
            "--classification": self.classification or None,
            "--metric": self.metric,
        }
        if self.train_file is None:
            given = [flag for flag, value in own.items() if value is not None]
            if given:
                raise PipelineError(f"{', '.join(given)} go with --train-file (your own data)")
            if self.task is None:
                raise PipelineError("give --task (a GLUE task) or --train-file (your own data)")
            with as_pipeline_error(ValueError, "--task: "):
                return get_task(self.task)
        if self.task is not None and self._task is None:
            raise PipelineError(f"--task {self.task} and --train-file exclude each other")
        if self.data_dir is not None:
            raise PipelineError(
                "--data-dir is a GLUE task's directory: your files are --train-file etc."
            )
        if self.regression and self.classification:
            raise PipelineError("--regression and --classification exclude each other")
        if self._task is None:
            with as_pipeline_error(GlueDataError):
                self._task = table_task(
                    self.train_file,
                    self.validation_file,
                    self.test_file,
                    text_columns=self.text_columns or None,
                    label_column=self.label_column,
                    regression=True if self.regression else False if self.classification else None,
                    metric=self.metric,
                )
        return self._task

    def retention_config(self, num_layers: int | None) -> RetentionConfig | None:
        """--retention-config parsed and checked against the model's depth and seq_len."""
        if self.retention is None:
            return None
        return RetentionConfig.parse(self.retention, num_layers=num_layers, seq_len=self.seq_len)

    def hyper_parameters(self) -> dict:
        """The training settings, as results.json records them ("lambda" for `lambda_`)."""
        names = (
            "epochs patience search_epochs batch_size lr_bert lr_soft_extract lambda_ target_flops "
            "max_metric_drop held_out_fraction seed selection_confidence length_check flops_count "
            "distill distill_weight distill_temperature"
        )
        return {name.rstrip("_"): getattr(self, name) for name in names.split()}

    def identity(self) -> dict:
        """What a run's results depend on: a run continued in the same --output-dir must match."""
        own = {}
        if self.train_file:
            task = self.get_task()
            own = {
                "train_file": self.train_file,
                "validation_file": self.validation_file,
                "text_columns": list(task.table.text_columns),
                "label_column": self.label_column,
                "label_names": list(task.label_names),
                "metric": task.metric,
            }
        names = (
            "backbone seq_len checkpoint retention mixed_precision max_train_examples "
            "max_dev_examples"
        )
        return {
            **self.hyper_parameters(),
            "task": self.task,
            **own,
            **{name: getattr(self, name) for name in names.split()},
            "budgets": list(self.budgets),
        }


def check_target_flops(
    target: float,
    num_layers: int,
    seq_len: int,
    hidden_dim: int,
    intermediate_dim: int,
    lengths: Mapping[int, int] | None = None,
    flag: str = "--target-flops",
):
    """Refuse a FLOPs target no configuration reaches (below one word-vector per layer), counted
    at `seq_len` or over `lengths` (see `RetentionConfig.flops_fraction`)."""
    with as_pipeline_error(RetentionConfigError, f"{flag}: "):
        project_onto_budget(
            [1.0] * num_layers, target, seq_len, hidden_dim, intermediate_dim, lengths
        )
