"""One training job -> one run folder: model, forecasts, metrics and a verdict beside the
baselines, plots; and forecasts (tomorrow's included) from a saved model."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gatecast.artifacts import KeyLike, atomic_write_bytes, atomic_write_text, resolve_signing_key
from gatecast.data.calendar import (
    DATA,
    bars_per_year,
    calendar_of,
    check_calendar,
    check_exchange,
    information_dates,
)
from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.data.sources import (
    DataSource,
    check_finite,
    check_prices,
    data_identity,
    data_label,
    load,
    resolve_column,
)
from gatecast.data.splits import chronological_split
from gatecast.data.volatility import parkinson_scale, percent_returns, variance_proxy
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.metrics import score
from gatecast.evaluation.var import Distribution
from gatecast.experiment.forecast_intervals import (
    INFO_KEY,
    apply_intervals,
    calibration_record,
    check_levels,
)
from gatecast.experiment.forecast_steps import (
    HISTORY,
    SHOWN,
    check_steps,
    check_steps_model,
    fan_figure,
    step_table,
)
from gatecast.experiment.notebook import html_view
from gatecast.experiment.registry import label
from gatecast.experiment.report import write_report
from gatecast.experiment.report.verdict import Comparison, compare, sentence
from gatecast.experiment.run_folder import (
    RunFolder,
    check_not_input,
    check_out_file,
    check_out_folder,
    settings_record,
    staged_folder,
)
from gatecast.experiment.settings import DataSettings
from gatecast.inference.pipeline import future_calendar
from gatecast.models.baselines import HistoricalMean, NoChange
from gatecast.models.config import (
    ForecasterConfig,
    NetSettings,
    VarianceConfig,
    describe_train_proxy,
    params_of,
)
from gatecast.models.volatility import HistoricalVariance
from gatecast.types import (
    PROXIES,
    TRAIN_TARGETS,
    Cell,
    Mode,
    Proxy,
    ScalerKind,
    TrainTarget,
    check_choice,
)

if TYPE_CHECKING:  # torch loads only when a model is built, so `gatecast --help` stays fast
    from matplotlib.figure import Figure

    from gatecast.models.recurrent import RecurrentEstimator

#: Columns of every forecast CSV gatecast writes (train's test part, predict's output).
FORECAST_COLUMNS = ("actual", "forecast", "in_sample")
#: Model settings that only the return/price/direction family has.
POINT_ONLY = ("mode", "chunks", "chunk_len", "burn_in", "scaler")


@dataclass(kw_only=True)
class TrainJob(DataSettings):
    """Everything ``gatecast train`` needs; plain values (maps one-to-one onto the CLI options).

    The data settings are :class:`~gatecast.experiment.settings.DataSettings`; the split and
    run settings are TrainJob's own. The model settings (``cell`` ...
    ``quiet``) are the fields of the family's config of the same name; ``None`` takes the
    family's default (:class:`~gatecast.models.config.ForecasterConfig` for ``price``,
    ``return`` and ``direction``, :class:`~gatecast.models.config.VarianceConfig` for
    ``variance``), so no default is written twice. ``target``, ``log``, ``horizon`` and
    ``anchored`` make up a point target (``log`` None: log returns; ``anchored`` None: anchored,
    for a price target only); ``proxy`` (None: squared) and ``train_proxy`` a variance target.
    A setting given for a target that does not use it is refused, never ignored.
    ``test_size`` is a fraction in (0, 1) or a count of rows.
    """

    target: TrainTarget = "return"
    log: bool | None = None
    horizon: int = 1
    anchored: bool | None = None
    proxy: Proxy | None = None
    train_proxy: Proxy | None = None
    cell: Cell | None = None
    mode: Mode | None = None
    chunks: int | None = None
    chunk_len: int | None = None
    burn_in: int | None = None
    window: int | None = None
    hidden: int | None = None
    layers: int | None = None
    dropout: float | None = None
    features: tuple[str, ...] | None = None
    scaler: ScalerKind | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    clip: float | None = None
    val_size: float | None = None
    seed: int | None = None
    device: str | None = None
    quiet: bool | None = None
    test_start: str | None = None
    test_size: float | None = None
    gap: int = 0
    #: The trading calendar the data follows, recorded in the model: an exchange code (XNYS,
    #: XLON, ...) or ``data``; None: XNYS for the bundled US series, else the data's own.
    calendar: str | None = None
    #: Variance target: a hybrid's classical forecasts as inputs and its residual base (see
    #: :class:`~gatecast.models.config.VarianceConfig`); ``lstm_hybrid`` is
    #: ``("garch", "gjr_t", "har")`` with residual ``gjr_t``.
    classical_inputs: tuple[str, ...] | None = None
    residual: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.target, TRAIN_TARGETS, "target")
        if self.proxy is not None:
            check_choice(self.proxy, PROXIES, "proxy")
        if self.train_proxy is not None:
            check_choice(self.train_proxy, PROXIES, "train_proxy")
        unused = {
            "log (--simple)": self.variance and self.log is not None,
            "anchored (--anchored/--no-anchored)": self.target != "price"
            and self.anchored is not None,
            "proxy (--proxy)": not self.variance and self.proxy is not None,
            "train_proxy (--train-proxy)": not self.variance and self.train_proxy is not None,
            "classical_inputs (--classical-inputs)": not self.variance
            and self.classical_inputs is not None,
            "residual (--residual)": not self.variance and self.residual is not None,
        }
        sequence_only = [
            name
            for name in ("chunks", "chunk_len", "burn_in")
            if getattr(self, name) is not None and not self.variance
        ]
        if sequence_only and (self.mode or ForecasterConfig.mode) != "sequence":
            raise ConfigError(
                f"{', '.join(sequence_only)} set(s) the lanes of sequence mode (truncated BPTT); "
                f"add --mode sequence, or leave {'them' if len(sequence_only) > 1 else 'it'} out"
            )
        wrong = [name for name, given in unused.items() if given]
        if wrong:
            why = (
                "a variance model forecasts the next day's variance of log returns"
                if self.variance
                else "--proxy and --train-proxy are for --target variance; --anchored for "
                "--target price; --classical-inputs and --residual for --target variance"
            )
            raise ConfigError(
                f"{', '.join(wrong)} does not apply to target {self.target!r} ({why}); leave it out"
            )

    @property
    def variance(self) -> bool:
        return self.target == "variance"

    @property
    def variance_proxy(self) -> Proxy:
        """The proxy a variance model is scored against (``proxy``, default squared)."""
        return self.proxy or "squared"

    def target_spec(self) -> TargetSpec:
        """What a point model forecasts."""
        if self.variance:
            raise ConfigError("a variance job has no point target; see proxy")
        return TargetSpec(
            kind=self.target,
            log=self.log is not False,
            horizon=self.horizon,
            anchored=self.anchored is not False,
        )

    def model_config(self) -> NetSettings:
        """The model settings of this job, validated by the family's config."""
        config_class: type[NetSettings] = VarianceConfig if self.variance else ForecasterConfig
        names = {f.name for f in fields(config_class)}
        given = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in names and getattr(self, f.name) is not None
        }
        if self.variance:
            wrong = [k for k in POINT_ONLY if getattr(self, k) is not None]
            if wrong or self.horizon != 1:
                raise ConfigError(
                    f"{', '.join(wrong) or 'horizon'} is for return, price and direction "
                    "models; a variance model forecasts one day ahead from a window"
                )
            return VarianceConfig(**(given | {"target": self.variance_proxy}))
        return ForecasterConfig(**(given | {"target": self.target_spec()}))

    def forecaster(self) -> RecurrentEstimator:
        """A fresh, unfitted model with this job's settings."""
        from gatecast.models.recurrent import RecurrentForecaster, RecurrentVariance

        cfg = self.model_config()
        if isinstance(cfg, VarianceConfig):
            return RecurrentVariance(**params_of(cfg, VarianceConfig))
        return RecurrentForecaster(**params_of(cfg, ForecasterConfig))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (what ``config.json`` holds), the model settings as used."""
        cfg = self.model_config().to_dict()
        own = settings_record(self)
        resolved = {k: cfg[k] for k in own if k in cfg and own[k] is None}
        if self.variance:
            resolved["proxy"] = self.variance_proxy
        else:
            spec = self.target_spec()
            resolved["log"] = spec.log
            if self.target == "price":
                resolved["anchored"] = spec.anchored
        return own | resolved


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
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """Fit the baselines on ``history``, forecast the test part with ``model`` (already fitted)
    and the baselines, score all three."""
    fc = model.predict(df, start=test_start)
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
    model: Any, df: pd.DataFrame, history: pd.DataFrame, test_start: pd.Timestamp, proxy: Proxy
) -> tuple[pd.DataFrame, dict[str, dict[str, float]]]:
    """The variance counterpart of :func:`fit_and_score`: the 22-day historical variance
    (``no_change``) and the training mean as baselines, QLIKE, MSE and MAE against ``proxy``
    (the Parkinson range mapped to the squared-return level on training rows only)."""
    column = model.column_
    fc = model.predict(df, start=test_start)
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
    df = load(
        job.data,
        sort=job.sort,
        dropna=job.dropna,
        dayfirst=job.dayfirst,
        date_format=job.date_format,
    )
    column = resolve_column(df, job.column)
    df = check_finite(df, column, dropna=job.dropna)
    df = check_prices(df, column, allow_outliers=job.allow_outliers)
    if job.calendar is not None:
        df.attrs["calendar"] = job.calendar
    notes = [note] if (note := check_calendar(df.index, calendar_of(df))) else []
    history, test_start = split_history(
        df, test_start=job.test_start, test_size=job.test_size, gap=job.gap
    )
    model = replace(job, column=column).forecaster()
    model.fit(history)
    if df.attrs.get("outliers"):  # kept by --allow-outliers: the manifest and metrics say so
        model.spec_ = replace(
            model._fitted(), info={**model._fitted().info, "outliers": df.attrs["outliers"]}
        )
        notes.append(f"--allow-outliers kept {len(df.attrs['outliers'])} absurd price(s)")
    if job.variance:
        frame, metrics = fit_and_score_variance(model, df, history, test_start, job.variance_proxy)
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
        frame, metrics = fit_and_score(model, df, history, test_start, job.target_spec(), column)
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
        dropped_rows=int(df.attrs.get("dropped", 0)),
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


@dataclass
class Prediction:
    """A saved model's forecasts on some data: the table written to CSV, and the facts behind
    the last line (tomorrow's forecast): the calendar that dated it, the bars a year that
    annualise a variance (None for undated rows), and notes on the data's dates. With
    ``steps`` (``predict --steps h``), the long table of the forecasts 1..h bars after the
    data; ``recent`` holds the last prices, which the fan chart shows."""

    frame: pd.DataFrame
    model: str
    target: str
    column: str | None
    no_change: float
    calendar: str = "the data's own trading days"
    periods_per_year: float | None = None
    notes: list[str] = field(default_factory=list)
    level: float | None = None
    steps: pd.DataFrame | None = None
    recent: pd.Series | None = None
    log: bool = True

    @property
    def next(self) -> pd.Series:
        """The forecasts beyond the data (``actual`` empty)."""
        rows: pd.Series = self.frame.loc[self.frame["actual"].isna(), "forecast"]
        return rows

    def _repr_html_(self) -> str:
        if self.steps is not None:
            return html_view(
                f"{self.model}: {self.target} forecasts 1..{len(self.steps)} bars ahead",
                self.steps,
                self.step_lines()[:1],
            )
        return html_view(
            f"{self.model}: {self.target} forecasts", self.frame.tail(10), [self.last_line()]
        )

    def plot(self) -> Figure:
        """The fan chart: with ``steps``, the last prices and the h-step price path in its
        bands from the last close; otherwise the last forecasts of the return in their bands
        beside the realised returns (a variance model's return forecast is 0). One band per
        interval level (``lower``/``upper`` and each pair of quantiles); no band without
        ``interval`` or ``quantiles``."""
        if self.recent is None:
            raise ConfigError("this prediction keeps no prices to draw; make it with gc.predict")
        what = f"{len(self.steps)}-bar price path" if self.steps is not None else self.target
        return fan_figure(
            self.frame,
            self.steps,
            self.recent,
            level=self.level,
            variance=self.target == "variance",
            log=self.log,
            title=f"{self.model}: {what} forecast and its bands",
        )

    def step_lines(self) -> list[str]:
        """The h-step path, one line a step (the first and last ones of a long path): date,
        forecast, cumulative return or variance, the interval in return and price."""
        t = self.steps
        if t is None:
            return []
        variance = self.target == "variance"
        head = (
            f"{len(t)} bars after {stamp(t['as_of'].iloc[0])}: step, date, "
            + ("cumulative variance (%^2)" if variance else "cumulative return, price")
            + (f", {self.level:.0%} interval (price)" if "lower" in t else "")
        )
        lines = [head]
        dates = pd.Index(t["date"])
        rows = list(range(len(t)))
        if len(t) > SHOWN:
            rows = [*rows[: SHOWN - 3], -1, *rows[-2:]]
        for i in rows:
            if i < 0:
                lines.append("  ...")
                continue
            r = t.iloc[i]
            text = f"  {int(r['step']):>3} {stamp(r['date'], dates)}"
            if variance:
                text += f"  {float(r['cumulative_variance']):.4f}"
            else:
                text += f"  {100 * float(r['cumulative']):+.2f}%  {float(r['price_forecast']):.6g}"
            if "lower" in t:
                text += (
                    f"  {100 * float(r['lower']):+.2f}% .. {100 * float(r['upper']):+.2f}%"
                    f" ({float(r['price_lower']):.6g} .. {float(r['price_upper']):.6g})"
                )
            lines.append(text)
        return lines

    def last_line(self) -> str:
        """E.g. "2019-01-02 forecast: +0.04% (lstm), no-change 0", and the interval, quantiles
        and risk of that day where they were asked for."""
        if self.frame.empty:
            return "no forecast"
        day = stamp(self.frame.index[-1], self.frame.index)
        value = float(self.frame["forecast"].iloc[-1])
        ppy = self.periods_per_year
        line = f"{day} forecast: {_fmt(self.target, value, ppy)} ({self.model}), " + (
            f"no-change {_fmt(self.target, self.no_change, ppy)}"
            if self.target != "direction"
            else "no-change has no direction"
        )
        return "; ".join([line, *self.band_lines()])

    def band_lines(self) -> list[str]:
        """The last row's interval, quantiles, VaR and ES as return (%) and price."""
        last = self.frame.iloc[-1]
        out = []

        def pair(name: str) -> str:
            return f"{100 * float(last[name]):+.2f}% (price {float(last['price_' + name]):.6g})"

        if "lower" in last and self.level is not None:
            out.append(
                f"{self.level:.0%} interval of the return {pair('lower')} .. {pair('upper')}"
            )
        qs = [c for c in self.frame.columns if c.startswith("q") and c[1:2].isdigit()]
        out += [f"{c} {pair(c)}" for c in qs]
        for c in [c for c in self.frame.columns if c.startswith(("var_", "es_"))]:
            loss = float(last[c])
            out.append(f"{c} loss {100 * loss:.2f}% ({float(last['price_' + c]):.6g} in price)")
        return out


def stamp(value: Any, index: pd.Index | None = None) -> str:
    """A date as printed: ``2025-01-02``, with the time of day where the series has intraday
    bars (``2025-01-02 09:30``); anything else as it is."""
    if not isinstance(value, pd.Timestamp):
        return str(value)
    times = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex([value])
    if (times != times.normalize()).any():
        return f"{value:%Y-%m-%d %H:%M}" + (f":{value:%S}" if value.second else "")
    return f"{value:%Y-%m-%d}"


def _fmt(target: str, value: float, periods_per_year: float | None = None) -> str:
    if math.isnan(value):
        return "n/a"
    if target == "return":
        return "0" if value == 0 else f"{100 * value:+.2f}%"
    if target == "direction":
        return f"P(up) {value:.3f}"
    if target == "variance":
        if periods_per_year is None:
            return f"variance {value:.4g} %^2"
        vol = math.sqrt(periods_per_year * value)
        return (
            f"variance {value:.4g} %^2 (annualised volatility {vol:.1f}%, "
            f"{periods_per_year:.6g} bars a year)"
        )
    return f"{value:.6g}"


def run_prediction(
    model_dir: str | Path,
    data: DataSource,
    out: str | Path | None = None,
    *,
    start: str | None = None,
    end: str | None = None,
    column: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    device: str = "auto",
    dayfirst: bool | None = None,
    date_format: str | None = None,
    allow_outliers: bool = False,
    overwrite: bool = False,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
    calendar: str | None = None,
    interval: float | None = None,
    quantiles: Sequence[float] | None = None,
    dist: Distribution | None = None,
    steps: int | None = None,
    plot: str | Path | None = None,
) -> Prediction:
    """Forecast ``data`` with a saved model (return, price, direction or variance) and write
    ``date,actual,forecast,in_sample,as_of`` to ``out`` (CSV; None: nothing is written).

    ``date`` is the date (and, for intraday bars, the time) each forecast is for, ``as_of`` the
    date of the last observation it used. Unless ``end`` stops earlier, the last rows are the
    forecasts for the bars after the data, with ``actual`` empty, dated in ``calendar`` (an
    exchange code such as ``XNYS``, or ``data`` for the data's own calendar; default: the one
    the model records, see :func:`gatecast.inference.pipeline.future_calendar`). ``in_sample`` marks
    the dates whose targets the model was trained on. A variance model's ``actual`` is the
    squared percent return of the bar. ``column`` overrides the price column the model was
    trained on. An existing ``out`` is replaced only with ``overwrite`` (a device, a FIFO or a
    folder never). ``signing_key`` and ``require_signature`` verify the folder's signature (see
    ``gatecast.inference.read_model_folder``).

    ``interval`` (e.g. 0.9) adds ``lower``/``upper`` and ``quantiles`` (e.g. (0.05, 0.5, 0.95))
    ``q0.05``... columns around a one-day return forecast or, for a variance model, around a zero
    mean return, by adaptive conformal inference restarted from the calibration recorded at
    ``train`` (see :mod:`gatecast.experiment.forecast_intervals`); each also as ``price_*``, from
    the last close. ``dist`` (``normal`` or ``t``, variance models only) takes a variance
    model's quantiles from that predictive distribution instead and adds VaR and ES columns.

    ``steps`` (h >= 1; not with ``start``/``end``) adds the forecasts 1..h bars after the data
    as :attr:`Prediction.steps`, and ``out`` then gets that long table instead (see
    :func:`gatecast.experiment.forecast_steps.step_table` for the rules). ``plot`` (a .png,
    .svg or .pdf path; needs ``interval`` or ``quantiles``) writes the fan chart there
    (:meth:`Prediction.plot`).
    """
    from gatecast.models.recurrent import RecurrentVariance, load_model

    check_levels(interval, quantiles)
    if dist is not None:
        check_choice(dist, ("normal", "t"), "dist")
    check_steps(steps, start, end)
    if plot is not None:
        _check_plot(plot, out, interval, quantiles)

    if out is not None:
        check_not_input(out, {"--data": data, "--model": model_dir})
        check_out_file(out, overwrite=overwrite)
    if plot is not None:
        check_not_input(plot, {"--data": data, "--model": model_dir})
        if Path(plot).exists() and not overwrite:
            raise ConfigError(
                f"--plot {plot} already exists; pass --overwrite to replace it, or choose a new "
                "file"
            )
        check_out_file(plot, overwrite=True)  # a device, a FIFO or a folder is still refused
    if calendar is not None and calendar != DATA:
        check_exchange(calendar)  # a mistyped name fails before anything is read
    model = load_model(
        model_dir, device=device, signing_key=signing_key, require_signature=require_signature
    )
    _check_applies(model, isinstance(model, RecurrentVariance), interval, quantiles, dist)
    check_steps_model(model, steps, variance=isinstance(model, RecurrentVariance))
    col = column or model.column_
    df = load(
        data,
        column=col,
        sort=sort,
        dropna=dropna,
        dayfirst=dayfirst,
        date_format=date_format,
        allow_outliers=allow_outliers,
    )
    if column is not None:
        model.spec_ = replace(model._fitted(), column=resolve_column(df, column))
    if calendar is not None:
        spec = model._fitted()
        model.spec_ = replace(spec, info={**spec.info, "calendar": {"name": calendar}})
    cal = future_calendar(model._fitted(), df.index)
    notes = [note] if (note := check_calendar(df.index, cal)) else []
    col = model.column_
    fc = model.predict(df, start=start, end=end, future=True)
    if fc.empty:
        raise ConfigError(
            f"no forecasts: {data} has no date in [{start}, {end}] with {model.window} rows of "
            "history before it; pick other dates or more data"
        )
    variance = isinstance(model, RecurrentVariance)
    if variance:
        actual = percent_returns(df, col) ** 2
        target = "variance"
        r2 = actual.dropna()
        no_change = float(r2.iloc[-22:].mean())
    else:
        spec = model.target_spec
        actual = make_target(df, spec, col)
        target = spec.kind
        no_change = float(price_series(df, col).iloc[-1]) if target == "price" else 0.0
    trained_to = (model.train_range_ or ("", ""))[1]
    in_sample = _on_or_before(fc.index, trained_to)
    as_of = information_dates(df.index, fc.index, model._fitted().horizon)
    frame = forecast_frame(actual, fc, in_sample, as_of)
    if interval is not None or quantiles:
        frame, more = apply_intervals(
            model,
            df,
            frame,
            model._fitted().info,
            str(Path(model_dir) / "manifest.json"),
            variance=variance,
            interval=interval,
            quantiles=quantiles,
            dist=dist,
        )
        notes += more
    table = None
    if steps is not None:
        where = str(Path(model_dir) / "manifest.json")
        info = model._fitted().info
        table, more = step_table(model, df, frame, cal, steps, info, where, variance=variance)
        notes += more
    try:
        ppy: float | None = bars_per_year(df.index, cal)
    except ConfigError:  # undated rows: no year to annualise over
        ppy = None
    pred = Prediction(
        frame,
        model.name,
        target,
        col,
        no_change,
        cal.describe(),
        ppy,
        notes,
        level=interval,
        steps=table,
        recent=price_series(df, col).iloc[-(HISTORY + 1) :],
        log=variance or bool(model.target_spec.log),
    )
    figure = pred.plot() if plot is not None else None
    if out is not None:
        text = (
            frame.to_csv(float_format="%.10g")
            if table is None
            else table.to_csv(index=False, float_format="%.10g")
        )
        atomic_write_text(Path(out), text)
    if figure is not None:
        _write_figure(figure, Path(plot))  # type: ignore[arg-type]  # plot is set with figure
    return pred


def _check_plot(
    plot: str | Path, out: str | Path | None, interval: float | None, quantiles: Any
) -> None:
    """Refuse ``--plot`` without bands to draw, to a file type matplotlib is not asked to
    write, or onto ``--out``."""
    if interval is None and not quantiles:
        raise ConfigError(
            f"--plot {plot} draws the fan chart of the forecasts' bands: add --interval (e.g. "
            "0.9) or --quantiles (e.g. 0.05,0.25,0.75,0.95)"
        )
    if Path(plot).suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ConfigError(f"--plot {plot}: name a .png, .svg or .pdf file")
    if out is not None and Path(plot).resolve() == Path(out).resolve():
        raise ConfigError(f"--plot {plot} is also --out: choose two files")


def _write_figure(fig: Figure, path: Path) -> None:
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lower()[1:], dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _check_applies(
    model: Any,
    variance: bool,
    interval: float | None,
    quantiles: Sequence[float] | None,
    dist: str | None,
) -> None:
    """Refuse an interval option the model cannot take, before any forecast is made."""
    given = [
        name
        for name, v in (("--interval", interval), ("--quantiles", quantiles), ("--dist", dist))
        if v
    ]
    if not given:
        return
    if dist is not None and not variance:
        raise ConfigError(
            f"--dist {dist} shapes a variance model's predictive distribution; {model.name} "
            f"forecasts {model.target_spec.kind}: leave --dist out (its intervals are conformal)"
        )
    if dist is not None and not quantiles:
        raise ConfigError(
            "--dist gives a variance model's quantiles, VaR and ES: add --quantiles, e.g. "
            "--quantiles 0.01,0.05,0.5,0.95,0.99"
        )
    if variance:
        return
    spec = model.target_spec
    if spec.kind != "return" or spec.horizon != 1:
        raise ConfigError(
            f"{' and '.join(given)} cover(s) one-day return and variance forecasts; this model "
            f"forecasts {spec.kind} over {spec.horizon} day(s) ({model.name}): train one with "
            f"--target return --horizon 1, or a variance model"
        )


def _on_or_before(index: pd.Index, last: str) -> np.ndarray:
    if not last:
        return np.zeros(len(index), dtype=bool)
    key: Any = pd.Timestamp(last) if isinstance(index, pd.DatetimeIndex) else type(index[0])(last)
    return np.asarray(index <= key)
