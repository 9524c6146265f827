"""The global models served on a panel: ``gatecast predict`` and ``stream`` with a panel
(``gc.predict(folder, panel)``); training one is :mod:`gatecast.experiment.panel_training`
(its names are re-exported here)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import MANIFEST_FILE, KeyLike, atomic_write_text
from gatecast.data.calendar import DATA, check_exchange
from gatecast.data.calendar_covariates import forecast_calendar
from gatecast.data.panel import BUNDLED_PANELS, Layout, Panel, load_panel
from gatecast.data.sources import BUNDLED_PREFIX, is_frame
from gatecast.errors import ConfigError, DataError, PanelError, TooFewRowsError
from gatecast.experiment.panel_training import PANEL_TRAIN_TARGETS as PANEL_TRAIN_TARGETS
from gatecast.experiment.panel_training import PanelTrainRun as PanelTrainRun
from gatecast.experiment.panel_training import check_panel_train as check_panel_train
from gatecast.experiment.panel_training import run_panel_training as run_panel_training
from gatecast.experiment.run_folder import (
    check_not_input,
    check_out_file,
)
from gatecast.serve.global_numpy import GLOBAL_KINDS, load_global_numpy

if TYPE_CHECKING:  # torch loads only when a model is built; training's imports when one trains
    from gatecast.evaluation.var import Distribution
    from gatecast.serve import GlobalNumpyModel, StreamSet

__all__ = [
    "PANEL_PREDICT_COLUMNS",
    "check_panel_predict_settings",
    "global_folder",
    "global_kind",
    "is_panel_source",
    "open_panel_stream",
    "run_panel_prediction",
]

#: The columns of ``gatecast predict``'s table on a panel, one row per instrument.
PANEL_PREDICT_COLUMNS = ("instrument", "as_of", "date", "forecast", "in_fit")
#: The manifest kind of a global variance model's folder (as ``global_variance.KIND``).
GLOBAL_KIND = "global_variance"
#: The engines that serve a global model folder: ``numpy`` reads it with NumPy alone
#: (:func:`gatecast.serve.load_global_numpy`, no torch imported), ``torch`` with its model class.
PANEL_ENGINES = ("numpy", "torch")


def is_panel_source(data: Any) -> bool:
    """Whether ``data`` is a panel on its face: a :class:`Panel`, a mapping of instruments, or
    the name of a bundled panel (``sp500_stocks``, ``arch_panel``). A long or wide file is told
    apart only by ``panel=True`` (``--panel``)."""
    if isinstance(data, Panel):
        return True
    if isinstance(data, Mapping) and not is_frame(data):
        return True
    if isinstance(data, str | os.PathLike):
        name = os.fspath(data).strip().lower().removeprefix(BUNDLED_PREFIX)
        return name in BUNDLED_PANELS and not Path(os.fspath(data)).exists()
    return False


def global_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a global model over a panel (manifest kind
    ``global_variance`` or ``global_return``); False for anything else, which the ordinary
    loader then reads (and refuses with its own message if it must)."""
    return global_kind(folder) in GLOBAL_KINDS


def global_kind(folder: str | os.PathLike[str]) -> str | None:
    """The manifest kind of ``folder`` (unverified: the loader checks it), else None."""
    try:
        doc = json.loads((Path(folder) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # a hostile manifest: the loader says why
        return None
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return kind if isinstance(kind, str) else None


def _torch_model(folder: str | Path, **load: Any) -> Any:
    """The global model of ``folder`` by its kind, loaded with torch (its class's ``load``)."""
    if global_kind(folder) == "global_return":
        from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

        return GlobalRecurrentReturn.load(folder, **load)
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

    return GlobalRecurrentVariance.load(folder, **load)


def _check_engine(engine: str) -> None:
    if engine not in PANEL_ENGINES:
        raise ConfigError(f"--engine {engine!r} is unknown; use numpy or torch")


# -- predict --------------------------------------------------------------------------------
def run_panel_prediction(
    model_dir: str | Path,
    data: Any,
    out: str | Path | None = None,
    *,
    layout: Layout = "auto",
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    dayfirst: bool | None = None,
    date_format: str | None = None,
    allow_outliers: bool = False,
    device: str = "auto",
    calendar: str | None = None,
    overwrite: bool = False,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
    engine: str = "torch",
    interval: float | None = None,
    quantiles: Sequence[float] | None = None,
    dist: Distribution | None = None,
    steps: int | None = None,
) -> pd.DataFrame:
    """The forecast for the bar after the data of every instrument of the panel ``data``, with
    a global model folder (written by ``gatecast train`` on a panel).

    Returns a long frame, one row per instrument: ``instrument``, ``as_of`` (the date of the
    last observation the forecast used: the instrument's last row), ``date`` (the bar the
    forecast is for: the next one in ``calendar``, default the model's, else the instrument's
    own) , ``forecast`` (the variance, percent^2; of a global return model the return, log unless it
    was trained on simple ones; of
    a direction model the probability of an up day) and ``in_fit`` (whether the model was fit
    on that instrument). An instrument it was not fit on is forecast through
    :meth:`GlobalRecurrentVariance.for_instrument` with all of its rows as history (its scaler
    and level fit on them). Every instrument needs at least ``model.min_history()`` rows (27
    with the default close-only inputs and window 5, 6 with High/Low); a shorter one is refused
    with a :class:`TooFewRowsError` naming it (no forecast is written: leave it out of the file
    until it has the rows). ``out`` (CSV) gets the frame.

    ``engine="numpy"`` reads the folder with NumPy alone (:func:`gatecast.serve
    .load_global_numpy`; torch is never imported): the same forecasts to float rounding (1e-6
    relative), an instrument outside the fit included (its scalers fit on its rows by the same
    rules).

    A model whose folder records covariate groups (``gatecast train --covariates sp500``) gets
    them joined onto ``data`` by :func:`gatecast.experiment.panel_covariates
    .join_panel_covariates`, as its training run joined them; data past a covariate's coverage
    is refused with that function's message. A group ``instrument:NAME`` is joined from NAME's
    own rows in ``data`` (each instrument's last row reads NAME's last row on or before its
    date, no older than 7 days); data without NAME is refused (a :class:`PanelError` naming
    it).

    ``interval`` (e.g. 0.9), ``quantiles`` and ``dist`` (torch engine) add each instrument's
    bands as ``predict`` gives them on one series (``lower``, ``upper``, ``q<tau>``, their
    ``price_*``; with ``dist`` ``var_*`` and ``es_0.975``), calibrated on that instrument's own
    rows after its training rows (:mod:`gatecast.experiment.panel_intervals`); the frame's
    ``attrs["notes"]`` say how. An instrument not in the fit, or one with fewer than 30 rows
    after its training rows in ``data``, is refused by name.

    ``steps`` (H >= 1; either engine; with the bands above too) returns instead each
    instrument's forecasts 1..H bars after its data, one row per instrument and step: the
    one-series ``predict --steps`` table of its view (:mod:`gatecast.experiment.panel_steps`)
    with ``instrument`` first and ``in_fit`` before ``method``; ``out`` gets that table. A
    direction model and a model reading covariates are refused, as on one series.
    """
    from gatecast.experiment.forecast_steps import check_steps
    from gatecast.experiment.panel_intervals import (
        check_model_bands,
        check_panel_bands,
        panel_bands,
    )
    from gatecast.experiment.panel_steps import check_panel_steps, panel_step_table
    from gatecast.inference.pipeline import future_calendar

    _check_engine(engine)
    check_steps(steps, None, None)
    bands = interval is not None or bool(quantiles) or dist is not None
    check_panel_bands(interval, quantiles, dist, engine)
    if out is not None:
        check_not_input(out, {"--data": data, "--model": model_dir})
        check_out_file(out, overwrite=overwrite)
    if calendar is not None and calendar != DATA:
        check_exchange(calendar)  # a mistyped name fails before anything is read
    load: dict[str, Any] = {"signing_key": signing_key, "require_signature": require_signature}
    model: Any = (
        _NumpyPanel(load_global_numpy(model_dir, **load))
        if engine == "numpy"
        else _torch_model(model_dir, device=device, **load)
    )
    variance = global_kind(model_dir) != "global_return"
    if bands:  # a direction model, --dist on a return model: refused before any forecast
        given = "--interval" if interval is not None else "--quantiles"
        check_model_bands(model, variance=variance, dist=dist, given=given)
    if steps is not None:  # a direction model, covariates: refused before any forecast
        first = model.for_instrument(model.instruments_[0])
        check_panel_steps(first, _spec_of(first), steps, variance=variance)
    panel = (
        data
        if isinstance(data, Panel)
        else load_panel(
            data,
            layout=layout,
            column=column or model.resolved_.column,
            sort=sort,
            dropna=dropna,
            dayfirst=dayfirst,
            date_format=date_format,
            allow_outliers=allow_outliers,
        )
    )
    groups = model.covariate_groups_
    calendar = forecast_calendar(groups, calendar)  # a calendar group's exchange dates it
    if groups:  # the covariates joined as the training run joined them (the same function)
        from gatecast.experiment.panel_covariates import join_panel_covariates

        _check_instrument_groups(groups, panel)
        panel = join_panel_covariates(panel, groups)
    need = model.min_history()
    if bands and (new := [str(n) for n in panel if n not in model.scalers_]):
        raise ConfigError(
            f"instrument(s) {', '.join(new)} not in the fit: an interval is calibrated on the "
            f"rows the model forecast out of sample after an instrument's training rows, and "
            f"it has none; leave them out, or leave --interval/--quantiles out"
        )
    rows = []
    views: dict[str, Any] = {}
    calendars: dict[str, Any] = {}
    for name, df in panel.items():
        in_fit = name in model.scalers_
        if len(df) < need:
            raise TooFewRowsError(
                f"instrument {name!r} has {len(df)} rows; the global model needs at least "
                f"{need} before a forecast (window={model.window} plus {need - model.window} "
                f"rows its inputs need first): give it more history, or leave it out"
            )
        view = model.for_instrument(name, None if in_fit else df)
        if calendar is not None:
            view = _with_calendar(view, calendar)
        # an exchange that cannot date it fails here
        calendars[name] = future_calendar(_spec_of(view), df.index)
        views[name] = view
        fc = view.predict(df, start=df.index[-1], future=True)
        value = float(fc.iloc[-1]) if len(fc) else float("nan")
        if not np.isfinite(value) or fc.index[-1] <= df.index[-1]:
            raise DataError(
                f"instrument {name!r}: no forecast for the bar after {df.index[-1]} (its last "
                f"{need} rows hold NaN/inf inputs?); check its last rows"
            )
        rows.append(
            {
                "instrument": name,
                "as_of": df.index[-1],
                "date": fc.index[-1],
                "forecast": value,
                "in_fit": in_fit,
            }
        )
    frame: pd.DataFrame = pd.DataFrame(rows, columns=list(PANEL_PREDICT_COLUMNS))
    records: dict[str, dict[str, Any]] = {}  # each instrument's calibration, for --steps
    notes: list[str] = []
    if bands:
        frame, notes = panel_bands(
            model,
            views,
            panel,
            frame,
            variance=variance,
            interval=interval,
            quantiles=quantiles,
            dist=dist,
            where=str(Path(model_dir) / MANIFEST_FILE),
            records=records,
        )
        frame.attrs["notes"] = notes
    if steps is not None:
        frame, more = panel_step_table(
            views,
            panel,
            frame,
            calendars,
            steps,
            variance=variance,
            records=records,
            where=str(Path(model_dir) / MANIFEST_FILE),
        )
        frame.attrs["notes"] = [*notes, *more]
    if out is not None:
        atomic_write_text(Path(out), frame.to_csv(index=False, float_format="%.10g"))
    return frame


def _check_instrument_groups(groups: tuple[str, ...], panel: Mapping[str, Any]) -> None:
    """Refuse data for predict that lacks an instrument ``NAME`` the model reads as a covariate
    (``instrument:NAME``): its return and range are joined from NAME's own rows in the data."""
    from gatecast.data.covariates import instrument_of

    names = [str(n) for n in panel]
    for g in groups:
        inst = instrument_of(g)
        if inst is not None and inst not in names:
            raise PanelError(
                f"the model reads the covariate {g!r} (instrument {inst}'s return and log "
                f"Parkinson range, joined onto every instrument as the training run joined "
                f"them), and the data has no instrument {inst!r} (it has "
                f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''}): give predict "
                f"{inst}'s rows too (with High/Low), up to the last date of the others"
            )


class _NumpyPanel:
    """A :class:`GlobalNumpyModel` as ``run_panel_prediction`` reads a global model."""

    def __init__(self, model: GlobalNumpyModel) -> None:
        self.model = model
        self.scalers_ = model.parts.scalers
        self.window = model.spec.window
        self.resolved_ = model.spec  # its column
        self.instruments_ = list(model.parts.instruments)
        self.covariate_groups_ = tuple(model.spec.info.get("covariate_groups", ()))
        self._need = model.min_history()

    def min_history(self) -> int:
        return self._need

    def for_instrument(self, name: str, history: pd.DataFrame | None = None) -> Any:
        return self.model.for_instrument(name, history)


def _spec_of(view: Any) -> Any:
    return view.spec if hasattr(view, "tensors") else view._fitted()  # NumpyModel or torch


def _with_calendar(view: Any, calendar: str) -> Any:
    """``view`` dating the bars after the data in ``calendar``."""
    spec = _spec_of(view)
    spec = replace(spec, info={**spec.info, "calendar": {"name": calendar}})
    if hasattr(view, "tensors"):  # a NumpyModel
        from gatecast.serve import NumpyModel

        return NumpyModel(spec, view.tensors, view.dtype, view.folder)
    view.spec_ = spec
    return view


def check_panel_predict_settings(settings: Mapping[str, Any]) -> None:
    """Refuse, by name, a setting of ``predict`` on one series that a global model's predict
    does not take (``start``, ``end``, ``plot``), before anything is read."""
    import inspect

    takes = set(inspect.signature(run_panel_prediction).parameters)
    wrong = [name for name in settings if name not in takes]
    if wrong:
        raise ConfigError(
            f"{', '.join(wrong)} does not apply to a global model over a panel: predict gives "
            f"each instrument's forecasts for the bars after its data (with --interval, "
            f"--quantiles: its bands; steps: 1..H bars ahead), without a fan chart yet; its "
            f"settings are "
            f"{', '.join(sorted(takes - {'model_dir', 'data', 'out'}))}"
        )


# -- stream ---------------------------------------------------------------------------------
def open_panel_stream(
    folder: str | Path,
    *,
    engine: str = "numpy",
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
    history: Mapping[str, pd.DataFrame] | None = None,
) -> StreamSet:
    """A :class:`gatecast.serve.StreamSet` over a global model folder's instruments (each
    through its own view; see :meth:`GlobalRecurrentVariance.stream_set`). An instrument the
    model was not fit on streams only if ``history`` holds its rows before its first streamed
    row (its scalers fit on them, with either engine); any other is refused by name when it
    first ticks."""
    _check_engine(engine)
    load: dict[str, Any] = {"signing_key": signing_key, "require_signature": require_signature}
    if engine == "numpy":  # NumPy alone: torch is never imported
        return load_global_numpy(folder, **load).stream_set(history=history)
    model = _torch_model(folder, device="cpu", **load)
    streams: StreamSet = model.stream_set("torch", history=history)
    return streams
