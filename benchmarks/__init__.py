"""How power-bert-tf measures itself: not part of the installed package.

`speed` (timing protocols: padded, dynamic, batch 1; graph or XLA), `serving` (load,
latency and padding tests of an exported SavedModel), `results` (the ledger of runs and
timings behind docs/results.json, the tables and plots), `system` (the machine: load,
threads, memory, versions). The command-line tools sit beside them (`benchmark.py`,
`serve_load_test.py`, `collect_results.py`, `render_results.py`, `plot_pareto.py`,
`plot_lambda_sweep.py`, `retention_gradients.py`) and `records/` holds what they measured.
Run them from a source checkout, with power_bert_tf installed.
"""
