"""Intervals and quantiles beside a saved model's forecasts: the calibration `train` records in the
model folder, and what `predict --interval/--quantiles` makes of it.

The method is ``aci_norm`` of :mod:`gatecast.evaluation.intervals`: scores
s_t = |r_t - forecast_t| / scale_t, with scale_t a standard deviation forecast of the one-day log
return, and adaptive conformal inference (Gibbs and Candes 2021) over them. A return model's scale
is a GARCH(1,1) fit on the training rows (its parameters kept in the record); a variance model's
is its own forecast, around a zero mean forecast (as :class:`gatecast.serve.intervals.IntervalStream`
does without a point stream).

At ``train`` the scores of the test part (forecast out of sample: the model never saw those rows)
are recorded in the manifest under ``intervals``, so its checksum covers them. ``predict`` runs
the ACI recursion at the requested level over the recorded scores first (the first ``window`` fill
the window, the rest move alpha_t), then on over the rows it forecasts after the calibration's last
date, one row at a time: each interval is issued from the scores before it only.

A quantile tau < 0.5 is the lower bound of the (1 - 2 tau) interval, tau > 0.5 the upper bound of
the (2 tau - 1) interval (the scores are absolute, so the intervals are symmetric), 0.5 the point
forecast. A variance model also gives a parametric predictive distribution, r = sigma z with z
Normal or a unit-variance Student-t whose nu is fit on the training rows' standardised returns;
its quantiles, VaR and expected shortfall are exact functions of the forecast, not calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.data.volatility import percent_returns
from gatecast.errors import TooFewRowsError
from gatecast.evaluation.var import Distribution, expected_shortfall, fit_t_dof, standard_quantile
from gatecast.inference.classical import GarchRecursion, by_origin
from gatecast.serve.conformal import CALIBRATION, GAMMA
from gatecast.serve.intervals import (
    RECORD_KEY,
    RECORD_VERSION,
    check_band_levels,
    quantile_tag,
    read_record,
    restarted,
)

__all__ = [
    "INFO_KEY",
    "MIN_SCORES",
    "apply_intervals",
    "calibration_record",
    "check_levels",
    "read_record",
]

#: The manifest key of the calibration record.
INFO_KEY = RECORD_KEY
#: Fewest calibration scores a record needs (a 90% interval from fewer is mostly the extremes).
MIN_SCORES = 30


def check_levels(interval: float | None, quantiles: Sequence[float] | None) -> None:
    """Refuse a level outside (0, 1) before anything is read."""
    check_band_levels(interval, quantiles)


def _log_return(df: pd.DataFrame, column: str | None) -> pd.Series:
    return make_target(df, TargetSpec("return"), column)


def garch_scale(
    rec: GarchRecursion, df: pd.DataFrame, column: str | None, dates: pd.Index
) -> pd.Series:
    """The GARCH(1,1) standard deviation (log-return units) of the return on each of ``dates``
    (dates of ``df`` or the one after it), from the prices up to the day before."""
    origin = by_origin(rec, df, column)
    full = df.index.append(dates[~dates.isin(df.index)])
    pos = full.get_indexer(dates) - 1
    v = np.where(pos >= 0, origin.to_numpy()[np.clip(pos, 0, len(origin) - 1)], np.nan)
    out: pd.Series = pd.Series(np.sqrt(np.where(v > 0, v, np.nan)) / 100.0, index=dates)
    return out


def calibration_record(
    model: Any,
    df: pd.DataFrame,
    history: pd.DataFrame,
    forecasts: pd.Series,
    *,
    variance: bool,
    gamma: float = GAMMA,
    window: int = CALIBRATION,
) -> tuple[dict[str, Any] | None, str | None]:
    """The record ``train`` keeps in the manifest, or None and why (None when the model's
    target takes no intervals).

    ``forecasts`` are the model's out-of-sample forecasts of the test part (the model fit on
    ``history`` only). None (with the reason) where the model gets no intervals: a price or
    direction target, a horizon > 1, or fewer than :data:`MIN_SCORES` test rows.
    """
    column = model.column_
    if not variance:
        spec = model.target_spec
        if spec.kind != "return" or spec.horizon != 1:
            return None, None
    r = _log_return(df, column)
    record: dict[str, Any] = {"version": RECORD_VERSION, "method": "aci_norm", "gamma": gamma}
    if variance:
        scale = np.sqrt(forecasts.where(forecasts > 0)) / 100.0
        point = pd.Series(0.0, index=forecasts.index)
        record["scale"] = "the model's own variance forecast (standard deviation)"
        inside = model.predict(history)  # in sample: nu describes the training rows
        pr = percent_returns(history, column).reindex(inside.index)
        record["nu"] = fit_t_dof(pr, inside)
    else:
        from gatecast.models.garch import ArchForecaster

        try:
            garch = ArchForecaster("GARCH", column=column, name="garch").fit(history)
        except TooFewRowsError as exc:  # the model trains; it gets no intervals, and says why
            return (
                None,
                f"no interval calibration recorded: the GARCH(1,1) scale cannot be fit ({exc})",
            )
        rec = garch.recursion()
        assert isinstance(rec, GarchRecursion)
        scale = garch_scale(rec, df, column, forecasts.index)
        point = forecasts
        record["scale"] = "GARCH(1,1) fit on the training rows (standard deviation)"
        record["garch"] = rec.to_dict()
    scores = ((r.reindex(point.index) - point).abs() / scale).replace([np.inf, -np.inf], np.nan)
    scores = scores.dropna()
    if len(scores) < MIN_SCORES:
        return None, (
            f"no interval calibration recorded: the test part gives {len(scores)} scores, "
            f"fewer than {MIN_SCORES}; give a longer test part (--test-size, --test-start)"
        )
    record |= {
        "window": min(window, len(scores)),
        "first": str(scores.index[0]),
        "last": str(scores.index[-1]),
        "scores": [float(s) for s in scores],
    }
    return record, None


def aci_quantiles(
    record: Mapping[str, Any], scores: pd.Series, issue: pd.Series, level: float
) -> pd.Series:
    """The conformal quantile for each row of ``issue`` (True where an interval is issued) at
    ``level``: the recursion is started over the recorded scores, then run over ``scores`` (NaN
    where the outcome is not known, e.g. tomorrow's) in date order."""
    aci = restarted(record, level)
    q = np.full(len(scores), np.nan)
    for i, (s, on) in enumerate(zip(scores.to_numpy(float), issue.to_numpy(bool), strict=True)):
        if on:
            q[i] = aci.issue()
            aci.observe(float(s))
    out: pd.Series = pd.Series(q, index=scores.index)
    return out


def apply_intervals(
    model: Any,
    df: pd.DataFrame,
    frame: pd.DataFrame,
    info: Mapping[str, Any],
    where: str,
    *,
    variance: bool,
    interval: float | None,
    quantiles: Sequence[float] | None,
    dist: Distribution | None,
) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` (predict's table) with the interval, quantile and (variance models) risk columns
    added, in log-return units and, as ``price_*``, in price units from the last close; and notes.

    Rows dated on or before the calibration's last date get no interval: their own scores are in
    the calibration.
    """
    record = read_record(info, where)
    column = model.column_
    dates = frame.index
    r = _log_return(df, column).reindex(dates)
    if variance:
        scale = np.sqrt(frame["forecast"].where(frame["forecast"] > 0)) / 100.0
        point = pd.Series(0.0, index=dates)
        log = True
    else:
        scale = garch_scale(record["recursion"], df, column, dates)
        point = frame["forecast"].astype(float)
        log = bool(model.target_spec.log)
    last = pd.Timestamp(record["last"]) if isinstance(dates, pd.DatetimeIndex) else record["last"]
    after = np.asarray(dates > last)
    ok = after & np.isfinite(point.to_numpy(float)) & np.isfinite(scale.to_numpy(float))
    issue = pd.Series(ok, index=dates)
    scores = ((r - point).abs() / scale).where(issue)
    as_of = frame["as_of"] if "as_of" in frame else pd.Series(dates, index=dates)
    close = price_series(df, column).reindex(pd.Index(as_of)).to_numpy(float)

    def to_price(x: pd.Series) -> np.ndarray:
        v = x.to_numpy(float)
        out: np.ndarray = close * (np.exp(v) if log else 1.0 + v)
        return out

    out = frame.copy()
    bands: dict[str, pd.Series] = {}
    if interval is not None:
        q = aci_quantiles(record, scores, issue, interval)
        bands["lower"], bands["upper"] = point - q * scale, point + q * scale
    parametric = variance and dist is not None
    for tau in quantiles or ():
        if parametric:
            assert dist is not None
            z = standard_quantile(tau, dist, record.get("nu"))
            bands[quantile_tag(tau)] = point + scale * float(z)
        elif tau == 0.5:
            bands[quantile_tag(tau)] = point.where(issue)
        else:
            q = aci_quantiles(record, scores, issue, abs(1.0 - 2.0 * tau))
            bands[quantile_tag(tau)] = point + np.sign(tau - 0.5) * q * scale
    for name, band in bands.items():
        out[name] = band
    for name, band in bands.items():
        out[f"price_{name}"] = to_price(band)
    notes = [
        f"intervals: adaptive conformal (gamma {record['gamma']}, window {record['window']}) on "
        f"|return - forecast| / scale, scale = {record['scale']}, restarted from the "
        f"{len(record['scores'])} scores recorded at train ({record['first'][:10]}.."
        f"{record['last'][:10]}); rows up to {record['last'][:10]} get none"
    ]
    if parametric:
        assert dist is not None
        nu = record.get("nu") if dist == "t" else None
        for p in (0.99, 0.95):
            v = -scale * float(standard_quantile(1 - p, dist, nu))
            out[f"var_{p:g}"] = v
            out[f"price_var_{p:g}"] = close * (1.0 - np.exp(-v.to_numpy(float)))
        es = pd.Series(expected_shortfall(scale**2, 0.025, dist, nu), index=dates)
        out["es_0.975"] = es
        out["price_es_0.975"] = close * (1.0 - np.exp(-es.to_numpy(float)))
        shape = f"Student-t, nu {nu:.2f} fit on the training rows" if nu else "Normal"
        notes.append(
            f"predictive distribution of the return: zero mean, the model's variance, {shape}; "
            f"q* columns, var_0.99, var_0.95 (losses) and es_0.975 from it"
        )
    return out, notes
