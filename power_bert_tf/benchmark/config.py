"""What to benchmark: `BenchmarkConfig`, and `BenchmarkError` for a benchmark that cannot run as asked."""

from __future__ import annotations

from dataclasses import dataclass, field

from power_bert_tf.config import option

# BERT-base (Devlin et al., 2019) for --random-bert-base.
BERT_BASE = dict(
    vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
    intermediate_dim=3072, max_sequence_length=512,
)
BERT_BASE_SEQ_LEN = 128
BASELINES = ("auto", "finetune", "retrain")


class BenchmarkError(ValueError):
    """A benchmark that cannot run as asked; the message names the flag or file."""


@dataclass
class BenchmarkConfig:
    """What to benchmark and how. See `run_benchmark`.

    Args:
        checkpoint: a run's output directory (``retrain.keras``,
            ``finetune.keras``, ``run_config.json``) or a ``.keras`` file.
        retention: a retention configuration ("29,28,...") overriding the
            checkpoint's (required with ``random_bert_base``).
        batch_size: rows per timed batch (the paper: 128).
        seq_len: padded input length; default the run's ``sequence_length``
            (``BERT_BASE_SEQ_LEN`` with ``random_bert_base``).
        repeats: timed calls per variant (median reported).
        warmup: untimed calls per variant first (compilation, caches).
        data_dir: the task's GLUE directory with the dev file; default
            ``$GLUE_DIR/<Task>`` from ``run_config.json``'s task (else TFDS).
        max_examples: use a reproducible random subset of the dev set.
        task: GLUE task name; default ``run_config.json``'s.
        baseline: "auto" (the run's fine-tuned model when there is one, else
            the retrained weights with no elimination), "finetune" or "retrain".
        extras: also run the length-bucketed whole-dev-set comparisons
            (need dev data; skipped for random weights).
        profile: also time the pieces of each layer (`profile_layers`).
        random_bert_base: no checkpoint: a randomly initialised BERT
            (``random_backbone``'s shape, BERT-base by default) on random
            token ids, for accelerators without a trained run.
        backend_note: free text stored in the result (e.g. "taskset -c 0").
        command: the command line, stored in the result.
        seed: seeds the random weights, random ids and the dev subset.
    """

    checkpoint: str | None = option(
        None, "a run's output directory (retrain.keras, finetune.keras, run_config.json) or a hard-mode "
        ".keras file")
    retention: str | None = option(
        None, "e.g. 29,28,26,...: time this configuration instead of the checkpoint's", flag="--retention-config")
    batch_size: int = option(128, "rows per timed batch (128, as the paper)")
    seq_len: int | None = option(
        None, "padded input length (default: the run's sequence_length; 128 with --random-bert-base)")
    repeats: int = option(10, "timed calls per variant; the median is reported")
    warmup: int = option(2, "untimed calls per variant first")
    data_dir: str | None = option(
        None, "the task's GLUE directory with the dev file (default: $GLUE_DIR/<Task> from run_config.json's "
        "task, else TFDS)")
    max_examples: int | None = option(None, "use a random subset of the dev set of this size")
    task: str | None = option(None, "GLUE task (default: run_config.json's)")
    baseline: str = option(
        "auto", "baseline weights: finetune.keras, or retrain.keras with no elimination (auto: finetune.keras "
        "when present)", choices=BASELINES)
    extras: bool = option(
        True, "skip the whole-dev-set passes (bucketed timing, metrics)", flag="--no-extras", invert=True)
    profile: bool = option(False, "also time the pieces of each layer")
    random_bert_base: bool = option(
        False, "no checkpoint: random BERT-base weights (12 layers, 768, 3072, 12 heads) on random ids; "
        "needs --retention-config")
    random_backbone: dict = field(default_factory=lambda: dict(BERT_BASE))
    backend_note: str | None = option(None, "free text stored in the JSON (e.g. how threads were pinned)")
    command: str | None = None
    seed: int = option(0, "seeds the random weights, random ids and the dev subset")

    def check(self) -> None:
        """Refuse impossible sizes before any model is built.

        Raises:
            BenchmarkError: naming the flag.
        """
        if self.checkpoint is None and not self.random_bert_base:
            raise BenchmarkError("--checkpoint is required (or --random-bert-base)")
        if self.checkpoint is not None and self.random_bert_base:
            raise BenchmarkError("--checkpoint and --random-bert-base exclude each other")
        if self.random_bert_base and self.retention is None:
            raise BenchmarkError("--random-bert-base needs --retention-config")
        if self.seq_len is not None and self.seq_len < 1:
            raise BenchmarkError("--seq-len must be at least 1")
        if self.batch_size < 1 or self.repeats < 1 or self.warmup < 0:
            raise BenchmarkError("--batch-size and --repeats must be at least 1, --warmup at least 0")
        if self.max_examples is not None and self.max_examples < 1:
            raise BenchmarkError("--max-examples must be at least 1")
        if self.baseline not in BASELINES:
            raise BenchmarkError(f"--baseline must be auto, finetune or retrain, got {self.baseline!r}")
