"""Where a finished run's delivered model loses against its fine-tuned model: the final check on the
whole held-out part, on its longer half and in token-length thirds (held-out data), and the dev
metric per source (the GLUE file's genre and year columns, where it has them; dev is read for the
report, never for a choice).

usage (from the checkout the run was made in, GLUE_DIR set):
    python benchmarks/records/runs/diagnosis/where_the_loss_falls.py TASK SEED runs/NAME
"""

import csv
import os
import sys
from collections import Counter

import numpy as np

from power_bert_tf.config import RunConfig
from power_bert_tf.pipeline import Pipeline


def main() -> None:
    task, seed, run = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    pipeline = Pipeline(RunConfig(task=task, seed=seed, output_dir=run))
    teacher = pipeline._load(f"{run}/finetune.keras")
    delivered = pipeline._load(f"{run}/retrain.keras")

    def compare(examples):
        labels = np.asarray(examples.labels)
        lengths = np.asarray(pipeline._features(examples)["padding_mask"]).sum(1)
        return (
            labels,
            np.asarray(pipeline._predictions(teacher, examples)),
            np.asarray(pipeline._predictions(delivered, examples)),
            lengths,
        )

    def show(name, labels, ours, theirs):
        verdict = pipeline._verdict(labels, ours, theirs)
        print(
            f"  {name:<28} n {len(labels):>4}  fine-tuned {verdict.reference:6.2f}  delivered "
            f"{verdict.metric:6.2f}  drop {verdict.drop:5.2f}  bound {verdict.bound:5.2f}"
        )

    _, held_out = pipeline.training_split()
    labels, ours, theirs, lengths = compare(held_out)
    order = np.argsort(lengths, kind="stable")
    print(f"{run}: held-out part")
    show("all", labels, ours, theirs)
    longer = order[len(order) // 2 :]
    show(
        f"longer half (>= {lengths[longer].min()} tokens)",
        labels[longer],
        ours[longer],
        theirs[longer],
    )
    for part in np.array_split(order, 3):
        low, high = lengths[part].min(), lengths[part].max()
        show(f"third {low}-{high} tokens", labels[part], ours[part], theirs[part])

    dev = pipeline.examples("dev")
    labels, ours, theirs, lengths = compare(dev)
    print(f"{run}: dev")
    show("all", labels, ours, theirs)
    path = os.path.join(pipeline.data_dir or "", "dev.tsv")
    if os.path.isfile(path):
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        if len(rows) == len(labels) and "genre" in rows[0]:
            groups = np.array([f"{row['genre']} {row.get('year', '')}".strip() for row in rows])
            for group, _ in sorted(Counter(groups).items(), key=lambda item: -item[1]):
                mask = groups == group
                show(group, labels[mask], ours[mask], theirs[mask])


if __name__ == "__main__":
    main()
