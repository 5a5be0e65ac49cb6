"""docs/results.json and the tables made from it: one record per task, from a ledger of runs.

The ledger (`benchmarks/records/runs/ledger.json`) lists every training run and benchmark behind the
published numbers; `aggregate` turns it into one record per task (means over seeds,
sample standard deviations, speedups with their intervals, the issue's targets), `render`
writes the README's and RESULTS.md's tables from those records alone, and `pareto` plots
dev metric against time per task. Modules:

* `ledger`: reads and validates the ledger, each run's results.json and benchmark JSON.
* `stats`: mean and sample standard deviation in points, per-seed lists.
* `targets`: the issue's targets (accuracy, padded, dynamic and batch-1 speedups).
* `aggregate`: the per-task records.
* `render`: the Markdown blocks between markers, and the drift check.
* `pareto`: the per-task plots.
"""

from benchmarks.results.errors import ResultsError

__all__ = ["ResultsError"]
