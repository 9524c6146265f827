"""Intervals and quantiles beside a global model's forecasts (``gatecast predict --interval`` on
a panel): each instrument gets the one-series bands of :mod:`gatecast.experiment.forecast_intervals`
from its own view of the model (:meth:`for_instrument`), calibrated on its own rows.

A one-series ``train`` records its calibration in the model folder: the scores
|r_t - forecast_t| / scale_t of the test part, which the model never saw. A global model's folder
records each instrument's training range instead; ``predict`` builds the same record from the
instrument's rows in the data given: the scores of every row after its training range (out of
sample), a variance model's Student-t nu fit on its training rows' standardised returns, a return
model's GARCH(1,1) scale fit on its training rows (:func:`calibration_record`, the one-series
function). The adaptive conformal recursion then runs over those scores and issues the interval
for the bar after the data (:func:`apply_intervals`, the one-series function): an instrument's
bands read its own rows only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.var import Distribution
from gatecast.experiment.forecast_intervals import (
    INFO_KEY,
    MIN_SCORES,
    apply_intervals,
    calibration_record,
    check_levels,
)
from gatecast.experiment.forecast_steps import check_one_day_model

__all__ = ["check_panel_bands", "instrument_calibration", "panel_bands"]


def check_panel_bands(
    interval: float | None,
    quantiles: Sequence[float] | None,
    dist: str | None,
    engine: str,
) -> None:
    """Refuse band settings that do not fit, before anything is read: a level outside (0, 1),
    an unknown ``dist`` or one without ``quantiles``, and the NumPy engine (the calibration
    forecasts each instrument's out-of-sample rows with the torch model)."""
    check_levels(interval, quantiles)
    if dist is not None and dist not in ("normal", "t"):
        raise ConfigError(f"--dist {dist}: the predictive distribution is normal or t")
    if dist is not None and not quantiles:
        raise ConfigError(
            "--dist gives a variance model's quantiles, VaR and ES: add --quantiles, e.g. "
            "--quantiles 0.01,0.05,0.5,0.95,0.99"
        )
    if engine == "numpy" and (interval is not None or quantiles):
        raise ConfigError(
            f"{'--interval' if interval is not None else '--quantiles'} with --engine numpy: "
            f"each instrument's calibration forecasts its rows after the fit with the torch "
            f"model; use --engine torch (the default)"
        )


def check_model_bands(model: Any, *, variance: bool, dist: str | None, given: str) -> None:
    """Refuse bands for a global model that takes none (a direction model; ``dist`` for a
    return model), before any forecast: the one-series rules on its first instrument's view."""
    view = model.for_instrument(model.instruments_[0])
    if dist is not None and not variance:
        raise ConfigError(
            f"--dist {dist} shapes a variance model's predictive distribution; this global "
            f"model forecasts {view.target_spec.kind}: leave --dist out (its intervals are "
            f"conformal)"
        )
    check_one_day_model(view, f"{given} cover(s)", variance=variance)


def instrument_calibration(
    view: Any, df: pd.DataFrame, train_end: str, name: str, *, variance: bool
) -> dict[str, Any]:
    """The calibration record a one-series ``train`` would keep for ``view`` (the instrument
    ``name``'s view of a global model, fit on its rows up to ``train_end``), from ``df``: the
    scores of its forecasts of the rows after ``train_end`` (out of sample), with the training
    rows of ``df`` as its history (nu; a return model's GARCH scale)."""
    end = pd.Timestamp(train_end) if isinstance(df.index, pd.DatetimeIndex) else train_end
    history = df.loc[df.index <= end]
    after = df.index[df.index > end]
    if history.empty or len(after) == 0:
        where = "ends by" if len(after) == 0 else "starts after"
        raise ConfigError(
            f"instrument {name!r}: the data {where} the end of its training rows "
            f"({train_end}); its interval is calibrated on its rows after them (out of "
            f"sample) with the ones before fitting its scale: give predict its rows from the "
            f"training run on, and the days since"
        )
    forecasts = view.predict(df, start=after[0])
    try:
        record, note = calibration_record(view, df, history, forecasts, variance=variance)
    except TooFewRowsError as exc:
        raise TooFewRowsError(f"instrument {name!r}: {exc}") from exc
    if record is None:
        raise ConfigError(
            f"instrument {name!r}: {note or 'its target takes no interval'}; its rows after "
            f"its training rows ({train_end}) give the calibration, at least {MIN_SCORES} "
            f"scores"
        )
    return record


def panel_bands(
    model: Any,
    views: Mapping[str, Any],
    panel: Mapping[str, pd.DataFrame],
    frame: pd.DataFrame,
    *,
    variance: bool,
    interval: float | None,
    quantiles: Sequence[float] | None,
    dist: Distribution | None,
    where: str,
    records: dict[str, dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """``frame`` (predict's table on a panel, one row per instrument) with each instrument's
    interval, quantile and (``dist``) risk columns, as ``predict`` gives them on one series,
    from its view in ``views`` calibrated on its own rows of ``panel``
    (:func:`instrument_calibration`; every instrument in the fit of ``model``); and notes
    saying how. ``records``, where given, gets each instrument's calibration record (what
    ``predict --steps`` reads on one series from the folder)."""
    rows: list[pd.DataFrame] = []
    notes: list[str] = []
    for _, row in frame.iterrows():
        name = str(row["instrument"])
        df, view = panel[name], views[name]
        record = instrument_calibration(
            view, df, model.train_ranges_[name][1], name, variance=variance
        )
        if records is not None:
            records[name] = record
        one = pd.DataFrame(
            {"forecast": [row["forecast"]], "as_of": [row["as_of"]]},
            index=pd.Index([row["date"]]),
        )
        banded, more = apply_intervals(
            view,
            df,
            one,
            {INFO_KEY: record},
            f"{where} ({name})",
            variance=variance,
            interval=interval,
            quantiles=quantiles,
            dist=dist,
        )
        rows.append(banded.drop(columns=["forecast", "as_of"]))
        if not notes:
            notes = [
                f"intervals per instrument: adaptive conformal (gamma {record['gamma']}, window "
                f"up to {record['window']}) on |return - forecast| / scale, scale = "
                f"{record['scale']}, over each instrument's own rows after its training rows "
                f"(out of sample; {name}: {len(record['scores'])} scores, "
                f"{record['first'][:10]}..{record['last'][:10]})",
                *more[1:],  # the predictive distribution's, with --dist
            ]
    bands = pd.concat(rows, ignore_index=True)
    out = pd.concat([frame.reset_index(drop=True), bands], axis=1)
    return out, notes
