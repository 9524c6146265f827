"""`gatecast sweep --covariates`: every trial's recurrent model reads the joined groups (and so does
HAR-X or ARX among the baselines), the join leaks nothing of the test period into the selection,
the run folder records the groups, and what does not fit is refused before any fit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sweep_data import sweep_config, write_prices

from gatecast.data import garch11
from gatecast.errors import ConfigError
from gatecast.experiment.run_reader import Run
from gatecast.experiment.sweep import SweepConfig, run_sweep
from gatecast.experiment.sweep.trials import config_factory, folder_name

#: the covariate file's first row: the rows of the prices before it are left out
COV_START = 30


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return garch11(520, seed=3)[["close"]]


def _covariate(prices: pd.DataFrame, path: Path, shift: pd.Series | None = None) -> str:
    """A file of one covariate (``level``, a random walk) dated on the prices' days from row
    ``COV_START``; ``shift`` adds to it by date. The spec that reads it."""
    days = prices.index[COV_START:]
    level = pd.Series(np.random.default_rng(7).standard_normal(len(days)).cumsum(), days)
    if shift is not None:
        level = level + shift.reindex(days, fill_value=0.0)
    pd.DataFrame({"Date": days, "Level": level.to_numpy()}).to_csv(path, index=False)
    return f"file:{path}:level"


def _config(data: str, out: Path, prices: pd.DataFrame, spec: str, **kw: Any) -> SweepConfig:
    return sweep_config(
        data, out, prices, select_row=330, test_row=430,
        **({"refit_every": 45, "covariates": (spec,), "baselines": ("garch", "har_x")} | kw),
    )  # fmt: skip


@pytest.fixture(scope="module")
def cov_run(prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    root = tmp_path_factory.mktemp("sweep_cov")
    data = write_prices(prices, root / "prices.csv")
    spec = _covariate(prices, root / "macro.csv")
    cfg = _config(data, root / "run", prices, spec)
    return run_sweep(cfg), root


def test_every_trial_reads_the_covariate_columns_and_so_does_har_x(
    cov_run: tuple[Any, Path],
) -> None:
    res, root = cov_run
    spec = res.config.covariates[0]
    cand = res.trials[~res.trials["config"].isin(res.config.baselines)]
    assert set(cand["model"]) == {f"lstm+{spec}"}
    assert res.config.baselines == ("garch", f"har_x+{spec}")
    # the model each configuration builds reads the joined column after its features
    ecfg = res.config.evaluation()
    for params in ({"window": 5}, {"window": 10}):
        model = config_factory(res.config, ecfg, params, 0)()
        assert model.covariates == ("macro_level",)
    # HAR-X's trial folder: the spec holds a path, so the folder is a hashed name
    key = folder_name(f"har_x+{spec}")
    assert "/" not in key and (root / "run" / "trials" / key / "test.parquet").is_file()
    summary = Run.open(root / "run").json("sweep_summary.json")
    assert summary["covariates"] == [spec] and summary["covariate_columns"] == ["macro_level"]
    assert summary["selected_model"] == f"lstm+{spec}"
    assert f"(lstm+{spec})" in res.summary()


def test_the_rows_before_the_covariate_are_left_out_and_said(
    cov_run: tuple[Any, Path], prices: pd.DataFrame
) -> None:
    res, root = cov_run
    note = next(n for n in res.notes if "starts on" in n)
    assert f"the {COV_START} rows of" in note and "left out" in note
    # the run's data is the joined data: it begins on the covariate's first date
    first = str(prices.index[COV_START].date())
    run = Run.open(root / "run")
    assert run.kind == "sweep" and run.config["covariates"] == [res.config.covariates[0]]
    assert run.data is not None and first in str(run.data)


def test_changing_the_covariate_after_the_selection_changes_no_selection_score(
    cov_run: tuple[Any, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    res, root = cov_run
    s1 = pd.Timestamp(res.periods["select"][1])
    after = pd.Series(5.0, index=prices.index[prices.index > s1])
    spec = _covariate(prices, tmp_path / "macro.csv", shift=after)
    data = write_prices(prices, tmp_path / "prices.csv")
    other = run_sweep(_config(data, tmp_path / "run", prices, spec))
    pd.testing.assert_frame_equal(other.selection, res.selection)
    for key in res.trials.loc[res.trials["phase"] == "select", "key"]:
        mine = "har_x" if key.startswith("har_x") else key  # the spec's path is another file
        theirs = next(k for k in other.trials["key"] if k.startswith(mine))
        a = pd.read_parquet(root / "run" / "trials" / key / "select.parquet")
        b = pd.read_parquet(tmp_path / "run" / "trials" / theirs / "select.parquet")
        pd.testing.assert_frame_equal(a, b)
    # the change did reach the test period, which reads the covariate
    assert other.test["test_qlike"].iloc[0] != pytest.approx(res.test["test_qlike"].iloc[0])


def test_changing_the_covariate_inside_the_selection_moves_its_scores(
    cov_run: tuple[Any, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    res, _ = cov_run
    s0, s1 = (pd.Timestamp(d) for d in res.periods["select"])
    inside = pd.Series(5.0, index=prices.index[(prices.index >= s0) & (prices.index <= s1)])
    spec = _covariate(prices, tmp_path / "macro.csv", shift=inside)
    data = write_prices(prices, tmp_path / "prices.csv")
    other = run_sweep(_config(data, tmp_path / "run", prices, spec, grid={"window": (5,)}))
    mine = res.selection.loc[res.selection["window"] == "5", "select_mean"].iloc[0]
    assert other.selection["select_mean"].iloc[0] != pytest.approx(mine, rel=1e-9)


def test_a_resumed_sweep_with_other_covariates_is_refused(
    cov_run: tuple[Any, Path], prices: pd.DataFrame
) -> None:
    _, root = cov_run
    before = sorted(p.stat().st_mtime_ns for p in (root / "run" / "trials").rglob("*.json"))
    data = str(root / "prices.csv")
    with pytest.raises(ConfigError, match=r"different search space or data .*covariates"):
        run_sweep(_config(data, root / "run", prices, "x", covariates=(), baselines=(),
                          resume=True))  # fmt: skip
    after = sorted(p.stat().st_mtime_ns for p in (root / "run" / "trials").rglob("*.json"))
    assert before == after


def test_a_return_sweep_gives_the_covariates_to_arx(prices: pd.DataFrame, tmp_path: Path) -> None:
    data = write_prices(prices, tmp_path / "prices.csv")
    spec = _covariate(prices, tmp_path / "macro.csv")
    cfg = _config(data, tmp_path / "run", prices, spec, target="return",
                  baselines=("ar1", "arx"), grid={"window": (10,)})  # fmt: skip
    assert cfg.baselines == ("ar1", f"arx+{spec}")
    res = run_sweep(cfg)
    assert set(res.test.index) >= {"ar1", f"arx+{spec}"}
    assert res.selected_model == f"lstm+{spec}"


def test_the_groups_a_configuration_reads_may_be_swept(
    prices: pd.DataFrame, tmp_path: Path
) -> None:
    data = write_prices(prices, tmp_path / "prices.csv")
    spec = _covariate(prices, tmp_path / "macro.csv")
    cfg = _config(data, tmp_path / "run", prices, spec, baselines=(),
                  grid={"window": (5,), "covariates": (None, spec)})  # fmt: skip
    assert cfg.grid["covariates"] == ("none", spec)
    res = run_sweep(cfg)
    model = dict(zip(res.trials["config"], res.trials["model"], strict=True))
    reads = dict(zip(res.selection["covariates"], res.selection.index, strict=True))
    assert model[reads["none"]] == "lstm" and model[reads[spec]] == f"lstm+{spec}"
    ecfg = cfg.evaluation()
    assert config_factory(cfg, ecfg, {"covariates": "none"}, 0)().covariates == ()
    assert config_factory(cfg, ecfg, {"covariates": spec}, 0)().covariates == ("macro_level",)
    # both read the joined rows: the covariate's note, and the same selection dates
    assert any("starts on" in n for n in res.notes)
    dates = [
        pd.read_parquet(tmp_path / "run" / "trials" / k / "select.parquet").index
        for k in res.trials.loc[res.trials["phase"] == "select", "key"]
    ]
    pd.testing.assert_index_equal(dates[0], dates[1])
    best = res.selection.index[0]
    assert res.selected_model == model[best]
    assert res.selected["covariates"] == res.selection.loc[best, "covariates"]


def test_what_does_not_fit_is_refused_before_any_fit(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"vix_log is not a group of --covariates \(vix\)"):
        SweepConfig(out="x", covariates=("vix",), grid={"covariates": ("none", "vix_log")})
    with pytest.raises(ConfigError, match=r"chooses among the covariate groups .* --covariates"):
        SweepConfig(out="x", grid={"covariates": ("none", "vix")})
    with pytest.raises(ConfigError, match="a value is listed twice"):
        SweepConfig(out="x", covariates=("vix",), grid={"covariates": ("vix", ("vix",))})
    with pytest.raises(ConfigError, match="covariates are not set per configuration"):
        SweepConfig(out="x", covariates=("vix",), fixed={"covariates": ("vix_log",)})
    with pytest.raises(ConfigError, match="covariate 'vxx' is unknown"):
        SweepConfig(out="x", covariates=("vxx",))
    with pytest.raises(ConfigError, match=r"baseline har_x reads covariates .* or use har"):
        SweepConfig(out="x", baselines=("har_x",))
    with pytest.raises(ConfigError, match=r"baseline arx reads covariates .* or use ar1"):
        SweepConfig(out="x", target="return", baselines=("arx",))
    with pytest.raises(ConfigError, match=r"only har_x reads covariates .* name garch without"):
        SweepConfig(out="x", covariates=("vix",), baselines=("garch+vix",))
    with pytest.raises(ConfigError, match=r"har_x\+nasdaq reads the covariate\(s\) nasdaq"):
        SweepConfig(out="x", covariates=("vix",), baselines=("har_x+nasdaq",))
    assert not (tmp_path / "x").exists()
