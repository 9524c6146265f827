"""Forecasts for 1..h bars after the data from a saved one-day model (``predict --steps``), and
the fan chart of a prediction's bands (``Prediction.plot()``, ``predict --plot``).

The rules, one for each kind of model, each stated in the table's ``method`` column:

- a return model forecasts step 1 (exactly predict's next-bar forecast) and a zero return beyond
  (the direct rule): it was trained and scored on one-day returns only, so beyond step 1 there
  is no evidence it beats no-change, and feeding its forecast back as if it had been observed
  (the recursive rule) is not its conditional mean (the net is not linear) and would need
  high/low/volume rows that nobody has yet;
- a variance model's cumulative variance over steps 1..k is k times its one-day forecast (the
  square-root-of-time rule: no mean reversion, no autocorrelation of returns); so is a return
  model's GARCH(1,1) interval scale.

Where the calibration exists (``--interval``/``--quantiles``), step k's band is step 1's
standardised quantile times the square root of the cumulative variance: the distance of each
bound from the point forecast at step 1 times sqrt(k), around the cumulative return forecast.
That assumes the standardised k-step return has the one-day shape; the bands at k > 1 are not
calibrated themselves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.data.calendar import Calendar, next_dates
from gatecast.data.features import price_series
from gatecast.errors import ConfigError
from gatecast.experiment.forecast_intervals import garch_scale, read_record

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["HISTORY", "band_levels", "check_steps", "fan_figure", "step_table"]

#: Bars of history before the forecasts that a fan chart shows.
HISTORY = 60
#: Steps the printed path shows in full; a longer path prints its first and last ones.
SHOWN = 10


def check_steps(steps: int | None, start: Any, end: Any) -> None:
    """Refuse ``steps`` below 1, or beside ``start``/``end`` (steps count from the bar after the
    data; a range of dates is a different question), before anything is read."""
    if steps is None:
        return
    if steps < 1:
        raise ConfigError(f"--steps {steps}: give the number of bars ahead, 1 or more")
    given = [name for name, v in (("--start", start), ("--end", end)) if v is not None]
    if given:
        raise ConfigError(
            f"--steps forecasts the {steps} bars after the data's last one; {' and '.join(given)} "
            "choose(s) past dates to forecast: use one or the other (leave --steps out for the "
            "forecasts of a date range)"
        )


def check_one_day_model(model: Any, what: str, *, variance: bool, hint: str = "") -> None:
    """Refuse ``what`` (an option and its verb, ``--steps extends``) for a model that forecasts
    neither a one-day return nor a variance: the forecasts that --steps extends and that the
    interval options cover."""
    if variance:
        return
    spec = model.target_spec
    if spec.kind != "return" or spec.horizon != 1:
        raise ConfigError(
            f"{what} a one-day return or variance forecast; this model forecasts {spec.kind} "
            f"over {spec.horizon} day(s) ({model.name}): train one with --target return "
            f"--horizon 1 (or --target variance){hint}"
        )


def check_steps_model(model: Any, steps: int | None, *, variance: bool) -> None:
    """Refuse ``steps`` for a model that forecasts neither a one-day return nor a variance."""
    if steps is not None:
        check_one_day_model(
            model,
            "--steps extends",
            variance=variance,
            hint=", or train --horizon H for a direct H-bar model",
        )


def step_table(
    model: Any,
    df: pd.DataFrame,
    frame: pd.DataFrame,
    calendar: Calendar,
    steps: int,
    info: Mapping[str, Any],
    where: str,
    *,
    variance: bool,
) -> tuple[pd.DataFrame, list[str]]:
    """The long table of the forecasts 1..``steps`` bars after ``df``, from ``frame`` (predict's
    table, whose last row is the forecast for the bar after the data: step 1, copied as it is),
    and the notes that state its rules.

    Columns: ``as_of``, ``date`` (in ``calendar``), ``step``, ``forecast`` (the step's one-day
    return, or variance in percent^2), for a return model ``cumulative`` (the log or simple
    return from ``as_of`` to ``date``) and ``price_forecast``, ``variance`` and
    ``cumulative_variance`` (percent^2) where known, the bands of ``frame`` (``lower``,
    ``upper``, ``q*``; ``var_*``/``es_*`` losses) for the cumulative return and their
    ``price_*``, and ``method``.
    """
    last = frame.iloc[-1]
    dates = next_dates(df.index, steps, calendar)
    if frame.index[-1] != dates[0] or not pd.isna(last["actual"]):
        raise ConfigError("--steps needs the forecast for the bar after the data; leave --end out")
    k = np.arange(1, steps + 1, dtype=float)
    root = np.sqrt(k)
    log = True if variance else bool(model.target_spec.log)
    close = float(price_series(df, model.column_).iloc[-1])
    bands = [c for c in frame.columns if c in ("lower", "upper") or _is_quantile(c)]
    losses = [c for c in frame.columns if c.startswith(("var_", "es_"))]
    out = pd.DataFrame({"as_of": [last["as_of"]] * steps, "date": dates, "step": k.astype(int)})
    first = float(last["forecast"])
    if variance:
        v1 = first
        point = 0.0
        out["forecast"] = v1  # the rule: each bar's variance is tomorrow's
        method = "variance: k x the one-day forecast (sqrt-of-time), mean return 0"
    else:
        point = first
        out["forecast"] = np.where(k == 1, first, 0.0)
        out["cumulative"] = first  # the steps after the first add a zero return
        out["price_forecast"] = close * (math.exp(first) if log else 1.0 + first)
        v1 = math.nan
        if bands:  # the scale the bands were drawn with: GARCH(1,1) of the calibration
            rec = read_record(info, where)["recursion"]
            sd = float(garch_scale(rec, df, model.column_, dates[:1]).iloc[0])
            v1 = (100.0 * sd) ** 2
        method = "return: the model at step 1, zero beyond (direct rule)"
    if not math.isnan(v1):
        if not variance:
            out["variance"] = v1
        out["cumulative_variance"] = k * v1
    cum = out["cumulative"].to_numpy(float) if not variance else np.zeros(steps)
    for c in bands:
        out[c] = cum + (float(last[c]) - point) * root
        out[f"price_{c}"] = close * (np.exp(out[c]) if log else 1.0 + out[c])
    for c in losses:  # a loss of a zero-mean return grows with its standard deviation
        out[c] = float(last[c]) * root
        out[f"price_{c}"] = close * (1.0 - np.exp(-out[c]))
    for c in [*bands, *losses]:  # step 1 is predict's own row, to the last bit
        out.loc[0, [c, f"price_{c}"]] = [last[c], last[f"price_{c}"]]
    if bands or losses:
        method += "; bands: step 1's standardised quantile x sqrt(cumulative variance)"
    out["method"] = np.where(k == 1, "model (predict's next-bar forecast)", method)
    head = [c for c in out.columns if not c.startswith("price_") and c != "method"]
    ordered: pd.DataFrame = out[
        [*head, *[c for c in out.columns if c.startswith("price_")], "method"]
    ]
    notes = [
        f"--steps {steps}: "
        + (
            "a variance model's cumulative variance over k bars is k x its one-day forecast "
            "(the square-root-of-time rule); the mean return is 0"
            if variance
            else "the return model forecasts step 1; beyond it the forecast is a zero return "
            "(direct rule: the model was trained for one bar ahead)"
        )
        + (
            "; each step's band is step 1's calibrated standardised quantile x sqrt(cumulative "
            "variance), assuming the k-bar standardised return has the one-day shape (not "
            "calibrated beyond step 1)"
            if bands or losses
            else ""
        )
    ]
    return ordered, notes


def _is_quantile(column: str) -> bool:
    return column.startswith("q") and column[1:2].isdigit()


def band_levels(
    table: pd.DataFrame, point: pd.Series, level: float | None, prefix: str = ""
) -> dict[float, pd.DataFrame]:
    """The nested intervals of ``table``: level -> frame of ``lower``/``upper`` (columns
    ``{prefix}lower``... and ``{prefix}q<tau>``; a quantile tau bounds the |1 - 2 tau| interval,
    whose other bound, where not asked for, mirrors it around ``point``: the bands are
    symmetric). One entry per distinct level."""
    out: dict[float, pd.DataFrame] = {}
    if level is not None and f"{prefix}lower" in table:
        out[level] = pd.DataFrame(
            {"lower": table[f"{prefix}lower"], "upper": table[f"{prefix}upper"]}
        )
    sides: dict[float, dict[str, pd.Series]] = {}
    for c in table.columns:
        name = c[len(prefix) :] if c.startswith(prefix) else ""
        if not _is_quantile(name) or float(name[1:]) == 0.5:
            continue
        tau = float(name[1:])
        sides.setdefault(round(abs(1.0 - 2.0 * tau), 12), {})["lower" if tau < 0.5 else "upper"] = (
            table[c]
        )
    for lvl, side in sides.items():
        if lvl in out:
            continue
        lo = side.get("lower", 2 * point - side.get("upper", point))
        hi = side.get("upper", 2 * point - lo)
        out[lvl] = pd.DataFrame({"lower": lo, "upper": hi})
    return out


def fan_figure(
    frame: pd.DataFrame,
    steps: pd.DataFrame | None,
    recent: pd.Series,
    *,
    level: float | None,
    variance: bool,
    log: bool,
    title: str,
) -> Figure:
    """The fan chart of a prediction: with ``steps``, the last :data:`HISTORY` prices and the
    h-step price path in its widening price bands from the last close; without, the last
    :data:`HISTORY` forecasts of the return (0 for a variance model) in their bands, the
    realised returns as dots. One band per level."""
    from gatecast.plots.risk import plot_fan

    if steps is not None:
        dates = pd.Index([recent.index[-1]]).append(pd.Index(steps["date"]))
        close = float(recent.iloc[-1])
        path = steps["price_forecast"] if "price_forecast" in steps else close
        table = steps.set_index(pd.Index(steps["date"]))
        centre = pd.Series(np.asarray(path, dtype=float) * np.ones(len(steps)), index=table.index)
        levels = band_levels(table, centre, level, prefix="price_")
        start = pd.DataFrame({"lower": [close], "upper": [close]}, index=dates[:1])
        bands = {lv: pd.concat([start, b]) for lv, b in levels.items()}
        forecast = pd.concat([pd.Series([close], index=dates[:1]), centre])
        return plot_fan(recent.iloc[-HISTORY:], forecast, bands, title=title)
    tail = frame.iloc[-HISTORY:]
    point = pd.Series(0.0, index=tail.index) if variance else tail["forecast"].astype(float)
    prices = recent
    realised = (np.log(prices).diff() if log else prices.pct_change()).reindex(tail.index)
    return plot_fan(realised, point, band_levels(tail, point, level), title=title)
