"""gc.var_panel(horizon=h): each instrument's h-day VaR is the one-series h-day VaR of that
instrument run alone (gc.var --horizon), its windows' exceptions and Kupiec test recomputed by
hand, the pooled counts summed by hand, no look-ahead across instruments, the refusals, and the
run folder read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import gatecast as gc
from gatecast.data import garch11
from gatecast.errors import ConfigError
from gatecast.experiment.panel_var import PanelVarResult
from gatecast.experiment.run_reader import Run
from gatecast.experiment.var import VarConfig, run_var

ROWS, TEST_ROW, H = 500, 400, 5
START = str(pd.bdate_range("2010-01-04", periods=ROWS)[TEST_ROW].date())
SMALL: dict[str, Any] = {
    "test_start": START,
    "refit_every": 25,
    "calibration": 50,
    "sims": 100,
    "n_jobs": 1,
}


def _frames() -> dict[str, pd.DataFrame]:
    """Two GARCH(1,1) instruments of 500 business days on one calendar."""
    frames = {}
    for k, name in enumerate(("AAA", "BBB")):
        g = garch11(ROWS, seed=20 + k, start="2010-01-04")
        frames[name] = g[["close"]].rename_axis("date")
    return frames


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PanelVarResult, Path]:
    out = tmp_path_factory.mktemp("pvh") / "run"
    res = gc.var_panel(
        gc.load_panel(_frames()),
        models="garch,ewma",
        levels=(0.99, 0.95),
        horizon=H,
        out=out,
        **SMALL,
    )
    return res, out


def test_each_instrument_is_its_one_series_h_day_var(
    run: tuple[PanelVarResult, Path], tmp_path: Path
) -> None:
    """AAA run alone through gc.var's own path (its CSV, walk_models) gives the h-day VaR the
    panel gives it: the same windows and exceptions, the mean VaRs within 1e-6 (the one-day
    forecasts come from two walk-forward paths, each refitting GARCH on the same rows)."""
    res, _ = run
    assert res.horizon_table is not None
    path = tmp_path / "aaa.csv"
    _frames()["AAA"].to_csv(path)
    for level in (0.99, 0.95):
        cfg = VarConfig(
            data=str(path),
            models=("garch", "ewma"),
            level=level,
            horizon=H,
            test_start=START,
            refit_every=25,
            calibration=50,
            sims=100,
            n_jobs=1,
        )
        one = run_var(cfg).horizon_table
        assert one is not None
        mine = res.horizon_table.query("instrument == 'AAA' and level == @level")
        mine = mine.set_index(["model", "distribution"])[list(one.columns)]
        assert len(mine) == 4 and mine.index.equals(one.index)
        for c in ("windows", "exceptions_sqrt", "exceptions_own", "own_is"):
            assert list(mine[c]) == list(one[c]), c
        for c in ("var_sqrt", "var_own", "kupiec_p_sqrt", "kupiec_p_own", "expected"):
            np.testing.assert_allclose(mine[c].to_numpy(float), one[c].to_numpy(float), rtol=1e-6)
    assert (res.horizon_table["windows"] == (ROWS - TEST_ROW) // H).all()


def test_windows_exceptions_and_kupiec_recomputed_by_hand(
    run: tuple[PanelVarResult, Path],
) -> None:
    res, _ = run
    assert res.horizon_risk is not None and res.horizon_table is not None
    assert res.horizon_summary is not None
    for name, df in _frames().items():
        r = 100 * np.log(df["close"]).diff()
        w = res.horizon_risk[res.horizon_risk["instrument"] == name]
        w = w[(w["model"] == "garch") & (w["distribution"] == "t") & (w["level"] == 0.99)]
        dates = list(df.index[TEST_ROW : TEST_ROW + H * len(w) : H])
        assert list(w["date"]) == dates
        assert list(w["as_of"]) == list(df.index[TEST_ROW - 1 : TEST_ROW - 1 + H * len(w) : H])
        sums = [r.iloc[TEST_ROW + H * k : TEST_ROW + H * (k + 1)].sum() for k in range(len(w))]
        np.testing.assert_allclose(w["return"], sums, rtol=1e-12)
        row = res.horizon_table.query(
            "instrument == @name and model == 'garch' and distribution == 't' and level == 0.99"
        ).iloc[0]
        for tag in ("sqrt", "own"):
            hits = w["return"].to_numpy() < -w[f"var_{tag}"].to_numpy()
            assert (hits == w[f"hit_{tag}"].to_numpy()).all()
            x, n, p = int(hits.sum()), len(w), 0.01
            lr = -2 * (
                (n - x) * np.log(1 - p)
                + x * np.log(p)
                - ((n - x) * np.log(1 - x / n) if x < n else 0)
                - (x * np.log(x / n) if x else 0)
            )
            assert row[f"exceptions_{tag}"] == x
            assert row[f"kupiec_p_{tag}"] == pytest.approx(stats.chi2.sf(lr, 1), rel=1e-9)
        # GARCH's own h-day variance is not the sqrt-time rule's
        assert not np.allclose(w["var_own"], w["var_sqrt"])
    t = res.horizon_table
    for (m, d, lv), s in res.horizon_summary.iterrows():
        part = t[(t.model == m) & (t.distribution == d) & (t.level == lv)]
        assert s["instruments"] == 2 and s["windows"] == part["windows"].sum()
        assert s["exceptions_own"] == part["exceptions_own"].sum()
        assert s["kupiec_rejected_sqrt"] == (part["kupiec_p_sqrt"] < 0.05).sum()
        assert s["hit_rate_own"] == pytest.approx(s["exceptions_own"] / s["windows"])


def test_changing_one_instrument_after_d_changes_no_h_day_var_made_up_to_d(
    moved_after,
) -> None:
    """AAA's prices after D (inside a fold) are changed: every h-day VaR made at a close up to D
    (as_of <= D) is unchanged for both instruments (the global LSTM pools them), and AAA's made
    after D do change."""
    frames = _frames()
    d = pd.Timestamp(frames["AAA"].index[TEST_ROW + 42])
    changed = moved_after(frames, d)
    kw = SMALL | {"hidden": 4, "recurrent_epochs": 1, "warm_epochs": 1, "device": "cpu"}
    runs = [
        gc.var_panel(gc.load_panel(f), models="lstm,garch", horizon=H, **kw)
        for f in (frames, changed)
    ]
    keys = ["instrument", "model", "distribution", "level", "as_of"]
    risk = [r.horizon_risk.set_index(keys) for r in runs if r.horizon_risk is not None]
    cols = ["var_sqrt", "var_own"]
    early = [x[x.index.get_level_values("as_of") <= d][cols] for x in risk]
    assert len(early[0]) >= 2 * 2 * 2 * 8  # instruments x models x distributions x windows
    pd.testing.assert_frame_equal(early[0], early[1], check_exact=True)
    late = [x[x.index.get_level_values("as_of") > d].xs("AAA", level="instrument") for x in risk]
    assert not np.allclose(late[0]["var_own"], late[1]["var_own"])


@pytest.mark.usefixtures("no_panel_var_walk")
def test_a_horizon_longer_than_an_instruments_test_is_refused_before_any_fit(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    end = str(pd.bdate_range(START, periods=4)[-1].date())
    with pytest.raises(ConfigError, match=r"instrument 'AAA' has 4 rows .* fewer than one whole"):
        gc.var_panel(
            gc.load_panel(_frames()), models="garch", horizon=H, test_end=end, out=out, **SMALL
        )
    with pytest.raises(ConfigError, match="horizon=0: must be an integer >= 1"):
        gc.var_panel(gc.load_panel(_frames()), models="garch", horizon=0, out=out, **SMALL)
    assert not out.exists()


def test_run_open_reads_the_h_day_tables(run: tuple[PanelVarResult, Path]) -> None:
    res, out = run
    folder = Run.open(out)
    assert (folder.kind, folder.status) == ("panel-var", "finished")
    assert folder.config["horizon"] == H
    summary = folder.table("horizon_summary")
    assert summary.index.names == ["model", "distribution", "level"]
    assert res.horizon_summary is not None
    pd.testing.assert_series_equal(
        summary["exceptions_own"], res.horizon_summary["exceptions_own"], check_dtype=False
    )
    assert set(folder.table("horizon_per_instrument").instrument) == {"AAA", "BBB"}
    assert {"as_of", "var_own", "hit_own"} <= set(folder.table("horizon_risk"))
    metrics = folder.json("metrics.json")
    assert metrics["horizon"]["days"] == H and "Kupiec" in metrics["horizon"]["tests"]
    assert f"{H}-day VaR on non-overlapping windows" in (out / "report.html").read_text()
