"""A new instrument served by a global model folder from its short history: the NumPy loader's
``for_instrument(name, history)``, ``predict`` and ``stream_set(history=...)`` fit its scaler
and level (or target scaler) on its rows as the torch model does, and `gatecast stream
--history FILE` warms its stream with them; the same refusals (too short, embedding, an
instrument of the fit) with both engines and on the command line (exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.errors import PanelError, TooFewRowsError
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.serve import StreamSet, load_global_numpy

#: float32 NumPy against float32 torch: the same weights, kernels that round differently.
RTOL = 1e-5
runner = CliRunner()


def _prices(seed: int, n: int, start: str, vol: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(n) * 0.01 * vol
    idx = pd.bdate_range(start, periods=n, name="date")
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(r))}, index=idx)


PANEL = {"A": _prices(0, 260, "2010-01-01", 1.0), "B": _prices(1, 240, "2010-02-15", 3.0)}
#: The new instrument: 40 rows of history, then 30 to forecast.
NEW = _prices(7, 70, "2011-03-01", 2.0)
START = NEW.index[40]

MODELS: dict[str, Any] = {
    "variance": lambda emb: GlobalRecurrentVariance(
        hidden=4, epochs=1, device="cpu", seed=0, embedding=emb
    ),
    "return": lambda emb: GlobalRecurrentReturn(
        hidden=4, window=5, epochs=1, device="cpu", seed=0, embedding=emb, quiet=True
    ),
}


@pytest.fixture(scope="module", params=["variance", "return"])
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    model = MODELS[request.param](False).fit(PANEL)
    folder = tmp_path_factory.mktemp("global") / "m"
    model.save(folder)
    return GlobalRecurrentVariance.load(folder) if request.param == "variance" else (
        GlobalRecurrentReturn.load(folder)
    ), folder


def _streamed(ss: StreamSet, rows: pd.DataFrame, name: str = "D") -> pd.Series:
    """``rows`` ticked in order; each forecast dated the next row, as predict dates it."""
    out = {day: ss.update(name, {"close": c}, at=day) for day, c in rows["close"].items()}
    return pd.Series(out).shift(1)


def test_the_numpy_set_equals_the_torch_set_and_predict(saved) -> None:  # type: ignore[no-untyped-def]
    model, folder = saved
    history = NEW.loc[NEW.index < START]
    want = model.predict({"D": NEW}, start=START).set_index("date").forecast
    assert len(want) == 30 and want.notna().all()
    numpy_model = load_global_numpy(folder, np.float32)
    sets = {
        "numpy loader": numpy_model.stream_set(history={"D": history}),
        "torch": model.stream_set("torch", history={"D": history}),
        "numpy view": model.stream_set("numpy", history={"D": history}),
    }
    for what, ss in sets.items():
        got = _streamed(ss, NEW).reindex(want.index)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=0, err_msg=what)
    # the loader's predict fits D on its rows before start, as the torch model's does
    got = numpy_model.predict({"D": NEW}, start=START).set_index("date").forecast
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)
    # D's own part, not another instrument's: its scaler is fit on its 40 rows
    d = numpy_model.for_instrument("D", history).spec.feature_scaler
    assert d.to_dict() != numpy_model.for_instrument("A").spec.feature_scaler.to_dict()


def test_the_level_is_the_mean_squared_percent_return_of_the_history(tmp_path: Path) -> None:
    model = MODELS["variance"](False).fit(PANEL)
    model.save(tmp_path / "m")
    history = NEW.iloc[:40]
    parts = load_global_numpy(tmp_path / "m").with_history({"D": history}).parts
    r = 100 * np.diff(np.log(history["close"].to_numpy()))  # closed form: mean of r^2
    assert parts.levels["D"] == pytest.approx(np.mean(r**2), rel=1e-12)
    # the feature scaler is the standard scaler of D's finite feature rows (shift = mean)
    view = model.for_instrument("D", history)
    np.testing.assert_allclose(
        parts.scalers["D"].shift_, view._fitted().feature_scaler.shift_, rtol=1e-12
    )


def test_the_minimum_history_exactly_gives_the_first_forecast(saved) -> None:  # type: ignore[no-untyped-def]
    model, folder = saved
    numpy_model = load_global_numpy(folder, np.float32)
    need = numpy_model.min_history() + (0 if model.folder_kind == "global_variance" else 2)
    # the variance model's log_rv22 needs 22 rows first, the return model's return 1; window 5
    want_min = 27 if model.folder_kind == "global_variance" else 6
    assert numpy_model.min_history() == model.min_history() == want_min
    start = NEW.index[need]
    want = model.predict({"D": NEW}, start=start).set_index("date").forecast
    got = _streamed(numpy_model.stream_set(history={"D": NEW.iloc[:need]}), NEW)
    assert np.isfinite(got.loc[start])  # a forecast right after the history's last row
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=RTOL, atol=0)
    short = NEW.iloc[: need - 1]
    for make in (
        lambda: numpy_model.stream_set(history={"E": short}),
        lambda: model.stream_set("torch", history={"E": short}),
    ):
        with pytest.raises(TooFewRowsError, match=rf"'E' has {need - 1} rows .* at least {need}"):
            make()


@pytest.mark.parametrize("family", ["variance", "return"])
def test_an_embedding_model_and_an_instrument_of_the_fit_are_refused_by_name(
    family: str, tmp_path: Path
) -> None:
    MODELS[family](True).fit(PANEL).save(tmp_path / "emb")
    numpy_model = load_global_numpy(tmp_path / "emb")
    with pytest.raises(PanelError, match=r"'D' was not in the fit \(A, B\) .*embedding=True"):
        numpy_model.stream_set(history={"D": NEW})
    with pytest.raises(PanelError, match=r"'D' was not in the fit \(A, B\) .*embedding=True"):
        numpy_model.for_instrument("D", NEW)
    with pytest.raises(PanelError, match="'A' was in the fit"):
        numpy_model.stream_set(history={"A": PANEL["A"]})
    ss = load_global_numpy(tmp_path / "emb").stream_set()
    with pytest.raises(PanelError, match=r"'D' was not in the fit .* history"):
        ss.update("D", {"close": 1.0}, at="2012-01-02")


def test_torch_is_never_imported(saved) -> None:  # type: ignore[no-untyped-def]
    model, folder = saved
    want = model.predict({"D": NEW}, start=START).forecast
    path = Path(folder).parent / "new.csv"
    NEW.assign(ticker="D").reset_index().to_csv(path, index=False)
    script = (
        "import json, sys\n"
        "import gatecast as gc\n"
        "from gatecast.serve import load_global_numpy\n"
        f"new = gc.load_panel({str(path)!r})['D']\n"
        f"m = load_global_numpy({str(folder)!r})\n"
        f"fc = m.predict({{'D': new}}, start={str(START.date())!r})\n"
        f"ss = m.stream_set(history={{'D': new.loc[:'{(START - pd.Timedelta('1D')).date()}']}})\n"
        "print(json.dumps({'fc': fc.forecast.tolist(), 'torch': 'torch' in sys.modules}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["torch"] is False
    np.testing.assert_allclose(res["fc"], want, rtol=1e-6, atol=0)


# -- gatecast stream --history ---------------------------------------------------------------
def _long(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    out = frame.reset_index().assign(ticker=name)[["date", "ticker", "close"]]
    return out.assign(date=out["date"].dt.strftime("%Y-%m-%d"))


def _stream(folder: Path, args: list[str], rows: pd.DataFrame) -> Any:
    text = rows.to_csv(index=False)
    return runner.invoke(
        app, ["stream", "--model", str(folder), "--max-ahead", "99999D", *args], input=text
    )


def _forecasts(stdout: str) -> pd.Series:
    lines = [ln.split(",") for ln in stdout.splitlines() if ln and ln[0] in "iABDE"]
    out = pd.DataFrame(lines[1:], columns=lines[0])
    out["forecast"] = out["forecast"].astype(float)
    return out.set_index("date").forecast


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_stream_history_serves_a_new_instrument(saved, engine: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, folder = saved
    past = tmp_path / "past.csv"
    _long(NEW.loc[NEW.index < START], "D").to_csv(past, index=False)
    rows = _long(NEW.loc[START:], "D")
    res = _stream(folder, ["--history", str(past), "--engine", engine], rows)
    assert res.exit_code == 0, res.output
    assert "'D' is not in the fit" in res.output and "its 40 rows" in res.output
    got = _forecasts(res.stdout)
    assert len(got) == 30  # one line per streamed row, the first one already forecast
    # the forecast made at a row is predict's for the next row
    want = model.predict({"D": NEW}, start=START).set_index("date").forecast
    np.testing.assert_allclose(got.to_numpy()[:-1], want.to_numpy()[1:], rtol=RTOL, atol=0)


def test_stream_history_resumes_from_a_state(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, folder = saved
    past = tmp_path / "past.csv"
    _long(NEW.loc[NEW.index < START], "D").to_csv(past, index=False)
    rows = _long(NEW.loc[START:], "D")
    whole = _forecasts(_stream(folder, ["--history", str(past)], rows).stdout)
    state = tmp_path / "s.json"
    args = ["--history", str(past), "--state", str(state)]
    first = _stream(folder, args, rows.iloc[:10])
    second = _stream(folder, args, rows.iloc[10:])  # D is in the state: not warmed again
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    assert "not in the fit" not in second.output
    resumed = pd.concat([_forecasts(first.stdout), _forecasts(second.stdout)])
    pd.testing.assert_series_equal(resumed, whole)  # the same path, stopped and resumed


def test_stream_history_refusals_exit_2_naming_the_instrument(saved, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model, folder = saved
    rows = _long(NEW.loc[START:], "D")
    short = tmp_path / "short.csv"
    few = model.min_history() - 1  # 26 rows for the variance model, 5 for the return model
    _long(NEW.iloc[:few], "E").to_csv(short, index=False)
    res = _stream(folder, ["--history", str(short)], rows)
    assert res.exit_code == 2
    assert f"'E' has {few} rows before its first forecast" in " ".join(res.output.split())
    fit = tmp_path / "fit.csv"
    _long(PANEL["A"], "A").to_csv(fit, index=False)
    res = _stream(folder, ["--history", str(fit)], rows)
    assert res.exit_code == 2 and "'A' was in the fit" in res.output
    # without a history the new instrument is refused row by row, naming it
    res = _stream(folder, [], rows.iloc[:1])
    assert res.exit_code == 0 and "'D' was not in the fit" in " ".join(res.output.split())


def test_stream_history_is_refused_for_a_one_series_model(tmp_path: Path) -> None:
    from gatecast.models.recurrent import RecurrentVariance

    RecurrentVariance(hidden=4, epochs=1, device="cpu").fit(PANEL["A"]).save(tmp_path / "one")
    past = tmp_path / "past.csv"
    _long(NEW, "D").to_csv(past, index=False)
    res = runner.invoke(
        app, ["stream", "--model", str(tmp_path / "one"), "--history", str(past)], input=""
    )
    assert res.exit_code == 2 and "--history applies to a global model" in res.output


def test_predict_engine_numpy_forecasts_a_new_instrument_as_torch(saved) -> None:  # type: ignore[no-untyped-def]
    from gatecast.experiment.panel_serving import run_panel_prediction

    _, folder = saved
    panel = {**PANEL, "D": NEW}
    got = run_panel_prediction(folder, panel, engine="numpy").set_index("instrument")
    want = run_panel_prediction(folder, panel, engine="torch").set_index("instrument")
    assert got.in_fit.to_dict() == {"A": True, "B": True, "D": False}
    # float64 NumPy against float32 torch on the same weights
    np.testing.assert_allclose(got.forecast, want.forecast, rtol=1e-6, atol=0)


def _ohlc(seed: int, n: int, start: str, vol: float) -> pd.DataFrame:
    df = _prices(seed, n, start, vol)
    rng = np.random.default_rng(seed + 100)
    up, down = np.exp(vol * 0.01 * np.abs(rng.standard_normal((2, n))))
    return df.assign(high=df["close"] * up, low=df["close"] / down)


def test_a_parkinson_trained_model_fits_a_new_instruments_level_as_torch(tmp_path: Path) -> None:
    # the level of the range proxy: its scale fit on the history's rows before its validation tail
    panel = {"A": _ohlc(0, 260, "2010-01-01", 1.0), "B": _ohlc(1, 240, "2010-02-15", 3.0)}
    model = GlobalRecurrentVariance(hidden=4, epochs=1, device="cpu", train_proxy="parkinson")
    model.fit(panel).save(tmp_path / "m")
    new = _ohlc(7, 70, "2011-03-01", 2.0)
    start = new.index[40]
    history = new.loc[new.index < start]
    numpy_model = load_global_numpy(tmp_path / "m", np.float32)
    assert numpy_model.with_history({"D": history}).parts.levels["D"] == pytest.approx(
        model._new_instrument("D", history)[1], rel=1e-12
    )
    want = model.predict({"D": new}, start=start).set_index("date").forecast
    got = _streamed_ohlc(numpy_model.stream_set(history={"D": history}), new)
    np.testing.assert_allclose(got.reindex(want.index), want, rtol=RTOL, atol=0)


def _streamed_ohlc(ss: StreamSet, rows: pd.DataFrame) -> pd.Series:
    out = {day: ss.update("D", row.to_dict(), at=day) for day, row in rows.iterrows()}
    return pd.Series(out).shift(1)
