"""`PowerBertError`, the base of every error raised on purpose, and `warn`, when a run goes on.

Each error is one line naming what is at fault; the tools print it and exit with status 2."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


class PowerBertError(Exception):
    """A clear, one-line refusal: bad input, an unusable file or setting, a missing resource."""


class ExportError(PowerBertError, ValueError):
    """The checkpoint or export directory is unusable; the message says why."""


class PipelineError(PowerBertError, ValueError):
    """A run that cannot start as asked; the message names the flag or file."""


@contextlib.contextmanager
def as_pipeline_error(errors, prefix: str = "") -> Iterator[None]:
    """Re-raise `errors` from the block as a PipelineError: `prefix` + the message."""
    try:
        yield
    except errors as error:
        raise PipelineError(f"{prefix}{error}") from None


def warn(message: str) -> None:
    """A run goes on, but the user should know: one `warning:` line on stderr."""
    print(f"warning: {message}", file=sys.stderr)
