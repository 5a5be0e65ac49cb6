"""`run_benchmark`: time the baseline, PoWER-BERT and the alternatives under one protocol.

Inputs are tokenized once (or read from a ``--save-inputs`` file), every
variant's batches are made and put on the device, each variant is warmed up
(every batch shape compiled), and then the variants run in rounds, in a new
random order each round, while the load of the machine is watched. Each
variant's median and its speedup over the baseline, with a bootstrap 95%
interval, go into the result. The padded protocol (the paper's) adds the
whole-dev-set passes and the per-layer profile.
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np

from benchmarks import load as load_check
from benchmarks.speed.comparisons import dev_set_comparisons, truncation_inputs
from benchmarks.speed.config import BenchmarkConfig, BenchmarkError
from benchmarks.speed.inputs import (
    dev_examples,
    first_examples,
    load_inputs,
    rows,
    save_inputs,
    synthetic_features,
    tokenize,
    truncate,
)
from benchmarks.speed.models import load_models, model_dims, preprocessor_for
from benchmarks.speed.profile import profile_layers
from benchmarks.speed.protocols import protocol_batches, shapes_of
from benchmarks.speed.stats import speedup_with_interval
from benchmarks.speed.timing import median, time_interleaved, warm_up
from benchmarks.speed.variants import (
    Variant,
    cls_only_variant,
    extra_variants,
    savedmodel_variants,
    unit_call,
)
from benchmarks.system import environment


def run_benchmark(config: BenchmarkConfig) -> dict:
    """Time the baseline, PoWER-BERT and the alternatives; see `benchmarks.speed`.

    Returns:
        A JSON-ready dict: ``protocol``, ``baseline_ms``, ``power_ms`` (median
        ms per timed unit), ``speedup`` (= baseline_ms / power_ms) and
        ``speedup_ci`` (its bootstrap 95% interval), ``variants`` (name ->
        ms, speedup, speedup_ci, ms_per_sentence, flops_fraction, retention,
        seq_len, source), ``times_ms`` (every repeat), ``load``, ``threads``,
        ``speedup_limit``, ``efficiency``, ``flops_fraction``, ``retention``,
        ``batch_size``, ``seq_len``, ``repeats``, ``truncation``, the
        environment and ``command``; ``savedmodel_speedup`` (and ``_ci``)
        with both exports. Padded with dev data and ``extras``: ``bucketed``,
        ``metric``, ``metrics``. With ``profile``: ``profile``.

    Raises:
        BenchmarkError: naming the flag or file.
    """
    config = config.resolved()
    saved = load_inputs(config.inputs) if config.inputs else None
    baseline, power, facts = load_models(config, saved[3] if saved else None)
    seq_len = _seq_len(config, facts, power)
    precheck = _precheck(
        config
    )  # after the files are read (their errors come first), before any timing
    dims = model_dims(power)
    num_layers, hidden, intermediate = dims
    flops_fraction = power.retention.flops_fraction(seq_len, hidden, intermediate)
    warmup = max(config.warmup, 1) if keras.backend.backend() == "jax" else config.warmup

    result: dict = {
        "protocol": config.protocol,
        "length_multiple": config.length_multiple,
        "jit_compile": config.jit_compile,
        "checkpoint": facts["checkpoint"],
        "task": facts["task"] or (saved[2] if saved else None),
        "baseline_source": facts["baseline_source"],
        "power_source": facts["power_source"],
        "batch_size": config.batch_size,
        "seq_len": seq_len,
        "repeats": config.repeats,
        "warmup": warmup,
        "bootstrap": config.bootstrap,
        "seed": config.seed,
        "retention": power.retention.to_list(),
        "effective_lengths": [out for _, out in power.retention.layer_lengths(seq_len)],
        "flops_fraction": flops_fraction,
        "speedup_limit": 1.0 / flops_fraction,
        "model": {"num_layers": num_layers, "hidden_dim": hidden, "intermediate_dim": intermediate},
        **environment(),
        "backend_note": config.backend_note,
        "command": config.command if config.command is not None else " ".join(sys.argv),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    features, texts, examples, preprocessor, source = _dev_inputs(
        config, facts, power, baseline, seq_len, saved
    )
    result["inputs"] = source
    if examples is not None:
        result["dev_examples"] = len(examples)
        result["dev_path"] = examples.path
    truncation, truncated = truncation_inputs(
        flops_fraction, seq_len, dims, features, preprocessor, texts
    )

    def inputs_at(length: int, own_preprocessor) -> tuple[dict, str]:
        if texts is not None:
            return tokenize(
                own_preprocessor or preprocessor, texts, length
            ), f"tokenized at {length}"
        if length <= seq_len:
            return truncate(
                features, length
            ), f"cut to {length} columns (no texts to tokenize again)"
        raise BenchmarkError(
            f"sequence_length {length} exceeds the inputs' {seq_len} (no texts to tokenize again)"
        )

    variants = [
        Variant("baseline", features, seq_len, facts["baseline_source"], 1.0, None, model=baseline),
        Variant(
            "power",
            features,
            seq_len,
            facts["power_source"],
            flops_fraction,
            result["retention"],
            model=power,
        ),
        Variant(
            "truncation",
            truncated,
            truncation["seq_len"],
            f"{facts['baseline_source']}, inputs {'tokenized' if texts is not None else 'cut'} "
            f"at {truncation['seq_len']}",
            truncation["flops_fraction"],
            None,
            model=baseline,
        ),
        cls_only_variant(baseline, features, seq_len, dims, facts["baseline_source"]),
        *extra_variants(config.models, seq_len, dims, inputs_at),
        *savedmodel_variants(config.savedmodel, config.baseline_savedmodel, features, seq_len),
    ]
    _time_variants(result, variants, config, warmup, precheck)
    truncation.update(
        ms=result["variants"]["truncation"]["ms"],
        speedup=result["variants"]["truncation"]["speedup"],
        speedup_ci=result["variants"]["truncation"]["speedup_ci"],
    )
    result["truncation"] = truncation

    if config.protocol == "padded" and examples is not None and config.extras:
        dev_set_comparisons(
            result,
            examples,
            inputs={"baseline": features, "power": features, "truncation": truncated},
            models={"baseline": baseline, "power": power, "truncation": baseline},
            batch_size=config.batch_size,
            repeats=config.repeats,
            warmup=warmup,
            dtypes={name: str(features[name].dtype) for name in power.input_features},
        )
    if config.profile:
        result["profile"] = profile_layers(
            power, config.batch_size, seq_len, config.repeats, warmup
        )
    return result


def save_dev_inputs(config: BenchmarkConfig) -> dict:
    """``--save-inputs``: the checkpoint's task's whole dev set, tokenized at seq_len, in file order.

    Returns:
        ``path``, ``examples``, ``seq_len`` and ``task``.

    Raises:
        BenchmarkError: naming the flag or file.
    """
    config = config.resolved()
    baseline, power, facts = load_models(config)
    seq_len = _seq_len(config, facts, power)
    examples = dev_examples(facts["task"], config.data_dir, table=facts["table"])
    features = tokenize(preprocessor_for(power, baseline, facts, seq_len), examples.texts, seq_len)
    features = {name: features[name] for name in power.input_features if name in features}
    save_inputs(config.save_inputs, features, examples.labels, examples.task.name, seq_len)
    return {
        "path": config.save_inputs,
        "examples": len(examples),
        "seq_len": seq_len,
        "task": examples.task.name,
    }


def _precheck(config: BenchmarkConfig) -> float | None:
    """Other processes' CPU share over ``load_sample_s``, sampled before the inputs are made and timed.

    Raises:
        BenchmarkError: naming --require-idle, when it is set and the machine is busy.
    """
    if config.load_sample_s <= 0:
        return None
    share = load_check.sample_other_load(config.load_sample_s)
    if config.require_idle and share is not None and share > config.max_other_load:
        raise BenchmarkError(
            f"--require-idle: the machine is busy: other processes used {share:.0%} of its CPU over "
            f"{config.load_sample_s:g} s (--max-other-load {config.max_other_load:g})"
        )
    return share


def _seq_len(config: BenchmarkConfig, facts: dict, power) -> int:
    seq_len = int(config.seq_len or facts["sequence_length"])
    if seq_len < 1 or seq_len > power.sequence_length:
        raise BenchmarkError(
            f"--seq-len {seq_len}: must be between 1 and the model's sequence_length {power.sequence_length}"
        )
    return seq_len


def _dev_inputs(config: BenchmarkConfig, facts: dict, power, baseline, seq_len: int, saved):
    """(features, texts, examples, preprocessor, source) of the examples the protocol runs.

    Padded: a random subset for ``max_examples``; dynamic / batch1: the first
    ``max_examples`` in file order. Texts, examples and preprocessor are None
    without dev data (``--inputs``, random ids).
    """
    padded = config.protocol == "padded"
    if saved is not None:
        features, _, _, saved_len = saved
        if seq_len > saved_len:
            raise BenchmarkError(
                f"--seq-len {seq_len}: --inputs {config.inputs} holds features of length {saved_len}"
            )
        features = truncate(features, seq_len)
        count = len(features["token_ids"])
        if config.max_examples and config.max_examples < count:
            picks = (
                np.sort(
                    np.random.default_rng(config.seed).choice(
                        count, config.max_examples, replace=False
                    )
                )
                if padded
                else np.arange(config.max_examples)
            )
            features = rows(features, picks)
        return (
            features,
            None,
            None,
            None,
            f"{config.inputs} ({len(features['token_ids'])} examples)",
        )
    if facts["checkpoint"] is None:  # random weights on random ids
        count = config.max_examples or config.batch_size
        features = synthetic_features(count, seq_len, power.backbone.vocabulary_size, config.seed)
        return features, None, None, None, f"random ids ({count} examples, no padding)"
    examples = dev_examples(
        facts["task"],
        config.data_dir,
        config.max_examples if padded else None,
        config.seed,
        table=facts["table"],
    )
    if not padded:
        examples = first_examples(examples, config.max_examples)
    preprocessor = preprocessor_for(power, baseline, facts, seq_len)
    features = tokenize(preprocessor, examples.texts, seq_len)
    return (
        features,
        examples.texts,
        examples,
        preprocessor,
        f"{examples.path} ({len(examples)} examples)",
    )


def _time_variants(
    result: dict,
    variants: list[Variant],
    config: BenchmarkConfig,
    warmup: int,
    precheck: float | None,
) -> None:
    """Warm up, time in shuffled rounds under the load monitor, and summarise into `result`."""
    batches = protocol_batches(
        variants[0].features, config.protocol, config.batch_size, config.length_multiple
    )
    examples = sum(len(batch["token_ids"]) for batch in batches)
    result.update(
        examples_per_unit=examples,
        batches_per_unit=len(batches),
        batch_shapes=len(shapes_of(batches)),
    )
    calls = {
        variant.name: unit_call(
            variant, config.protocol, config.batch_size, config.length_multiple, config.jit_compile
        )
        for variant in variants
    }
    warm_up(calls, warmup)  # every batch of a unit: every shape compiled
    monitor = load_check.LoadMonitor(config.max_other_load, precheck)
    with monitor:
        times = time_interleaved(calls, config.repeats, 0, np.random.default_rng(config.seed))
    result["load"] = monitor.summary()

    draws, rng = config.bootstrap, np.random.default_rng([config.seed, 1])
    summary = {}
    for variant in variants:
        ms = median(times[variant.name])
        if variant.name == "baseline":
            speedup, interval = 1.0, [1.0, 1.0]
        else:
            speedup, interval = speedup_with_interval(
                times["baseline"], times[variant.name], draws, rng
            )
        summary[variant.name] = {
            "ms": ms,
            "speedup": speedup,
            "speedup_ci": interval,
            "ms_per_sentence": ms / examples,
            **variant.summary(),
        }
    result["variants"] = summary
    result["times_ms"] = times
    result["baseline_ms"] = summary["baseline"]["ms"]
    result["power_ms"] = summary["power"]["ms"]
    result["speedup"] = summary["power"]["speedup"]
    result["speedup_ci"] = summary["power"]["speedup_ci"]
    result["efficiency"] = result["speedup"] / result["speedup_limit"]
    if "power_savedmodel" in summary and "baseline_savedmodel" in summary:
        speedup, interval = speedup_with_interval(
            times["baseline_savedmodel"], times["power_savedmodel"], draws, rng
        )
        result["savedmodel_speedup"], result["savedmodel_speedup_ci"] = speedup, interval
