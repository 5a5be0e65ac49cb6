#!/usr/bin/env python
"""Load-test an exported PoWER-BERT SavedModel, time its batch-1 latency, or its padding cost.

    python benchmarks/serve_load_test.py --savedmodel export/power_bert \\
        --clients 8 --requests 10000 [--signatures a,b] [--sizes 1,8] [--output load.json]
    python benchmarks/serve_load_test.py --savedmodel export/power_bert --batch1 \\
        --compare export/baseline --repeats 20 --sentences 200 [--output latency.json]
    python benchmarks/serve_load_test.py --savedmodel export/power_bert --padding-cost \\
        --repeats 20 [--batch-size 64] [--output padding.json]
    python benchmarks/serve_load_test.py --savedmodel export/power_bert --check-dev-metric

--savedmodel is a version directory or a model base directory (its highest integer
version). Texts come from the dev set of the export's task, read from --data-dir (the
task's GLUE directory, default $GLUE_DIR/<Task>). The export runs as a serving host runs
it: tf.saved_model.load and the tensorflow-text kernels. Prints a report; --output also
writes the full result as JSON. A bad flag, export, signature or dev set prints one
`error: ...` line and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]  # the benchmarks package; scripts/flags.py

from native_stderr import quiet_native_stderr  # noqa: E402


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """One line and exit status 2 (argparse would print the usage too)."""
        self.exit(2, f"error: {message}\n")


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _names(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _sizes(text: str) -> tuple[int, int]:
    parts = [_count(part) for part in _names(text)]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(
            f"expected SMALLEST,LARGEST with SMALLEST <= LARGEST, got {text!r}"
        )
    return parts[0], parts[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = _Parser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--savedmodel", required=True, help="export version directory, or its base directory")
    add(
        "--signatures",
        type=_names,
        default=(),
        help="comma-separated text signatures (default: all of the export's)",
    )
    add(
        "--data-dir",
        default=None,
        help="the export's task's GLUE directory, whose dev set gives the texts "
        "(default: $GLUE_DIR/<Task>)",
    )
    add("--seed", type=int, default=0, help="seeds every random choice (default: 0)")
    add("--output", default=None, help="write the result here as JSON")
    load = parser.add_argument_group("load test (default mode)")
    load.add_argument("--clients", type=_count, default=8, help="concurrent clients (default: 8)")
    load.add_argument(
        "--requests", type=_count, default=100, help="requests per client (default: 100)"
    )
    load.add_argument(
        "--sizes",
        type=_sizes,
        default=(1, 8),
        help="sentences per request, SMALLEST,LARGEST (default: 1,8)",
    )
    load.add_argument("--records", action="store_true", help="keep every request in the JSON")
    batch1 = parser.add_argument_group("batch-1 latency (--batch1)")
    batch1.add_argument(
        "--batch1", action="store_true", help="time batch-1 latency instead of a load test"
    )
    batch1.add_argument(
        "--compare",
        default=None,
        metavar="BASELINE_DIR",
        help="baseline export to compare with (default: --savedmodel's own --baseline-signature)",
    )
    batch1.add_argument(
        "--baseline-signature",
        default="serving_default",
        help="the reference signature (default: serving_default)",
    )
    batch1.add_argument("--repeats", type=_count, default=20, help="timed repeats (default: 20)")
    batch1.add_argument(
        "--sentences", type=_count, default=200, help="dev sentences per repeat (default: 200)"
    )
    padding = parser.add_argument_group("padding cost (--padding-cost; --repeats applies)")
    padding.add_argument(
        "--padding-cost",
        action="store_true",
        help="time a batch of one-word sentences against a full-length batch",
    )
    padding.add_argument(
        "--batch-size", type=_count, default=64, help="sentences per batch (default: 64)"
    )
    parser.add_argument(
        "--check-dev-metric",
        action="store_true",
        help="score every signature on the dev set against power_bert.json's record "
        "(exit 1 when one disagrees)",
    )
    args = parser.parse_args(argv)
    if args.compare and not args.batch1:
        parser.error("--compare needs --batch1")
    if args.batch1 + args.padding_cost + args.check_dev_metric > 1:
        parser.error(
            "--batch1, --padding-cost and --check-dev-metric are separate measurements: give one"
        )
    return args


def _batch1(args, latency) -> tuple[dict, str]:
    if args.compare:
        models = {"baseline": args.compare, "model": args.savedmodel}
        signatures = {"baseline": [args.baseline_signature], "model": args.signatures}
        reference = ("baseline", args.baseline_signature)
    else:
        models = {"model": args.savedmodel}
        signatures = {
            "model": (args.baseline_signature, *args.signatures) if args.signatures else ()
        }
        reference = ("model", args.baseline_signature)
    config = latency.LatencyConfig(
        sentences=args.sentences, repeats=args.repeats, data_dir=args.data_dir, seed=args.seed
    )
    result = latency.batch1_latency(models, signatures, reference, config)
    return result, latency.format_latency(result)


def _padding_cost(args, padding) -> tuple[dict, str]:
    config = padding.PaddingConfig(batch_size=args.batch_size, repeats=args.repeats, seed=args.seed)
    result = padding.padding_cost(args.savedmodel, args.signatures, config)
    return result, padding.format_padding_cost(result)


def _load_test(args, loadtest) -> tuple[dict, str]:
    config = loadtest.LoadTestConfig(
        clients=args.clients,
        requests_per_client=args.requests,
        sizes=args.sizes,
        signatures=args.signatures,
        data_dir=args.data_dir,
        seed=args.seed,
    )
    result = loadtest.run_load_test(args.savedmodel, config, keep_records=args.records)
    return result, loadtest.format_load_test(result)


def main(argv=None) -> int:
    args = parse_args(argv)
    with quiet_native_stderr():  # TensorFlow's start-up lines
        from benchmarks.serving import ServingError, devcheck, latency, loadtest, padding
    try:
        if args.check_dev_metric:
            result = devcheck.dev_metrics(args.savedmodel, args.signatures, args.data_dir)
            report = devcheck.format_dev_metrics(result)
        elif args.batch1:
            result, report = _batch1(args, latency)
        elif args.padding_cost:
            result, report = _padding_cost(args, padding)
        else:
            result, report = _load_test(args, loadtest)
        print(report)
        if args.output:
            path = Path(args.output).expanduser()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except (ServingError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.check_dev_metric and any(row["agrees"] is False for row in result["signatures"]):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
