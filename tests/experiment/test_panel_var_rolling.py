"""gc.var_panel with rolling training windows and a gap: each instrument's one-day and h-day VaR
is the one-series gc.var with the same windows on that instrument alone (the same fits on the
same rows: equal to 1e-12), each fold trains on the instrument's own last train_size rows before
the gap, rows older than a fold's window change none of its VaR numbers, a change after D moves
nothing up to D, and --resume of another window is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.data import garch11
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.experiment.panel_var import PanelVarResult
from gatecast.experiment.var import VarConfig, run_var

ROWS, TEST_ROW, TRAIN, GAP, H = 460, 360, 260, 2, 5
DAYS = pd.bdate_range("2010-01-04", periods=ROWS)
START = str(DAYS[TEST_ROW].date())
ROLLING: dict[str, Any] = {
    "test_start": START,
    "refit_every": 20,
    "calibration": 40,
    "sims": 50,
    "n_jobs": 1,
    "scheme": "rolling",
    "train_size": TRAIN,
    "gap": GAP,
}


def _frames() -> dict[str, pd.DataFrame]:
    """Two GARCH(1,1) instruments; BBB starts 40 days later (its windows start elsewhere)."""
    frames = {}
    for k, name in enumerate(("AAA", "BBB")):
        g = garch11(ROWS, seed=30 + k, start="2010-01-04")[["close"]].rename_axis("date")
        frames[name] = g if name == "AAA" else g.iloc[40:]
    return frames


def _var(frames: dict[str, pd.DataFrame], **kw: Any) -> PanelVarResult:
    return gc.var_panel(gc.load_panel(frames), **({"models": "garch,ewma"} | ROLLING | kw))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PanelVarResult, Path]:
    out = tmp_path_factory.mktemp("pvr") / "run"
    return _var(_frames(), levels=(0.99, 0.95), horizon=H, out=out), out


def test_each_instrument_is_its_one_series_rolling_var(run: tuple[PanelVarResult, Path]) -> None:
    """Per instrument, gc.var on its prices alone with the same windows: the same variance, nu,
    VaR, exceptions and tests (the ES p-value aside: the panel draws a seed per instrument),
    and the same h-day VaR; the per-instrument models fit the same rows through the same fold
    runner, so the numbers agree to 1e-12."""
    res, _ = run
    assert res.horizon_table is not None
    same = ["n", "exceptions", "expected", "kupiec_p", "ind_p", "cc_p", "zone", "es_z2", "nu"]
    for name, df in _frames().items():
        for level, tag in ((0.99, "1"), (0.95, "5")):
            one = run_var(
                VarConfig(
                    data=df,
                    models=("garch", "ewma"),
                    level=level,
                    horizon=H,
                    **ROLLING,
                )
            )
            mine = res.table[(res.table.instrument == name) & (res.table.level == level)]
            mine = mine.set_index(["model", "distribution"]).loc[one.table.index]
            for c in same:
                if c == "zone":
                    assert list(mine[c]) == list(one.table[c])
                else:
                    np.testing.assert_allclose(
                        mine[c].to_numpy(float), one.table[c].to_numpy(float), rtol=1e-12
                    )
            keys = ["model", "distribution", "date"]
            a = res.risk[res.risk.instrument == name].set_index(keys).sort_index()
            b = one.risk.set_index(keys).sort_index()
            assert a.index.equals(b.index) and len(a) == 4 * (
                len(df) - int(df.index.get_loc(START))
            )
            for c in ("variance", "nu", f"var_{tag}"):
                np.testing.assert_allclose(a[c], b[c], rtol=1e-12)
            np.testing.assert_allclose(a[f"var_{tag}"], b["var"], rtol=1e-12)
            assert one.horizon_table is not None
            ht = res.horizon_table
            h = ht[(ht.instrument == name) & (ht.level == level)]
            h = h.set_index(["model", "distribution"]).loc[one.horizon_table.index]
            for c in one.horizon_table.columns:
                if c == "own_is":
                    assert list(h[c]) == list(one.horizon_table[c])
                else:
                    np.testing.assert_allclose(
                        h[c].to_numpy(float), one.horizon_table[c].to_numpy(float), rtol=1e-12
                    )


def test_each_fold_trains_on_the_instruments_last_rows_before_the_gap(
    run: tuple[PanelVarResult, Path],
) -> None:
    """Every fit of every fold (from the calibration's start): its first and last training
    dates are the instrument's own rows s - gap - train_size and s - gap - 1, s the fold's first
    test row; the run folder's plan records the scheme."""
    res, out = run
    folds = res.walk.folds
    frames = _frames()
    assert len(folds) == 2 * 2 * 7  # models x instruments x refits (5 test + 2 calibration)
    for _, row in folds.iterrows():
        own = frames[row.instrument].index
        s = int(own.get_loc(row.test_start))
        assert (row.train_start, row.train_end) == (own[s - GAP - TRAIN], own[s - GAP - 1])
    plan = pd.read_json(out / "folds" / "plan.json", typ="series")["plan"]
    assert (plan["scheme"], plan["train_size"], plan["gap"]) == ("rolling", TRAIN, GAP)


def _replace_before(df: pd.DataFrame, stop: int, seed: int) -> pd.DataFrame:
    """``df`` with its prices before row ``stop`` replaced by a path of three times the
    volatility, joined to the unchanged rows (the returns inside the window are the same)."""
    rng = np.random.default_rng(seed)
    close = df["close"].to_numpy().copy()
    steps = np.exp(0.03 * rng.standard_normal(stop))
    close[:stop] = close[stop] * np.cumprod(steps[::-1])[::-1]
    return df.assign(close=close)


def test_rows_older_than_a_folds_window_change_none_of_its_var_numbers() -> None:
    """AAA's rows before the window of the test's third fold replaced by other prices: from that
    fold on, every one of AAA's normal HAR VaR numbers is the same, and BBB's every number;
    AAA's earlier folds do change (so the test could fail). Its Student-t nu is fit on the
    forecasts of the earlier folds, whose windows reach back further, as on one series. (HAR
    reads its last 22 returns; a GARCH or EWMA fits its parameters on the window but filters
    its variance through the instrument's whole history up to t - 1, as on one series, so
    older rows reach it, with a weight that decays geometrically.)"""
    res0 = _var(_frames(), models="har", levels=(0.99, 0.95))
    frames = _frames()
    refits = pd.DatetimeIndex(sorted(res0.walk.folds["test_start"].unique()))
    day = refits[4]  # two calibration refits, then the test's
    s = int(frames["AAA"].index.get_loc(day))
    frames["AAA"] = _replace_before(frames["AAA"], s - GAP - TRAIN, seed=5)
    res = _var(frames, models="har", levels=(0.99, 0.95))
    cols = ["return", "variance", "var_1", "hit_1", "var_5", "hit_5", "es_2.5"]
    keys = ["instrument", "model", "distribution", "date"]
    a = res0.risk.set_index(keys).sort_index()
    b = res.risk.set_index(keys).sort_index()
    dates = a.index.get_level_values("date")
    normal = a.index.get_level_values("distribution") == "normal"
    aaa = a.index.get_level_values("instrument") == "AAA"
    later = (dates >= day) & normal
    assert later.sum() > 100
    pd.testing.assert_frame_equal(a.loc[later, cols], b.loc[later, cols], check_exact=True)
    pd.testing.assert_frame_equal(a.loc[~aaa, [*cols, "nu"]], b.loc[~aaa, [*cols, "nu"]])
    early = (dates < day) & aaa
    assert not np.allclose(a.loc[early, "variance"], b.loc[early, "variance"])


def test_a_change_after_d_moves_no_var_up_to_d(run: tuple[PanelVarResult, Path]) -> None:
    res0, _ = run
    frames = _frames()
    d = frames["BBB"].index[TEST_ROW - 40 + 30]  # inside the test's second fold
    after = frames["BBB"].index > d
    rng = np.random.default_rng(3)
    frames["BBB"].loc[after, "close"] *= np.exp(0.05 * rng.standard_normal(int(after.sum())))
    res = _var(frames, levels=(0.99, 0.95))
    keys = ["instrument", "model", "distribution", "date"]
    cols = ["variance", "nu", "var_1", "var_5", "es_2.5"]
    a, b = (r.risk.set_index(keys).sort_index()[cols] for r in (res0, res))
    upto = a.index.get_level_values("date") <= d
    assert upto.sum() > 100
    pd.testing.assert_frame_equal(a[upto], b[upto], check_exact=True)
    bbb = (a.index.get_level_values("instrument") == "BBB") & ~upto
    assert not np.allclose(a.loc[bbb, "var_1"], b.loc[bbb, "var_1"])  # the change is seen


def test_resume_reads_the_fits_back_and_refuses_another_window(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _var(_frames(), models="ewma", out=out)
    again = _var(_frames(), models="ewma", out=out, resume=True)
    assert again.walk.folds["resumed"].all()
    pd.testing.assert_frame_equal(again.table, first.table)
    for other in (
        {"train_size": TRAIN + 10},
        {"gap": 0},
        {"scheme": "expanding", "train_size": None},
    ):
        with pytest.raises(ConfigError, match=r"a different walk-forward \(differs in \['plan'\]"):
            _var(_frames(), models="ewma", out=out, resume=True, **other)


def test_a_window_shorter_than_min_train_is_refused_before_any_fit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gatecast.experiment import panel_var

    def no_walk(*a: Any, **k: Any) -> None:
        raise AssertionError("a refused run walked forward")

    monkeypatch.setattr(panel_var, "panel_walk_forward", no_walk)
    out = tmp_path / "run"
    with pytest.raises(TooFewRowsError, match=r"instrument 'AAA' has 200 rows in its rolling"):
        _var(_frames(), out=out, train_size=200)
    with pytest.raises(ConfigError, match="gap=-1: must be an integer >= 0"):
        _var(_frames(), out=out, gap=-1)
    assert not out.exists()


def test_the_h_day_garch_refit_reads_the_walks_own_window() -> None:
    """horizon_table refits GARCH for a fold's closed-form h-day variance on the rows the walk
    trained that fold on: the last train_size rows before the gap (WalkForwardPlan.train_rows),
    not the gap cut out of the last train_size rows (which would fit on train_size - gap)."""
    from gatecast.data.volatility import percent_returns
    from gatecast.experiment.var import _garch_params, horizon_table

    df = _frames()["AAA"]
    returns = percent_returns(df, None)
    start = df.index[TEST_ROW]
    fits: dict[tuple[str, pd.Timestamp], Any] = {}
    variance = (returns**2).rolling(22).mean().shift(1)  # any one-day forecast will do
    horizon_table(
        {"garch": variance},
        df,
        returns,
        [start],
        start,
        horizon=H,
        level=0.99,
        distributions=("normal",),
        column=None,
        scheme="rolling",
        train_size=TRAIN,
        gap=GAP,
        fits=fits,
    )
    want = _garch_params("garch", df.iloc[TEST_ROW - GAP - TRAIN : TEST_ROW - GAP], None)
    np.testing.assert_allclose(fits["garch", start], want, rtol=1e-12)
    shorter = _garch_params("garch", df.iloc[TEST_ROW - TRAIN : TEST_ROW - GAP], None)
    assert not np.allclose(fits["garch", start], shorter, rtol=1e-6)  # the window matters
