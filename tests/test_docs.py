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


LINK = re.compile(r"\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a Markdown file's headings: lower case, punctuation dropped,
    spaces as hyphens, "-1", "-2", ... after a repeated one."""
    anchors, seen = set(), {}
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        if in_code or not line.startswith("#"):
            continue
        title = line.lstrip("#").strip().lower()
        slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def broken_links(path: pathlib.Path) -> list[str]:
    """Relative links in `path` to a missing file, or to a heading its Markdown file lacks."""
    problems = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        if not linked.exists():
            problems.append(f"{path.name}: {target}: no such file")
        elif anchor and linked.suffix == ".md":
            if anchor not in heading_anchors(linked.read_text(encoding="utf-8")):
                problems.append(f"{path.name}: {target}: no such heading")
    return problems


@pytest.mark.parametrize(
    "heading, anchor",
    [
        ("### Each seed's configuration timed", "each-seeds-configuration-timed"),
        ("## Summary (generated from results.json)", "summary-generated-from-resultsjson"),
        (
            "## The default command: `python scripts/run_glue.py --task cola`",
            "the-default-command-python-scriptsrun_gluepy---task-cola",
        ),
    ],
)
def test_heading_anchors_follow_github(heading, anchor):
    assert heading_anchors(heading) == {anchor}


def test_a_link_to_a_missing_heading_or_file_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Results\n\n## MRPC\n\n## MRPC\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#mrpc-1) [no](a.md#the-length-check) [gone](c.md) [web](https://x.org/#y)"
    )
    assert broken_links(page) == [
        "b.md: a.md#the-length-check: no such heading",
        "b.md: c.md: no such file",
    ]


def test_the_user_docs_links_resolve():
    problems = [p for path in user_docs() if path.suffix == ".md" for p in broken_links(path)]
    assert not problems, "\n".join(problems)
