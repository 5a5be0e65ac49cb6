"""Shared test set-up: quiet TensorFlow, make the package importable from a checkout."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

# Must happen before TensorFlow is first imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

_ROOT = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("power_bert_tf") is None:
    # Plain `pytest` (not `python -m pytest`) from an uninstalled checkout.
    sys.path.insert(0, str(_ROOT))
