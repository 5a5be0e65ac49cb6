"""A finished run's selection judged again on its held-out part, as drawn only and with the
length check (the bound also over examples drawn in proportion to their token count): the
candidates down the ladder, the plan each rule makes, and the delivered model's final check.
Held-out data only; the search's points come from the run's results.json.

usage (GLUE_DIR set; the run's fine-tuned and retrained checkpoints in runs/NAME):
    python benchmarks/records/runs/diagnosis/rejudge.py runs/NAME [--both]
With --both the ladder is also judged as drawn only (it should reproduce the run's recorded
plan); without it, the recorded plan is printed beside the length check's.
"""

import sys
from dataclasses import dataclass

from finished_run import read_results, rebuilt_pipeline  # beside this script

from power_bert_tf.training.search import retrain_plan


@dataclass
class Point:
    step: int
    masses: list


def main() -> None:
    run = sys.argv[1]
    results = read_results(run)
    search = results["steps"]["search"]
    points, seen = [], set()
    for candidate in search["candidates"]:
        if candidate["step"] not in seen:
            seen.add(candidate["step"])
            points.append(Point(candidate["step"], candidate["masses"]))
    points.sort(key=lambda point: point.step)
    print(f"{run}: {len(points)} search points, {len(search['candidates'])} candidates judged")
    print(f"recorded plan (as drawn only): {search.get('plan')}")
    for length_check in (False, True) if "--both" in sys.argv[2:] else (True,):
        pipeline = rebuilt_pipeline(run, results, length_check)
        train, held_out = pipeline.training_split()
        pipeline._flops_lengths = pipeline.flops_lengths(train)
        teacher = pipeline._load(f"{run}/finetune.keras")
        budget, floor = pipeline._budget(teacher)
        judged = pipeline._judge_ladder(teacher, points, held_out, budget, floor)
        plan = retrain_plan(judged)
        name = "with the length check" if length_check else "as drawn only"
        print(f"{name}: plan {[c.retention for c in plan]}")
        for c in judged:
            v = c.verdict
            print(
                f"  FLOPs {c.flops_fraction:.3f} {','.join(map(str, c.retention)):<22} drop "
                f"{v['drop']:6.2f} bound {v['bound']:6.2f} (as drawn {v['bound_as_drawn']}, "
                f"by length {v['bound_by_length']}) {'pass' if v['passes'] else 'fail'}"
            )
        check = pipeline._check(teacher, pipeline._load(f"{run}/retrain.keras"), held_out)
        print(
            f"  delivered {results['steps']['retrain']['retention']}: drop {check.drop:.2f} bound "
            f"{check.bound:.2f} (as drawn {check.bound_as_drawn}, by length "
            f"{check.bound_by_length}) {'pass' if check.passes else 'fail'}"
        )


if __name__ == "__main__":
    main()
