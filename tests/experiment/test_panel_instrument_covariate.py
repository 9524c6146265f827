"""Another instrument of a panel as a covariate of every instrument (``instrument:NAME``): its
return and log Parkinson range, joined on each instrument's dates by the as-of rule, refused
when the panel lacks it or its High/Low, and read by no forecast before its date."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.data.covariates import join_covariates
from gatecast.data.features import PERCENT_LOG, parkinson
from gatecast.errors import ConfigError, DataError
from gatecast.experiment.panel_covariates import join_panel_covariates

DAYS = pd.bdate_range("2010-01-01", periods=400, name="date")


def _frames(shift_after: pd.Timestamp | None = None) -> dict[str, pd.DataFrame]:
    """Three OHLC instruments, B missing five days; with ``shift_after``, A's prices after it
    are moved (a different path from then on)."""
    rng = np.random.default_rng(0)
    frames = {}
    for name, vol in (("A", 1.0), ("B", 2.0), ("C", 1.5)):
        own = DAYS.delete(np.arange(300, 305)) if name == "B" else DAYS
        r = vol * 0.01 * rng.standard_normal(len(own))
        up, down = np.exp(vol * 0.01 * np.abs(rng.standard_normal((2, len(own)))))
        if name == "A" and shift_after is not None:
            r = np.where(own > shift_after, 2 * r, r)
            up = np.where(own > shift_after, up**2, up)
        close = 100 * np.exp(r.cumsum())
        frames[name] = pd.DataFrame(
            {"open": close, "high": close * up, "low": close / down, "close": close}, index=own
        )
    return frames


def test_each_row_holds_the_instruments_return_and_range_known_at_its_close() -> None:
    frames = _frames()
    joined = join_panel_covariates(gc.load_panel(frames), ["instrument:A"])
    a = frames["A"]
    ret = PERCENT_LOG.returns(a["close"])
    rng = np.log(parkinson(a).clip(lower=1e-4))
    for name in ("A", "B", "C"):
        df = joined[name]
        assert {"a_return", "a_log_parkinson"} <= set(df.columns)
        # every instrument trades on A's days: row t holds A's values of day t (A's first
        # row has no return, so each instrument's first row is left out)
        assert df.index[0] == DAYS[1]
        assert np.allclose(df["a_return"], ret.loc[df.index])
        assert np.allclose(df["a_log_parkinson"], rng.loc[df.index])
    assert any("rows before its first covariate value were left out" in n for n in joined.notes)


def test_an_instrument_not_in_the_panel_or_without_a_range_is_refused() -> None:
    panel = gc.load_panel(_frames())
    with pytest.raises(ConfigError, match="the panel has no instrument 'SPY'; it has A, B, C"):
        join_panel_covariates(panel, ["instrument:SPY"])
    closes = gc.load_panel({n: f[["close"]] for n, f in _frames().items()})
    with pytest.raises(DataError, match="instrument A has no high/low column"):
        join_panel_covariates(closes, ["instrument:A"])


def _forecasts(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    res = gc.evaluate_panel(
        gc.load_panel(frames),
        test_start="2011-01-03",
        models="har",
        covariates="instrument:A",
        reference="har",
        refit_every=40,
        min_train=150,
        mcs_reps=50,
    )
    out: pd.DataFrame = res.walk.forecasts
    return out


def test_no_forecast_of_another_instrument_reads_a_value_of_a_after_its_date() -> None:
    """A's prices after D moved: no forecast of B or C for a date up to their row after D
    (made at D's close) changes; HAR-X's later forecasts of B and C do, HAR's never."""
    day = pd.Timestamp("2011-03-15")
    base, moved = _forecasts(_frames()), _forecasts(_frames(shift_after=day))
    x = "har_x+instrument:A"
    assert set(base.columns) >= {"har", x}
    for name in ("B", "C"):
        b, m = base.xs(name, level="instrument"), moved.xs(name, level="instrument")
        nxt = b.index[b.index > day][0]
        up_to = b.index <= nxt
        assert up_to.sum() > 40
        pd.testing.assert_frame_equal(m[up_to], b[up_to])
        pd.testing.assert_series_equal(m["har"], b["har"])
        assert not np.allclose(m.loc[~up_to, x], b.loc[~up_to, x])


def test_a_file_covariate_joins_each_instrument_as_on_one_series(tmp_path: Path) -> None:
    days = pd.bdate_range("2009-12-01", periods=440, name="date")
    rate = np.random.default_rng(2).standard_normal(len(days)).cumsum()
    pd.DataFrame({"date": days, "rate": rate}).to_csv(tmp_path / "macro.csv", index=False)
    spec = f"file:{tmp_path / 'macro.csv'}:rate"
    frames = _frames()
    joined = join_panel_covariates(gc.load_panel(frames), [spec])
    for name, df in frames.items():
        alone, _ = join_covariates(df, [spec])
        assert np.array_equal(joined[name]["macro_rate"], alone["macro_rate"])
        assert np.array_equal(alone["macro_rate"], pd.Series(rate, days).loc[df.index])
