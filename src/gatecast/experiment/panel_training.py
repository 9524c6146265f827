"""Training a global model on a panel: ``gatecast train`` with a panel
(``gc.train(panel, target="variance" | "return" | "direction")``); serving the folder it writes
is :mod:`gatecast.experiment.panel_serving`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from gatecast.artifacts import KeyLike, resolve_signing_key
from gatecast.data.panel import Layout, Panel, load_panel
from gatecast.errors import ConfigError, DataError
from gatecast.experiment.notebook import html_view
from gatecast.experiment.panel_calendar import check_panel_calendar, panel_calendar
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    staged_folder,
)

if TYPE_CHECKING:  # torch loads only when a model is built; training's imports when one trains
    from gatecast.experiment.training import TrainJob
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

__all__ = ["PANEL_TRAIN_TARGETS", "PanelTrainRun", "check_panel_train", "run_panel_training"]

#: The targets a global model trains on a panel: the variance, and the one-step return or its
#: direction (:class:`GlobalRecurrentReturn`, kind ``global_return``).
PANEL_TRAIN_TARGETS = ("variance", "return", "direction")
# TrainJob settings a panel's training does not take, each with its reason (and the option)
_TRAIN_REFUSED = {
    "classical_inputs": (
        "--classical-inputs",
        "the global model takes no hybrid inputs yet (single-series only)",
    ),
    "residual": ("--residual", "the global model has no residual base yet (single-series only)"),
}


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
    check_panel_calendar(job.calendar)
    if not job.variance and job.horizon != 1:
        raise ConfigError(
            f"--horizon {job.horizon} does not apply to a panel: the global return model "
            f"forecasts one step ahead; leave --horizon out"
        )
    lanes = _variance_lanes(job)
    given = ", ".join("--" + k.replace("_", "-") for k in lanes if k != "mode")
    if given and lanes.get("mode") != "sequence":
        raise ConfigError(
            f"{given} set(s) the lanes of sequence mode (truncated BPTT); add --mode sequence, "
            f"or leave them out"
        )
    _model_job(job).model_config()  # the model's settings, validated (refused by name)


def _variance_lanes(job: TrainJob) -> dict[str, Any]:
    """A variance job's sequence settings given (``--mode``, ``--chunks``...): the global
    variance model's own (the single-series variance model has none); nothing for a return."""
    from gatecast.models.config import LANE_SETTINGS

    if not job.variance:
        return {}
    return {k: getattr(job, k) for k in LANE_SETTINGS if getattr(job, k) is not None}


def _model_job(job: TrainJob) -> TrainJob:
    """``job`` as its single-series model's settings see it: a variance job without the
    global model's own sequence settings."""
    if not _variance_lanes(job):
        return job
    return replace(job, mode=None, chunks=None, chunk_len=None, burn_in=None)


def _global_model(job: TrainJob) -> GlobalRecurrentVariance | GlobalRecurrentReturn:
    """The unfitted global model of ``job``'s target, with its settings (those of the one-series
    model of that target, :meth:`TrainJob.model_config`, that the global model takes)."""
    from gatecast.models.config import ForecasterConfig, VarianceConfig, params_of

    cfg = _model_job(job).model_config()
    if isinstance(cfg, VarianceConfig):
        from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

        keep = set(GlobalRecurrentVariance._param_names())
        params = {k: v for k, v in params_of(cfg, VarianceConfig).items() if k in keep}
        return GlobalRecurrentVariance(**params, **_variance_lanes(job))
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
    a panel (a price target, a horizon over 1, the hybrid inputs, the data's own calendar) are
    refused by name before the data is read; ``mode`` (and ``chunks``, ``chunk_len``,
    ``burn_in``) train the global model of any target in sequence mode. ``job.calendar`` (an
    exchange code) is the calendar every instrument follows: each one's rows are checked against
    its sessions (:func:`gatecast.experiment.panel_calendar.panel_calendar`) and the folder
    records it, so that predict and stream date the next bar by the exchange's next session.
    ``job.covariates`` (groups such as ``sp500``) are joined onto each
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
    calendar = panel_calendar(panel, job.calendar)
    notes_calendar = calendar.notes if calendar is not None else []
    model = _global_model(job)
    model.covariate_groups_ = tuple(job.covariates)  # recorded in the folder for predict
    model.calendar_ = calendar.doc if calendar is not None else None  # dates predict's bars
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
    notes = [*notes_calendar, *joined]
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
        record = _model_job(replace(job, data=panel.source)).to_dict() | _variance_lanes(job)
        config = {**record, "panel": True, "layout": layout}
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
