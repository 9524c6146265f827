"""`gatecast.serve.load_numpy` serves a torch-trained model with NumPy alone, with the same forecasts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from gatecast.data import ar1_prices
from gatecast.errors import ConfigError, ModelFileError
from gatecast.serve import load_numpy as load

SMALL = dict(hidden=6, layers=2, window=8, epochs=2, batch_size=64, quiet=True, device="cpu")

# Runs in a fresh interpreter where `import torch` fails, so any torch use would crash it.
NO_TORCH = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # `import torch` now raises ImportError
    import json
    import pandas as pd
    import gatecast.serve
    folder, csv, out = sys.argv[1:]
    df = pd.read_csv(csv, index_col=0, parse_dates=True)
    df.index.name = "date"
    fc = gatecast.serve.load_numpy(folder).predict(df, start=df.index[150])
    json.dump({"dates": [str(d) for d in fc.index], "values": fc.tolist(),
               "torch": "torch" in sys.modules and sys.modules["torch"] is not None}, open(out,
               "w"))
""")


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return ar1_prices(260, seed=0)


def _fit_and_save(prices, folder, **kw):
    from gatecast.models.recurrent import RecurrentForecaster

    model = RecurrentForecaster(seed=1, **SMALL, **kw).fit(prices.iloc[:150])
    model.save(folder)
    return model


@pytest.fixture(scope="module")
def lstm_folder(prices, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lstm") / "m"
    return _fit_and_save(prices, folder, cell="lstm"), folder


@pytest.mark.parametrize(
    "kw",
    [
        {"cell": "gru", "target": "direction"},
        {"cell": "rnn", "mode": "sequence", "chunk_len": 16, "chunks": 4, "burn_in": 2},
    ],
    ids=["gru-direction", "rnn-sequence"],
)
def test_numpy_only_forecasts_equal_torch(tmp_path, prices, kw) -> None:
    _check_parity(_fit_and_save(prices, tmp_path / "m", **kw), tmp_path / "m", prices, tmp_path)


def test_numpy_only_lstm_forecasts_equal_torch(tmp_path, prices, lstm_folder) -> None:
    _check_parity(lstm_folder[0], lstm_folder[1], prices, tmp_path)


def _check_parity(model, folder, prices, tmp_path) -> None:
    expected = model.predict(prices, start=prices.index[150])
    csv = tmp_path / "prices.csv"
    prices.to_csv(csv)
    out = tmp_path / "fc.json"
    run = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(folder), str(csv), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(out.read_text())
    assert got["torch"] is False
    assert got["dates"] == [str(d) for d in expected.index]
    np.testing.assert_allclose(got["values"], expected.to_numpy(), rtol=1e-5, atol=1e-7)
    # in-process too, in float64: the same to float32 rounding
    in_process = load(folder, dtype=np.float64).predict(prices, start=prices.index[150])
    np.testing.assert_allclose(in_process, expected, rtol=1e-5, atol=1e-7)


def test_gates_behind_one_forecast(lstm_folder, prices) -> None:
    model, folder = lstm_folder
    numpy_model = load(folder)
    date = prices.index[200]
    g = numpy_model.gates(prices, date)
    assert g.target_date == date and len(g.dates) == 8 and g.dates[-1] < date
    assert g.record["f"].shape == (2, 1, 8, 6)
    np.testing.assert_allclose(
        g.forecast, model.predict(prices, start=date, end=date).iloc[0], rtol=1e-5, atol=1e-7
    )
    with pytest.raises(ConfigError, match="forecasts run from"):
        numpy_model.gates(prices, "1900-01-01")


def test_load_refuses_a_broken_folder(tmp_path, lstm_folder) -> None:
    shutil.copytree(lstm_folder[1], tmp_path / "m")
    manifest = tmp_path / "m" / "manifest.json"
    m = json.loads(manifest.read_text())
    m["hidden"] = 7
    m.pop("weights_sha256", None)
    manifest.write_text(json.dumps(m))
    with pytest.raises(ModelFileError, match="does not match its manifest"):
        load(tmp_path / "m")
    with pytest.raises(ModelFileError, match="does not exist"):
        load(tmp_path / "nowhere")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_loaded_models_stream_takes_its_backend(lstm_folder, prices, backend) -> None:
    """``stream(backend=...)`` picks the tick's engine; both give the forecasts of the
    environment's default (NumPy) to rounding."""
    model = load(lstm_folder[1])
    chosen, default = model.stream(backend), model.stream()
    assert chosen.engine.stepper.backend == backend  # type: ignore[attr-defined]
    closes = prices["close"].iloc[150:190].tolist()
    a = [chosen.update(p) for p in closes]
    b = [default.update(p) for p in closes]
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    assert np.isfinite(a[-5:]).all()
