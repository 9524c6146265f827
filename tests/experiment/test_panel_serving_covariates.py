"""Serving a global model that reads covariates: `gatecast train --panel --covariates sp500` ->
`predict` (joins the recorded groups with the evaluation's join) -> `stream` (each row carries
the covariate columns known at its close). A synthetic 2-instrument panel inside the bundled
S&P 500's coverage, a tiny net, 1 epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import DataError, UnknownColumnError
from gatecast.experiment.panel_covariates import join_panel_covariates
from gatecast.experiment.panel_serving import open_panel_stream
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
NAMES = ("AAA", "BBB")
COVS = ("sp500_return", "sp500_log_parkinson")


def _long(n: int = 160) -> pd.DataFrame:
    days = pd.bdate_range("2016-01-04", periods=n)
    rng = np.random.default_rng(3)
    parts = []
    for k, name in enumerate(NAMES):
        own = days.delete(np.arange(50, 53)) if name == "BBB" else days  # its own calendar
        close = 100 * np.exp(((0.8 + k) * 0.01 * rng.standard_normal(len(own))).cumsum())
        parts.append(pd.DataFrame({"date": own, "ticker": name, "close": close}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """(model folder, the long CSV, the panel with the covariates joined)."""
    tmp = tmp_path_factory.mktemp("panel-cov")
    frame = _long()
    csv, out = tmp / "long.csv", tmp / "model"
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    args = ["train", "--data", str(csv), "--panel", "--target", "variance", "--out", str(out)]
    res = runner.invoke(app, [*args, "--covariates", "sp500", *TINY])
    assert res.exit_code == 0, res.output
    joined = join_panel_covariates(gc.load_panel(csv), ["sp500"])
    return (
        out,
        csv,
        pd.concat(
            [df.assign(ticker=n).rename_axis("date").reset_index() for n, df in joined.items()]
        ),
    )


def _predict(model: Path, csv: Path, out: Path, *extra: str) -> pd.DataFrame:
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, parse_dates=["as_of", "date"]).set_index("instrument")


def _rows(joined: pd.DataFrame, covs: tuple[str, ...] = COVS) -> list[str]:
    rows = joined.sort_values(["date", "ticker"], kind="stable")
    return [
        ",".join(
            [f"{r.date:%Y-%m-%d}", r.ticker, repr(r.close), *(repr(getattr(r, c)) for c in covs)]
        )
        for r in rows.itertuples()
    ]


def _stream(model: Path, rows: list[str], header: str, *extra: str) -> tuple[pd.DataFrame, str]:
    text = header + "\n" + "\n".join(rows) + "\n"
    res = runner.invoke(app, ["stream", "--model", str(model), *extra], input=text)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith(("error", "note"))]
    out = pd.DataFrame([ln.split(",") for ln in lines[1:]], columns=lines[0].split(","))
    out["forecast"] = out["forecast"].replace("", np.nan).astype(float)
    return out, res.stderr


def test_train_records_the_groups_and_predict_joins_them(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, csv, joined = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["covariate_groups"] == ["sp500"]
    assert manifest["covariates"] == list(COVS)
    assert json.loads((model / "config.json").read_text())["covariates"] == ["sp500"]
    fitted = GlobalRecurrentVariance.load(model, device="cpu")
    assert fitted.covariate_groups_ == ("sp500",)
    pred = _predict(model, csv, tmp_path / "p.csv")
    numpy = _predict(model, csv, tmp_path / "n.csv", "--engine", "numpy")
    for name in NAMES:
        # oracle: the model's own predict on the joined rows plus one row at the forecast's
        # date (the forecast for t reads rows before t only, so that row's values do not matter)
        df = joined[joined.ticker == name].set_index("date").drop(columns="ticker")
        extra = df.iloc[[-1]].set_axis([pred.loc[name, "date"]]).rename_axis("date")
        want = fitted.predict({name: pd.concat([df, extra])}, start=pred.loc[name, "date"])
        assert pred.loc[name, "forecast"] == pytest.approx(want["forecast"].item(), rel=1e-7)
        assert numpy.loc[name, "forecast"] == pytest.approx(pred.loc[name, "forecast"], rel=1e-6)


def test_stream_rows_carrying_the_covariates_give_predicts_forecasts(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, csv, joined = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    header = "date,ticker,close," + ",".join(COVS)
    for engine in ("numpy", "torch"):
        out, err = _stream(model, _rows(joined), header, "--engine", engine)
        assert "error" not in err, err
        for name in NAMES:  # the forecast after an instrument's last row: predict's
            last = out[out.instrument == name].forecast.iloc[-1]
            assert last == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)
    # the columns may come in any order, and as JSON lines
    docs = [
        json.dumps({"ticker": r.ticker, "date": f"{r.date:%Y-%m-%d}", "sp500_log_parkinson":
                    r.sp500_log_parkinson, "close": r.close, "sp500_return": r.sp500_return})
        for r in joined.sort_values(["date", "ticker"], kind="stable").itertuples()
    ]  # fmt: skip
    res = runner.invoke(
        app, ["stream", "--model", str(model), "--format", "jsonl"], input="\n".join(docs) + "\n"
    )
    assert res.exit_code == 0, res.output
    docs_out = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    last = {d["instrument"]: d["forecast"] for d in docs_out}
    for name in NAMES:
        assert last[name] == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)


def test_the_stream_reads_the_covariate_it_is_given(
    trained: tuple[Path, Path, pd.DataFrame],
) -> None:
    """Oracle: a different covariate value in the last row changes that row's forecast only."""
    model, _csv, joined = trained
    df = joined[joined.ticker == "AAA"].set_index("date")
    outs = []
    for bump in (0.0, 2.0):
        streams = open_panel_stream(model)
        for k, (day, row) in enumerate(df.iterrows()):
            tick = {"close": row.close, **{c: row[c] for c in COVS}}
            if k == len(df) - 1:
                tick["sp500_return"] += bump
            f = streams.update("AAA", tick, at=day)
        outs.append(f)
    assert np.isfinite(outs).all() and outs[0] != outs[1]


def test_a_row_without_a_covariate_is_refused_naming_it_and_changes_nothing(
    trained: tuple[Path, Path, pd.DataFrame],
) -> None:
    model, _csv, joined = trained
    rows = _rows(joined)
    header = "date,ticker,close," + ",".join(COVS)
    clean, _ = _stream(model, rows, header)
    # a CSV whose rows lack sp500_log_parkinson: each row refused, naming column, line, date
    short = _rows(joined, COVS[:1])
    out, err = _stream(model, short[:3], "date,ticker,close,sp500_return")
    assert out.empty
    first = joined.sort_values(["date", "ticker"], kind="stable").iloc[0]
    assert (
        f"line 2 ({first.ticker}, {first.date:%Y-%m-%d}): instrument {first.ticker!r}: covariate "
        f"column 'sp500_log_parkinson' is missing from the row of {first.date:%Y-%m-%d}"
    ) in err
    # from Python: the set raises, naming the instrument, and no state changes
    streams = open_panel_stream(model)
    day = pd.Timestamp(first.date)
    with pytest.raises(
        UnknownColumnError, match=r"instrument 'AAA': covariate column 'sp500_return'"
    ):
        streams.update("AAA", {"close": 100.0, "sp500_log_parkinson": 0.1}, at=day)
    with pytest.raises(DataError, match=r"'sp500_return' is nan on 2016-01-04"):
        streams.update(
            "AAA", {"close": 100.0, "sp500_return": np.nan, "sp500_log_parkinson": 0.1}, at=day
        )
    with pytest.raises(UnknownColumnError, match=r"is a bare price, but the model reads"):
        streams.update("AAA", 100.0, at=day)
    assert streams["AAA"].ticks == 0
    # a refused JSON row between the others: the rows after it are answered as without it
    bad_at = len(rows) // 2
    bad = rows[bad_at].rsplit(",", 1)[0] + ","  # an empty sp500_log_parkinson
    hit, err = _stream(model, [*rows[:bad_at], bad, *rows[bad_at:]], header)
    assert "not a number" in err or "holds" in err
    np.testing.assert_array_equal(hit.forecast.to_numpy(), clean.forecast.to_numpy())


def test_extra_columns_are_ignored_by_a_model_without_covariates(tmp_path: Path) -> None:
    """Kept as before: a stream ignores columns its model does not read."""
    frame = _long(80)
    panel = {n: frame[frame.ticker == n].set_index("date")[["close"]] for n in NAMES}
    model = GlobalRecurrentVariance(hidden=4, epochs=1, device="cpu", quiet=True).fit(panel)
    plain, extra = model.stream_set(), model.stream_set()
    for day, row in panel["AAA"].iterrows():
        a = plain.update("AAA", {"close": row.close}, at=day)
        b = extra.update("AAA", {"close": row.close, "sp500_return": 9.0}, at=day)
        assert a == b or (np.isnan(a) and np.isnan(b))


def test_predict_past_the_covariates_coverage_and_wrong_options_are_refused(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    model, _csv, _joined = trained
    late = _long()
    late["date"] = late["date"] + pd.DateOffset(years=3)  # 2019: past the bundled S&P 500
    path = tmp_path / "late.csv"
    late.assign(date=late["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    args = ["predict", "--model", str(model), "--data", str(path), "--out", str(tmp_path / "o")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "covariate 'sp500' has no value within 7 days before" in res.output
    res = runner.invoke(
        app, ["train", "--data", str(path), "--panel", "--target", "return", "--covariates",
              "sp500", "--out", str(tmp_path / "r"), *TINY],
    )  # fmt: skip
    assert res.exit_code == 2  # a return model's training joins them as a variance model's
    assert "covariate 'sp500' has no value within 7 days before" in res.output
    res = runner.invoke(
        app, ["train", "--data", str(path), "--panel", "--target", "variance", "--covariates",
              "vxx", "--out", str(tmp_path / "r"), *TINY],
    )  # fmt: skip
    assert res.exit_code == 2 and "covariate 'vxx' is unknown" in res.output
    assert not (tmp_path / "r").exists()
