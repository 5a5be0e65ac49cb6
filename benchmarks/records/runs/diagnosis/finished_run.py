"""A finished run read back for the diagnosis scripts beside this file: its results.json, and a
`Pipeline` rebuilt with the settings the run recorded (task, seed, subsample, held-out split,
FLOPs count, length), so its held-out part and judge are the run's own."""

import json

from power_bert_tf.config import RunConfig
from power_bert_tf.pipeline import Pipeline


def read_results(run: str) -> dict:
    """`<run>/results.json`."""
    with open(f"{run}/results.json", encoding="utf-8") as handle:
        return json.load(handle)


def rebuilt_pipeline(run: str, results: dict, length_check: bool = True) -> Pipeline:
    """The run's pipeline (from `results["identity"]`), with or without the length check."""
    identity = results["identity"]
    return Pipeline(
        RunConfig(
            task=identity["task"],
            seed=identity["seed"],
            max_train_examples=identity.get("max_train_examples"),
            held_out_fraction=identity["held_out_fraction"],
            flops_count=identity["flops_count"],
            seq_len=identity["seq_len"],
            length_check=length_check,
            output_dir=run,
        )
    )


def paired_verdict(pipeline: Pipeline, held_out, reference, candidate):
    """The run's own judge (metric, confidence, seed, token counts) of `candidate` against
    `reference` (two models) on its held-out part."""
    return pipeline._verdict(
        held_out,
        pipeline._predictions(reference, held_out),
        pipeline._predictions(candidate, held_out),
    )


def opened_run(run: str) -> tuple[dict, Pipeline, object]:
    """`(results, pipeline, held_out)`: the run's records, its rebuilt pipeline (with the length
    check) and its held-out examples."""
    results = read_results(run)
    pipeline = rebuilt_pipeline(run, results)
    _, held_out = pipeline.training_split()
    return results, pipeline, held_out
