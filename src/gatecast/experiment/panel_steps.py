"""Several steps ahead for a global model (``gatecast predict --steps H`` on a panel): each
instrument's forecasts 1..H bars after its data, from its own view of the model
(``for_instrument(name)``) by the one-series rules of
:func:`gatecast.experiment.forecast_steps.step_table` (the same function, no second copy):
a variance model's cumulative variance over k bars is k times its one-day forecast, a return
model forecasts step 1 and a zero return beyond; with ``--interval``/``--quantiles``, step k's
band is step 1's (the instrument's own calibrated band) widened by sqrt(k).

The table is long: one row per instrument and step, ``instrument`` first, then the one-series
step table's columns (``as_of``, ``date``, ``step``, ``forecast``, ...), ``in_fit`` before
``method``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gatecast.data.calendar import Calendar
from gatecast.errors import ConfigError
from gatecast.experiment.forecast_intervals import INFO_KEY
from gatecast.experiment.forecast_steps import check_steps_model, step_table

__all__ = ["check_panel_steps", "panel_step_table"]


@dataclass(frozen=True)
class _StepModel:
    """What :func:`step_table` and :func:`check_steps_model` read of a one-series model, from a
    NumPy view (:class:`gatecast.serve.NumpyModel`, whose spec holds them)."""

    name: str
    column_: str | None
    target_spec: Any


def _step_model(view: Any) -> Any:
    """``view`` as the one-series steps code reads it: a torch view as it is, a NumPy view
    through :class:`_StepModel`."""
    if hasattr(view, "tensors"):  # a NumpyModel
        return _StepModel(view.name, view.column, view.target)
    return view


def check_panel_steps(view: Any, spec: Any, steps: int | None, *, variance: bool) -> None:
    """Refuse ``steps`` for a global model whose instruments' one-series views would refuse it
    (``view``: the first instrument's, ``spec`` its spec): a model forecasting neither a
    one-day return nor a variance (a direction model), one reading covariates (the bars after
    the data need their values, not known yet). Before any forecast."""
    if steps is None:
        return
    check_steps_model(_step_model(view), steps, variance=variance)
    if spec.covariates:
        raise ConfigError(
            f"--steps does not apply to a global model that reads the covariates "
            f"{list(spec.covariates)}: the bars after the data need their values, which are not "
            f"known yet; leave --steps out (each instrument's forecast for the next bar)"
        )


def panel_step_table(
    views: Mapping[str, Any],
    panel: Mapping[str, pd.DataFrame],
    frame: pd.DataFrame,
    calendars: Mapping[str, Calendar],
    steps: int,
    *,
    variance: bool,
    records: Mapping[str, Mapping[str, Any]],
    where: str,
) -> tuple[pd.DataFrame, list[str]]:
    """The long table of each instrument's forecasts 1..``steps`` bars after its data, one row
    per instrument and step, and the notes that state the rules (the one-series ones).

    ``frame`` is predict's table on a panel (one row per instrument: its forecast for the bar
    after its data, with its bands where asked); each row is step 1 of its instrument, given
    to :func:`step_table` with the instrument's view in ``views``, rows in ``panel``,
    calendar in ``calendars`` and (a return model's bands) calibration record in
    ``records``."""
    parts: list[pd.DataFrame] = []
    notes: list[str] = []
    for _, row in frame.iterrows():
        name = str(row["instrument"])
        rest = row.drop(["instrument", "date", "in_fit"])
        one = pd.DataFrame([rest.to_dict()], index=pd.Index([row["date"]]))
        one["actual"] = float("nan")  # the bar after the data: not observed yet
        info = {INFO_KEY: records[name]} if name in records else {}
        table, notes = step_table(
            _step_model(views[name]),
            panel[name],
            one,
            calendars[name],
            steps,
            info,
            f"{where} ({name})",
            variance=variance,
        )
        table.insert(0, "instrument", name)
        table.insert(len(table.columns) - 1, "in_fit", bool(row["in_fit"]))
        parts.append(table)
    out: pd.DataFrame = pd.concat(parts, ignore_index=True)
    return out, notes
