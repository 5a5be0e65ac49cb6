"""Batch-1 latency of several exports' text signatures, relative to a reference (the baseline).

Every (model, signature) pair runs the same sample of dev examples one at a time. A
repeat times each pair's total over the sample, with the pairs in a new random order
each repeat, so that slow drifts of a shared machine hit every pair alike. A pair's
latency is its median total over the repeats; its ratio to the reference pair's median
gets a 95% bootstrap interval that resamples repeats (paired: the same repeats for both,
as they ran side by side).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks import load, system
from benchmarks.serving.devset import dev_examples
from benchmarks.serving.errors import ServingError
from benchmarks.serving.exports import budget_of, inspect_export
from benchmarks.serving.model import ServedModel
from benchmarks.serving.report import environment_lines, table
from benchmarks.speed.stats import bootstrap_ratio
from benchmarks.speed.timing import time_rows


@dataclass(frozen=True)
class LatencyConfig:
    """How the batch-1 latency is measured.

    Attributes:
        sentences: dev examples in the sample (all of them if the file has fewer).
        repeats: timed repeats; each runs every pair over the whole sample.
        warmup: untimed repeats first.
        bootstrap: resamples for the ratio's interval.
        data_dir: the first model's task's GLUE directory (its dev set gives the sample);
            None for `$GLUE_DIR/<Task>`.
        seed: seeds the sample, the orders and the bootstrap.
    """

    sentences: int = 200
    repeats: int = 20
    warmup: int = 1
    bootstrap: int = 2000
    data_dir: str | None = None
    seed: int = 0

    def __post_init__(self):
        if self.sentences < 1 or self.repeats < 1 or self.warmup < 0 or self.bootstrap < 1:
            raise ServingError(
                "sentences, repeats and bootstrap must be >= 1 and warmup >= 0, got "
                f"{self.sentences}, {self.repeats}, {self.bootstrap} and {self.warmup}"
            )


def time_pairs(
    models: Mapping[str, ServedModel],
    pairs: Sequence[tuple[str, str]],
    sample: list,
    repeats: int,
    warmup: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`[pairs, repeats]` milliseconds to run `sample` one example per call, pairs interleaved."""

    def run(label: str, signature: str):
        return lambda: [models[label](signature, [example]) for example in sample]

    return time_rows([run(label, signature) for label, signature in pairs], repeats, warmup, rng)


def batch1_latency(
    models: Mapping[str, object],
    signatures: Mapping[str, Sequence[str]] | None = None,
    reference: tuple[str, str] | None = None,
    config: LatencyConfig = LatencyConfig(),
) -> dict:
    """Batch-1 latency of every (model, signature) pair and its ratio to a reference pair.

    Args:
        models: label -> export (version or base directory); a directory may appear twice.
        signatures: label -> text signatures to time (default: all of that export's).
        reference: the `(label, signature)` the ratios divide by (default: the first
            model's first signature, `serving_default` when timed).
        config: sample size, repeats, warm-up, bootstrap, GLUE directory and seed.

    Returns:
        A JSON-ready dict: "pairs" (per pair: model, signature, savedmodel, retention,
        flops_fraction and dev_metric from the metadata, median_ms over the sample,
        per_sentence_ms, ratio, ratio_ci95, times_ms per repeat), "reference",
        "config", "machine" (with load averages), "threads" and "versions".

    Raises:
        ServingError: an unusable export, signature, reference, dev file or setting.
    """
    if not models:
        raise ServingError("no model to time")
    signatures = signatures or {}
    infos = {label: inspect_export(path, signatures.get(label)) for label, path in models.items()}
    pairs = [(label, name) for label, info in infos.items() for name in info.signatures]
    reference = tuple(reference) if reference else pairs[0]
    if reference not in pairs:
        raise ServingError(
            f"reference {reference[0]}/{reference[1]} is not timed; pairs: "
            + ", ".join(f"{label}/{name}" for label, name in pairs)
        )
    first = next(iter(infos.values()))
    if len({len(info.inputs) for info in infos.values()}) > 1:
        raise ServingError("the models take different inputs (single sentences and pairs)")
    dev_path, examples = dev_examples(first.task, len(first.inputs), config.data_dir)

    rng = np.random.default_rng(config.seed)
    rows = np.sort(
        rng.choice(len(examples), size=min(config.sentences, len(examples)), replace=False)
    )
    sample = [examples[row] for row in rows]
    loaded = {label: ServedModel(info) for label, info in infos.items()}
    load_start = load.load_average()
    times = time_pairs(loaded, pairs, sample, config.repeats, config.warmup, rng)
    load_end = load.load_average()

    ref = times[pairs.index(reference)]
    results = []
    for (label, name), row in zip(pairs, times):
        median = float(np.median(row))
        ratio = median / float(np.median(ref))
        low, high = (
            (ratio, ratio)
            if (label, name) == reference
            else bootstrap_ratio(row, ref, config.bootstrap, rng)
        )
        results.append(
            {
                "model": label,
                "signature": name,
                "savedmodel": str(infos[label].version_dir),
                **budget_of(infos[label].metadata, name),
                "median_ms": round(median, 3),
                "per_sentence_ms": round(median / len(sample), 4),
                "ratio": round(ratio, 4),
                "ratio_ci95": [round(low, 4), round(high, 4)],
                "times_ms": [round(float(t), 3) for t in row],
            }
        )
    result = {
        "pairs": results,
        "reference": {"model": reference[0], "signature": reference[1]},
        "config": {
            "sentences": len(sample),
            "repeats": config.repeats,
            "warmup": config.warmup,
            "bootstrap": config.bootstrap,
            "seed": config.seed,
            "dev_file": dev_path,
        },
        **system.host_facts(load_start, load_end),
    }
    return result


def format_latency(result: dict) -> str:
    """A short text report of `batch1_latency`'s result."""
    config, ref = result["config"], result["reference"]
    rows = [
        [
            p["model"],
            p["signature"],
            p["flops_fraction"],
            p["median_ms"],
            p["per_sentence_ms"],
            f"{p['ratio']:.3f}",
            f"[{p['ratio_ci95'][0]:.3f}, {p['ratio_ci95'][1]:.3f}]",
        ]
        for p in result["pairs"]
    ]
    return "\n".join(
        [
            f"Batch-1 latency: {config['sentences']} sentences one at a time, {config['repeats']} "
            f"repeats (pairs interleaved in random order), seed {config['seed']}",
            f"texts: {config['dev_file']}",
            *table(
                ["model", "signature", "FLOPs", "median ms", "ms/sentence", "ratio", "95% CI"], rows
            ),
            f"ratio: median / median of {ref['model']}/{ref['signature']} (below 1 is faster); "
            f"CI: bootstrap over repeats",
            *environment_lines(result),
        ]
    )
