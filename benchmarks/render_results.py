#!/usr/bin/env python
"""Write README's results table and RESULTS.md's summary from docs/results.json.

    python benchmarks/render_results.py            # rewrite both blocks
    python benchmarks/render_results.py --check    # exit 1 if either block is stale

Only the text between `<!-- results-table:begin -->` / `<!-- results-table:end -->` in
README.md and `<!-- results:begin -->` / `<!-- results:end -->` in docs/RESULTS.md is
generated; everything around it is hand-written and left alone. The blocks come from
docs/results.json alone (`benchmarks/collect_results.py` makes it), so text and numbers cannot
drift. A missing file, marker or record field is refused with one line and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT, os.path.join(ROOT, "scripts")]  # the benchmarks package; scripts/flags.py

from flags import add_results_flag  # noqa: E402

from benchmarks.results.blocks import (  # noqa: E402
    README_MARKER,
    RESULTS_MD_MARKER,
    check_block,
    write_block,
)
from benchmarks.results.errors import exit_status  # noqa: E402
from benchmarks.results.render import read_records, readme_block, results_md_block  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_results_flag(parser)
    parser.add_argument("--readme", default="README.md", help="default: %(default)s")
    parser.add_argument("--results-md", default="docs/RESULTS.md", help="default: %(default)s")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming the first file whose block is not what results.json renders",
    )
    return parser


def render(args: argparse.Namespace) -> int:
    records = read_records(args.results)
    blocks = [
        (args.readme, README_MARKER, readme_block(records)),
        (args.results_md, RESULTS_MD_MARKER, results_md_block(records)),
    ]
    if args.check:
        for path, name, block in blocks:
            if not check_block(path, name, block):
                print(
                    f"render_results.py: {path}: its '{name}' block differs from what {args.results} renders "
                    "(run python benchmarks/render_results.py)",
                    file=sys.stderr,
                )
                return 1
        print(f"{args.readme} and {args.results_md} match {args.results}")
        return 0
    for path, name, block in blocks:
        changed = write_block(path, name, block)
        print(f"{path}: {'rewritten' if changed else 'already up to date'}")
    return 0


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return exit_status("render_results.py", lambda: render(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
