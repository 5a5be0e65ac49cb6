"""What to benchmark: `BenchmarkConfig`, and `BenchmarkError` for a benchmark that cannot run as asked."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from power_bert_tf.config import option
from power_bert_tf.errors import PowerBertError

# Random-weight backbones (BertBackbone arguments) for --random-backbone.
BERT_BASE = dict(  # Devlin et al., 2019
    vocabulary_size=30522,
    num_layers=12,
    num_heads=12,
    hidden_dim=768,
    intermediate_dim=3072,
    max_sequence_length=512,
)
MINILM = dict(  # MiniLM-L6-H384 (the default backbone of the runs)
    vocabulary_size=30522,
    num_layers=6,
    num_heads=12,
    hidden_dim=384,
    intermediate_dim=1536,
    max_sequence_length=512,
)
TINY = dict(  # for tests: BERT's vocabulary (any saved ids fit), one small layer
    vocabulary_size=30522,
    num_layers=1,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=16,
    max_sequence_length=512,
)
RANDOM_BACKBONES = {"bert_base": BERT_BASE, "minilm": MINILM, "tiny": TINY}
BERT_BASE_SEQ_LEN = 128
BASELINES = ("auto", "finetune", "retrain")
# Variant names the benchmark itself uses (an extra model may not take one).
RESERVED_NAMES = ("baseline", "power", "truncation", "power_savedmodel", "baseline_savedmodel")
# The timing protocols (`protocols`), and their defaults when the flags are left out.
PROTOCOLS = ("padded", "dynamic", "batch1")
DEFAULTS = {
    "padded": (128, None),
    "dynamic": (64, None),
    "batch1": (1, 200),
}  # (batch_size, max_examples)
DEFAULT_WARMUP = {"padded": 2, "dynamic": 1, "batch1": 1}


class BenchmarkError(PowerBertError, ValueError):
    """A benchmark that cannot run as asked; the message names the flag or file."""


def parse_models(text: str | None) -> list[tuple[str, str]]:
    """``NAME=PATH,NAME=PATH`` as [(name, path)], checked.

    Raises:
        BenchmarkError: naming --models, for bad syntax, a repeated or reserved
            name, or a path that does not exist.
    """
    if not text:
        return []
    pairs = []
    for part in text.split(","):
        name, sep, path = part.strip().partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not path or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise BenchmarkError(
                f"--models: expected NAME=PATH[,NAME=PATH...], got {part.strip()!r}"
            )
        if name in RESERVED_NAMES or name in dict(pairs):
            raise BenchmarkError(
                f"--models: the name {name!r} is taken (reserved: {', '.join(RESERVED_NAMES)})"
            )
        if not os.path.exists(path):
            raise BenchmarkError(f"--models {name}: no such file or directory: {path}")
        pairs.append((name, path))
    return pairs


@dataclass
class BenchmarkConfig:
    """What to benchmark and how. See `run_benchmark`.

    Args:
        checkpoint: a run's output directory (``retrain.keras``,
            ``finetune.keras``, ``run_config.json``) or a ``.keras`` file.
        retention: a retention configuration ("29,28,...") overriding the
            checkpoint's (required with a random backbone).
        protocol: "padded", "dynamic" or "batch1" (`protocols`).
        batch_size: rows per batch; None: the protocol's (128, 64, 1).
        seq_len: padded input length; default the run's ``sequence_length``
            (the inputs file's, else ``BERT_BASE_SEQ_LEN``, with a random backbone).
        repeats: timed rounds (median reported); warmup: untimed rounds first
            (None: 2 for padded, else 1; at least 1 under JAX).
        data_dir: the task's GLUE directory with the dev file.
        max_examples: padded: a reproducible random subset of the dev set;
            dynamic / batch1: the first N in file order (batch1 default 200).
        task: GLUE task name; default ``run_config.json``'s.
        baseline: "auto", "finetune" or "retrain" (which weights the baseline has).
        extras: padded: also the length-bucketed whole-dev-set passes and metrics.
        profile: also time the pieces of each layer (`profile_layers`).
        models: ``NAME=PATH,...``: more checkpoints timed as variants.
        savedmodel, baseline_savedmodel: exports timed through their token-id signature.
        save_inputs: write the tokenized dev features here (.npz) and stop.
        inputs: read the features from such a file instead of GLUE and a tokenizer.
        random_backbone: no checkpoint: random weights of this shape
            ("minilm", "bert_base", "tiny", or a dict of BertBackbone arguments).
        random_bert_base: alias of ``random_backbone="bert_base"``.
        max_other_load, require_idle, load_sample_s: the load check (`load`).
        bootstrap: resamples of the speedup intervals.
        backend_note, command: stored in the result.
        seed: seeds the random weights, ids, dev subset, round orders and bootstrap.
    """

    checkpoint: str | None = option(
        None,
        "a run's output directory (retrain.keras, finetune.keras, run_config.json) or a hard-mode "
        ".keras file",
    )
    retention: str | None = option(
        None,
        "e.g. 29,28,26,...: time this configuration instead of the checkpoint's",
        flag="--retention-config",
    )
    protocol: str = option(
        "padded",
        "padded: one batch padded to seq_len, per call (the paper's); dynamic: the dev set in file "
        "order in batches trimmed to their longest, per pass; batch1: each sentence alone, trimmed, per pass",
    )
    batch_size: int | None = option(
        None, "rows per batch (default: 128 padded, 64 dynamic; batch1 is 1)"
    )
    seq_len: int | None = option(
        None,
        "padded input length (default: the run's sequence_length; --inputs' with a random backbone, "
        "else 128)",
    )
    length_multiple: int = option(
        1,
        "dynamic / batch1: round each trimmed length up to a multiple of this (1: exact); fewer shapes "
        "for JAX to compile",
    )
    repeats: int = option(
        20, "timed rounds per variant, in a new random order each round; the median is reported"
    )
    warmup: int | None = option(
        None,
        "untimed rounds per variant first (default: 2 padded, 1 otherwise; at least 1 under JAX)",
    )
    data_dir: str | None = option(
        None,
        "the task's GLUE directory with the dev file (default: $GLUE_DIR/<Task> from run_config.json's "
        "task, else TFDS)",
    )
    max_examples: int | None = option(
        None,
        "padded: a random subset of the dev set of this size; dynamic / batch1: the first N dev "
        "sentences in file order (default: all; 200 for batch1)",
    )
    task: str | None = option(None, "GLUE task (default: run_config.json's)")
    baseline: str = option(
        "auto",
        "baseline weights: finetune.keras, or retrain.keras with no elimination (auto: finetune.keras "
        "when present)",
        choices=BASELINES,
    )
    extras: bool = option(
        True,
        "skip the whole-dev-set passes of the padded protocol (bucketed timing, metrics)",
        flag="--no-extras",
        invert=True,
    )
    profile: bool = option(False, "also time the pieces of each layer")
    jit_compile: bool = option(
        False,
        "compile each Keras model's call with XLA (TensorFlow; JAX always compiles with it); the "
        "first call of each shape, untimed warm-up, pays the compilation",
        flag="--jit-compile",
    )
    models: str | None = option(
        None,
        "NAME=PATH,NAME=PATH: more run directories / .keras checkpoints timed as variants (PoWER-BERT "
        "at other targets, baselines fine-tuned at a shorter sequence_length, tokenized at their own length)",
    )
    savedmodel: str | None = option(
        None,
        "a PoWER-BERT export (scripts/export_savedmodel.py), timed through its token-id signature",
    )
    baseline_savedmodel: str | None = option(None, "the baseline's export, timed the same way")
    save_inputs: str | None = option(
        None,
        "write the tokenized dev set (file order, at seq_len) to this .npz and exit",
        flag="--save-inputs",
    )
    inputs: str | None = option(
        None,
        "read the dev features from a --save-inputs .npz instead of GLUE and the tokenizer (no "
        "TensorFlow needed)",
    )
    random_backbone: str | dict | None = option(
        None,
        "no checkpoint: random weights of this shape (minilm, bert_base or tiny) with "
        "--retention-config's elimination; random ids unless --inputs",
    )
    random_bert_base: bool = option(False, "alias of --random-backbone bert_base")
    max_other_load: float = option(
        0.15, "the machine counts as busy when other processes use more than this share of its CPU"
    )
    require_idle: bool = option(
        False, "refuse to time when the check before timing finds the machine busy"
    )
    load_sample_s: float = option(
        2.0, "seconds of the load check before timing", flag="--load-sample-seconds"
    )
    bootstrap: int = option(2000, "bootstrap resamples of each speedup's 95% interval")
    backend_note: str | None = option(
        None, "free text stored in the JSON (e.g. how threads were pinned)"
    )
    command: str | None = None
    seed: int = option(
        0, "seeds the random weights and ids, the dev subset, the round orders and the bootstrap"
    )

    def backbone_shape(self) -> dict | None:
        """The random backbone's BertBackbone arguments, or None for a checkpoint."""
        shape = self.random_backbone
        if shape is None and self.random_bert_base:
            shape = "bert_base"
        if isinstance(shape, str):
            if shape not in RANDOM_BACKBONES:
                raise BenchmarkError(
                    f"--random-backbone must be one of {', '.join(RANDOM_BACKBONES)}, got {shape!r}"
                )
            return dict(RANDOM_BACKBONES[shape])
        return None if shape is None else dict(shape)

    def resolved(self) -> BenchmarkConfig:
        """A checked copy with the protocol's defaults filled in (batch size, examples, warm-up).

        Raises:
            BenchmarkError: naming the flag.
        """
        self.check()
        batch_size, max_examples = DEFAULTS[self.protocol]
        return replace(
            self,
            batch_size=self.batch_size or batch_size,
            max_examples=self.max_examples if self.max_examples is not None else max_examples,
            warmup=self.warmup if self.warmup is not None else DEFAULT_WARMUP[self.protocol],
        )

    def check(self) -> None:
        """Refuse impossible settings before any model is built.

        Raises:
            BenchmarkError: naming the flag or file.
        """
        if self.protocol not in PROTOCOLS:
            raise BenchmarkError(
                f"--protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}"
            )
        random = self.backbone_shape() is not None
        flag = "--random-backbone" if self.random_backbone is not None else "--random-bert-base"
        if self.checkpoint is None and not random:
            raise BenchmarkError("--checkpoint is required (or --random-backbone)")
        if self.checkpoint is not None and random:
            raise BenchmarkError(f"--checkpoint and {flag} exclude each other")
        if random and self.retention is None:
            raise BenchmarkError(f"{flag} needs --retention-config")
        if random and self.inputs is None:
            # Random ids stand in for sentences only where no sentence is timed: one padded batch.
            if self.protocol != "padded":
                raise BenchmarkError(
                    f"--protocol {self.protocol} times the task's sentences: with {flag}, give them as --inputs "
                    "(a --save-inputs .npz of the dev set)"
                )
            ignored = [
                name
                for name, value in (("--data-dir", self.data_dir), ("--task", self.task))
                if value
            ]
            if ignored:
                raise BenchmarkError(
                    f"{' and '.join(ignored)}: {flag} without --inputs times random ids, not the task's "
                    "sentences; give --inputs (a --save-inputs .npz of the dev set)"
                )
        if self.save_inputs is not None and (random or self.inputs is not None):
            raise BenchmarkError(
                "--save-inputs tokenizes the dev set: it needs --checkpoint and no --inputs"
            )
        if self.seq_len is not None and self.seq_len < 1:
            raise BenchmarkError("--seq-len must be at least 1")
        if (
            (self.batch_size is not None and self.batch_size < 1)
            or self.repeats < 1
            or (self.warmup is not None and self.warmup < 0)
        ):
            raise BenchmarkError(
                "--batch-size and --repeats must be at least 1, --warmup at least 0"
            )
        if self.protocol == "batch1" and self.batch_size not in (None, 1):
            raise BenchmarkError("--batch-size: the batch1 protocol runs one sentence per call")
        if self.max_examples is not None and self.max_examples < 1:
            raise BenchmarkError("--max-examples must be at least 1")
        if self.baseline not in BASELINES:
            raise BenchmarkError(
                f"--baseline must be auto, finetune or retrain, got {self.baseline!r}"
            )
        if self.length_multiple < 1:
            raise BenchmarkError(
                f"--length-multiple must be a positive integer, got {self.length_multiple}"
            )
        if not 0.0 <= self.max_other_load <= 1.0:
            raise BenchmarkError(
                f"--max-other-load must be between 0 and 1, got {self.max_other_load}"
            )
        if self.load_sample_s < 0 or self.bootstrap < 1:
            raise BenchmarkError(
                "--load-sample-seconds must be at least 0 and --bootstrap at least 1"
            )
        if self.inputs is not None and not os.path.isfile(self.inputs):
            raise BenchmarkError(f"--inputs {self.inputs}: no such file")
        for name in ("savedmodel", "baseline_savedmodel"):
            path = getattr(self, name)
            if path is not None and not os.path.isdir(path):
                raise BenchmarkError(f"--{name.replace('_', '-')} {path}: not a directory")
        parse_models(self.models)
