"""power_bert_tf.data.readers: official-layout TSV readers (real and tiny files), bad data, dispatch to TFDS."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from power_bert_tf.data import (
    GlueDataError,
    GlueExamples,
    get_task,
    load_split,
    read_glue_split,
    resolve_data_dir,
)
from power_bert_tf.data import tfds as data_tfds

GLUE_DIR = Path(
    os.environ.get("GLUE_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "glue")
)

# --------------------------------------------------------------------------------------------------------
# Real GLUE files (../shared/glue)

needs_glue = pytest.mark.skipif(
    not (GLUE_DIR / "CoLA").is_dir(), reason=f"no GLUE data at {GLUE_DIR}"
)

# task, split, rows, (first texts, label, index), (last texts, label, index)
REAL = [
    (
        "cola",
        "train",
        8551,
        (("Our friends won't buy this analysis, let alone the next one we propose.",), 1, 0),
        (("What all did you get for Christmas?",), 1, 8550),
    ),
    (
        "cola",
        "dev",
        1043,  # no trailing newline
        (("The sailors rode the breeze clear of the rocks.",), 1, 0),
        (("John talked to Bill about himself.",), 1, 1042),
    ),
    (
        "cola",
        "test",
        1063,
        (("Bill whistled past the house.",), None, 0),
        (("A picture of himself frightened John.",), None, 1062),
    ),
    (
        "sst-2",
        "train",
        67349,
        (("hide new secretions from the parental units ",), 0, 0),
        (
            (
                "this new jangle of noise , mayhem and stupidity must be a serious contender for the title . ",
            ),
            0,
            67348,
        ),
    ),
    ("sst-2", "dev", 872, (("it 's a charming and often affecting journey . ",), 1, 0), None),
    ("sst-2", "test", 1821, (("uneasy mishmash of styles and genres .",), None, 0), None),
    (
        "mrpc",
        "train",
        3668,
        (
            (
                'Amrozi accused his brother, whom he called "the witness", of deliberately distorting his evidence.',
                'Referring to him as only "the witness", Amrozi accused his brother of deliberately distorting his '
                "evidence.",
            ),
            1,
            0,
        ),
        None,
    ),
    (
        "mrpc",
        "dev",
        408,
        (
            (
                "He said the foodservice pie business doesn't fit the company's long-term growth strategy.",
                '"The foodservice pie business does not fit our long-term growth strategy.',
            ),
            1,
            0,
        ),
        (
            (
                "Ex-KGB agent Putin added that the Beatles were considered 'propaganda of an alien ideology'.",
                "In Soviet times the Beatles' music \"was considered propaganda of an alien ideology.",
            ),
            1,
            407,
        ),
    ),
    ("mrpc", "test", 1725, None, (None, None, 1724)),
    (
        "sts-b",
        "train",
        5749,
        (("A plane is taking off.", "An air plane is taking off."), 5.0, 0),
        (
            (
                "Putin spokesman: Doping charges appear unfounded",
                "The Latest on Severe Weather: 1 Dead in Texas After Tornado",
            ),
            0.0,
            5748,
        ),
    ),
    (
        "sts-b",
        "dev",
        1500,
        (("A man with a hard hat is dancing.", "A man wearing a hard hat is dancing."), 5.0, 0),
        None,
    ),
    (
        "sts-b",
        "test",
        1379,
        (("A girl is styling her hair.", "A girl is brushing her hair."), None, 0),
        (
            (
                "South Korea declares end to MERS outbreak",
                "North Korea Delegation Meets With South Korean Officials",
            ),
            None,
            1378,
        ),
    ),
]


def _raw_data_lines(path: str, header: bool) -> list[bytes]:
    lines = Path(path).read_bytes().split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines[1:] if header else lines


def _check_row(ex: GlueExamples, row: int, expected) -> None:
    texts, label, index = expected
    if texts is not None:
        assert tuple(column[row] for column in ex.texts) == texts
    if label is not None:
        assert ex.labels[row] == pytest.approx(label)
    assert ex.indices[row] == index


@needs_glue
@pytest.mark.parametrize("name,split,rows,first,last", REAL, ids=[f"{r[0]}-{r[1]}" for r in REAL])
def test_real_files(name, split, rows, first, last):
    task = get_task(name)
    ex = read_glue_split(task, split, GLUE_DIR / task.directory)
    assert len(ex) == len(ex.indices) == rows and all(len(c) == rows for c in ex.texts)
    assert len(ex.texts) == (2 if task.is_pair else 1)
    if split == "test":
        assert ex.labels is None
    else:
        assert ex.labels.shape == (rows,)
        assert ex.labels.dtype == (np.float32 if name == "sts-b" else np.int32)
        assert set(np.unique(ex.labels)) <= (
            {0, 1} if name != "sts-b" else set(np.unique(ex.labels))
        )
    assert ex.indices.dtype == np.int64
    for row, expected in ((0, first), (-1, last)):
        if expected is not None:
            _check_row(ex, row, expected)
    # Against the raw bytes: the first and last rows' texts are fields of the first and last data lines.
    raw = _raw_data_lines(ex.path, header=not (name == "cola" and split != "test"))
    assert len(raw) == rows
    for row in (0, -1):
        fields = raw[row].decode("utf-8-sig").split("\t")
        assert all(column[row] in fields for column in ex.texts)
    assert not any("\ufeff" in s for column in ex.texts for s in column)


@needs_glue
def test_real_files_bom_and_quotes():
    ex = read_glue_split("mrpc", "train", GLUE_DIR / "MRPC")
    assert Path(ex.path).read_bytes().startswith(b"\xef\xbb\xbfQuality\t")
    n_quoted = sum(s.startswith('"') for column in ex.texts for s in column)
    assert n_quoted > 0  # a CSV reader with default quoting would have merged lines here
    assert sum('"' in s for s in ex.texts[0]) > 50


@needs_glue
def test_load_split_uses_glue_dir(monkeypatch):
    monkeypatch.setenv("GLUE_DIR", str(GLUE_DIR))
    assert resolve_data_dir("cola") == str(GLUE_DIR / "CoLA")
    assert len(load_split("cola", "dev")) == 1043


# --------------------------------------------------------------------------------------------------------
# Tiny files in the official layout of every task


def _write(
    directory: Path, name: str, lines: list[str], bom: bool = False, final_newline: bool = True
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path = directory / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def T(*fields) -> str:
    return "\t".join(str(f) for f in fields)


MNLI_HEAD = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
]


def _mnli_row(i, s1, s2, *labels):
    return T(
        i,
        31193,
        f"{31193 + i}n",
        "government",
        "( ( Conceptually cream ) skimming )",
        "( ( Product ) )",
        "(ROOT (S ...))",
        "(ROOT (S ...))",
        s1,
        s2,
        *labels,
    )


# task -> {file: lines}, {split: (texts of every row, labels, indices)}
LAYOUTS = {
    "cola": (
        {
            "train.tsv": [T("gj04", 1, "", "The boy ran."), T("gj04", 0, "*", 'He said "go".')],
            "dev.tsv": [T("w_80", 0, "*", "Ran boy the.")],
            "test.tsv": [T("index", "sentence"), T(7, "A test.")],
        },
        {
            "train": ((["The boy ran.", 'He said "go".'],), [1, 0], [0, 1]),
            "dev": ((["Ran boy the."],), [0], [0]),
            "test": ((["A test."],), None, [7]),
        },
    ),
    "sst-2": (
        {
            "train.tsv": [T("sentence", "label"), T("great film ", 1), T("bad ", 0)],
            "dev.tsv": [T("sentence", "label"), T("ok . ", 1)],
            "test.tsv": [T("index", "sentence"), T(0, "fine ."), T(1, "meh .")],
        },
        {
            "train": ((["great film ", "bad "],), [1, 0], [0, 1]),
            "test": ((["fine .", "meh ."],), None, [0, 1]),
        },
    ),
    "mrpc": (
        {
            "train.tsv": [
                "\ufeff" + T("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                T(1, 702876, 702977, '"The witness" spoke.', 'He spoke, "the witness".'),
            ],
            "dev.tsv": [
                "\ufeff" + T("Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                T(0, 1, 2, "a", "b"),
            ],
            "test.tsv": [
                T("index", "#1 ID", "#2 ID", "#1 String", "#2 String"),
                T(3, 1, 2, "c", "d"),
            ],
        },
        {
            "train": ((['"The witness" spoke.'], ['He spoke, "the witness".']), [1], [0]),
            "test": ((["c"], ["d"]), None, [3]),
        },
    ),
    "sts-b": (
        {
            "train.tsv": [
                T(
                    "index",
                    "genre",
                    "filename",
                    "year",
                    "old_index",
                    "source1",
                    "source2",
                    "sentence1",
                    "sentence2",
                    "score",
                ),
                T(
                    0,
                    "main-captions",
                    "MSRvid",
                    "2012test",
                    "0001",
                    "none",
                    "none",
                    "A plane.",
                    "A jet.",
                    "5.000",
                ),
                T(1, "main-news", "headlines", "2016", "1492", "x", "y", "P", "Q", "0.4"),
            ],
            "test.tsv": [
                T(
                    "index",
                    "genre",
                    "filename",
                    "year",
                    "old_index",
                    "source1",
                    "source2",
                    "sentence1",
                    "sentence2",
                ),
                T(
                    12,
                    "main-captions",
                    "MSRvid",
                    "2012test",
                    "0024",
                    "none",
                    "none",
                    "A girl.",
                    "A boy.",
                ),
            ],
        },
        {
            "train": ((["A plane.", "P"], ["A jet.", "Q"]), [5.0, 0.4], [0, 1]),
            "test": ((["A girl."], ["A boy."]), None, [12]),
        },
    ),
    "qqp": (
        {
            "train.tsv": [
                T("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
                T(133273, 213221, 213222, "How is life?", 'What is "life"?', 0),
                T(402555, 536040, 536041, "How do I?", "How do you?", 1, "stray"),
            ],  # extra field
            "test.tsv": [
                T("id", "question1", "question2"),
                T(0, "Why?", "How?"),
                T(5, "Who?", "Whom?"),
            ],
        },
        {
            "train": (
                (["How is life?", "How do I?"], ['What is "life"?', "How do you?"]),
                [0, 1],
                [0, 1],
            ),
            "test": ((["Why?", "Who?"], ["How?", "Whom?"]), None, [0, 5]),
        },
    ),
    "mnli-m": (
        {
            "train.tsv": [
                T(*MNLI_HEAD, "label1", "gold_label"),
                _mnli_row(0, "Cream skimming.", "Product and geography.", "neutral", "neutral"),
                _mnli_row(1, "You know.", "You lose.", "entailment", "extra", "entailment"),
            ],  # stray
            "dev_matched.tsv": [
                T(*MNLI_HEAD, "label1", "label2", "label3", "label4", "label5", "gold_label"),
                _mnli_row(
                    0,
                    "A",
                    "B",
                    "neutral",
                    "contradiction",
                    "contradiction",
                    "contradiction",
                    "contradiction",
                    "contradiction",
                ),
                _mnli_row(1, "C", "D", "entailment"),
            ],  # 11 fields: gold label only
            "test_matched.tsv": [T(*MNLI_HEAD), _mnli_row(9, "E", "F")],
        },
        {
            "train": (
                (["Cream skimming.", "You know."], ["Product and geography.", "You lose."]),
                [2, 1],
                [0, 1],
            ),
            "dev": ((["A", "C"], ["B", "D"]), [0, 1], [0, 1]),
            "test": ((["E"], ["F"]), None, [9]),
        },
    ),
    "mnli-mm": (
        {
            "dev_mismatched.tsv": [
                T(*MNLI_HEAD, "label1", "gold_label"),
                _mnli_row(0, "G", "H", "neutral", "neutral"),
            ],
            "test_mismatched.tsv": [T(*MNLI_HEAD), _mnli_row(4, "I", "J")],
        },
        {"dev": ((["G"], ["H"]), [2], [0]), "test": ((["I"], ["J"]), None, [4])},
    ),
    "qnli": (
        {
            "dev.tsv": [
                T("index", "question", "sentence", "label"),
                T(0, "What?", "This.", "not_entailment"),
                T(1, "Who?", "Him.", "entailment"),
            ],
            "test.tsv": [T("index", "question", "sentence"), T(0, "When?", "Now.")],
        },
        {
            "dev": ((["What?", "Who?"], ["This.", "Him."]), [1, 0], [0, 1]),
            "test": ((["When?"], ["Now."]), None, [0]),
        },
    ),
    "rte": (
        {
            "train.tsv": [
                T("index", "sentence1", "sentence2", "label"),
                T(0, "No weapons.", "Weapons.", "not_entailment"),
            ],
            "test.tsv": [T("index", "sentence1", "sentence2"), T(0, "A", "B")],
        },
        {"train": ((["No weapons."], ["Weapons."]), [1], [0]), "test": ((["A"], ["B"]), None, [0])},
    ),
    "wnli": (
        {
            "dev.tsv": [
                T("index", "sentence1", "sentence2", "label"),
                T(0, "A", "B", 1),
                T(1, "C", "D", 0),
            ],
            "test.tsv": [T("index", "sentence1", "sentence2"), T(0, "E", "F")],
        },
        {"dev": ((["A", "C"], ["B", "D"]), [1, 0], [0, 1]), "test": ((["E"], ["F"]), None, [0])},
    ),
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_official_layouts(tmp_path, name):
    task = get_task(name)
    files, expected = LAYOUTS[name]
    for filename, lines in files.items():
        _write(tmp_path / task.directory, filename, lines)
    for split, (texts, labels, indices) in expected.items():
        ex = read_glue_split(name, split, tmp_path / task.directory)
        assert (ex.task, ex.split) == (task, split)
        assert ex.texts == texts
        assert ex.indices.tolist() == indices
        if labels is None:
            assert ex.labels is None
        else:
            np.testing.assert_allclose(ex.labels, labels)


def test_take_is_reproducible_subsample(tmp_path):
    _write(tmp_path, "train.tsv", [T("sentence", "label")] + [T(f"s{i}", i % 2) for i in range(50)])
    ex = read_glue_split("sst-2", "train", tmp_path)
    a, b, c = ex.take(10, seed=1), ex.take(10, seed=1), ex.take(10, seed=2)
    assert len(a) == 10 and a.texts == b.texts and a.texts != c.texts
    assert len(set(a.texts[0])) == 10 and a.indices.tolist() == sorted(a.indices.tolist())
    assert all(s == f"s{i}" and y == i % 2 for s, y, i in zip(a.texts[0], a.labels, a.indices))
    assert len(ex.take(99, seed=0)) == 50


# --------------------------------------------------------------------------------------------------------
# Bad data


def _raises_at(path: Path, line: int | None, message: str):
    where = f"{path}:{line}: " if line else f"{path}"
    return pytest.raises(GlueDataError, match=re.escape(where) + ".*" + re.escape(message))


BAD_FILES = [
    # task, file, lines, bad line, message
    (
        "cola",
        "train.tsv",
        [T("gj04", 1, "", "Fine."), T("gj04", 1, "", "Fine."), T("gj04", 1)],
        3,
        "expected at least 4 tab-separated fields, found 2",
    ),
    (
        "rte",
        "dev.tsv",
        [T("index", "sentence1", "sentence2", "label")]
        + [T(i, "a", "b", "entailment") for i in range(3)]
        + [T(3, "a", "b", "maybe")],
        5,
        "unknown label 'maybe' (expected one of entailment, not_entailment)",
    ),
    ("cola", "dev.tsv", [T("gj04", 2, "", "Two?")], 1, "unknown label '2' (expected one of 0, 1)"),
    (
        "sts-b",
        "train.tsv",
        [T(*range(10)), T(0, "g", "f", "y", "o", "s", "s", "A", "B", "high")],
        2,
        "STS-B score 'high' is not a number",
    ),
    (
        "sts-b",
        "dev.tsv",
        [T(*range(10)), T(0, "g", "f", "y", "o", "s", "s", "A", "B", "5.5")],
        2,
        "STS-B score '5.5' is outside [0, 5]",
    ),
    (
        "qqp",
        "train.tsv",
        [
            T("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
            T(1, 2, 3, "q1", "q2", 0),
            T(4, 5, 6, "q1 only"),
        ],
        3,
        "expected at least 6 tab-separated fields, found 4",
    ),
    (
        "mnli-m",
        "dev_matched.tsv",
        [T(*MNLI_HEAD, "label1", "gold_label"), T(*MNLI_HEAD[:9], "neutral")],
        2,
        "expected at least 11 tab-separated fields, found 10",
    ),
    (
        "sst-2",
        "test.tsv",
        [T("index", "sentence"), T("x7", "a")],
        2,
        "index 'x7' is not an integer",
    ),
    (
        "sst-2",
        "train.tsv",
        [T("sentence", "label"), T("a ", 1), "", T("b ", 0)],
        3,
        "expected at least 2 tab-separated fields, found 1",
    ),
]


@pytest.mark.parametrize(
    "name,filename,lines,line,message",
    BAD_FILES,
    ids=[f"{b[0]}-{b[1]}-{b[4][:20]}" for b in BAD_FILES],
)
def test_bad_lines_name_file_and_line(tmp_path, name, filename, lines, line, message):
    path = _write(tmp_path, filename, lines)
    split = filename.split("_")[0].removesuffix(".tsv")
    with _raises_at(path, line, message):
        read_glue_split(name, split, tmp_path)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(b"sentence\tlabel\nok \t1\nbad \xff \t0\n")
    with _raises_at(path, 3, "not valid UTF-8"):
        read_glue_split("sst-2", "dev", tmp_path)


def test_missing_and_empty(tmp_path):
    with _raises_at(tmp_path / "nope", None, "GLUE data directory not found"):
        read_glue_split("cola", "train", tmp_path / "nope")
    with _raises_at(tmp_path / "nope", None, "GLUE data directory not found"):
        resolve_data_dir("cola", tmp_path / "nope")
    (tmp_path / "CoLA").mkdir()
    with _raises_at(
        tmp_path / "train.tsv",
        None,
        f"file not found (pass the task directory {tmp_path / 'CoLA'})",
    ):
        read_glue_split("cola", "train", tmp_path)
    empty = _write(tmp_path / "CoLA", "train.tsv", [], final_newline=False)
    with _raises_at(empty, None, ": no data rows"):
        read_glue_split("cola", "train", tmp_path / "CoLA")
    header_only = _write(tmp_path / "CoLA", "test.tsv", [T("index", "sentence")])
    with _raises_at(header_only, None, ": no data rows"):
        read_glue_split("cola", "test", tmp_path / "CoLA")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        read_glue_split("cola", "valid", tmp_path / "CoLA")


def test_crlf_and_no_final_newline(tmp_path):
    (tmp_path / "dev.tsv").write_bytes(b"sentence\tlabel\r\na \t1\r\nb\r \t0")
    ex = read_glue_split("sst-2", "dev", tmp_path)
    assert ex.texts == (["a ", "b\r "],) and ex.labels.tolist() == [1, 0]
    (tmp_path / "test.tsv").write_bytes(
        b"index\tsentence\r\n0\tA b.\r\n1\tc\rd"
    )  # text is the last field
    assert read_glue_split("sst-2", "test", tmp_path).texts == (["A b.", "c\rd"],)


# --------------------------------------------------------------------------------------------------------
# Dispatch: a directory, $GLUE_DIR, else TFDS


def test_resolve_and_load_split_dispatch(tmp_path, monkeypatch):
    _write(
        tmp_path / "RTE",
        "dev.tsv",
        [T("index", "sentence1", "sentence2", "label"), T(0, "a", "b", "entailment")],
    )
    monkeypatch.setenv("GLUE_DIR", str(tmp_path))
    assert resolve_data_dir("rte") == str(tmp_path / "RTE")
    assert resolve_data_dir("rte", tmp_path / "RTE") == str(tmp_path / "RTE")
    assert resolve_data_dir("qnli") is None  # $GLUE_DIR/QNLI missing -> TFDS
    assert load_split("rte", "dev").texts == (["a"], ["b"])
    calls = []
    monkeypatch.setattr(
        data_tfds, "load_tfds_split", lambda task, split: calls.append((task.name, split)) or "tfds"
    )
    assert load_split("qnli", "dev") == "tfds" and calls == [("qnli", "dev")]
    monkeypatch.delenv("GLUE_DIR")
    assert resolve_data_dir("rte") is None
