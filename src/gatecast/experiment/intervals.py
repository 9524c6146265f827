"""Conformal intervals around an evaluation's walk-forward forecasts: what `gatecast evaluate
--intervals 0.9` adds.

The calibration scores of the first fold must be out of sample too, so a second walk-forward
forecasts the ``calibration`` days before the test (rounded up to whole refits, so its folds end
where the test's begin; kept under ``out/intervals/calibration``). Return intervals are scaled by
a variance model's walk-forward (GARCH(1,1) by default, or a recurrent variance model; kept under
``out/intervals/variance_<model>``); variance intervals by each model's own forecast.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target
from gatecast.data.volatility import parkinson_scale, percent_returns, variance_proxy
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.intervals import (
    CALIBRATION,
    GAMMA,
    IntervalResult,
    conformal_intervals,
    regime_variance,
)
from gatecast.evaluation.walkforward import WalkForwardResult
from gatecast.experiment.registry import RECURRENT, canonical_names

__all__ = ["calibration_start", "evaluation_intervals", "interval_actual"]

Walker = Callable[[Any, pd.DataFrame], WalkForwardResult]


def calibration_start(index: pd.Index, test_start: Any, calibration: int, refit_every: int) -> str:
    """The date ``calibration`` rows (rounded up to whole refits) before ``test_start``."""
    first = int(index.searchsorted(pd.Timestamp(test_start)))
    rows = math.ceil(calibration / refit_every) * refit_every
    if first - rows < 0:
        raise TooFewRowsError(
            f"the calibration period needs {rows} rows before {test_start}, the data has "
            f"{first}; start the test later or shorten the calibration"
        )
    return str(pd.Timestamp(index[first - rows]).date())


def interval_actual(cfg: Any, data: pd.DataFrame) -> pd.Series:
    """What the intervals cover: the log return (fraction) for a return evaluation, the variance
    proxy (percent^2, the Parkinson scale fit before the test) for a variance one."""
    if cfg.target == "return":
        return make_target(data, TargetSpec("return"), cfg.column)
    scale = None
    if cfg.proxy == "parkinson":
        scale = parkinson_scale(data.loc[data.index < pd.Timestamp(cfg.test_start)], cfg.column)
    return variance_proxy(data, cfg.proxy, scale=scale, column=cfg.column)


def _by_model(cfg: Any, forecasts: pd.DataFrame) -> pd.DataFrame:
    """One column per model: a recurrent model's seeds averaged, as the leaderboard scores them."""
    out: pd.DataFrame = pd.DataFrame(
        {m: forecasts[keys].mean(axis=1) for m, keys in cfg.members().items()}
    )
    return out


def evaluation_intervals(
    cfg: Any,
    data: pd.DataFrame,
    walk: WalkForwardResult,
    walker: Walker,
    *,
    calibration: int = CALIBRATION,
    gamma: float = GAMMA,
) -> IntervalResult:
    """Intervals at level ``cfg.intervals`` around the forecasts of ``walk``, the walk-forward of
    the :class:`~gatecast.experiment.evaluation.EvaluationConfig` ``cfg`` on ``data``.

    ``walker`` is :func:`gatecast.experiment.evaluation.walk_models` (passed in, since that module
    calls this one): it runs the calibration walk and the scale model's walk.
    ``cfg.interval_scale`` names the variance model that scales return intervals (None:
    ``garch``; ``gjr_t``, ``lstm``...).
    """
    if cfg.target not in ("return", "variance"):
        raise ConfigError(
            f"--intervals covers return and variance forecasts, not {cfg.target}; use "
            f"--target return or --target variance"
        )
    start = calibration_start(data.index, cfg.test_start, calibration, cfg.refit_every)
    before = data.index[data.index < pd.Timestamp(cfg.test_start)][-1]
    sub = (lambda name: str(Path(cfg.out) / "intervals" / name)) if cfg.out else (lambda _: None)
    cal = walker(
        dataclasses.replace(
            cfg, test_start=start, test_end=str(before.date()), out=sub("calibration")
        ),
        data,
    )
    forecasts = pd.concat([_by_model(cfg, cal.forecasts), _by_model(cfg, walk.forecasts)])
    forecasts = forecasts[~forecasts.index.duplicated(keep="last")].sort_index()
    scale: pd.Series | pd.DataFrame
    if cfg.target == "variance":
        scale, scale_name = forecasts.where(forecasts > 0), "each model's own variance forecast"
    else:
        (name,) = canonical_names((cfg.interval_scale or "garch",), "variance")
        vcfg = dataclasses.replace(
            cfg,
            target="variance",
            proxy="squared",
            models=(name,),
            seeds=1,
            features=None,
            train_proxy=None,
            test_start=start,
            out=sub(f"variance_{name}"),
        )
        variance = walker(vcfg, data).forecasts.iloc[:, 0]
        scale = np.sqrt(variance.where(variance > 0)) / 100.0  # percent^2 -> a log-return sd
        kind = "recurrent " if name in RECURRENT else ""
        scale_name = f"{kind}{name} variance forecast (standard deviation)"
    regime = regime_variance(percent_returns(data, cfg.column) ** 2)
    folds = sorted({pd.Timestamp(d) for w in (cal, walk) for d in w.folds["test_start"]})
    return conformal_intervals(
        interval_actual(cfg, data),
        forecasts,
        fold_starts=folds,
        test_start=cfg.test_start,
        regime=regime,
        scale=scale,
        level=cfg.intervals,
        gamma=gamma,
        calibration=calibration,
        scale_name=scale_name,
    )
