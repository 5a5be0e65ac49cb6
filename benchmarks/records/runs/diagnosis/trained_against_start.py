"""Would a rule that keeps a retrain's untrained start unless a trained epoch beats it by a
paired bound have changed what a finished run delivered? For each run whose retrain delivered a
trained epoch, the delivered model and its start (the same weights the retrain began from, with
elimination, no training) are scored on the run's held-out part, and the paired bootstrap bound
of (start - delivered) is taken at the pipeline's confidence, as drawn and by length. A bound
below 0 means the trained epoch beats its start at that confidence. Held-out data only.

usage (GLUE_DIR set; each run's finetune.keras, search.keras and retrain.keras in runs/NAME):
    python benchmarks/records/runs/diagnosis/trained_against_start.py runs/NAME...
"""

import os
import sys

from finished_run import opened_run, paired_verdict  # beside this script

from power_bert_tf.retention import RetentionConfig


def main() -> None:
    for run in sys.argv[1:]:
        results, pipeline, held_out = opened_run(run)
        retrain = results["steps"]["retrain"]
        started_from = retrain["started_from"]
        # "finetune": the run's own fine-tuned model, or the one it was started from (--checkpoint).
        own = f"{run}/finetune.keras"
        if started_from != "finetune":
            source = f"{run}/{started_from}"
        else:
            source = own if os.path.exists(own) else results["started_from"]
        weights = pipeline._load(source)
        start = weights.with_mode("hard", RetentionConfig(retrain["retention"]))
        delivered = pipeline._load(f"{run}/retrain.keras")
        verdict = paired_verdict(pipeline, held_out, start, delivered)  # only its bound is read
        print(
            f"{run}: best epoch {retrain['best_epoch']}, {','.join(map(str, retrain['retention']))}"
            f" from {started_from}: start {verdict.reference:.2f}, delivered {verdict.metric:.2f},"
            f" gain {-verdict.drop:.2f}; bound of (start - delivered) as drawn"
            f" {verdict.bound_as_drawn:.2f}, by length {verdict.bound_by_length:.2f}:"
            f" {'beats its start' if verdict.bound < 0 else 'does not beat its start'}"
            f" at confidence {verdict.confidence}"
        )


if __name__ == "__main__":
    main()
