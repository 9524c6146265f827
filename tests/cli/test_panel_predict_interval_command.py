"""`gatecast predict --interval/--quantiles` with a global model folder: each instrument's bands
in the table printed and the CSV written, the same numbers as gc.predict; what still does not
apply (--plot, --engine numpy with bands) refused by name, exit 2, nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app

runner = CliRunner()


def _long_csv(path: Path) -> Path:
    days = pd.bdate_range("2015-01-01", periods=360)
    rng = np.random.default_rng(2)
    parts = []
    for k, name in enumerate(("AAA", "BBB")):
        own = days.delete(np.arange(50, 54)) if name == "BBB" else days
        close = 100 * np.exp(np.cumsum((1 + k) * 0.01 * rng.standard_normal(len(own))))
        parts.append(
            pd.DataFrame({"date": own.strftime("%Y-%m-%d"), "ticker": name, "close": close})
        )
    pd.concat(parts).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("ppi")
    csv, model = _long_csv(tmp / "long.csv"), tmp / "model"
    args = ["train", "--data", str(csv), "--panel", "--target", "variance", "--out", str(model)]
    args += ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet", "--test-size", "0.4"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return model, csv


def test_predict_interval_on_a_global_model_end_to_end(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, csv = trained
    out = tmp_path / "f.csv"
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out)]
    res = runner.invoke(app, [*args, "--interval", "0.9", "--quantiles", "0.05,0.95"])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "lower" in text and "q0.95" in text and "intervals per instrument" in text
    got = pd.read_csv(out).set_index("instrument")
    want = gc.predict(model, gc.load_panel(str(csv)), interval=0.9, quantiles=(0.05, 0.95))
    assert isinstance(want, pd.DataFrame)
    want = want.set_index("instrument")
    cols = ["forecast", "lower", "upper", "price_lower", "price_upper", "q0.05", "q0.95"]
    np.testing.assert_allclose(got[cols].to_numpy(float), want[cols].to_numpy(float), rtol=1e-8)
    assert (got["lower"] < 0).all() and (got["upper"] == -got["lower"]).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--interval", "0.9", "--plot", "fan.png"], "--plot does not apply to a panel"),
        (["--interval", "0.9", "--engine", "numpy"], "--interval with --engine numpy"),
        (["--interval", "0.9", "--dist", "t"], "--dist gives a variance model's quantiles"),
    ],
)
def test_what_does_not_apply_is_refused_by_name(
    trained: tuple[Path, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    model, csv = trained
    out = tmp_path / "f.csv"
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())
    assert not out.exists()
