"""`gatecast gradient-flow`, `gatecast diagram` and `gatecast gates` through the real typer app."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from gatecast.artifacts import FORMAT_VERSION, save_model_folder
from gatecast.cli.app import app
from gatecast.data import ar1_prices
from gatecast.nn import RecurrentNet

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_gradient_flow_command(tmp_path) -> None:
    res = runner.invoke(
        app, ["gradient-flow", "--steps", "60", "--hidden", "20", "--out", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "lstm_forget_bias" in res.output and "k=50" in res.output
    assert (tmp_path / "gradient_flow.png").read_bytes()[:8] == PNG
    data = json.loads((tmp_path / "gradient_flow.json").read_text())
    assert len(data["k"]) == 60 and data["hidden"] == 20


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_diagram_command(tmp_path, cell) -> None:
    out = tmp_path / f"{cell}.png"
    res = runner.invoke(app, ["diagram", "--cell", cell, "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_bytes()[:8] == PNG


@pytest.mark.parametrize(
    "args, message",
    [
        (["diagram", "--cell", "transformer", "--out", "x.png"], "unknown cell 'transformer'"),
        (["diagram", "--cell", "lstm", "--out", "x.jpg"], "must be a .png file"),
        (["gradient-flow", "--steps", "0", "--out", "gf"], "steps must be an integer"),
    ],
)
def test_bad_options_exit_2_with_a_message(tmp_path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert message in res.output


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    """A model folder written with the NumPy engine (no training needed) and a CSV of prices."""
    root = tmp_path_factory.mktemp("gates")
    net = RecurrentNet("lstm", input_size=1, hidden_size=6, num_layers=2, seed=0, dtype=np.float32)
    scaler = {"kind": "standard", "shift": [0.0], "scale": [0.01]}
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": "recurrent",
        "cell": "lstm",
        "input_size": 1,
        "hidden": 6,
        "layers": 2,
        "window": 10,
        "horizon": 1,
        "mode": "window",
        "features": ["return"],
        "target": {"kind": "return", "log": True, "horizon": 1},
        "column": "close",
        "scalers": {"features": scaler, "target": scaler},
        "dtype": "float32",
    }
    save_model_folder(root / "model", net.params, manifest)
    prices = ar1_prices(80, seed=0)[["close"]]
    prices.to_csv(root / "prices.csv")
    return root / "model", root / "prices.csv", prices


def test_gates_command(tmp_path, model_and_data) -> None:
    model, csv, prices = model_and_data
    date = f"{prices.index[50]:%Y-%m-%d}"
    res = runner.invoke(
        app,
        [
            "gates",
            "--model",
            str(model),
            "--data",
            str(csv),
            "--date",
            date,
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert f"forecast for {date}" in res.output
    for name in (
        "gates_layer1.png",
        "gates_layer2.png",
        "cell_state_layer1.png",
        "cell_state_layer2.png",
    ):
        assert (tmp_path / "g" / name).read_bytes()[:8] == PNG


def test_gates_command_errors(tmp_path, model_and_data) -> None:
    model, csv, _ = model_and_data
    res = runner.invoke(
        app,
        [
            "gates",
            "--model",
            str(model),
            "--data",
            str(csv),
            "--date",
            "1990-01-01",
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert res.exit_code == 2 and "forecasts run from" in res.output
    res = runner.invoke(
        app,
        [
            "gates",
            "--model",
            str(tmp_path / "missing"),
            "--data",
            str(csv),
            "--out",
            str(tmp_path / "g"),
        ],
    )
    assert res.exit_code == 2 and "does not exist" in res.output
