"""Forecast combination on past losses only: the best recurrent and the best classical forecast so
far, weighted by the inverse of their recent mean losses (the weights for t read losses up to t-1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gatecast.errors import AlignmentError, ConfigError

#: Dates of past losses the weights average over (about a trading year), and the fewest before
#: the weights leave equal shares.
COMBINATION_WINDOW = 250
COMBINATION_MIN_PERIODS = 21


@dataclass
class Combination:
    """A combined forecast and how it was made, date by date.

    ``forecast`` is the combination; ``weights`` (dates x members) the weight of each member on
    each date (zero for a member not chosen that day); ``past_loss`` the trailing mean loss of
    each member over the dates before each date, which chose the members and set the weights.
    """

    forecast: pd.Series
    weights: pd.DataFrame
    past_loss: pd.DataFrame


def past_mean_loss(
    losses: pd.DataFrame,
    window: int = COMBINATION_WINDOW,
    min_periods: int = COMBINATION_MIN_PERIODS,
) -> pd.DataFrame:
    """Mean loss of each column over the ``window`` dates before each date (NaN until
    ``min_periods`` exist): the row of t reads the losses of t - window .. t - 1 only."""
    mean: pd.DataFrame = losses.rolling(window, min_periods=min_periods).mean().shift(1)
    return mean


def combine_best(
    forecasts: pd.DataFrame,
    losses: pd.DataFrame,
    recurrent: list[str],
    classical: list[str],
    *,
    window: int = COMBINATION_WINDOW,
    min_periods: int = COMBINATION_MIN_PERIODS,
    name: str = "combo",
) -> Combination:
    """Combine, on each date t, the recurrent and the classical forecast with the lowest mean loss
    over the ``window`` dates before t, weighted by the inverse of those mean losses.

    Parameters
    ----------
    forecasts, losses
        Dates x models, aligned: ``losses[m][t]`` is the loss of ``forecasts[m][t]`` against what
        happened on t, known at t's close (e.g. QLIKE against the day's squared return).
    recurrent, classical
        The candidates of each kind (at least one each); ties and the first ``min_periods``
        dates (no past losses yet) go to the first listed, with equal weights.
    window, min_periods
        Trailing dates the mean losses cover, and the fewest that count.

    Returns
    -------
    Combination
        The forecast ``sum_m w_m(t) f_m(t)`` with ``w_m(t) = (1 / L_m(t)) / sum_k (1 / L_k(t))``
        over the two chosen members, ``L_m(t)`` their mean loss over dates before t.

    Examples
    --------
    >>> idx = pd.RangeIndex(3)
    >>> fc = pd.DataFrame({"lstm": [1.0, 1.0, 1.0], "garch": [3.0, 3.0, 3.0]}, index=idx)
    >>> loss = pd.DataFrame({"lstm": [1.0, 1.0, 1.0], "garch": [3.0, 3.0, 3.0]}, index=idx)
    >>> combine_best(fc, loss, ["lstm"], ["garch"], min_periods=1).forecast.tolist()
    [2.0, 1.5, 1.5]
    """
    if not recurrent or not classical:
        raise ConfigError(
            f"a combination needs a recurrent and a classical model; got recurrent={recurrent}, "
            f"classical={classical}; add e.g. lstm and gjr_t to the models"
        )
    members = [*recurrent, *classical]
    missing = [m for m in members if m not in forecasts or m not in losses]
    if missing:
        raise ConfigError(f"no forecasts or losses for {missing}; run those models first")
    if not forecasts.index.equals(losses.index):
        raise AlignmentError("forecasts and losses must share their dates to be combined")
    if window < 1 or not 1 <= min_periods <= window:
        raise ConfigError(
            f"window={window}, min_periods={min_periods}: need 1 <= min_periods <= window"
        )
    past = past_mean_loss(losses[members], window, min_periods)
    # the first listed wins ties and the dates before any past loss exists
    filled = past.fillna(np.inf)
    best_r = filled[recurrent].to_numpy().argmin(axis=1)
    best_c = filled[classical].to_numpy().argmin(axis=1)
    weights = np.zeros((len(past), len(members)))
    rows = np.arange(len(past))
    p = past.to_numpy()
    lr, lc = p[rows, best_r], p[rows, len(recurrent) + best_c]
    inv_r, inv_c = 1.0 / lr, 1.0 / lc
    w_r = np.where(np.isfinite(inv_r + inv_c) & (lr > 0) & (lc > 0), inv_r / (inv_r + inv_c), 0.5)
    weights[rows, best_r] = w_r
    weights[rows, len(recurrent) + best_c] = 1.0 - w_r
    w = pd.DataFrame(weights, index=forecasts.index, columns=members)
    combined = (w * forecasts[members]).sum(axis=1).rename(name)
    return Combination(combined, w, past)
