"""`quiet_native_stderr`: silence TensorFlow's C++ start-up logging around an import (scripts share it)."""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence file descriptor 2 (TensorFlow's C++ start-up logging)."""
    try:
        saved = os.dup(2)
    except OSError:  # no usable fd 2
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            sys.stderr.flush()
            os.dup2(devnull.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
    finally:
        os.close(saved)
