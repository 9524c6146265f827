"""gc.var_panel: every instrument's VaR backtest recomputed from the stored exceedances (closed
forms), the pooled counts against a hand count, the Student-t fit before each fold only, no
look-ahead across instruments, refusals before any fit, and the run folder read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import gatecast as gc
from gatecast.data import garch11
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.var import fit_t_dof
from gatecast.experiment.panel_var import PanelVarResult, level_tag, pool_var
from gatecast.experiment.run_reader import Run

ROWS, TEST_ROW = 500, 400


def _prices(r: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"close": 100 * np.exp(np.cumsum(r / 100))}, index=index)


def _panel() -> gc.Panel:
    """Three GARCH(1,1) instruments of 500 days: BBB's volatility triples at the test start
    (its VaR is too small: Kupiec must reject it), CCC misses three days (its own calendar)."""
    frames = {}
    for k, name in enumerate(("AAA", "BBB", "CCC")):
        g = garch11(ROWS, seed=k, start="2010-01-04")
        r = g["return"].to_numpy().copy()
        if name == "BBB":
            r[TEST_ROW:] *= 3.0
        frames[name] = _prices(r, pd.DatetimeIndex(g.index, name="date"))
    frames["CCC"] = frames["CCC"].drop(frames["CCC"].index[[100, 200, 420]])
    return gc.load_panel(frames)


TEST_START = str(pd.bdate_range("2010-01-04", periods=ROWS)[TEST_ROW].date())
SMALL: dict[str, Any] = {
    "test_start": TEST_START,
    "refit_every": 25,
    "calibration": 50,
    "sims": 200,
    "min_train": 250,
    "n_jobs": 1,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PanelVarResult, Path]:
    out = tmp_path_factory.mktemp("pv") / "run"
    res = gc.var_panel(_panel(), models="garch,ewma,har", levels=(0.99, 0.95), out=out, **SMALL)
    return res, out


def _transitions(h: np.ndarray) -> tuple[int, int, int, int]:
    prev, nxt = h[:-1], h[1:]
    return (
        int((~prev & ~nxt).sum()),
        int((~prev & nxt).sum()),
        int((prev & ~nxt).sum()),
        int((prev & nxt).sum()),
    )


def _loglik(k: int, p: float) -> float:
    return k * np.log(p) if k else 0.0


def test_each_instruments_tests_are_recomputed_from_its_stored_exceedances(run) -> None:
    """Kupiec, Christoffersen independence and conditional coverage in closed form from the
    hit columns of risk.parquet; the hits are return < -VaR, and the VaR is sigma times the
    distribution's quantile (scipy's, scaled to unit variance for the t)."""
    _, out = run
    table = pd.read_csv(out / "per_instrument.csv")
    risk = pd.read_parquet(out / "risk.parquet")
    assert len(table) == 3 * 3 * 2 * 2  # instruments x models x distributions x levels
    for _, row in table.iterrows():
        days = risk[
            (risk.instrument == row.instrument)
            & (risk.model == row.model)
            & (risk.distribution == row.distribution)
        ]
        p, tag = 1 - row.level, level_tag(row.level)
        sigma = np.sqrt(days["variance"].to_numpy())
        if row.distribution == "normal":
            z = stats.norm.ppf(p)
        else:
            nu = days["nu"].to_numpy()
            z = stats.t.ppf(p, nu) * np.sqrt((nu - 2) / nu)
        np.testing.assert_allclose(days[f"var_{tag}"], -sigma * z, rtol=1e-12)
        h = days[f"hit_{tag}"].to_numpy(bool)
        assert (h == (days["return"] < -days[f"var_{tag}"])).all()
        n, x = len(h), int(h.sum())
        pi = x / n
        lr_pof = -2 * (
            _loglik(n - x, 1 - p) + _loglik(x, p) - _loglik(n - x, 1 - pi) - _loglik(x, pi)
        )
        n00, n01, n10, n11 = _transitions(h)
        pi0, pi1 = n01 / (n00 + n01), (n11 / (n10 + n11) if n10 + n11 else 0.0)
        q = (n01 + n11) / (n - 1)
        lr_ind = -2 * (
            _loglik(n00 + n10, 1 - q)
            + _loglik(n01 + n11, q)
            - _loglik(n00, 1 - pi0)
            - _loglik(n01, pi0)
            - _loglik(n10, 1 - pi1)
            - _loglik(n11, pi1)
        )
        assert (row.n, row.exceptions) == (n, x)
        assert row.expected == pytest.approx(n * p)
        assert row.kupiec_p == pytest.approx(stats.chi2.sf(max(lr_pof, 0), 1), rel=1e-9)
        assert row.ind_p == pytest.approx(stats.chi2.sf(max(lr_ind, 0), 1), rel=1e-9)
        assert row.cc_p == pytest.approx(stats.chi2.sf(lr_pof + lr_ind, 2), rel=1e-9, abs=1e-12)
        assert row.ratio == pytest.approx(x / (n * p))
    # the test covers each instrument's own dates from the test start, its own rows only
    ccc = risk[(risk.instrument == "CCC") & (risk.model == "garch")].drop_duplicates("date")
    own = _panel()["CCC"].index
    assert pd.DatetimeIndex(ccc["date"]).equals(own[own >= pd.Timestamp(TEST_START)])
    assert (pd.DatetimeIndex(ccc["as_of"]) == own[own.get_indexer(ccc["date"]) - 1]).all()


def test_the_pooled_counts_are_the_per_instrument_table_counted_by_hand(run) -> None:
    res, _ = run
    t = res.table
    for (m, d, lv), row in res.summary.iterrows():
        part = t[(t.model == m) & (t.distribution == d) & (t.level == lv)]
        assert row.instruments == 3
        assert row.kupiec_rejected == sum(1 for v in part.kupiec_p if v < 0.05)
        assert row.ind_rejected == sum(1 for v in part.ind_p if v < 0.05)
        assert row.cc_rejected == sum(1 for v in part.cc_p if v < 0.05)
        assert row.hit_rate == pytest.approx(part.exceptions.sum() / part.n.sum())
        assert row.median_ratio == pytest.approx(sorted(part.ratio)[1])  # 3 instruments
    # BBB's tripled volatility: every model's 99% VaR has too many exceptions there
    bbb = t[(t.instrument == "BBB") & (t.level == 0.99)]
    assert (bbb.kupiec_p < 0.05).all() and (bbb.exceptions > bbb.expected).all()
    assert (res.summary.xs(0.99, level="level")["too_many"] >= 1).all()


def test_pool_var_on_a_table_made_by_hand() -> None:
    """Four instruments: two rejected by Kupiec (one with too many exceptions, one with too
    few), one by the independence test; 28 exceptions in 1000 days."""
    table = pd.DataFrame(
        {
            "instrument": ["A", "B", "C", "D"],
            "model": "garch",
            "distribution": "t",
            "level": 0.99,
            "n": [250, 250, 250, 250],
            "exceptions": [12, 0, 3, 13],
            "expected": [2.5] * 4,
            "ratio": [4.8, 0.0, 1.2, 5.2],
            "kupiec_p": [0.0001, 0.02, 0.7, 0.06],
            "ind_p": [0.5, 1.0, 0.01, 0.2],
            "cc_p": [0.001, 0.06, 0.04, 0.1],
            "es_p": [0.3, 0.5, 0.5, 0.01],
        }
    )
    row = pool_var(table).loc[("garch", "t", 0.99)]
    assert row.instruments == 4 and row.days == 1000 and row.exceptions == 28
    assert row.hit_rate == pytest.approx(0.028) and row.expected_rate == pytest.approx(0.01)
    assert row.median_ratio == pytest.approx((1.2 + 4.8) / 2)
    assert (row.kupiec_rejected, row.too_many, row.too_few) == (2, 1, 1)
    assert (row.ind_rejected, row.cc_rejected, row.es_rejected) == (1, 2, 1)


def test_the_t_dof_of_a_fold_is_fit_on_the_instruments_forecasts_before_it(run) -> None:
    """nu for BBB's last fold: the t fit on BBB's own returns and out-of-sample forecasts dated
    before that fold's refit date, and nothing after it."""
    res, _ = run
    fc = res.walk.forecasts.xs("BBB", level="instrument")["garch"]
    folds = res.walk.folds
    refit = pd.Timestamp(folds.loc[folds.instrument == "BBB", "test_start"].max())
    r = 100 * np.log(_panel()["BBB"]["close"]).diff()
    before = fc.index < refit
    want = fit_t_dof(r.reindex(fc.index[before]), fc[before])
    risk = res.risk
    got = risk[(risk.instrument == "BBB") & (risk.model == "garch") & (risk.distribution == "t")]
    got = got[pd.DatetimeIndex(got["date"]) >= refit]["nu"]
    assert len(got) > 0 and np.allclose(got, want, rtol=1e-9)
    assert res.calibration_start < TEST_START  # the first test fold's nu had forecasts too


def test_changing_one_instrument_after_d_changes_no_var_up_to_d(moved_after) -> None:
    """AAA's prices after D (inside a fold, not a refit date) are changed: every VaR, ES and
    nu dated up to D is unchanged for every instrument (the global LSTM pools them all), and
    AAA's after D do change."""
    panel = _panel()
    d = pd.Timestamp(panel["AAA"].index[TEST_ROW + 40])
    frames = moved_after(panel, d)
    kw = SMALL | {"hidden": 4, "recurrent_epochs": 1, "warm_epochs": 1, "device": "cpu"}
    runs = [gc.var_panel(p, models="lstm,garch", **kw) for p in (panel, gc.load_panel(frames))]
    risk = [r.risk.set_index(["instrument", "model", "distribution", "date"]) for r in runs]
    cols = ["variance", "nu", "var_1", "es_2.5"]
    early = [x[x.index.get_level_values("date") <= d][cols] for x in risk]
    assert len(early[0]) > 100
    pd.testing.assert_frame_equal(early[0], early[1], check_exact=True)
    late = [x[x.index.get_level_values("date") > d].xs("AAA", level="instrument") for x in risk]
    assert not np.allclose(late[0]["var_1"], late[1]["var_1"])


@pytest.mark.usefixtures("no_panel_var_walk")
def test_settings_that_do_not_apply_are_refused_before_any_fit(tmp_path: Path) -> None:
    panel, out = _panel(), tmp_path / "run"
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"horizon": 0}, ConfigError, "horizon=0: must be an integer >= 1"),
        ({"train_size": 100}, ConfigError, "train_size=100 is the length of a rolling"),
        ({"seeds": 2}, ConfigError, "--seeds does not apply to a panel"),
        ({"models": "lstm_resid"}, ConfigError, "'lstm_resid' does not run on a panel"),
        ({"levels": (0.99, 1.2)}, ConfigError, "level=1.2: a confidence level"),
        ({"distributions": ("normal", "cauchy")}, ConfigError, "distribution"),
        ({"calibration": 10}, ConfigError, "calibration"),
        ({"bogus": 1}, ConfigError, "gc.var_panel\\(\\) has no setting bogus"),
        ({"test_start": "2010-06-01"}, TooFewRowsError, "instrument 'AAA' has"),
        # 60 rows of calibration, but CCC misses days: each instrument needs 30 of its own
        ({"calibration": 30, "refit_every": 30}, ConfigError, "instrument 'CCC' has 29 rows"),
    ]
    for extra, kind, message in cases:
        kw = SMALL | {"models": "garch"} | extra
        if "calibration" in extra and extra.get("refit_every") == 30:
            kw["test_start"] = str(panel["CCC"].index[440].date())
        with pytest.raises(kind, match=message):
            gc.var_panel(panel, out=out, **kw)
        assert not out.exists()


def test_gc_var_points_a_panel_to_var_panel() -> None:
    with pytest.raises(ConfigError, match=r"a panel's VaR is gc.var_panel\(panel"):
        gc.var(_panel(), models="garch")


def test_run_open_reads_the_panel_var_folder(run) -> None:
    res, out = run
    folder = Run.open(out)
    assert (folder.kind, folder.status) == ("panel-var", "finished")
    summary = folder.table()
    assert summary.index.names == ["model", "distribution", "level"]
    assert list(summary.columns[:3]) == ["instruments", "days", "exceptions"]
    pd.testing.assert_series_equal(
        summary["kupiec_rejected"], res.summary["kupiec_rejected"], check_dtype=False
    )
    assert set(folder.table("per_instrument").instrument) == {"AAA", "BBB", "CCC"}
    assert {"var_1", "hit_1", "var_5", "hit_5", "es_2.5", "as_of"} <= set(folder.table("risk"))
    metrics = folder.json("metrics.json")
    assert metrics["instruments"] == ["AAA", "BBB", "CCC"]
    assert metrics["calibration_start"] == res.calibration_start
    assert set(folder.data["instruments"]) == {"AAA", "BBB", "CCC"}  # type: ignore[index]
    assert folder.config["data"] == res.source  # prices passed in: named, never written whole
