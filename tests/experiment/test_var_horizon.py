"""`gatecast var --horizon h`: the GARCH h-day cumulative variance against arch's own forecast, the
non-overlapping windows and their Kupiec test recomputed by hand, the square-root-of-time
fallback, and a horizon that is refused."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy import stats
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import garch11
from gatecast.errors import ConfigError
from gatecast.evaluation.var import block_returns, garch_cumulative_variance
from gatecast.experiment.var import VarConfig, run_var

runner = CliRunner()


@pytest.mark.parametrize(("o", "dist"), [(0, "normal"), (1, "t")])
def test_the_cumulative_variance_is_archs_h_step_forecast(o, dist):
    r = garch11(1500, seed=5)["return"]
    res = arch_model(r, p=1, o=o, q=1, dist=dist, rescale=False).fit(disp="off")
    fc = res.forecast(horizon=10, start=1400, reindex=False).variance
    p = res.params
    gamma = float(p["gamma[1]"]) if o else 0.0
    mine = garch_cumulative_variance(
        fc["h.01"].to_numpy(), p["omega"], p["alpha[1]"], gamma, p["beta[1]"], 10
    )
    np.testing.assert_allclose(mine, fc.sum(axis=1).to_numpy(), rtol=1e-10)


def test_blocks_are_non_overlapping_sums_from_the_start():
    r = pd.Series(np.arange(1.0, 24.0), index=pd.bdate_range("2020-01-01", periods=23))
    b = block_returns(r, r.index[3], 5)
    assert list(b.index) == list(r.index[3:23:5])[:4]  # 20 rows: 4 whole blocks, 0 left over
    assert b.iloc[0] == 4 + 5 + 6 + 7 + 8


@pytest.fixture(scope="module")
def horizon_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, pd.DataFrame, str]:
    df = garch11(1200, seed=3)[["close"]].rename_axis("date")
    path = tmp_path_factory.mktemp("d") / "garch.csv"
    df.to_csv(path)
    start = str(df.index[700].date())
    cfg = VarConfig(
        data=str(path),
        models=("garch", "ewma"),
        test_start=start,
        refit_every=100,
        distributions=("normal",),
        level=0.95,
        sims=20,
        horizon=5,
        quiet=True,
    )
    return run_var(cfg), df, start


def test_the_h_day_var_is_backtested_on_non_overlapping_windows(horizon_run):
    res, df, start = horizon_run
    table = res.horizon_table
    r = 100 * np.log(df["close"]).diff()
    test = r[r.index >= start]
    blocks = test.to_numpy()[: 100 * 5].reshape(100, 5).sum(axis=1)
    assert table.loc[("garch", "normal"), "windows"] == 100
    one = res.risk[(res.risk["model"] == "garch") & (res.risk["distribution"] == "normal")]
    one = one.set_index("date")["variance"].reindex(test.index[:500:5]).to_numpy()
    var_sqrt = math.sqrt(5) * np.sqrt(one) * -stats.norm.ppf(0.05)
    x = int((blocks < -var_sqrt).sum())
    assert table.loc[("garch", "normal"), "exceptions_sqrt"] == x
    # Kupiec's LR by its closed form
    n, p, pi = 100, 0.05, x / 100
    lr = -2 * ((n - x) * math.log(1 - p) + x * math.log(p))
    lr += 2 * ((n - x) * math.log(1 - pi) + (x * math.log(pi) if x else 0.0))
    assert table.loc[("garch", "normal"), "kupiec_p_sqrt"] == pytest.approx(stats.chi2.sf(lr, 1))
    # GARCH's own h-day variance is its closed form; EWMA has none and falls back, said so
    assert table.loc[("garch", "normal"), "own_is"] == "closed form"
    assert table.loc[("ewma", "normal"), "own_is"] == "sqrt-time (no closed form)"
    ewma = table.loc[("ewma", "normal")]
    assert ewma["var_own"] == pytest.approx(ewma["var_sqrt"], rel=1e-12)
    assert res.to_dict()["horizon"]["days"] == 5


def test_a_horizon_below_one_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="horizon"):
        VarConfig(data="sp500", models=("garch",), horizon=0)
    res = runner.invoke(
        app, ["var", "--data", "sp500", "--out", str(tmp_path / "v"), "--horizon", "0"]
    )
    assert res.exit_code == 2 and "horizon" in res.output
    assert not (tmp_path / "v").exists()
