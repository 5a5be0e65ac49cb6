"""What padding costs an export: a batch of one-word sentences against a batch of full-length ones.

TF Serving pads the requests it batches, and the text signatures pack every sentence to
`sequence_length`; the export removes that padding in the graph (`data.trim_to_longest`).
This measures it: for every chosen signature, a batch of `batch_size` one-word sentences
and a batch of `batch_size` sentences that fill `sequence_length` run interleaved in
random order; the cost of the short batch is the ratio of the medians, with a bootstrap
95% interval over repeats. An export that computed its padding would be near 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import load, system
from benchmarks.serving.errors import ServingError
from benchmarks.serving.exports import budget_of, inspect_export
from benchmarks.serving.latency import bootstrap_ratio
from benchmarks.serving.model import ServedModel
from benchmarks.serving.report import environment_lines, table
from benchmarks.speed.timing import time_rows

SHORT_WORD = "yes"
# Words that stay one WordPiece in an uncased BERT vocabulary: a sentence of them fills
# `sequence_length` and is truncated there.
LONG_WORDS = "the cat sat on the mat and the dog ran to the park"


@dataclass(frozen=True)
class PaddingConfig:
    """How the padding cost is measured.

    Attributes:
        batch_size: sentences per batch (the same for both batches).
        repeats: timed repeats of both batches per signature.
        warmup: untimed repeats first.
        bootstrap: resamples for the ratio's interval.
        seed: seeds the order and the bootstrap.
    """

    batch_size: int = 64
    repeats: int = 20
    warmup: int = 2
    bootstrap: int = 2000
    seed: int = 0

    def __post_init__(self):
        if min(self.batch_size, self.repeats, self.bootstrap) < 1 or self.warmup < 0:
            raise ServingError("batch_size, repeats and bootstrap must be >= 1 and warmup >= 0")


def _batches(
    inputs: Sequence[str], sequence_length: int, batch_size: int
) -> dict[str, list[tuple[str, ...]]]:
    """One-word and full-length examples (every input of a pair signature gets the same text)."""
    long_text = " ".join([LONG_WORDS] * (sequence_length // 4 + 1))
    return {
        kind: [(text,) * len(inputs)] * batch_size
        for kind, text in (("short", SHORT_WORD), ("long", long_text))
    }


def padding_cost(
    savedmodel, signatures: Sequence[str] | None = None, config: PaddingConfig = PaddingConfig()
) -> dict:
    """The time of a one-word batch relative to a full-length batch, per text signature.

    Args:
        savedmodel: an export (version or base directory).
        signatures: the text signatures to time (default: all).
        config: batch size, repeats, warm-up, bootstrap and seed.

    Returns:
        A JSON-ready dict: "signatures" (per signature: retention, flops_fraction,
        dev_metric, short_ms and long_ms medians, cost = short / long, cost_ci95,
        times_ms), "config" (with the export and its sequence_length) and the machine,
        threads and versions.
    """
    info = inspect_export(savedmodel, signatures)
    model = ServedModel(info)
    length = int(info.metadata["sequence_length"])
    batches = _batches(info.inputs, length, config.batch_size)
    runs, labels = [], []
    for signature in info.signatures:
        for kind, batch in batches.items():
            runs.append(lambda signature=signature, batch=batch: model(signature, batch))
            labels.append((signature, kind))
    rng = np.random.default_rng(config.seed)
    load_start = load.load_average()
    times = time_rows(runs, config.repeats, config.warmup, rng)
    load_end = load.load_average()
    results = []
    for signature in info.signatures:
        short, long = (times[labels.index((signature, kind))] for kind in ("short", "long"))
        cost = float(np.median(short) / np.median(long))
        low, high = bootstrap_ratio(short, long, config.bootstrap, rng)
        results.append(
            {
                "signature": signature,
                **budget_of(info.metadata, signature),
                "short_ms": round(float(np.median(short)), 3),
                "long_ms": round(float(np.median(long)), 3),
                "cost": round(cost, 4),
                "cost_ci95": [round(low, 4), round(high, 4)],
                "times_ms": {
                    "short": [round(float(t), 3) for t in short],
                    "long": [round(float(t), 3) for t in long],
                },
            }
        )
    return {
        "signatures": results,
        "config": {
            "savedmodel": str(info.version_dir),
            "sequence_length": length,
            "batch_size": config.batch_size,
            "repeats": config.repeats,
            "warmup": config.warmup,
            "bootstrap": config.bootstrap,
            "seed": config.seed,
            "short_text": SHORT_WORD,
        },
        **system.host_facts(load_start, load_end),
    }


def format_padding_cost(result: dict) -> str:
    """A short text report of `padding_cost`'s result."""
    config = result["config"]
    rows = [
        [
            s["signature"],
            s["flops_fraction"],
            s["short_ms"],
            s["long_ms"],
            f"{s['cost']:.3f}",
            f"[{s['cost_ci95'][0]:.3f}, {s['cost_ci95'][1]:.3f}]",
        ]
        for s in result["signatures"]
    ]
    return "\n".join(
        [
            f"Padding cost: {config['batch_size']} one-word sentences vs {config['batch_size']} filling "
            f"sequence_length {config['sequence_length']}, {config['repeats']} repeats interleaved; {config['savedmodel']}",
            *table(["signature", "FLOPs", "short ms", "long ms", "cost", "95% CI"], rows),
            "cost: median short / median long (1.0: the padding is computed); CI: bootstrap over repeats",
            *environment_lines(result),
        ]
    )
