"""How large would a CoLA run's held-out part have to be for the final check to certify a cheaper
configuration than the one it delivered? For each finished run, the fine-tuned model and every
judged candidate cheaper than the delivered configuration (the fine-tuned weights with
elimination, no training: what the CoLA runs delivered) are scored on the run's held-out part.
The paired bootstrap bound of the MCC loss is then taken with resamples of k times the held-out
size (k = 1: the run's own check; larger k: a held-out part k times larger with the same
per-example agreement, the simulation the last closing note only estimated), as drawn and by
length, at the pipeline's confidence; a candidate passes when the larger bound is within D and it
beats the constant predictor. Held-out data only; the dev set is not read.

k = 10 is about every training sentence CoLA has: no held-out part can be larger.

usage (GLUE_DIR set; each run's finetune.keras in runs/NAME):
    python benchmarks/records/runs/diagnosis/held_out_size.py runs/cola-len-s0 ...
"""

import sys

import numpy as np
from finished_run import opened_run  # beside this script

from power_bert_tf.retention import RetentionConfig

SCALES = (1, 2, 4, 10)
RESAMPLES = 1000


def mcc_points(tp, fp, fn, tn) -> np.ndarray:
    """Matthews correlation x 100 from confusion counts (arrays); 0 where it is undefined."""
    tp, fp, fn, tn = (np.asarray(a, dtype=float) for a in (tp, fp, fn, tn))
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, 100.0 * (tp * tn - fp * fn) / safe, 0.0)


def mcc_of_counts(counts: np.ndarray, labels: np.ndarray, predictions: np.ndarray) -> np.ndarray:
    """MCC of each row of `counts` (`[resamples, n]`, how often each example is drawn)."""
    positive, said = labels == 1, predictions == 1
    cells = [positive & said, ~positive & said, positive & ~said, ~positive & ~said]
    return mcc_points(*(counts @ cell.astype(float) for cell in cells))


def bounds(labels, reference, candidate, lengths, scale, confidence, seed) -> tuple[float, float]:
    """The `confidence` quantile of (reference - candidate) MCC over resamples of `scale` x n
    examples, drawn uniformly and in proportion to `lengths`."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    found = []
    for draw in (np.full(n, 1.0 / n), lengths / lengths.sum()):
        counts = rng.multinomial(scale * n, draw, size=RESAMPLES)
        drops = mcc_of_counts(counts, labels, reference) - mcc_of_counts(counts, labels, candidate)
        found.append(float(np.quantile(drops, confidence)))
    return found[0], found[1]


def main() -> None:
    for run in sys.argv[1:]:
        results, pipeline, held_out = opened_run(run)
        labels = np.asarray(held_out.labels)
        lengths = pipeline._token_counts(held_out).astype(float)
        fine_tuned = pipeline._load(f"{run}/finetune.keras")
        reference = pipeline._predictions(fine_tuned, held_out)
        # The independent MCC above must agree with the project's on the whole held-out part.
        ours = float(mcc_of_counts(np.ones((1, len(labels))), labels, reference)[0])
        theirs = pipeline._metrics(labels, reference)["mcc"]
        assert abs(ours - theirs) < 1e-6, (ours, theirs)
        search = results["steps"]["search"]
        delivered = results["flops_fraction"]
        candidates = {}
        for candidate in search["candidates"]:
            key = tuple(candidate["retention"])
            if candidate["flops_fraction"] < delivered and key not in candidates:
                candidates[key] = candidate["flops_fraction"]
        drop_limit, confidence = (
            search["max_metric_drop"],
            results["identity"]["selection_confidence"],
        )
        print(
            f"{run}: {len(labels)} held-out sentences, reference MCC {theirs:.2f}, delivered batched "
            f"FLOPs {delivered:.3f}; {len(candidates)} cheaper candidates; D {drop_limit}, "
            f"confidence {confidence}"
        )
        cheapest = {scale: None for scale in SCALES}
        for key, flops in sorted(candidates.items(), key=lambda item: item[1]):
            view = fine_tuned.sharing_weights(RetentionConfig(key))
            predictions = pipeline._predictions(view, held_out)
            metric = pipeline._metrics(labels, predictions)["mcc"]
            row = [f"  {','.join(map(str, key))} FLOPs {flops:.3f} MCC {metric:.2f}:"]
            for scale in SCALES:
                drawn, by_length = bounds(
                    labels, reference, predictions, lengths, scale, confidence, seed=0
                )
                passes = max(drawn, by_length) <= drop_limit and metric > 0.0
                if passes and cheapest[scale] is None:
                    cheapest[scale] = (key, flops)
                row.append(f"x{scale} {drawn:.2f}/{by_length:.2f}{' pass' if passes else ''}")
            print(" ".join(row), flush=True)
        for scale, found in cheapest.items():
            if found is None:
                print(f"  x{scale}: no cheaper candidate passes (delivered {delivered:.3f})")
            else:
                key, flops = found
                print(
                    f"  x{scale}: cheapest passing {','.join(map(str, key))} at batched FLOPs "
                    f"{flops:.3f} (1 / FLOPs = {1 / flops:.2f}x)"
                )


if __name__ == "__main__":
    main()
