"""What to benchmark: `BenchmarkConfig`, and `BenchmarkError` for a benchmark that cannot run as asked."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    checkpoint: str | None = None
    retention: str | None = None
    batch_size: int = 128
    seq_len: int | None = None
    repeats: int = 10
    warmup: int = 2
    data_dir: str | None = None
    max_examples: int | None = None
    task: str | None = None
    baseline: str = "auto"
    extras: bool = True
    profile: bool = False
    random_bert_base: bool = False
    random_backbone: dict = field(default_factory=lambda: dict(BERT_BASE))
    backend_note: str | None = None
    command: str | None = None
    seed: int = 0

    def check(self) -> None:
        """Refuse impossible sizes before any model is built.

        Raises:
            BenchmarkError: naming the flag.
        """
        if self.batch_size < 1 or self.repeats < 1 or self.warmup < 0:
            raise BenchmarkError("--batch-size and --repeats must be at least 1, --warmup at least 0")
        if self.max_examples is not None and self.max_examples < 1:
            raise BenchmarkError("--max-examples must be at least 1")
        if self.baseline not in BASELINES:
            raise BenchmarkError(f"--baseline must be auto, finetune or retrain, got {self.baseline!r}")
