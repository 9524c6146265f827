"""One training job -> one run folder: model, forecasts, metrics beside the baselines, plots."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from gatecast.artifacts import atomic_write_text
from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.data.sources import check_finite, load, resolve_column
from gatecast.data.splits import chronological_split
from gatecast.data.volatility import percent_returns
from gatecast.errors import ConfigError
from gatecast.evaluate.metrics import score
from gatecast.experiment.registry import label
from gatecast.experiment.run_folder import RunFolder
from gatecast.models.baselines import HistoricalMean, NoChange
from gatecast.models.config import ForecasterConfig, params_of
from gatecast.types import Cell, Mode, ScalerKind, TargetKind

if TYPE_CHECKING:  # torch loads only when a model is built, so `gatecast --help` stays fast
    from gatecast.models.recurrent import RecurrentForecaster

# Every model default is read from ForecasterConfig, never restated here. Typed Any because the
# config types its choices as plain strings and TrainJob as the Literal types.
_MODEL: Final[Any] = ForecasterConfig()


@dataclass
class TrainJob:
    """Everything ``gatecast train`` needs; plain values (maps one-to-one onto the CLI options).

    The data, split and run settings are TrainJob's own; the model settings are the fields of
    :class:`~gatecast.models.config.ForecasterConfig` of the same name, with its
    defaults (``target``, ``log`` and ``horizon`` make up its ``target``).
    """

    data: str = "sp500"
    column: str | None = _MODEL.column
    target: TargetKind = _MODEL.target_spec.kind
    log: bool = _MODEL.target_spec.log
    horizon: int = _MODEL.target_spec.horizon
    cell: Cell = _MODEL.cell
    mode: Mode = _MODEL.mode
    chunks: int = _MODEL.chunks
    chunk_len: int = _MODEL.chunk_len
    burn_in: int = _MODEL.burn_in
    window: int = _MODEL.window
    hidden: int = _MODEL.hidden
    layers: int = _MODEL.layers
    dropout: float = _MODEL.dropout
    features: tuple[str, ...] = _MODEL.features
    scaler: ScalerKind = _MODEL.scaler
    epochs: int = _MODEL.epochs
    batch_size: int = _MODEL.batch_size
    lr: float = _MODEL.lr
    patience: int = _MODEL.patience
    clip: float = _MODEL.clip
    val_size: float = _MODEL.val_size
    seed: int = _MODEL.seed
    test_start: str | None = None
    test_size: float | None = None
    gap: int = 0
    device: str = _MODEL.device
    sort: bool = False
    dropna: bool = False
    quiet: bool = _MODEL.quiet

    def target_spec(self) -> TargetSpec:
        """What is forecast."""
        return TargetSpec(kind=self.target, log=self.log, horizon=self.horizon)

    def model_config(self) -> ForecasterConfig:
        """The model settings of this job (validated by :class:`ForecasterConfig`)."""
        own = {f.name for f in fields(self)}
        shared = {f.name: getattr(self, f.name) for f in fields(ForecasterConfig) if f.name in own}
        return ForecasterConfig(**(shared | {"target": self.target_spec()}))

    def forecaster(self) -> RecurrentForecaster:
        """A fresh, unfitted model with this job's settings."""
        from gatecast.models.recurrent import RecurrentForecaster

        return RecurrentForecaster(**params_of(self.model_config(), ForecasterConfig))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (what ``config.json`` holds)."""
        return asdict(self)


@dataclass
class TrainRun:
    """The result of a training job: the fitted model, the test forecasts and their metrics."""

    job: TrainJob
    model: RecurrentForecaster
    forecasts: pd.DataFrame  # date x (actual, <cell>, no_change, historical_mean)
    metrics: dict[str, dict[str, float]]
    seconds: float
    out: Path | None = None
    dropped_rows: int = 0

    def table(self) -> pd.DataFrame:
        """Metrics per model (rows) with the baselines beside the recurrent model."""
        table: pd.DataFrame = pd.DataFrame(self.metrics).T
        return table

    def summary(self) -> str:
        """A plain-text table of the metrics."""
        return self.table().to_string(float_format=lambda v: f"{v:.6g}")

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        result = self.model.result_
        return {
            "target": self.job.target,
            "horizon": self.job.horizon,
            "test_start": str(self.forecasts.index[0]),
            "test_end": str(self.forecasts.index[-1]),
            "n_test": len(self.forecasts),
            "models": self.metrics,
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
    """Fit ``model`` and the baselines on ``history``, forecast the test part, score all three."""
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


def run_training(job: TrainJob, out: str | Path | None = None, *, plots: bool = True) -> TrainRun:
    """Load the data, split it in time, train, forecast the test part, and write the run folder.

    Writes ``model.safetensors``, ``manifest.json``, ``forecasts.csv`` (``date,actual,forecast``),
    ``metrics.json``, ``loss.json``, ``loss.png``, ``forecast.png`` and ``config.json`` into ``out``.
    """
    t0 = time.perf_counter()
    df = load(job.data, sort=job.sort, dropna=job.dropna)
    df = check_finite(df, resolve_column(df, job.column), dropna=job.dropna)
    column = resolve_column(df, job.column)
    spec = job.target_spec()
    history, test_start = split_history(
        df, test_start=job.test_start, test_size=job.test_size, gap=job.gap
    )
    model = replace(job, column=column).forecaster()
    model.fit(history)
    frame, metrics = fit_and_score(model, df, history, test_start, spec, column)
    run = TrainRun(
        job,
        model,
        frame,
        metrics,
        time.perf_counter() - t0,
        dropped_rows=int(df.attrs.get("dropped", 0)),
    )
    if out is not None:
        write_train_run(run, out, plots=plots)
    return run


def write_train_run(run: TrainRun, out: str | Path, *, plots: bool = True) -> Path:
    """Write the run folder for ``run`` (every file atomically): the model, ``forecasts.csv``,
    ``metrics.json``, ``loss.json``, ``config.json`` and (``plots``) ``loss.png``, ``forecast.png``.
    """
    folder = RunFolder(out)
    folder.path.mkdir(parents=True, exist_ok=True)
    model = run.model
    model.save(folder.path)
    fc = pd.DataFrame({"actual": run.forecasts["actual"], "forecast": run.forecasts[model.name]})
    fc.index.name = "date"
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
            title=f"{model.name.upper()} forecast of {run.job.target} on {run.job.data} (test period)",
        )
    run.out = folder.path
    return folder.path


def run_prediction(
    model_dir: str | Path,
    data: str,
    out: str | Path,
    *,
    start: str | None = None,
    sort: bool = False,
    dropna: bool = False,
    device: str = "auto",
) -> pd.DataFrame:
    """Forecast ``data`` with a saved model (return, price, direction or variance) and write
    ``date,forecast,actual`` to ``out`` (CSV). A variance model's ``actual`` is the squared
    percent return of the day."""
    from gatecast.models.recurrent import RecurrentVariance, load_model

    model = load_model(model_dir, device=device)
    df = load(data, column=model.column_, sort=sort, dropna=dropna)
    fc = model.predict(df, start=start)
    if fc.empty:
        raise ConfigError(
            f"no forecasts: {data} has no date on or after {start} with {model.window} rows of "
            "history before it; pick an earlier --start or more data"
        )
    if isinstance(model, RecurrentVariance):
        actual = (percent_returns(df, model.column_) ** 2).reindex(fc.index)
    else:
        actual = make_target(df, model.target_spec, model.column_).reindex(fc.index)
    frame: pd.DataFrame = pd.DataFrame({"forecast": fc, "actual": actual})
    frame.index.name = "date"
    atomic_write_text(Path(out), frame.to_csv(float_format="%.10g"))
    return frame
