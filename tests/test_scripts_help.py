"""Every script's --help prints its usage and exits 0 (argparse formats help strings with %,
so a flag's help that says "95%" would crash it)."""

from __future__ import annotations

import pytest

from conftest import SCRIPT_DIRS, load_script

SCRIPTS = sorted(
    path.stem
    for folder in SCRIPT_DIRS
    for path in folder.glob("*.py")
    if "def main(" in path.read_text()
)


def test_every_script_with_a_main_is_listed():
    assert {"run_glue", "benchmark", "export_savedmodel", "collect_results"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_exits_zero(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script(name).main(["--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ")
