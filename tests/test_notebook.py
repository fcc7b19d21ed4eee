"""The notebook tutorial docs/tutorials/first_stress_test.ipynb runs from top to bottom (nbclient) and is stored
without outputs."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT

NOTEBOOK = Path(ROOT) / "docs" / "tutorials" / "first_stress_test.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


def test_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", ROOT)  # the kernel imports this checkout's harness
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the tutorial's run directory lands here
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "refused: training.batch_size: 0" in text
    assert "index.html" in text and "headline.pdf" in text
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the seaborn bar plot and the learning curves
    runs = [p for p in tmp_path.iterdir() if p.name.startswith("first_stress_test_")]
    assert len(runs) == 1 and (runs[0] / "index.html").is_file()
    assert os.path.isfile(runs[0] / "figures" / "curves.svg")
