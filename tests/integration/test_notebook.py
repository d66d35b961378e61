"""The notebook runs top to bottom with the project's code, so it cannot rot."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from ridestream.paths import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_the_ride_windows_notebook_runs_and_plots(tmp_path, monkeypatch):
    # Generated rides: the test must not depend on a broker at 127.0.0.1:9092.
    monkeypatch.setenv("RIDESTREAM_NOTEBOOK_SOURCE", "generated")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(PROJECT_ROOT / "notebooks" / "ride_windows.ipynb", as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on a failure

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    text = "".join(output.get("text", "") for output in outputs)
    assert "Spark and pandas agree" in text
    assert "step 3:" in text
    assert any("image/png" in output.get("data", {}) for output in outputs), "no plot was drawn"
