"""The global models served on a panel: ``gatecast train``, ``predict`` and ``stream`` with a
panel (``gc.train(panel, target="variance" | "return" | "direction")``,
``gc.predict(folder, panel)``)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import MANIFEST_FILE, KeyLike, atomic_write_text, resolve_signing_key
from gatecast.data.calendar import DATA, check_exchange
from gatecast.data.calendar_covariates import forecast_calendar
from gatecast.data.panel import BUNDLED_PANELS, Layout, Panel, load_panel
from gatecast.data.sources import BUNDLED_PREFIX, is_frame
from gatecast.errors import ConfigError, DataError, PanelError, TooFewRowsError
from gatecast.experiment.notebook import html_view
from gatecast.experiment.run_folder import (
    RunFolder,
    check_not_input,
    check_out_file,
    check_out_folder,
    staged_folder,
)
from gatecast.serve.global_numpy import GLOBAL_KINDS, load_global_numpy

if TYPE_CHECKING:  # torch loads only when a model is built; training's imports when one trains
    from gatecast.experiment.training import TrainJob
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
    from gatecast.serve import GlobalNumpyModel, StreamSet

__all__ = [
    "PANEL_PREDICT_COLUMNS",
    "PanelTrainRun",
    "check_panel_predict_settings",
    "check_panel_train",
    "global_folder",
    "global_kind",
    "is_panel_source",
    "open_panel_stream",
    "run_panel_prediction",
    "run_panel_training",
]

#: The columns of ``gatecast predict``'s table on a panel, one row per instrument.
PANEL_PREDICT_COLUMNS = ("instrument", "as_of", "date", "forecast", "in_fit")
#: The manifest kind of a global variance model's folder (as ``global_variance.KIND``).
GLOBAL_KIND = "global_variance"
#: The targets a global model trains on a panel: the variance, and the one-step return or its
#: direction (:class:`GlobalRecurrentReturn`, kind ``global_return``).
PANEL_TRAIN_TARGETS = ("variance", "return", "direction")
#: The engines that serve a global model folder: ``numpy`` reads it with NumPy alone
#: (:func:`gatecast.serve.load_global_numpy`, no torch imported), ``torch`` with its model class.
PANEL_ENGINES = ("numpy", "torch")

# TrainJob settings a panel's training does not take, each with its reason (and the option)
_TRAIN_REFUSED = {
    "classical_inputs": (
        "--classical-inputs",
        "the global model takes no hybrid inputs yet (single-series only)",
    ),
    "residual": ("--residual", "the global model has no residual base yet (single-series only)"),
    "calendar": (
        "--calendar",
        "the global model records no calendar yet (its instruments keep their own); give "
        "--calendar to predict or stream instead",
    ),
}


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


# -- train ----------------------------------------------------------------------------------
def check_panel_train(job: TrainJob) -> None:
    """Refuse, by option name, a training setting that does not apply to a panel (before any
    data is read or any fit)."""
    if job.target not in PANEL_TRAIN_TARGETS:
        raise ConfigError(
            f"--target {job.target} does not apply to a panel: the global models forecast the "
            f"variance, the one-step return or its direction; use --target variance, return "
            f"or direction, or train one series for {job.target}"
        )
    for name, (option, why) in _TRAIN_REFUSED.items():
        if getattr(job, name) is not None:
            raise ConfigError(f"{option} does not apply to a panel: {why}; leave it out")
    if not job.variance:
        if job.horizon != 1:
            raise ConfigError(
                f"--horizon {job.horizon} does not apply to a panel: the global return model "
                f"forecasts one step ahead; leave --horizon out"
            )
        if (job.mode or "window") != "window":
            raise ConfigError(
                f"--mode {job.mode} does not apply to a panel: the global return model trains "
                f"on windows of each instrument (window mode only); leave --mode out"
            )
    job.model_config()  # the model's settings, validated (mode, chunks... refused by name)


def _global_model(job: TrainJob) -> GlobalRecurrentVariance | GlobalRecurrentReturn:
    """The unfitted global model of ``job``'s target, with its settings (those of the one-series
    model of that target, :meth:`TrainJob.model_config`, that the global model takes)."""
    from gatecast.models.config import ForecasterConfig, VarianceConfig, params_of

    cfg = job.model_config()
    if isinstance(cfg, VarianceConfig):
        from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

        keep = set(GlobalRecurrentVariance._param_names())
        params = {k: v for k, v in params_of(cfg, VarianceConfig).items() if k in keep}
        return GlobalRecurrentVariance(**params)
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

    assert isinstance(cfg, ForecasterConfig)
    keep = set(GlobalRecurrentReturn._param_names())
    params = {k: v for k, v in params_of(cfg, ForecasterConfig).items() if k in keep}
    return GlobalRecurrentReturn(**params)


#: Per target: the loss ``PanelTrainRun.table`` shows (its name there, its metric) and the
#: baseline it is set against (the one-series train's reference: no direction in no change).
_TABLE_LOSS = {
    "variance": ("qlike", "qlike", "no_change"),
    "return": ("mse", "mse", "no_change"),
    "direction": ("brier", "mse", "historical_mean"),  # the MSE of a probability
}


@dataclass
class PanelTrainRun:
    """A global model trained on a panel: the model, each instrument's test forecasts beside
    the baselines (``forecasts``, long) and their scores per instrument (``metrics``). A
    variance model's baselines are the 22-day historical variance and the training mean
    (QLIKE, MSE, MAE); a return or direction model's are no change and the historical mean,
    scored as ``gatecast train`` scores one series of that target (MSE, MAE, hit rate...; the
    Brier score is the MSE of a direction's probability)."""

    job: TrainJob
    model: GlobalRecurrentVariance | GlobalRecurrentReturn
    forecasts: pd.DataFrame  # instrument, date, actual, forecast, no_change, historical_mean
    metrics: pd.DataFrame  # (instrument, model) x (n, the target's metrics)
    test_starts: dict[str, pd.Timestamp]
    seconds: float
    source: str = ""
    out: Path | None = None
    notes: list[str] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """Per instrument, the target's loss (QLIKE of a variance, MSE of a return, Brier
        score of a direction): the global model's, its baseline's (no change; the historical
        mean for a direction) and their ratio (< 1: the model does better on that
        instrument's test rows); a return or direction model's hit rate too."""
        shown, metric, base = _TABLE_LOSS[self.job.target]
        q: pd.DataFrame = self.metrics[metric].unstack("model")
        name = self.model.name
        out: pd.DataFrame = pd.DataFrame(
            {
                "n_test": self.metrics["n"].unstack("model")[name].astype(int),
                shown: q[name],
                f"{shown}_{base}": q[base],
                "ratio": q[name] / q[base],
            }
        )
        if "hit_rate" in self.metrics:
            out["hit_rate"] = self.metrics["hit_rate"].unstack("model")[name]
        return out

    def summary(self) -> str:
        """The per-instrument table as text."""
        return self.table().to_string(float_format=lambda v: f"{v:.4g}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        title = (
            f"global {self.model.name} {self.job.target} model on {self.source} "
            f"({len(self.test_starts)} instruments)"
        )
        return html_view(title, self.table(), self.notes)


def _load_panel(data: Any, job: Any, layout: Layout) -> Panel:
    if isinstance(data, Panel):
        return data
    return load_panel(data, layout=layout, **job.read_options())


def run_panel_training(
    job: TrainJob,
    out: str | Path | None = None,
    *,
    layout: Layout = "auto",
    overwrite: bool = False,
    signing_key: KeyLike = None,
) -> PanelTrainRun:
    """Train the global model of ``job.target`` on the panel ``job.data`` and (with ``out``)
    write its run folder: :class:`GlobalRecurrentVariance` for ``variance``,
    :class:`GlobalRecurrentReturn` for ``return`` and ``direction`` (the one-step return, or
    the probability of an up day).

    Each instrument is split on its own rows as ``gatecast train`` splits one series
    (``test_start``, else the last ``test_size`` of its rows, default 0.2; ``gap``); the model
    is fit on the training rows of every instrument only, then forecasts each instrument's test
    rows. ``out`` gets the model folder (kind ``global_variance`` or ``global_return``:
    ``manifest.json``, ``model.safetensors``), ``forecasts.csv`` (long: ``instrument,date,
    actual,forecast,no_change,historical_mean``), ``metrics.json`` (``target``; per
    instrument, for a variance QLIKE, MSE and MAE against ``proxy``; for a return or direction
    the scores ``gatecast train`` gives one series of that target, against its own return or
    direction), ``loss.json``, ``config.json`` and ``run.json``. Settings that do not apply to
    a panel (a price target, a horizon over 1, sequence mode, the hybrid inputs, a calendar)
    are refused by name before the data is read. ``job.covariates`` (groups such as ``sp500``) are joined onto each
    instrument's own dates by :func:`gatecast.experiment.panel_covariates.join_panel_covariates`
    (the evaluation's join) and recorded in the folder (``covariate_groups``), so that predict
    joins the same ones.
    """
    from gatecast.experiment.training import fit_and_score, fit_and_score_variance, split_history

    check_panel_train(job)
    if out is not None:
        check_out_folder(out, overwrite=overwrite, kind="train")  # before the work
    key = resolve_signing_key(signing_key)
    t0 = time.perf_counter()
    panel = _load_panel(job.data, job, layout)
    joined: list[str] = []
    if job.covariates:  # the evaluation's join, onto each instrument's own dates
        from gatecast.experiment.panel_covariates import join_panel_covariates

        panel = join_panel_covariates(panel, job.covariates)
        joined = panel.notes
    histories: dict[str, pd.DataFrame] = {}
    test_starts: dict[str, pd.Timestamp] = {}
    for name, df in panel.items():
        try:
            histories[name], test_starts[name] = split_history(
                df, test_start=job.test_start, test_size=job.test_size, gap=job.gap
            )
        except (ConfigError, DataError) as exc:
            raise type(exc)(f"instrument {name!r}: {exc}; or leave it out of the panel") from exc
    model = _global_model(job)
    model.covariate_groups_ = tuple(job.covariates)  # recorded in the folder for predict
    model.fit(histories)
    frames, rows = [], []
    for name, df in panel.items():
        view = model.for_instrument(name)
        if job.variance:
            frame, metrics = fit_and_score_variance(
                view, df, histories[name], test_starts[name], job.variance_proxy
            )
        else:  # as one series' train scores its return or direction
            frame, metrics = fit_and_score(
                view, df, histories[name], test_starts[name], job.target_spec(), view.column_
            )
        frame = frame.rename(columns={view.name: "forecast"})  # as one series' forecasts.csv
        frames.append(frame.rename_axis("date").reset_index().assign(instrument=name))
        rows += [{"instrument": name, "model": m, **v} for m, v in metrics.items()]
    forecasts = pd.concat(frames, ignore_index=True)
    forecasts = forecasts[["instrument", *[c for c in forecasts.columns if c != "instrument"]]]
    table = pd.DataFrame(rows).set_index(["instrument", "model"])
    notes = list(joined)
    dropped = {n: int(df.attrs["dropped"]) for n, df in panel.items() if df.attrs.get("dropped")}
    if dropped:
        why = "--dropna" if job.dropna else "days the bundled data has no price for"
        counts = ", ".join(f"{n} {k}" for n, k in dropped.items())
        notes.append(f"rows with NaN/inf prices were dropped ({why}): {counts}")
    run = PanelTrainRun(
        job,
        model,
        forecasts,
        table,
        test_starts,
        time.perf_counter() - t0,
        source=panel.source,
        notes=notes,
    )
    if out is not None:
        # the panel named by its source: prices passed in are never written whole
        config = {**replace(job, data=panel.source).to_dict(), "panel": True, "layout": layout}
        with staged_folder(
            out, overwrite=overwrite, kind="train", config=config, data=panel.identity()
        ) as tmp:
            folder = RunFolder(tmp)
            model.save(folder.path, signing_key=key)
            folder.write_csv("forecasts.csv", forecasts, index=False, float_format="%.10g")
            folder.write_metrics(
                {
                    "target": job.target,
                    **({"proxy": job.variance_proxy} if job.variance else {}),
                    "instruments": list(panel),
                    "test_starts": {n: str(d) for n, d in test_starts.items()},
                    "per_instrument": {
                        n: table.xs(n, level="instrument").to_dict(orient="index") for n in panel
                    },
                    "notes": notes,
                    "train_seconds": model.result_.seconds if model.result_ else None,
                }
            )
            folder.write_json("loss.json", model.result_.to_dict() if model.result_ else {})
            folder.write_config(config)
        run.out = Path(out)
    return run


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
    relative), for the instruments of the fit only (an instrument outside it is refused by
    name: its scaler is fit by the torch model).

    A model whose folder records covariate groups (``gatecast train --covariates sp500``) gets
    them joined onto ``data`` by :func:`gatecast.experiment.panel_covariates
    .join_panel_covariates`, as its training run joined them; data past a covariate's coverage
    is refused with that function's message. A group ``instrument:NAME`` is joined from NAME's
    own rows in ``data`` (each instrument's last row reads NAME's last row on or before its
    date, no older than 7 days); data without NAME is refused (a :class:`PanelError` naming
    it).
    """
    from gatecast.inference.pipeline import future_calendar

    _check_engine(engine)
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
    rows = []
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
        future_calendar(_spec_of(view), df.index)  # an exchange that cannot date it fails here
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
        self.covariate_groups_ = tuple(model.spec.info.get("covariate_groups", ()))
        self._need = model.min_history()

    def min_history(self) -> int:
        return self._need

    def for_instrument(self, name: str, history: pd.DataFrame | None = None) -> Any:
        return self.model.for_instrument(name)


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
    does not take (``start``, ``steps``, ``interval``...), before anything is read."""
    import inspect

    takes = set(inspect.signature(run_panel_prediction).parameters)
    wrong = [name for name in settings if name not in takes]
    if wrong:
        raise ConfigError(
            f"{', '.join(wrong)} does not apply to a global model over a panel: predict gives "
            f"each instrument's forecast for the bar after its data, without intervals or "
            f"several steps yet; its settings are "
            f"{', '.join(sorted(takes - {'model_dir', 'data', 'out'}))}"
        )


# -- stream ---------------------------------------------------------------------------------
def open_panel_stream(
    folder: str | Path,
    *,
    engine: str = "numpy",
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> StreamSet:
    """A :class:`gatecast.serve.StreamSet` over a global model folder's instruments (each
    through its own view; see :meth:`GlobalRecurrentVariance.stream_set`). An instrument the
    model was not fit on is refused by name when it first ticks; serve one from Python with
    ``stream_set(history=...)``."""
    _check_engine(engine)
    load: dict[str, Any] = {"signing_key": signing_key, "require_signature": require_signature}
    if engine == "numpy":  # NumPy alone: torch is never imported
        return load_global_numpy(folder, **load).stream_set()
    streams: StreamSet = _torch_model(folder, device="cpu", **load).stream_set("torch")
    return streams
