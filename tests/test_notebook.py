"""The example notebook docs/notebook.ipynb runs from a clean kernel (nbclient, the kernel of the
running interpreter) and shows what it says: the evaluate table's model names, finite losses,
the backtest's strategies and the figures' names."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")  # the dev extra installs these three
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "notebook.ipynb"


def _text(cell: Any) -> str:
    """Everything a code cell showed: its printed lines and the plain text of its results."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
            parts.append(out["data"].get("text/html", ""))
    return "".join(parts)


@pytest.mark.slow
def test_the_example_notebook_runs_from_a_clean_kernel(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # committed without outputs: what it shows comes from this run
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None
    # the kernel: ipykernel's own python3 spec, i.e. this interpreter, with this checkout's src
    # first on its path (as the tests import it); a fresh process, nothing of this one shared
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    env["MPLBACKEND"] = "Agg"
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    shown = [_text(c) for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(shown)
    assert "Traceback" not in everything
    assert "['ar1', 'no_change'] days: 251" in everything
    assert "mse finite: True" in everything
    assert "<table" in shown[1]  # the evaluate result rendered as HTML
    assert "'cumulative_loss.png'" in shown[3] and "'forecasts.png'" in shown[3]
    assert re.search(r"strategies: \[.*'ar1'.*\]", everything)
    assert "'buy_and_hold'" in everything
    assert "evaluate finished" in everything
