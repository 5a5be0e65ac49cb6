"""The user docs (README.md and docs/) speak to users: no development sessions, no issue numbers,
no paths of the machine a run was made on."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# A word about how the project was made, not about what a user runs.
LAB_WORDS = {
    "a session": re.compile(r"\bsessions?\b", re.IGNORECASE),
    "an issue number": re.compile(r"\bissues? #?\d+|(?<![\w&/])#\d{1,4}\b", re.IGNORECASE),
    "a machine path": re.compile(r"(?<![\w.])/(?:work|home|root|Users|mnt|scratch)/"),
}


def user_docs() -> list[pathlib.Path]:
    return [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").rglob("*") if p.is_file())]


def lab_words(text: str) -> list[str]:
    """'<what> on line <n>: <the line>' for every lab word in `text`."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        for what, pattern in LAB_WORDS.items():
            if pattern.search(line):
                found.append(f"{what} on line {number}: {line.strip()[:120]}")
    return found


@pytest.mark.parametrize(
    "line",
    [
        "resumed after the session ended",
        "fixed in issue 25",
        "see #27 for the layout",
        "read from /work/shared/glue/CoLA",
        "saved in /home/me/runs/cola",
    ],
)
def test_each_kind_of_lab_word_is_found(line):
    assert lab_words(f"fine\n{line}\n")[0].endswith(line)


@pytest.mark.parametrize(
    "line",
    [
        "the [CoLA](docs/RESULTS.md#summary) section",
        "GLUE_DIR=/path/to/glue python scripts/run_glue.py",
        "tensorflow_model_server --port=8500 --model_base_path=/models/power_bert",
        "F1 84.93 (#examples 408)",
    ],
)
def test_user_text_is_not_flagged(line):
    assert lab_words(line) == []


def test_the_user_docs_carry_no_lab_words():
    problems = []
    for path in user_docs():
        if path.suffix in {".png", ".jpg", ".svg"}:
            continue
        text = path.read_text(encoding="utf-8")
        problems += [f"{path.relative_to(ROOT)}: {found}" for found in lab_words(text)]
    assert not problems, "\n".join(problems)
