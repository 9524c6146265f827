"""Serving a panel: `gatecast train --panel` -> `predict` -> `stream` with one global model folder,
and gc.train / gc.predict on a panel. A synthetic 3-instrument panel, a tiny net, 1 epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.experiment.panel_serving import PanelTrainRun, run_panel_prediction
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
NAMES = ("AAA", "BBB", "CCC")


def _long(n: int = 400, seed: int = 0, names: tuple[str, ...] = NAMES) -> pd.DataFrame:
    """Instruments on their own calendars (BBB misses five days), log-normal closes."""
    days = pd.bdate_range("2015-01-01", periods=n)
    rng = np.random.default_rng(seed)
    parts = []
    for k, name in enumerate(names):
        own = days.delete(np.arange(100, 105)) if name == "BBB" else days
        r = (0.7 + 0.6 * k) * 0.01 * rng.standard_normal(len(own))
        close = 100 * np.exp(r.cumsum())
        parts.append(pd.DataFrame({"date": own, "ticker": name, "close": close}))
    return pd.concat(parts, ignore_index=True)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def _rows(frame: pd.DataFrame) -> list[str]:
    """The long table as stream rows, in date order (instruments interleaved)."""
    rows = frame.sort_values(["date", "ticker"], kind="stable")
    return [f"{d:%Y-%m-%d},{t},{c!r}" for d, t, c in rows[["date", "ticker", "close"]].values]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """(model folder, the long CSV it was trained on, that table), trained by the CLI."""
    tmp = tmp_path_factory.mktemp("panel-serve")
    frame = _long()
    csv, out = _csv(frame, tmp / "long.csv"), tmp / "model"
    res = runner.invoke(
        app,
        ["train", "--data", str(csv), "--panel", "--target", "variance", "--out", str(out), *TINY],
    )
    assert res.exit_code == 0, res.output
    return out, csv, frame


def _predict(model: Path, csv: Path, out: Path, *extra: str) -> pd.DataFrame:
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out)]
    res = runner.invoke(app, [*args, *extra])
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, parse_dates=["as_of", "date"]).set_index("instrument")


def _stream(model: Path, rows: list[str], *extra: str) -> tuple[pd.DataFrame, str]:
    text = "date,ticker,close\n" + "\n".join(rows) + "\n"
    res = runner.invoke(app, ["stream", "--model", str(model), *extra], input=text)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith(("error", "note"))]
    out = pd.DataFrame([ln.split(",") for ln in lines[1:]], columns=lines[0].split(",")).replace(
        "", np.nan
    )
    out["forecast"] = out["forecast"].astype(float)
    return out, res.stderr


def test_train_writes_one_global_folder_and_predict_gives_one_row_per_instrument(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, csv, frame = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["kind"] == "global_variance"
    assert manifest["panel"]["instruments"] == list(NAMES)
    assert json.loads((model / "run.json").read_text())["kind"] == "train"
    metrics = json.loads((model / "metrics.json").read_text())
    # each instrument split on its own rows: the last 20% of them are its test part
    for name in NAMES:
        own = frame.loc[frame.ticker == name, "date"].reset_index(drop=True)
        assert metrics["test_starts"][name] == str(own[len(own) - round(0.2 * len(own))])
    fc = pd.read_csv(model / "forecasts.csv", parse_dates=["date"])
    assert list(fc.columns) == [
        "instrument", "date", "actual", "forecast", "no_change", "historical_mean"
    ]  # fmt: skip
    for name in NAMES:  # each instrument's test rows only, from its own test start
        own = fc[fc.instrument == name]
        assert own["date"].min() == pd.Timestamp(metrics["test_starts"][name])
        assert len(own) == metrics["per_instrument"][name]["lstm"]["n"]
    pred = _predict(model, csv, tmp_path / "p.csv")
    assert list(pred.columns) == ["as_of", "date", "forecast", "in_fit"]
    assert list(pred.index) == list(NAMES) and pred["in_fit"].all()
    for name in NAMES:
        last = frame.loc[frame.ticker == name, "date"].max()
        assert pred.loc[name, "as_of"] == last  # the last observation used
        assert pred.loc[name, "date"] == last + pd.offsets.BDay(1)  # the next bar
    assert (pred["forecast"] > 0).all()


def test_each_forecast_is_the_models_own_for_that_date(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    """Oracle: the model's predict on the data with a row appended at the forecast's date (the
    forecast for t reads rows before t only, so that row's price does not matter)."""
    model, csv, _frame = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    fitted = GlobalRecurrentVariance.load(model)
    panel = gc.load_panel(csv)
    for name in NAMES:
        df = panel[name]
        extra = pd.DataFrame(
            {"close": [df["close"].iloc[-1] * 1.3]}, index=[pred.loc[name, "date"]]
        )
        longer = pd.concat([df, extra.rename_axis(df.index.name)])
        want = fitted.predict({name: longer}, start=pred.loc[name, "date"])
        assert want["forecast"].item() == pytest.approx(pred.loc[name, "forecast"], rel=1e-7)


def test_stream_rows_give_predicts_forecasts_and_resume_from_a_state_file(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, csv, frame = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    rows = _rows(frame)
    whole, _ = _stream(model, rows)
    assert len(whole) == len(rows)
    last = whole.groupby("instrument").tail(1).set_index("instrument")
    for name in NAMES:  # the NumPy engine (float32) against predict's torch: 1e-5 relative
        assert last.loc[name, "forecast"] == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)
        assert last.loc[name, "as_of"] == f"{pred.loc[name, 'as_of']:%Y-%m-%d}"
    # a stream stopped and resumed from its state file answers as the one that ran through
    state = tmp_path / "panel.state"
    half = len(rows) // 2
    first, _ = _stream(model, rows[:half], "--state", str(state))
    second, _ = _stream(model, rows[half:], "--state", str(state))
    both = pd.concat([first, second], ignore_index=True)
    np.testing.assert_array_equal(both["forecast"].to_numpy(), whole["forecast"].to_numpy())


def test_a_future_dated_row_is_refused_by_line_and_instrument_and_changes_nothing(
    trained: tuple[Path, Path, pd.DataFrame],
) -> None:
    model, _, frame = trained
    rows = _rows(frame)
    at = 300
    bad = f"2099-01-02,{rows[at].split(',')[1]},123.0"
    clean, _ = _stream(model, rows)
    hit, err = _stream(model, [*rows[:at], bad, *rows[at:]])
    name = rows[at].split(",")[1]
    assert f"error: line {at + 2} ({name}, 2099-01-02)" in err
    assert "dated more than 2 days after now" in err
    np.testing.assert_array_equal(hit["forecast"].to_numpy(), clean["forecast"].to_numpy())


def test_a_new_instrument_goes_through_for_instrument_and_a_short_one_is_refused(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, _, frame = trained
    new = _long(60, seed=7, names=("DDD",))
    csv = _csv(pd.concat([frame, new], ignore_index=True), tmp_path / "more.csv")
    pred = _predict(model, csv, tmp_path / "p.csv")
    assert not pred.loc["DDD", "in_fit"] and pred.loc[list(NAMES), "in_fit"].all()
    # its scaler and level from its own rows: the model's predict on them, a row appended
    fitted = GlobalRecurrentVariance.load(model)
    df = gc.load_panel(csv)["DDD"]
    extra = pd.DataFrame({"close": [1.0]}, index=[pred.loc["DDD", "date"]]).rename_axis("date")
    want = fitted.predict({"DDD": pd.concat([df, extra])}, start=pred.loc["DDD", "date"])
    assert want["forecast"].item() == pytest.approx(pred.loc["DDD", "forecast"], rel=1e-7)
    # fewer rows than min_history (27 with close-only inputs, window 5): refused by name
    assert fitted.min_history() == 27
    short = _csv(pd.concat([frame, new.iloc[:26]], ignore_index=True), tmp_path / "short.csv")
    args = ["predict", "--model", str(model), "--data", str(short)]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 2
    assert "instrument 'DDD' has 26 rows" in res.output and "at least 27" in res.output
    assert not (tmp_path / "s.csv").exists()
    with pytest.raises(TooFewRowsError, match="instrument 'DDD' has 26 rows"):
        run_panel_prediction(model, short)


def test_options_that_do_not_apply_are_refused_by_name_before_any_fit(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, csv, _ = trained
    out = tmp_path / "never"
    train = ["train", "--data", str(csv), "--panel", "--out", str(out), *TINY]
    cases = [
        ([*train, "--target", "price"], "--target price does not apply to a panel"),
        ([*train, "--target", "variance", "--residual", "gjr_t"], "--residual does not apply"),
        ([*train, "--target", "variance", "--calendar", "data"], "--calendar data does not apply"),
        ([*train, "--target", "variance", "--chunks", "8"], "--chunks set(s) the lanes of"),
        (
            ["predict", "--model", str(model), "--data", str(csv), "--out", str(out), "--interval",
             "0.9", "--plot", "fan.png"],
            "--plot does not apply to a panel",
        ),
        (["stream", "--model", str(model), "--interval", "0.9"], "--interval does not apply"),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="start does not apply to a global model"):
        gc.predict(model, csv, start="2016-01-04", steps=3)
    for args, message in cases:
        res = runner.invoke(app, args, input="")
        assert res.exit_code == 2, (args, res.output)
        assert message in " ".join(res.output.split()), (args, res.output)
        assert not out.exists()


def test_no_instrument_leaks_into_another(tmp_path: Path) -> None:
    """After training, B's rows do not reach A's forecast; in training, B's test rows (after
    its own split) reach nothing: the model fit on the perturbed panel is the same."""
    frame = _long()
    run = gc.train(frame, panel=True, target="variance", hidden=4, epochs=1, device="cpu",
                   quiet=True, out=tmp_path / "m")  # fmt: skip
    assert isinstance(run, PanelTrainRun)
    first = gc.predict(tmp_path / "m", frame)
    assert isinstance(first, pd.DataFrame)
    b = frame.ticker == "BBB"
    changed = frame.copy()
    changed.loc[b, "close"] = changed.loc[b, "close"] * np.exp(
        np.random.default_rng(1).normal(0, 0.05, b.sum())
    )
    second = gc.predict(tmp_path / "m", changed)
    a_or_c = first.instrument != "BBB"
    np.testing.assert_array_equal(first.loc[a_or_c, "forecast"], second.loc[a_or_c, "forecast"])
    assert first.loc[~a_or_c, "forecast"].item() != second.loc[~a_or_c, "forecast"].item()
    # training: perturb BBB's test rows only (its last 20%); the fit must not see them
    own = frame.index[b]
    test_rows = own[len(own) - round(0.2 * len(own)) :]
    later = frame.copy()
    later.loc[test_rows, "close"] = later.loc[test_rows, "close"] * 1.5
    again = gc.train(later, panel=True, target="variance", hidden=4, epochs=1, device="cpu",
                     quiet=True)  # fmt: skip
    for name in NAMES:
        np.testing.assert_array_equal(
            run.model.levels_[name],
            again.model.levels_[name],  # type: ignore[union-attr]
        )
    np.testing.assert_array_equal(
        run.model.warm_state()["head.weight"],  # type: ignore[union-attr]
        again.model.warm_state()["head.weight"],  # type: ignore[union-attr]
    )


def test_jsonl_rows_answer_as_csv_rows_and_a_header_without_instrument_is_refused(
    trained: tuple[Path, Path, pd.DataFrame],
) -> None:
    model, _, frame = trained
    rows = _rows(frame)[:120]
    csv_out, _ = _stream(model, rows)
    docs = [json.dumps(dict(zip(("date", "symbol", "close"), r.split(","), strict=True)))
            for r in rows]  # fmt: skip
    res = runner.invoke(
        app, ["stream", "--model", str(model), "--format", "jsonl"], input="\n".join(docs) + "\n"
    )
    assert res.exit_code == 0, res.output
    got = [json.loads(line) for line in res.stdout.splitlines()]
    assert [g["instrument"] for g in got] == list(csv_out["instrument"])
    want = csv_out["forecast"].to_numpy()
    values = np.array([np.nan if g["forecast"] is None else g["forecast"] for g in got])
    np.testing.assert_array_equal(values, want)
    res = runner.invoke(app, ["stream", "--model", str(model)], input="date,close\n2015-01-01,1\n")
    assert res.exit_code == 2
    assert "names no instrument field" in " ".join(res.output.split())
