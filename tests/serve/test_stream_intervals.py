"""Intervals in a stream and a StreamSet: Bands restarted from the calibration a model folder
records give predict's bounds, ride in the saved state, and are refused where they do not apply."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gatecast.data.synthetic import garch11
from gatecast.errors import ConfigError, ModelFileError
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob, run_training
from gatecast.inference.spec import read_model_folder
from gatecast.models.recurrent import open_stream
from gatecast.serve import StreamSet, load_numpy
from gatecast.serve.intervals import Bands

FAST = dict(cell="gru", hidden=4, layers=1, window=5, epochs=1, batch_size=0, patience=0)
FAST |= dict(device="cpu", quiet=True, seed=0)
LEVELS = dict(interval=0.9, quantiles=(0.05, 0.5, 0.95))


@pytest.fixture(scope="module")
def path() -> pd.DataFrame:
    return garch11(700, seed=3)[["close"]]


@pytest.fixture(scope="module")
def models(path: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A return and a variance model on the first 600 rows (the last 150 calibrate)."""
    tmp = tmp_path_factory.mktemp("bands")
    path.iloc[:600].rename_axis("date").to_csv(tmp / "train.csv")
    out = {}
    for target in ("return", "variance"):
        job = TrainJob(data=str(tmp / "train.csv"), target=target, test_size=150, **FAST)
        run_training(job, tmp / target, plots=False)
        out[target] = tmp / target
    path.rename_axis("date").to_csv(tmp / "all.csv")
    out["data"] = tmp / "all.csv"
    return out


def _walk(live, rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for day, row in rows.iterrows():
        f = live.update(float(row["close"]), at=day)
        out.append({"as_of": day, "forecast": f, **live.band})
    return pd.DataFrame(out).set_index("as_of")


@pytest.mark.parametrize("target", ["return", "variance"])
def test_bands_fed_predicts_forecasts_give_predicts_bounds(models, path, target):
    """The same recursion as predict's: Bands fed predict's own forecasts row by row give its
    bounds to 1e-12 (only the GARCH scale's log is computed per row instead of per array)."""
    pred = run_prediction(models[target], str(models["data"]), **LEVELS).frame.set_index("as_of")
    spec, _ = read_model_folder(models[target])
    bands = Bands.of_spec(spec, "m", **LEVELS)
    got = []
    for day, close in path["close"].items():
        f = float(pred["forecast"].get(day, math.nan))
        got.append(bands.update(float(close), f, day))
    got = pd.DataFrame(got, index=path.index).loc[pred.index]
    assert got["lower"].notna().sum() == 101  # 100 rows after the calibration and tomorrow
    for col in ("lower", "upper", "q0.05", "q0.5", "q0.95", "price_lower", "price_upper"):
        assert (got[col].isna() == pred[col].isna()).all(), col
        scale = 1e-12 if not col.startswith("price") else 1e-12 * path["close"].max()
        np.testing.assert_allclose(got[col], pred[col], rtol=0, atol=scale, err_msg=col)


@pytest.mark.parametrize("target", ["return", "variance"])
def test_a_stream_over_predicts_rows_gives_its_bounds(models, path, target):
    """End to end, the stream's own forecasts (NumPy engine) differ from predict's batch ones by
    about 1e-9, and so do the bounds; every bound is issued on the same rows."""
    pred = run_prediction(models[target], str(models["data"]), **LEVELS).frame.set_index("as_of")
    live = open_stream(models[target], **LEVELS)
    live.max_ahead = None
    got = _walk(live, path).loc[pred.index]
    for col in ("lower", "upper", "q0.05", "q0.95"):
        assert (got[col].isna() == pred[col].isna()).all(), col
        np.testing.assert_allclose(got[col], pred[col], rtol=0, atol=1e-8, err_msg=col)
    np.testing.assert_allclose(got["price_upper"], pred["price_upper"], rtol=1e-8)


def test_a_resumed_stream_gives_the_bounds_of_an_uninterrupted_one(models, path, tmp_path):
    whole = open_stream(models["return"], **LEVELS)
    whole.max_ahead = None
    want = _walk(whole, path)
    first = open_stream(models["return"], **LEVELS)
    first.max_ahead = None
    head = _walk(first, path.iloc[:650])
    first.save_state(tmp_path / "s.json")
    second = open_stream(models["return"], **LEVELS)
    second.max_ahead = None
    second.load_state(tmp_path / "s.json")
    tail = _walk(second, path.iloc[650:])
    got = pd.concat([head, tail])
    assert want["lower"].notna().sum() == 101  # as of the calibration's last day on
    pd.testing.assert_frame_equal(got, want)  # the same code path on the same numbers


def test_a_state_must_match_the_streams_intervals(models, tmp_path):
    plain = open_stream(models["return"])
    plain.update(100.0)
    plain.save_state(tmp_path / "plain.json")
    with pytest.raises(ModelFileError, match="saved without intervals and this stream has them"):
        open_stream(models["return"], interval=0.9).load_state(tmp_path / "plain.json")
    banded = open_stream(models["return"], interval=0.9)
    banded.update(100.0)
    banded.save_state(tmp_path / "b.json")
    with pytest.raises(ModelFileError, match="saved with intervals and this stream has none"):
        open_stream(models["return"]).load_state(tmp_path / "b.json")
    with pytest.raises(
        ModelFileError,
        match=r"intervals \{'interval': 0\.9, 'quantiles': \[\]\}, this stream has \{'interval': 0\.8",
    ):
        open_stream(models["return"], interval=0.8).load_state(tmp_path / "b.json")


def test_a_streamset_carries_each_instruments_bands_in_both_tick_paths(models, path, tmp_path):
    """Each instrument's bands are a single stream's; the vectorised tick (16 or more
    instruments) keeps its batched network step and gives the general path's bands."""
    keys = [f"I{i}" for i in range(16)]
    shift = {k: 1.0 + 0.01 * i for i, k in enumerate(keys)}
    model = load_numpy(models["return"])
    few = StreamSet(model.stream, **LEVELS)
    few.vector_min = 10**9  # the general path only
    many = StreamSet(model.stream, **LEVELS)
    single = open_stream(models["return"], **LEVELS)
    single.max_ahead = None
    few.max_ahead = many.max_ahead = None
    for n, (day, close) in enumerate(path["close"].items()):
        ticks = {k: float(close) * shift[k] for k in keys}
        a, b = few.update_many(ticks, at=day), many.update_many(ticks, at=day)
        f = single.update(float(close) * shift["I0"], at=day)
        if n == 640:
            many.save_state(tmp_path / "set.safetensors")
            many = StreamSet(model.stream, **LEVELS)
            many.max_ahead = None
            many.load_state(tmp_path / "set.safetensors")
    assert a["I0"] == pytest.approx(f, abs=1e-12) and b["I3"] == pytest.approx(a["I3"], abs=1e-12)
    for k in ("I0", "I7"):
        for col in ("lower", "upper", "q0.05", "price_upper"):
            assert few.bands[k][col] == pytest.approx(many.bands[k][col], rel=1e-12), (k, col)
    assert few.bands["I0"]["lower"] == pytest.approx(single.band["lower"], abs=1e-12)
    assert math.isfinite(few.bands["I7"]["lower"])


def test_bands_are_refused_where_they_do_not_apply(models, path, tmp_path):
    with pytest.raises(ConfigError, match=r"--interval 1\.2: an interval level is in"):
        open_stream(models["return"], interval=1.2)
    data = tmp_path / "d.csv"
    path.iloc[:400].rename_axis("date").to_csv(data)
    run_training(
        TrainJob(data=str(data), target="direction", test_size=60, **FAST),
        tmp_path / "d",
        plots=False,
    )
    with pytest.raises(ConfigError, match="forecasts direction 1 bar"):
        open_stream(tmp_path / "d", quantiles=(0.05,))
    with pytest.raises(ConfigError, match="forecasts direction 1 bar"):
        StreamSet(load_numpy(tmp_path / "d").stream, interval=0.9).add("X")


def test_the_stream_command_writes_the_band_columns_and_keeps_them_in_its_state(
    models, path, tmp_path
):
    from typer.testing import CliRunner

    from gatecast.cli.app import app

    rows = tmp_path / "rows.csv"
    path.rename_axis("date").to_csv(rows)
    args = ["stream", "--model", str(models["return"]), "--input", str(rows)]
    args += ["--interval", "0.9", "--max-ahead", "100000D"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln[:1].isdigit() or ln.startswith("date")]
    assert lines[0] == "date,forecast,as_of,forecast_for,lower,upper,price_lower,price_upper"
    out = pd.read_csv(pd.io.common.StringIO("\n".join(lines)), index_col="date")
    live = open_stream(models["return"], interval=0.9)
    live.max_ahead = None
    want = _walk(live, path)
    np.testing.assert_allclose(out["lower"].to_numpy(), want["lower"].to_numpy(), rtol=1e-12)
    res = CliRunner().invoke(
        app, [*args[:-4], "--quantiles", "0.05", "--state", str(tmp_path / "s.json")]
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(
        app, [*args[:-4], "--interval", "0.9", "--state", str(tmp_path / "s.json")]
    )
    assert res.exit_code == 2 and "saved with intervals" in res.output
