"""One training job -> one run folder: model, forecasts, metrics and a verdict beside the
baselines, plots (forecasts from a saved model: :mod:`gatecast.experiment.prediction`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import KeyLike, resolve_signing_key
from gatecast.data.calendar import (
    calendar_of,
    check_calendar,
)
from gatecast.data.covariates import join_covariates
from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.data.sources import (
    data_identity,
    data_label,
    resolve_column,
)
from gatecast.data.splits import chronological_split
from gatecast.data.volatility import parkinson_scale, variance_proxy
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.metrics import score
from gatecast.evaluation.walkforward import fit_fold, one_fold
from gatecast.experiment.forecast_intervals import (
    INFO_KEY,
    calibration_record,
)
from gatecast.experiment.notebook import html_view
from gatecast.experiment.registry import label
from gatecast.experiment.report import write_report
from gatecast.experiment.report.verdict import Comparison, compare, sentence
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    staged_folder,
)
from gatecast.experiment.settings import load_data
from gatecast.experiment.train_job import POINT_ONLY as POINT_ONLY
from gatecast.experiment.train_job import TrainJob as TrainJob
from gatecast.models.baselines import HistoricalMean, NoChange
from gatecast.models.config import describe_train_proxy
from gatecast.models.volatility import HistoricalVariance
from gatecast.types import Proxy

if TYPE_CHECKING:  # torch loads only when a model is built, so `gatecast --help` stays fast
    from gatecast.models.recurrent import RecurrentEstimator

#: Columns of every forecast CSV gatecast writes (train's test part, predict's output).
FORECAST_COLUMNS = ("actual", "forecast", "in_sample")


@dataclass
class TrainRun:
    """The result of a training job: the fitted model, the test forecasts, their metrics and
    the verdict (Diebold-Mariano tests against no-change and the historical mean)."""

    job: TrainJob
    model: RecurrentEstimator
    forecasts: pd.DataFrame  # date x (actual, <cell>, no_change, historical_mean)
    metrics: dict[str, dict[str, float]]
    seconds: float
    out: Path | None = None
    dropped_rows: int = 0
    tests: dict[str, Comparison] = field(default_factory=dict)
    verdict: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def column(self) -> str | None:
        """The price column the model was trained on."""
        return self.model.column_

    def table(self) -> pd.DataFrame:
        """Metrics per model (rows) with the baselines beside the recurrent model."""
        table: pd.DataFrame = pd.DataFrame(self.metrics).T
        return table

    def _repr_html_(self) -> str:
        title = f"{self.model.name} on {data_label(self.job.data)} ({self.job.target})"
        return html_view(title, self.table(), [self.verdict, *self.notes])

    def summary(self) -> str:
        """The verdict and a plain-text table of the metrics."""
        text = self.table().to_string(float_format=lambda v: f"{v:.6g}")
        return f"{self.verdict}\n{text}" if self.verdict else text

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        result = self.model.result_
        return {
            "target": self.job.target,
            "horizon": self.job.horizon,
            "column": self.column,
            "features": list(self.model._fitted().features),
            "test_start": str(self.forecasts.index[0]),
            "test_end": str(self.forecasts.index[-1]),
            "n_test": len(self.forecasts),
            "models": self.metrics,
            "labels": {name: label(name) for name in self.metrics},
            "tests": {name: t.to_dict() for name, t in self.tests.items()},
            "verdict": self.verdict,
            "notes": self.notes,
            "train_seconds": result.seconds if result else None,
            "dropped_rows": self.dropped_rows,
        }


def split_history(
    df: pd.DataFrame, *, test_start: str | None, test_size: float | None, gap: int = 0
) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The rows a model may train on and the first test date (test rows never reach ``fit``)."""
    if test_start is not None and test_size is not None:
        raise ConfigError("give either --test-start or --test-size, not both")
    split = chronological_split(
        df.index,
        test_start=test_start,
        test_size=test_size if test_size is not None else 0.2,
        gap=gap,
    )
    history = df.loc[df.index.isin(split.train)]
    history.attrs.update(df.attrs)
    return history, split.test[0]


def fit_and_score(
    model: Any,
    df: pd.DataFrame,
    history: pd.DataFrame,
    test_start: pd.Timestamp,
    spec: TargetSpec,
    column: str | None,
    *,
    forecast: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Fit the baselines on ``history``, forecast the test part with ``model`` (already fitted;
    or take its ``forecast`` of it) and the baselines, score all three."""
    fc = model.predict(df, start=test_start) if forecast is None else forecast
    naive = NoChange(spec, column).fit(history).predict(df, start=test_start)
    mean = HistoricalMean(spec, column).fit(history).predict(df, start=test_start)
    actual = make_target(df, spec, column).loc[fc.index]
    last_price = price_series(df, column).shift(spec.horizon) if spec.kind == "price" else None
    frame = pd.DataFrame(
        {"actual": actual, model.name: fc, "no_change": naive, "historical_mean": mean}
    )
    frame = frame.loc[fc.index]
    metrics = {}
    for name in (model.name, "no_change", "historical_mean"):
        metrics[name] = score(
            spec.kind, actual, frame[name], frame["no_change"], frame["historical_mean"], last_price
        )
    return frame, metrics


def fit_and_score_variance(
    model: Any,
    df: pd.DataFrame,
    history: pd.DataFrame,
    test_start: pd.Timestamp,
    proxy: Proxy,
    *,
    forecast: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """The variance counterpart of :func:`fit_and_score`: the 22-day historical variance
    (``no_change``) and the training mean as baselines, QLIKE, MSE and MAE against ``proxy``
    (the Parkinson range mapped to the squared-return level on training rows only)."""
    column = model.column_
    fc = model.predict(df, start=test_start) if forecast is None else forecast
    scale = parkinson_scale(history, column) if proxy == "parkinson" else None
    actual = variance_proxy(df, proxy, scale=scale, column=column).reindex(fc.index)
    base = {
        name: HistoricalVariance(window=w, target=proxy, column=column, name=name)
        .fit(history)
        .predict(df, start=test_start)
        for name, w in (("no_change", 22), ("historical_mean", None))
    }
    frame = pd.DataFrame({"actual": actual, model.name: fc} | base).loc[fc.index]
    metrics = {
        name: {"n": float(frame[name].notna().sum())}
        | {
            loss: float(np.nanmean(loss_series(loss, frame["actual"], frame[name])))
            for loss in ("qlike", "mse", "mae")
        }
        for name in (model.name, "no_change", "historical_mean")
    }
    return frame, metrics


def run_training(
    job: TrainJob,
    out: str | Path | None = None,
    *,
    plots: bool = True,
    overwrite: bool = False,
    signing_key: KeyLike = None,
) -> TrainRun:
    """Load the data, split it in time, train, forecast the test part, test the model against
    no-change and the historical mean, and write the run folder.

    Writes ``model.safetensors``, ``manifest.json``, ``forecasts.csv``
    (``date,actual,forecast,in_sample``), ``metrics.json`` (with the tests and the verdict),
    ``loss.json``, ``loss.png``, ``forecast.png`` and ``config.json`` into ``out``. The model
    folder is signed with ``signing_key`` (default ``$GATECAST_SIGNING_KEY_FILE``, else unsigned).
    """
    if out is not None:
        check_out_folder(out, overwrite=overwrite, kind="train")  # before the work, not after it
    key = resolve_signing_key(signing_key)  # a bad key file is refused before the fit, too
    t0 = time.perf_counter()
    df, dropped = load_data(job, variance=job.variance)  # as every job reads its data
    column = resolve_column(df, job.column)
    if job.calendar is not None:
        df.attrs["calendar"] = job.calendar
    notes = [note] if (note := check_calendar(df.index, calendar_of(df))) else []
    if job.covariates:  # the evaluation's join: each row the values known at its close
        df, joined = join_covariates(df, job.covariates)
        notes += joined
    history, test_start = split_history(
        df, test_start=job.test_start, test_size=job.test_size, gap=job.gap
    )
    model = replace(job, column=column).forecaster()
    # a walk of one fold: the fit and forecast of every walk-forward refit, on the split's rows
    fc, _ = fit_fold(model, df, one_fold(df.index, len(history), test_start))
    if job.covariates:  # recorded, so that predict joins the same groups
        spec = model._fitted()
        model.spec_ = replace(spec, info={**spec.info, "covariate_groups": list(job.covariates)})
    if df.attrs.get("outliers"):  # kept by --allow-outliers: the manifest and metrics say so
        model.spec_ = replace(
            model._fitted(), info={**model._fitted().info, "outliers": df.attrs["outliers"]}
        )
        notes.append(f"--allow-outliers kept {len(df.attrs['outliers'])} absurd price(s)")
    if job.variance:
        frame, metrics = fit_and_score_variance(
            model, df, history, test_start, job.variance_proxy, forecast=fc
        )
        feats = model._fitted().features
        if "high" not in df.columns or "low" not in df.columns:
            used = model._fitted().config  # the settings as resolved on this data
            proxy = describe_train_proxy(used["train_proxy"], used["residual"])
            notes.append(
                f"close-only data: inputs {', '.join(feats)}, trained against {proxy} "
                "(range inputs and the Parkinson proxy need High/Low)"
            )
        for name, measure in getattr(model, "har_measures_", {}).items():
            on = "the log range" if measure == "range" else "absolute returns |r|"
            notes.append(f"the hybrid's {name} is HAR (1, 5, 22) on {on}")
        kind = "variance"
    else:
        frame, metrics = fit_and_score(
            model, df, history, test_start, job.target_spec(), column, forecast=fc
        )
        kind = job.target
    record, note = calibration_record(model, df, history, frame[model.name], variance=job.variance)
    if record is not None:  # in the manifest, so its checksum covers the scores
        spec = model._fitted()
        model.spec_ = replace(spec, info={**spec.info, INFO_KEY: record})
    if note is not None:
        notes.append(note)
    reference = "historical_mean" if kind == "direction" else "no_change"
    tests = {
        base: compare(kind, frame["actual"], frame, model.name, base)
        for base in ("no_change", "historical_mean")
        if not (kind == "direction" and base == "no_change")  # no-change has no direction
    }
    run = TrainRun(
        job,
        model,
        frame,
        metrics,
        time.perf_counter() - t0,
        dropped_rows=dropped,
        tests=tests,
        verdict=sentence(kind, model.name, tests[reference], metrics[model.name]),
        notes=notes,
    )
    if out is not None:
        with staged_folder(
            out,
            overwrite=overwrite,
            kind="train",
            config=job.to_dict(),
            data=data_identity(job.data, df),
        ) as tmp:
            write_train_run(run, tmp, plots=plots, signing_key=key)
        run.out = Path(out)
    return run


def write_train_run(
    run: TrainRun, out: str | Path, *, plots: bool = True, signing_key: KeyLike = None
) -> Path:
    """Write the run folder for ``run`` (every file atomically): the model, ``forecasts.csv``,
    ``metrics.json``, ``loss.json``, ``config.json`` and (``plots``) ``loss.png``, ``forecast.png``.
    """
    folder = RunFolder(out)
    folder.path.mkdir(parents=True, exist_ok=True)
    model = run.model
    model.save(folder.path, signing_key=signing_key)
    fc = forecast_frame(run.forecasts["actual"], run.forecasts[model.name], in_sample=False)
    folder.write_csv("forecasts.csv", fc, float_format="%.10g")
    folder.write_metrics(run.to_dict())
    history = model.result_.to_dict() if model.result_ else {}
    folder.write_json("loss.json", history)
    folder.write_config(run.job.to_dict())
    if plots:
        from gatecast.plots.forecasts import forecast_vs_actual, loss_curves

        loss_curves({model.name: history.get("history", {})}, folder / "loss.png")
        forecast_vs_actual(
            run.forecasts["actual"],
            {
                model.name: run.forecasts[model.name],
                label("no_change"): run.forecasts["no_change"],
            },
            folder / "forecast.png",
            title=f"{model.name.upper()} forecast of {run.job.target} on {data_label(run.job.data)} (test period)",
        )
    write_report(folder.path, figures=plots)
    run.out = folder.path
    return folder.path


def forecast_frame(
    actual: pd.Series, forecast: pd.Series, in_sample: Any, as_of: pd.Index | None = None
) -> pd.DataFrame:
    """The one forecast table: ``date`` index (the date each forecast is *for*), ``actual``,
    ``forecast``, ``in_sample`` (True where the model was trained on that date's target), and,
    when given, ``as_of``: the date of the last observation each forecast used."""
    frame = pd.DataFrame(
        {"actual": actual.reindex(forecast.index), "forecast": forecast, "in_sample": in_sample},
        index=forecast.index,
    )
    frame.index.name = "date"
    columns = list(FORECAST_COLUMNS)
    if as_of is not None:
        frame["as_of"] = np.asarray(as_of)
        columns.append("as_of")
    ordered: pd.DataFrame = frame[columns]
    return ordered
