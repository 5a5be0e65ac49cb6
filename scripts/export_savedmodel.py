#!/usr/bin/env python
"""Export a PoWER-BERT training run as a TensorFlow Serving SavedModel.

    python scripts/export_savedmodel.py --checkpoint runs/cola \\
        --export-dir export/power_bert [--version N] [--token-ids-only] [--max-batch-size N]

--checkpoint is a run output directory (its retrain.keras, else
finetune.keras, plus run_config.json) or a .keras file. The model is written
to <export-dir>/<version>/ (default version: 1 + the largest existing one),
never over an existing version. A run retrained with --budgets gets one more
signature per budget. Prints the version directory. A bad
checkpoint or an existing version gives a one-line error and exit status 2.

See docs/SERVING.md for serving the result with TF Serving.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from native_stderr import quiet_native_stderr  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Export a PoWER-BERT run as a TF Serving SavedModel."
    )
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="run output directory (retrain.keras / finetune.keras + "
        "run_config.json) or a .keras file",
    )
    parser.add_argument(
        "--export-dir",
        required=True,
        help="TF Serving model base path; the model goes to <export-dir>/<version>/",
    )
    parser.add_argument(
        "--version",
        type=int,
        default=None,
        help="version directory to write (default: 1 + the largest existing)",
    )
    parser.add_argument("--task", default=None, help="override run_config.json's task")
    parser.add_argument(
        "--labels",
        default=None,
        help="comma-separated label names (override run_config.json)",
    )
    parser.add_argument(
        "--pair",
        action="store_true",
        default=None,
        help="sentence-pair model (override run_config.json)",
    )
    parser.add_argument(
        "--token-ids-only",
        action="store_true",
        help="export only the serve_token_ids signature (no raw-text serving_default); "
        "needed for backbones without BERT-style packing (RoBERTa, DistilBERT)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=None,
        help="requests with more examples get InvalidArgument "
        "(default: power_bert_tf.export.MAX_BATCH_SIZE, 1024)",
    )
    parser.add_argument(
        "--length-multiple",
        type=int,
        default=None,
        help="pad each request's length (padding removed) up to a multiple of this: a few shapes, not one "
        "per sentence length (default: power_bert_tf.export.LENGTH_MULTIPLE, 16; 1: exact lengths)",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the encoder and head with XLA (after in-graph tokenization); on CPU, TF Serving "
        "needs --xla_cpu_compilation_enabled=true",
    )
    return parser.parse_args(argv)


def _import_export_module():
    if importlib.util.find_spec("power_bert_tf") is None:
        sys.path.insert(0, str(ROOT))  # running from a source checkout
    with quiet_native_stderr():
        from power_bert_tf import export
    return export


def main(argv=None) -> int:
    args = parse_args(argv)
    export = _import_export_module()
    labels = None if args.labels is None else [s.strip() for s in args.labels.split(",")]
    try:
        path = export.export_savedmodel(
            args.checkpoint,
            args.export_dir,
            version=args.version,
            task=args.task,
            label_names=labels,
            is_pair=args.pair,
            text_signature=not args.token_ids_only,
            max_batch_size=args.max_batch_size or export.MAX_BATCH_SIZE,
            length_multiple=export.LENGTH_MULTIPLE
            if args.length_multiple is None
            else args.length_multiple,
            jit_compile=args.jit_compile,
        )
    except export.ExportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
