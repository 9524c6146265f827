"""Fixtures shared by the experiment tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
import gatecast.data.covariates as covariates_module
import gatecast.experiment.panel_covariates as panel_covariates_module
from gatecast.cli.app import app


def _fake_covariates(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, pd.DataFrame], *modules: ModuleType
) -> dict[str, pd.DataFrame]:
    """Each group named in ``values`` reads ``values[name]`` (replace it to change the
    covariate) wherever ``modules`` look covariates up; the other groups read the real ones."""
    real = covariates_module.covariate_values

    def fake(name: str) -> tuple[pd.DataFrame, int]:
        return (values[name], 0) if name in values else real(name)

    for module in modules:
        monkeypatch.setattr(module, "covariate_values", fake)
    return values


@pytest.fixture
def moved_vix(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """The ``vix`` group reads ``values["vix"]`` (replace it to change the covariate)."""
    values = {"vix": covariates_module.covariate_values("vix")[0]}
    return _fake_covariates(monkeypatch, values, covariates_module)


def _vix_frame(start: str = "2009-12-01", periods: int = 430, seed: int = 1) -> pd.DataFrame:
    """A synthetic covariate in the ``vix`` group's column, on every business day (some of
    which an instrument lacks)."""
    days = pd.bdate_range(start, periods=periods, name="date")
    x = np.random.default_rng(seed).standard_normal(periods).cumsum() * 0.05 + 3.0
    return pd.DataFrame({"vix_log": x}, index=days)


@pytest.fixture(scope="session")
def vix_frame() -> Callable[..., pd.DataFrame]:
    """``vix_frame(start="2009-12-01", periods=430, seed=1)``: a synthetic ``vix_log`` series."""
    return _vix_frame


@pytest.fixture
def synthetic_vix(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """The ``vix`` group reads ``values["vix"]``, at first :func:`_vix_frame` (replace it to
    change the covariate), for the panel's join and the single series' alike."""
    values = {"vix": _vix_frame()}
    return _fake_covariates(monkeypatch, values, covariates_module, panel_covariates_module)


@pytest.fixture
def no_panel_var_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The panel VaR's walk-forward fails if called: a run refused before any fit never
    reaches it."""
    from gatecast.experiment import panel_var

    def no_walk(*a: object, **k: object) -> None:
        raise AssertionError("a refused run walked forward")

    monkeypatch.setattr(panel_var, "panel_walk_forward", no_walk)


@pytest.fixture
def train_on_spx(tmp_path: Path) -> Callable[[str], tuple[Path, Path]]:
    """``train_on_spx(group)``: `gatecast train` of a tiny variance model with the covariate
    ``group`` on the bundled S&P 500 of 2015-2016 (written to ``tmp_path / "spx.csv"``), its
    test from 2016-07-01, into ``tmp_path / "m"``; returns (the data file, the model folder)."""

    def train(group: str) -> tuple[Path, Path]:
        data = tmp_path / "spx.csv"
        gc.load("sp500").loc["2015":"2016"].to_csv(data)
        model = tmp_path / "m"
        args = ["train", "--data", str(data), "--target", "variance", "--covariates", group]
        tiny = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
        res = CliRunner().invoke(
            app, [*args, "--test-start", "2016-07-01", "--out", str(model), *tiny]
        )
        assert res.exit_code == 0, res.output
        return data, model

    return train


def _moved_after(
    frames: Mapping[str, pd.DataFrame], day: pd.Timestamp, name: str = "AAA"
) -> dict[str, pd.DataFrame]:
    """A copy of ``frames`` in which ``name``'s closes after ``day`` are moved (each times
    exp(0.05 z), z standard normal from seed 7): another path from then on."""
    changed = {n: df.copy() for n, df in frames.items()}
    after = changed[name].index > day
    rng = np.random.default_rng(7)
    changed[name].loc[after, "close"] *= np.exp(0.05 * rng.standard_normal(int(after.sum())))
    return changed


@pytest.fixture(scope="session")
def moved_after() -> Callable[..., dict[str, pd.DataFrame]]:
    """``moved_after(frames, day, name="AAA")``: the leakage tests' changed copy of a panel
    (see :func:`_moved_after`)."""
    return _moved_after


#: the constant daily log-return volatility of each instrument of :func:`_constant_vol_panel`
CONSTANT_SIGMA = {"AAA": 0.005, "BBB": 0.01, "CCC": 0.02}


def _constant_vol_panel(rows: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Closes of known constant variance on ``rows`` business days from 2015-01-01: AAA, BBB
    and CCC at the daily volatility of :data:`CONSTANT_SIGMA`, drawn one after the other from
    one generator of ``seed``."""
    days = pd.bdate_range("2015-01-01", periods=rows, name="date")
    rng = np.random.default_rng(seed)
    return {
        n: pd.DataFrame({"close": 100 * np.exp(np.cumsum(s * rng.standard_normal(rows)))}, days)
        for n, s in CONSTANT_SIGMA.items()
    }


@pytest.fixture(scope="session")
def constant_vol_panel() -> Callable[..., dict[str, pd.DataFrame]]:
    """``constant_vol_panel(rows, seed=0)``: the panel of known constant variance of the global
    models' prediction tests (see :func:`_constant_vol_panel`)."""
    return _constant_vol_panel


@pytest.fixture(scope="session")
def two_walks(small_panel: Callable[..., dict[str, pd.DataFrame]]) -> Callable[[int], gc.Panel]:
    """``two_walks(days)``: ``small_panel({"A": 1.0, "B": 2.0}, days)`` (from 2010-01-01, seed
    0) loaded as a :class:`gatecast.Panel`."""

    def panel(days: int) -> gc.Panel:
        return gc.load_panel(small_panel({"A": 1.0, "B": 2.0}, days))

    return panel


@pytest.fixture(scope="session")
def tiny_panel_evaluation() -> dict[str, Any]:
    """The settings of a tiny panel evaluation (4 hidden units, one epoch on the CPU, 100 MCS
    replications, 150 training rows at least); one dict for the session: unpack it, never
    change it."""
    return {"hidden": 4, "epochs": 1, "device": "cpu", "mcs_reps": 100, "min_train": 150}
