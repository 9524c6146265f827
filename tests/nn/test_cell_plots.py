"""Cell figures: diagrams, gate heatmaps and cell-state lines render; bad input, clear errors."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

from gatecast.errors import ConfigError
from gatecast.nn import GRU, LSTM
from gatecast.plots.cells import cell_diagram, cell_state_plot, gate_heatmaps, write_gate_figures


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cell_diagram_draws_the_structure(cell: str) -> None:
    fig = cell_diagram(cell)
    texts = " ".join(t.get_text() for ax in fig.axes for t in ax.texts) + " ".join(
        t.get_text() for t in fig.texts
    )
    assert "x_t" in texts and "h_{t-1}" in texts and "tanh" in texts
    if cell == "lstm":
        assert "c_{t-1}" in texts and "forget f" in texts and "output o" in texts
    if cell == "gru":
        assert "reset r" in texts and "update z" in texts and "1−" in texts
    assert len(fig.axes[0].patches) > 8  # boxes, circles and arrows
    plt.close(fig)


def test_unknown_cell_diagram() -> None:
    with pytest.raises(ConfigError, match="choose lstm, gru or rnn"):
        cell_diagram("transformer")


def test_heatmaps_and_cell_state_from_a_record(tmp_path) -> None:
    rec = LSTM(2, 5, num_layers=2, seed=0).forward(np.ones((1, 12, 2)), record=True).record
    fig = gate_heatmaps(rec, time_labels=[f"d{t}" for t in range(12)])
    assert [ax.get_title(loc="left") for ax in fig.axes if ax.get_title(loc="left")] == [
        "input gate i",
        "forget gate f",
        "candidate g",
        "output gate o",
        "hidden state h",
    ]
    plt.close(fig)
    fig = cell_state_plot(rec, layer=0)
    assert len(fig.axes[0].lines) == 5 + 1  # one per unit and the zero line
    plt.close(fig)
    files = write_gate_figures(rec, tmp_path / "g", subject="a test")
    assert [p.name for p in files] == [
        "gates_layer1.png",
        "cell_state_layer1.png",
        "gates_layer2.png",
        "cell_state_layer2.png",
    ]
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in files)


def test_gru_record_plots_h_and_rejects_bad_labels() -> None:
    rec = GRU(1, 3, seed=0).forward(np.ones((2, 4, 1)), lengths=[4, 2], record=True).record
    fig = cell_state_plot(rec, batch=1)
    assert fig.axes[0].lines[0].get_xdata().size == 2  # the padding is not drawn
    plt.close(fig)
    with pytest.raises(ConfigError, match="time_labels has 3 entries for 4 steps"):
        gate_heatmaps(rec, time_labels=["a", "b", "c"])
    with pytest.raises(ConfigError, match="cannot read layer 5"):
        gate_heatmaps(rec, layer=5)
