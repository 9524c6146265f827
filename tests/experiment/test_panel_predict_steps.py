"""gc.predict(global folder, panel, steps=H) and ``gatecast predict --steps H`` on a panel:
each instrument's H-step table equals the one-series ``predict --steps`` of its view
(for_instrument) saved as a one-series folder (1e-9; the bands too, with the calibration record
built from the same rows), the NumPy engine gives the torch one's to float rounding (1e-6), the
one-series rules hold in closed form (variance: k x the one-day forecast; a return: step 1,
zero beyond), and what does not apply is refused by name before anything is read."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from panel_views import calibrate_view
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import ConfigError
from gatecast.experiment.panel_serving import run_panel_prediction, run_panel_training
from gatecast.experiment.panel_steps import check_panel_steps
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

ROWS = 400
SIGMA = {"AAA": 0.005, "BBB": 0.01, "CCC": 0.02}
TINY: dict[str, Any] = {"hidden": 4, "epochs": 1, "device": "cpu", "quiet": True, "seed": 0}
H = 5
runner = CliRunner()


@pytest.fixture
def panel(constant_vol_panel: Callable[..., dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The panel of ``ROWS`` rows, built afresh for each test."""
    return constant_vol_panel(ROWS)


def _trained_folder(target: str) -> Any:
    """A module fixture: the folder of a tiny global model of ``target`` fit on the panel of
    ``ROWS`` rows (test_size 0.4)."""

    @pytest.fixture(scope="module", name=f"{target}_folder")
    def folder(
        constant_vol_panel: Callable[..., dict[str, pd.DataFrame]],
        tmp_path_factory: pytest.TempPathFactory,
    ) -> Path:
        out = tmp_path_factory.mktemp("pst") / "model"
        data = constant_vol_panel(ROWS)
        run_panel_training(TrainJob(data=data, target=target, test_size=0.4, **TINY), out)
        return out

    return folder


variance_folder = _trained_folder("variance")
return_folder = _trained_folder("return")
direction_folder = _trained_folder("direction")


def _one_series_steps(
    model: Any,
    name: str,
    df: pd.DataFrame,
    root: Path,
    *,
    variance: bool,
    **settings: Any,
) -> pd.DataFrame:
    """The one-series ``predict --steps`` table of ``name``'s view of the global ``model``
    (for_instrument) saved as a one-series folder ``root / name``; with bands, the calibration
    record the one-series ``train`` writes is built from the instrument's rows after the end of
    its training range (out of sample) and saved with it."""
    view, train_end, folder = model.for_instrument(name), model.train_ranges_[name][1], root / name
    if settings.get("interval") is not None or settings.get("quantiles"):
        calibrate_view(view, df, train_end, variance=variance)
    view.save(folder)
    pred = run_prediction(folder, df, calendar="data", steps=H, **settings)
    assert pred.steps is not None
    return pred.steps


def _compare(got: pd.DataFrame, one: pd.DataFrame) -> None:
    """The panel's rows of one instrument against the one-series table: the same dates and
    steps, numbers to 1e-9 relative, the same method text."""
    assert list(got["step"]) == list(range(1, H + 1))
    assert list(pd.DatetimeIndex(got["date"])) == list(pd.DatetimeIndex(one["date"]))
    assert (pd.DatetimeIndex(got["as_of"]) == pd.DatetimeIndex(one["as_of"])).all()
    numbers = [c for c in one.columns if c not in ("as_of", "date", "step", "method")]
    assert numbers and set(numbers) <= set(got.columns)
    np.testing.assert_allclose(
        got[numbers].to_numpy(float), one[numbers].to_numpy(float), rtol=1e-9, atol=1e-15
    )
    assert list(got["method"]) == list(one["method"])


def test_each_instruments_steps_are_the_one_series_steps_of_its_view(
    panel: dict[str, pd.DataFrame],
    variance_folder: Path,
    tmp_path: Path,
) -> None:
    got = gc.predict(variance_folder, panel, calendar="data", steps=H)
    assert isinstance(got, pd.DataFrame)
    assert len(got) == H * len(panel)
    assert list(got.columns[:4]) == ["instrument", "as_of", "date", "step"]
    assert list(got.columns[-2:]) == ["in_fit", "method"]
    one_day = run_panel_prediction(variance_folder, panel, calendar="data")
    model = GlobalRecurrentVariance.load(variance_folder)
    for name, df in panel.items():
        mine = got[got["instrument"] == name].reset_index(drop=True)
        one = _one_series_steps(model, name, df, tmp_path, variance=True)
        _compare(mine, one)
        # the rule in closed form: every bar's variance is the one-day forecast, k x it summed
        v1 = float(one_day.set_index("instrument").loc[name, "forecast"])
        np.testing.assert_allclose(mine["forecast"], v1, rtol=1e-12)
        np.testing.assert_allclose(mine["cumulative_variance"], v1 * np.arange(1, H + 1))
        assert mine["as_of"].iloc[0] == df.index[-1] and mine["in_fit"].all()
    assert any("square-root-of-time" in n for n in got.attrs["notes"])


def test_a_variance_models_bands_with_steps_are_its_views_one_series_ones(
    panel: dict[str, pd.DataFrame],
    variance_folder: Path,
    tmp_path: Path,
) -> None:
    bands: dict[str, Any] = {"interval": 0.9, "quantiles": (0.05, 0.95), "dist": "t"}
    got = run_panel_prediction(variance_folder, panel, calendar="data", steps=H, **bands)
    model = GlobalRecurrentVariance.load(variance_folder)
    for name, df in panel.items():
        mine = got[got["instrument"] == name].reset_index(drop=True)
        one = _one_series_steps(model, name, df, tmp_path, variance=True, **bands)
        _compare(mine, one)
        # step k's band: step 1's widened by sqrt(k) around a zero mean (closed form)
        k = np.arange(1, H + 1)
        np.testing.assert_allclose(mine["upper"], mine["upper"].iloc[0] * np.sqrt(k), rtol=1e-12)
        assert (mine["lower"] == -mine["upper"]).all()
    notes = got.attrs["notes"]
    assert any("adaptive conformal" in n for n in notes) and any("--steps" in n for n in notes)


def test_a_return_models_steps_and_bands_are_its_views_one_series_ones(
    panel: dict[str, pd.DataFrame], return_folder: Path, tmp_path: Path
) -> None:
    """A return model: step 1 its forecast, zero beyond (the cumulative return stays step 1's);
    the bands' scale is the GARCH(1,1) of the instrument's own calibration record."""
    plain = run_panel_prediction(return_folder, panel, calendar="data", steps=H)
    got = run_panel_prediction(
        return_folder, panel, calendar="data", steps=H, interval=0.9, quantiles=(0.1, 0.9)
    )
    model = GlobalRecurrentReturn.load(return_folder)
    for name, df in panel.items():
        mine = got[got["instrument"] == name].reset_index(drop=True)
        one = _one_series_steps(
            model, name, df, tmp_path, variance=False, interval=0.9, quantiles=(0.1, 0.9)
        )
        _compare(mine, one)
        first = float(mine["forecast"].iloc[0])
        assert (mine["forecast"].iloc[1:] == 0.0).all() and (mine["cumulative"] == first).all()
        close = float(df["close"].iloc[-1])
        assert mine["price_forecast"].iloc[0] == pytest.approx(close * math.exp(first))
        steps_only = plain[plain["instrument"] == name].reset_index(drop=True)
        pd.testing.assert_series_equal(steps_only["forecast"], mine["forecast"])
        assert "variance" not in steps_only and "variance" in mine  # the GARCH scale's


def test_the_numpy_engine_gives_the_torch_engines_steps(
    panel: dict[str, pd.DataFrame], variance_folder: Path
) -> None:
    torch = run_panel_prediction(variance_folder, panel, steps=H)
    numpy = run_panel_prediction(variance_folder, panel, steps=H, engine="numpy")
    assert list(numpy.columns) == list(torch.columns)
    assert (numpy["date"] == torch["date"]).all() and (numpy["step"] == torch["step"]).all()
    for c in ("forecast", "cumulative_variance"):
        np.testing.assert_allclose(numpy[c], torch[c], rtol=1e-6)


def test_a_new_instrument_gets_steps_from_its_own_rows(
    panel: dict[str, pd.DataFrame], variance_folder: Path
) -> None:
    """An instrument outside the fit: its view fits its scaler on all its rows, as predict
    without steps does; its step 1 is that forecast."""
    panel["NEW"] = panel["BBB"] * 1.5
    got = run_panel_prediction(variance_folder, panel, steps=2).set_index("instrument")
    one_day = run_panel_prediction(variance_folder, panel).set_index("instrument")
    assert not got.loc["NEW", "in_fit"].any()
    assert got.loc["NEW", "forecast"].iloc[0] == pytest.approx(one_day.loc["NEW", "forecast"])


def test_what_does_not_apply_is_refused_before_the_data_is_read(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]],
    variance_folder: Path,
    direction_folder: Path,
    tmp_path: Path,
) -> None:
    """The data named does not exist: each refusal comes first, naming the setting."""
    nowhere = tmp_path / "nowhere.csv"
    for steps in (0, -2):
        with pytest.raises(ConfigError, match=f"--steps {steps}: give the number of bars"):
            run_panel_prediction(variance_folder, nowhere, steps=steps)
    with pytest.raises(ConfigError, match="--steps extends a one-day return or variance"):
        run_panel_prediction(direction_folder, nowhere, steps=H)
    with pytest.raises(ConfigError, match="start does not apply to a global model"):
        gc.predict(variance_folder, constant_vol_panel(ROWS), steps=H, start="2016-01-01")


def test_cli_predict_steps_on_a_panel(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]],
    variance_folder: Path,
    tmp_path: Path,
) -> None:
    long = pd.concat(
        [df.assign(ticker=n).reset_index() for n, df in constant_vol_panel(ROWS).items()],
        ignore_index=True,
    )
    csv = tmp_path / "long.csv"
    long.to_csv(csv, index=False)
    out = tmp_path / "steps.csv"
    args = ["predict", "--model", str(variance_folder), "--data", str(csv), "--out", str(out)]
    res = runner.invoke(app, [*args, "--steps", "3", "--interval", "0.9"])
    assert res.exit_code == 0, res.output
    assert "3 per instrument (steps 1..3)" in res.output
    table = pd.read_csv(out)
    assert len(table) == 3 * len(SIGMA) and list(table["step"].unique()) == [1, 2, 3]
    direct = run_panel_prediction(variance_folder, constant_vol_panel(ROWS), steps=3, interval=0.9)
    np.testing.assert_allclose(table["upper"], direct["upper"], rtol=1e-8)
    for bad, message in (("0", "--steps 0: give the number of bars"), ("2", "--start")):
        extra = ["--start", "2015-06-01"] if bad == "2" else []
        res = runner.invoke(app, [*args, "--overwrite", "--steps", bad, *extra])
        assert res.exit_code == 2, res.output
        assert message in res.output


def test_a_model_reading_covariates_is_refused_steps(variance_folder: Path) -> None:
    """The covariate rule of one series, on the first instrument's view: the bars after the data
    need the covariates' values, not known yet (a spec that records covariates: only its
    ``covariates`` is read)."""
    view = GlobalRecurrentVariance.load(variance_folder).for_instrument("AAA")
    spec = SimpleNamespace(covariates=("sp500_return",))
    with pytest.raises(ConfigError, match=r"reads the covariates \['sp500_return'\]"):
        check_panel_steps(view, spec, H, variance=True)
    check_panel_steps(view, view._fitted(), H, variance=True)  # no covariates: taken
    check_panel_steps(view, spec, None, variance=True)  # no steps: nothing to refuse
