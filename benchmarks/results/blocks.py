"""Generated blocks inside hand-written Markdown, between ``<!-- name:begin -->`` and ``<!-- name:end -->``.

Only the text between the two markers is ever rewritten; everything outside them is the
author's. `check_block` says whether a file's block is what the records render to, so a
test (or CI) catches a table edited by hand or a results.json changed without re-rendering.
"""

from __future__ import annotations

from benchmarks.results.errors import ResultsError
from power_bert_tf.files import write_text_atomically

README_MARKER = "results-table"
RESULTS_MD_MARKER = "results"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def _span(text: str, name: str, path: str) -> tuple[int, int]:
    """(start, end) of the text between the markers, exclusive of them."""
    begin, end = _markers(name)
    for marker in (begin, end):
        count = text.count(marker)
        if count != 1:
            raise ResultsError(
                f"{path}: {'no' if count == 0 else str(count) + 'x'} '{marker}' marker"
                + (" (add one pair around the generated block)" if count == 0 else "")
            )
    start, stop = text.index(begin) + len(begin), text.index(end)
    if stop < start:
        raise ResultsError(f"{path}: '{end}' comes before '{begin}'")
    return start, stop


def replace_block(text: str, name: str, block: str, path: str) -> str:
    """`text` with the block between `name`'s markers replaced by `block`.

    Args:
        text: the file's content.
        name: the marker name (``results-table`` for ``<!-- results-table:begin -->``).
        block: the generated text, without the markers.
        path: the file's name, for messages.

    Returns:
        The new content: the markers each on their own line around `block`.

    Raises:
        ResultsError: when a marker is missing, repeated or out of order.

    >>> replace_block("a\\n<!-- t:begin -->\\nold\\n<!-- t:end -->\\nb\\n", "t", "new", "f.md")
    'a\\n<!-- t:begin -->\\nnew\\n<!-- t:end -->\\nb\\n'
    """
    start, stop = _span(text, name, path)
    return text[:start] + "\n" + block.strip("\n") + "\n" + text[stop:]


def read_text(path: str) -> str:
    """The file's text.

    Args:
        path: a Markdown file.

    Returns:
        Its content.

    Raises:
        ResultsError: naming the file when it cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as error:
        raise ResultsError(f"{path}: {error.strerror}") from None


def write_block(path: str, name: str, block: str) -> bool:
    """Rewrite `path`'s block (atomically, only when it changes).

    Args:
        path: the Markdown file.
        name: the marker name.
        block: the generated text.

    Returns:
        Whether the file changed.
    """
    text = read_text(path)
    new = replace_block(text, name, block, path)
    if new != text:
        write_text_atomically(path, new)
    return new != text


def check_block(path: str, name: str, block: str) -> bool:
    """Whether `path`'s block is exactly `block`.

    Args:
        path: the Markdown file.
        name: the marker name.
        block: what the records render to.

    Returns:
        True when up to date.
    """
    text = read_text(path)
    return replace_block(text, name, block, path) == text
