"""The final check a retrain-only run (`--steps retrain --retention-config ...`, which runs no
check of its own) would have met: its delivered retrain.keras against the fine-tuned model it was
started from (--checkpoint), on the run's held-out part, with the pipeline's own judge (paired
bootstrap bound at its confidence, as drawn and by length; D = 1 point, the default command's,
which the rebuilt pipeline has). Held-out data only.

usage (GLUE_DIR set; run from the checkout that holds runs/):
    python benchmarks/records/runs/diagnosis/judge_retrained.py runs/NAME...
"""

import json
import sys

from finished_run import opened_run, paired_verdict  # beside this script


def main() -> None:
    for run in sys.argv[1:]:
        results, pipeline, held_out = opened_run(run)
        retrain = results["steps"]["retrain"]
        fine_tuned = pipeline._load(results["started_from"])
        delivered = pipeline._load(f"{run}/retrain.keras")
        verdict = paired_verdict(pipeline, held_out, fine_tuned, delivered)
        with open(f"{run}/retrain_log.jsonl", encoding="utf-8") as handle:
            logged = [json.loads(line)["metrics"][results["metric"]] for line in handle]
        epochs = ", ".join(f"{score:.2f}" for score in logged)
        print(
            f"{run}: {','.join(map(str, retrain['retention']))} (batched FLOPs "
            f"{retrain['flops_fraction']:.3f}), best epoch {retrain['best_epoch']}: held-out "
            f"{verdict.metric:.2f} against the fine-tuned {verdict.reference:.2f}; bound "
            f"{verdict.bound_as_drawn:.2f} as drawn, {verdict.bound_by_length:.2f} by length: "
            f"{'passes' if verdict.passes else 'fails'} (epochs: {epochs})"
        )


if __name__ == "__main__":
    main()
