"""Walk-forward sweeps with nested selection on synthetic GARCH prices: nothing of the test period
reaches the choice, the trial registry holds what was run (and recomputes), a killed sweep resumes
without recomputing, a changed search space is refused, every executor gives the same numbers."""

from __future__ import annotations

import doctest
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sweep_data import sweep_config, write_prices

from gatecast.data import garch11
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import cscv_pbo, deflated_sharpe_ratio
from gatecast.experiment.sweep import (
    SweepConfig,
    parse_space,
    read_trials,
    run_sweep,
    space,
    trial_count,
    trial_losses,
)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    return garch11(700, seed=3)[["close"]]


def _config(data: str, out: Path, prices: pd.DataFrame, **kw: Any) -> SweepConfig:
    return sweep_config(
        data, out, prices, select_row=450, test_row=600, **({"refit_every": 75} | kw)
    )


@pytest.fixture(scope="module")
def sweep_run(prices: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    root = tmp_path_factory.mktemp("sweep")
    data = write_prices(prices, root / "prices.csv")
    cfg = _config(data, root / "run", prices, baselines=("garch",), record=True)
    return run_sweep(cfg), root


# -- the search space ---------------------------------------------------------------------------
def test_grid_values_are_parsed_to_each_parameters_type() -> None:
    space = parse_space(
        ["window=5,22 cell=lstm,gru", "lr=5e-4", "features=return+abs_return", "warm_epochs=none,3"]
    )
    assert space == {
        "window": (5, 22),
        "cell": ("lstm", "gru"),
        "lr": (5e-4,),
        "features": (("return", "abs_return"),),
        "warm_epochs": (None, 3),
    }
    assert isinstance(space["window"][0], int) and isinstance(space["lr"][0], float)


def test_docstring_examples() -> None:
    assert doctest.testmod(space, raise_on_error=False).failed == 0


def test_unknown_parameters_and_bad_values_are_refused_with_the_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"'windw' is not a parameter .* choose from .*window"):
        parse_space(["windw=5,22"])
    with pytest.raises(ConfigError, match=r"window='long': not a valid int"):
        parse_space(["window=long"])
    with pytest.raises(ConfigError, match="give a parameter and its values"):
        parse_space(["window"])
    with pytest.raises(ConfigError, match="both swept"):
        SweepConfig(out="x", grid={"window": (5,)}, fixed={"window": 5})
    with pytest.raises(ConfigError, match="needs --trials"):
        SweepConfig(out="x", grid={"window": (5,)}, sampler="tpe")


def test_the_selection_period_defaults_to_the_four_years_before_the_test() -> None:
    assert SweepConfig(out="x").selection_period() == ("2011-01-01", "2014-12-31")
    with pytest.raises(ConfigError, match="must end before the test begins"):
        SweepConfig(out="x", select_end="2015-01-05").selection_period()


# -- nested selection ----------------------------------------------------------------------------
def test_changing_every_test_price_changes_nothing_in_the_selection(
    sweep_run: tuple[Any, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    res, root = sweep_run
    shocked = prices.copy()
    test = shocked.index >= shocked.index[600]
    rng = np.random.default_rng(1)
    shocked.loc[test, "close"] *= np.exp(rng.normal(0, 0.05, int(test.sum())))
    data = write_prices(shocked, tmp_path / "shocked.csv")
    other = run_sweep(_config(data, tmp_path / "run", prices, baselines=("garch",)))
    assert other.selected == res.selected
    pd.testing.assert_frame_equal(other.selection, res.selection)
    for key in res.trials.loc[res.trials["phase"] == "select", "key"]:
        a = pd.read_parquet(root / "run" / "trials" / key / "select.parquet")
        b = pd.read_parquet(tmp_path / "run" / "trials" / key / "select.parquet")
        pd.testing.assert_frame_equal(a, b)
    # the shock did reach the test: the chosen configuration's test loss moved
    col = "test_qlike"
    assert other.test[col].iloc[0] != pytest.approx(res.test[col].iloc[0], rel=1e-6)


def test_only_the_chosen_configuration_is_tested_unless_recorded(
    sweep_run: tuple[Any, Path],
) -> None:
    res, _ = sweep_run
    chosen = res.selection.index[0]
    assert res.selection["select_mean"].is_monotonic_increasing
    assert list(res.test.index) == [chosen, "garch"]
    assert list(res.record.index) == [res.selection.index[1]]
    assert res.test.loc[chosen, "select_qlike"] == pytest.approx(
        res.selection.loc[chosen, "select_mean"]
    )
    # the record is never consulted: its test loss is on the file, the choice is rank 1 regardless
    assert res.test.loc[chosen, "select_rank"] == 1


# -- the trial registry ---------------------------------------------------------------------------
def test_the_registry_recomputes_and_feeds_the_dsr_and_pbo(sweep_run: tuple[Any, Path]) -> None:
    res, root = sweep_run
    out = root / "run"
    trials = read_trials(out)
    assert set(trials["phase"]) == {"select", "test"}
    # N: two windows (one seed each) and the garch baseline asked to compare, all distinct
    assert trial_count(out) == 3 == res.n_trials
    assert res.n_configs == 2
    losses = trial_losses(out)
    assert list(losses.columns) == sorted(res.selection.index)
    fc = pd.read_parquet(out / "trial_forecasts.parquet")
    chosen = trials[(trials["phase"] == "select") & (trials["config"] != "garch")]
    for key, config in chosen[["key", "config"]].itertuples(index=False):
        f = fc[(fc["key"] == key) & (fc["phase"] == "select")]
        x = np.maximum(f["actual"].to_numpy(), 1e-12) / f["forecast"].to_numpy()
        # QLIKE recomputed from the stored forecasts by its closed form
        np.testing.assert_allclose(
            losses[config].to_numpy(), x - np.log(x) - 1, rtol=1e-6, atol=1e-9
        )
        assert res.selection.loc[config, "select_mean"] == pytest.approx(np.mean(x - np.log(x) - 1))
    pbo = cscv_pbo(-losses.to_numpy(), n_blocks=4)
    assert pbo.n_configs == 2
    n = trial_count(out)
    assert deflated_sharpe_ratio(0.05, 500, n, 1e-4) < deflated_sharpe_ratio(0.05, 500, 1, 1e-4)


def test_the_selection_plot_marks_the_chosen_point(sweep_run: tuple[Any, Path]) -> None:
    res, root = sweep_run
    assert (root / "run" / "selection.png").stat().st_size > 1000
    fig = res.plot()
    star = next(ln for ln in fig.axes[0].lines if ln.get_marker() == "*")
    assert star.get_xdata()[0] == res.selected["window"]
    assert star.get_ydata()[0] == pytest.approx(res.selection["select_mean"].iloc[0])


def test_a_sweep_shows_in_a_notebook(sweep_run: tuple[Any, Path]) -> None:
    res, _ = sweep_run
    html = res._repr_html_()
    s0, s1 = res.periods["select"]
    assert f"{res.n_configs} configurations chosen on {s0}..{s1}" in html
    assert f"window={res.selected['window']}" in html
    assert all(f"<th>{name}</th>" in html for name in res.test.index)  # every row of the test table


# -- resume --------------------------------------------------------------------------------------
def test_a_killed_sweep_resumes_without_recomputing(
    sweep_run: tuple[Any, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    res, root = sweep_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    # as if killed: one trial unfinished (its record, written last, missing), no final tables
    lost = res.trials.loc[res.trials["phase"] == "select", "key"].iloc[0]
    (run / "trials" / lost / "select.json").unlink()
    for name in ("trials.parquet", "selection.csv", "test.csv", "sweep_summary.json"):
        (run / name).unlink()
    again = run_sweep(
        _config(
            str(root / "prices.csv"), run, prices, baselines=("garch",), record=True, resume=True
        )
    )
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    got = again.trials.set_index(["key", "phase"])
    assert not got.loc[(lost, "select"), "resumed"]
    assert got.drop(index=(lost, "select"))["resumed"].all()
    old = res.trials.set_index(["key", "phase"])
    pd.testing.assert_series_equal(got["score"], old["score"])  # the same numbers
    assert got.drop(index=(lost, "select"))["finished"].equals(
        old.drop(index=(lost, "select"))["finished"]
    )


def test_a_changed_search_space_in_the_same_folder_is_refused(
    sweep_run: tuple[Any, Path], prices: pd.DataFrame
) -> None:
    _, root = sweep_run
    cfg = _config(
        str(root / "prices.csv"),
        root / "run",
        prices,
        baselines=("garch",),
        grid={"window": (5, 7)},
        resume=True,
    )
    with pytest.raises(
        ConfigError, match=r"different search space or data \(differs in \['grid'\]"
    ):
        run_sweep(cfg)
    assert (root / "run" / "sweep_summary.json").is_file()  # the refused resume left it whole


def test_more_seeds_in_the_same_folder_reuse_the_finished_ones(
    sweep_run: tuple[Any, Path], prices: pd.DataFrame, tmp_path: Path
) -> None:
    res, root = sweep_run
    run = tmp_path / "run"
    shutil.copytree(root / "run", run)
    data = str(root / "prices.csv")
    with pytest.raises(ConfigError, match=r"holds a finished sweep run .*pass --resume"):
        run_sweep(_config(data, run, prices, baselines=("garch",), seeds=2))
    grown = run_sweep(_config(data, run, prices, baselines=("garch",), seeds=2, resume=True))
    got = grown.trials.set_index(["key", "phase"])
    sel = got.xs("select", level="phase")
    assert sorted(sel["seed"].unique()) == [0, 1]
    assert sel.loc[sel["seed"] == 0, "resumed"].all()  # seed 0 read back, never rerun
    assert not sel.loc[sel["seed"] == 1, "resumed"].any()  # seed 1 is new work
    old = res.trials.set_index(["key", "phase"])
    seed0 = [k for k in sel.index if k.endswith("-s0")]
    pd.testing.assert_series_equal(
        sel.loc[seed0, "score"], old.xs("select", level="phase").loc[seed0, "score"]
    )
    assert (grown.selection["seeds"] == 2).all()
    fresh = run_sweep(_config(data, tmp_path / "fresh", prices, baselines=("garch",), seeds=2))
    # as if the sweep had run with two seeds from the start
    pd.testing.assert_frame_equal(grown.selection, fresh.selection)


# -- samplers and executors ------------------------------------------------------------------------
def test_optuna_samples_the_grid_values_reproducibly(prices: pd.DataFrame, tmp_path: Path) -> None:
    data = write_prices(prices, tmp_path / "p.csv")
    grid = {"window": (3, 5, 8), "lr": (1e-3, 3e-3)}
    kw: dict[str, Any] = {"grid": grid, "sampler": "random", "trials": 2, "batch": 2}
    a = run_sweep(_config(data, tmp_path / "a", prices, **kw))
    b = run_sweep(_config(data, tmp_path / "b", prices, **kw))
    assert 1 <= a.n_trials <= 2
    pd.testing.assert_frame_equal(a.selection, b.selection)
    assert set(a.selection["window"]) <= {"3", "5", "8"}


def test_importing_the_package_and_cli_loads_neither_ray_nor_optuna() -> None:
    code = (
        "import sys, gatecast, gatecast.experiment.sweep, gatecast.cli.app; "
        "sys.exit(any(m in sys.modules for m in ('ray', 'optuna', 'torch')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_serial_pool_and_ray_give_identical_numbers(prices: pd.DataFrame, tmp_path: Path) -> None:
    data = write_prices(prices, tmp_path / "p.csv")
    runs = {
        # one fold per period: the cost here is starting workers, not training
        ex: run_sweep(
            _config(data, tmp_path / ex, prices, executor=ex, n_jobs=jobs, refit_every=150)
        )
        for ex, jobs in (("serial", 1), ("pool", 2), ("ray", 2))
    }
    ref = runs["serial"].trials.set_index(["key", "phase"])["score"]
    for ex in ("pool", "ray"):
        pd.testing.assert_series_equal(runs[ex].trials.set_index(["key", "phase"])["score"], ref)
        a = pd.read_parquet(tmp_path / "serial" / "trial_forecasts.parquet")
        b = pd.read_parquet(tmp_path / ex / "trial_forecasts.parquet")
        pd.testing.assert_frame_equal(a, b)
