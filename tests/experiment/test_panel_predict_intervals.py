"""gc.predict(global folder, panel, interval=...): each instrument's bands are the one-series
bands of its view (for_instrument) saved as a one-series folder whose calibration record is built
from the same rows (to 1e-9), the interval is recomputed by a hand-written adaptive conformal
recursion over the instrument's own out-of-sample scores, coverage on a panel of known constant
variance is near the level (closed form), a return model's bands use a GARCH scale fit on its
own training rows, and what does not apply is refused by name before any forecast."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from panel_views import calibrate_view
from scipy import stats

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.experiment.panel_serving import run_panel_prediction, run_panel_training
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

ROWS = 640
#: each instrument's constant daily log-return volatility: its variance is known in closed form
SIGMA = {"AAA": 0.005, "BBB": 0.01, "CCC": 0.02}
TINY: dict[str, Any] = {"hidden": 4, "epochs": 1, "device": "cpu", "quiet": True, "seed": 0}


@pytest.fixture
def panel(constant_vol_panel: Callable[..., dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """The panel of ``ROWS`` rows, built afresh for each test."""
    return constant_vol_panel(ROWS)


@pytest.fixture(scope="module")
def variance_folder(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A global variance model fit on each instrument's first half (test_size 0.5): some 300
    out-of-sample rows each, more than the 250 of the conformal window, so alpha_t moves."""
    out = tmp_path_factory.mktemp("pvi") / "model"
    run_panel_training(
        TrainJob(data=constant_vol_panel(ROWS), target="variance", test_size=0.5, **TINY), out
    )
    return out


def _one_series_bands(
    view: Any, df: pd.DataFrame, train_end: str, folder: Path, variance: bool, **bands: Any
) -> pd.Series:
    """The last row of the one-series ``predict`` of ``view`` (one instrument's view of the
    global model) saved as a one-series folder, with the calibration record the one-series
    ``train`` writes, built from the instrument's rows after ``train_end`` (out of sample)."""
    calibrate_view(view, df, train_end, variance=variance)
    view.save(folder)
    pred = run_prediction(folder, df, calendar="data", **bands)
    last: pd.Series = pred.frame.iloc[-1]
    return last


def test_each_instrument_gets_the_one_series_bands_of_its_view(
    panel: dict[str, pd.DataFrame],
    variance_folder: Path,
    tmp_path: Path,
) -> None:
    bands = {"interval": 0.9, "quantiles": (0.05, 0.5, 0.95), "dist": "t"}
    got = gc.predict(variance_folder, panel, calendar="data", **bands)
    assert isinstance(got, pd.DataFrame)
    got = got.set_index("instrument")
    model = GlobalRecurrentVariance.load(variance_folder)
    cols = ["forecast", "lower", "upper", "price_lower", "price_upper", "q0.05", "q0.95"]
    cols += ["var_0.99", "es_0.975", "price_es_0.975"]
    for name, df in panel.items():
        view = model.for_instrument(name)
        one = _one_series_bands(
            view, df, model.train_ranges_[name][1], tmp_path / name, True, **bands
        )
        assert one.name == got.loc[name, "date"]
        np.testing.assert_allclose(
            got.loc[name, cols].to_numpy(float), one[cols].to_numpy(float), rtol=1e-9
        )
    assert any("intervals per instrument: adaptive conformal" in n for n in got.attrs["notes"])


def _hand_aci(scores: np.ndarray, level: float, gamma: float = 0.005) -> float:
    """Adaptive conformal inference written out: the first W = min(250, n) scores fill the
    window; each later score, after an interval at the ceil((W + 1)(1 - alpha_t))-th smallest
    of the last W, moves alpha_t by gamma (alpha - miss); the interval issued next."""
    w, alpha = min(250, len(scores)), 1.0 - level
    alpha_t = alpha

    def quantile(window: np.ndarray, a: float) -> float:
        k = math.ceil((len(window) + 1) * (1 - a) - 1e-9)
        return math.inf if k > len(window) else float(np.sort(window)[k - 1])

    for i in range(w, len(scores)):
        q = quantile(scores[i - w : i], alpha_t)
        alpha_t += gamma * (alpha - float(scores[i] > q))
    return quantile(scores[len(scores) - w :], alpha_t)


def test_the_interval_is_a_hand_computed_conformal_recursion_on_its_own_rows(
    panel: dict[str, pd.DataFrame],
    variance_folder: Path,
) -> None:
    """Scores |r_t| / sigma_t over the instrument's rows after its training rows (sigma_t the
    view's one-day forecast), the recursion by hand: lower/upper = -/+ q sigma_next; the price
    band from the last close. Another instrument's rows moved change nothing of AAA's."""
    got = run_panel_prediction(variance_folder, panel, interval=0.8).set_index("instrument")
    model = GlobalRecurrentVariance.load(variance_folder)
    for name, df in panel.items():
        view = model.for_instrument(name)
        end = pd.Timestamp(model.train_ranges_[name][1])
        fc = view.predict(df, start=df.index[df.index > end][0])
        r = np.log(df["close"]).diff().reindex(fc.index)
        scores = (r.abs() / (np.sqrt(fc) / 100)).to_numpy()
        assert len(scores) > 300 and np.isfinite(scores).all()
        q = _hand_aci(scores, 0.8)
        sd = math.sqrt(got.loc[name, "forecast"]) / 100
        assert got.loc[name, "upper"] == pytest.approx(q * sd, rel=1e-9)
        assert got.loc[name, "lower"] == pytest.approx(-q * sd, rel=1e-9)
        close = float(df["close"].iloc[-1])
        assert got.loc[name, "price_upper"] == pytest.approx(close * math.exp(q * sd), rel=1e-9)
    moved = dict(panel, CCC=panel["CCC"] * np.exp(np.linspace(0, 0.3, ROWS))[:, None])
    again = run_panel_prediction(variance_folder, moved, interval=0.8).set_index("instrument")
    pd.testing.assert_series_equal(again.loc["AAA"], got.loc["AAA"])
    assert again.loc["CCC", "upper"] != got.loc["CCC", "upper"]


def test_coverage_on_a_panel_of_known_variance_is_near_the_level(
    panel: dict[str, pd.DataFrame], variance_folder: Path
) -> None:
    """Returns N(0, sigma_i^2) with sigma_i known: the true probability that the next return
    falls inside [lower, upper] is 2 Phi(upper / sigma_i) - 1 (closed form). At six forecast
    origins per instrument (the data cut 10 rows apart), each is within 0.9 +/- 0.07 and their
    mean within 0.9 +/- 0.035 (the conformal quantile of some 300 scores: a standard error of
    about 0.02 per instrument)."""
    cover = []
    for cut in range(0, 60, 10):
        part = {n: df.iloc[: ROWS - cut] for n, df in panel.items()}
        got = run_panel_prediction(variance_folder, part, interval=0.9).set_index("instrument")
        for name, sigma in SIGMA.items():
            upper = got.loc[name, "upper"]
            assert got.loc[name, "lower"] == pytest.approx(-upper)
            cover.append(2 * stats.norm.cdf(upper / sigma) - 1)
    assert all(0.83 < c < 0.97 for c in cover), cover
    assert abs(np.mean(cover) - 0.9) < 0.035, np.mean(cover)


def test_a_return_models_bands_are_its_views_one_series_bands(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    """A global return model: each instrument's interval around its return forecast, scaled by
    a GARCH(1,1) fit on that instrument's own training rows, as one series' predict gives it."""
    out = tmp_path / "model"
    panel = constant_vol_panel(400, seed=1)
    run_panel_training(TrainJob(data=panel, target="return", test_size=0.4, **TINY), out)
    got = run_panel_prediction(out, panel, interval=0.9, quantiles=(0.1, 0.9)).set_index(
        "instrument"
    )
    model = GlobalRecurrentReturn.load(out)
    for name, df in panel.items():
        view = model.for_instrument(name)
        one = _one_series_bands(
            view,
            df,
            model.train_ranges_[name][1],
            tmp_path / name,
            False,
            interval=0.9,
            quantiles=(0.1, 0.9),
        )
        cols = ["forecast", "lower", "upper", "price_lower", "price_upper", "q0.1", "q0.9"]
        np.testing.assert_allclose(
            got.loc[name, cols].to_numpy(float), one[cols].to_numpy(float), rtol=1e-9
        )
        assert got.loc[name, "lower"] < got.loc[name, "forecast"] < got.loc[name, "upper"]
    with pytest.raises(ConfigError, match="--dist t shapes a variance model's predictive"):
        run_panel_prediction(out, panel, quantiles=(0.1, 0.9), dist="t")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"interval": 1.5}, r"--interval 1.5: an interval level is in \(0, 1\)"),
        ({"quantiles": (0.05, 1.0)}, r"--quantiles 1.0: a quantile level is in \(0, 1\)"),
        ({"quantiles": (0.05,), "dist": "cauchy"}, "--dist cauchy: the predictive"),
        ({"interval": 0.9, "dist": "t"}, "--dist gives a variance model's quantiles"),
        ({"interval": 0.9, "engine": "numpy"}, "--interval with --engine numpy"),
    ],
)
def test_settings_that_do_not_fit_are_refused_before_anything_is_read(
    settings: dict[str, Any], message: str, tmp_path: Path
) -> None:
    out = tmp_path / "f.csv"
    with pytest.raises(ConfigError, match=message):  # the folder and data do not exist
        run_panel_prediction(tmp_path / "no-model", tmp_path / "no.csv", out, **settings)
    assert not out.exists()


def test_instruments_without_out_of_sample_rows_are_refused_by_name(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]],
    variance_folder: Path,
    tmp_path: Path,
) -> None:
    panel, out = constant_vol_panel(ROWS), tmp_path / "f.csv"
    extra = dict(panel, ZZZ=panel["AAA"] * 1.1)
    with pytest.raises(ConfigError, match=r"instrument\(s\) ZZZ not in the fit"):
        run_panel_prediction(variance_folder, extra, out, interval=0.9)
    end = pd.Timestamp(GlobalRecurrentVariance.load(variance_folder).train_ranges_["BBB"][1])
    short = dict(panel, BBB=panel["BBB"].loc[: end + pd.Timedelta(days=1)])
    with pytest.raises(ConfigError, match="instrument 'BBB': no interval calibration recorded"):
        run_panel_prediction(variance_folder, short, out, interval=0.9)
    cut = dict(panel, BBB=panel["BBB"].loc[:end])
    with pytest.raises(ConfigError, match="instrument 'BBB': the data ends by the end of its"):
        run_panel_prediction(variance_folder, cut, out, interval=0.9)
    assert not out.exists()
    # without bands the same data is forecast as before
    plain = run_panel_prediction(variance_folder, extra)
    assert list(plain.columns) == ["instrument", "as_of", "date", "forecast", "in_fit"]


def test_a_direction_model_takes_no_interval(
    constant_vol_panel: Callable[..., dict[str, pd.DataFrame]], tmp_path: Path
) -> None:
    out = tmp_path / "model"
    panel = {n: df for n, df in constant_vol_panel(200).items() if n != "CCC"}
    run_panel_training(TrainJob(data=panel, target="direction", **TINY), out)
    with pytest.raises(ConfigError, match=r"--interval cover\(s\) a one-day return or variance"):
        run_panel_prediction(out, panel, interval=0.9)
