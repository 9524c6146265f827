"""One training job -> one run folder: model, forecasts, metrics beside the baselines, plots."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.artifacts import atomic_write_json, atomic_write_text
from gatecast.data.features import TargetSpec, make_target, price_series
from gatecast.data.sources import check_finite, load, resolve_column
from gatecast.data.splits import chronological_split
from gatecast.errors import ConfigError
from gatecast.evaluate.metrics import score
from gatecast.models.baselines import HistoricalMean, NoChange
from gatecast.models.recurrent import RecurrentForecaster


@dataclass
class TrainJob:
    """Everything ``gatecast train`` needs; plain values (maps one-to-one onto the CLI options)."""

    data: str = "sp500"
    column: str | None = None
    target: str = "return"
    log: bool = True
    horizon: int = 1
    cell: str = "lstm"
    mode: str = "window"
    chunks: int = 32
    chunk_len: int = 16
    burn_in: int = 10
    window: int = 20
    hidden: int = 50
    layers: int = 2
    dropout: float = 0.0
    features: tuple[str, ...] = ("return",)
    scaler: str = "standard"
    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 10
    clip: float = 1.0
    val_size: float = 0.1
    seed: int = 0
    test_start: str | None = None
    test_size: float | None = None
    gap: int = 0
    device: str = "auto"
    sort: bool = False
    dropna: bool = False
    quiet: bool = True

    def target_spec(self) -> TargetSpec:
        return TargetSpec(kind=self.target, log=self.log, horizon=self.horizon)

    def forecaster(self) -> RecurrentForecaster:
        return RecurrentForecaster(
            cell=self.cell,
            mode=self.mode,
            chunks=self.chunks,
            chunk_len=self.chunk_len,
            burn_in=self.burn_in,
            hidden=self.hidden,
            layers=self.layers,
            dropout=self.dropout,
            window=self.window,
            target=self.target_spec(),
            features=self.features,
            column=self.column,
            scaler=self.scaler,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            clip=self.clip,
            val_size=self.val_size,
            seed=self.seed,
            device=self.device,
            quiet=self.quiet,
        )


@dataclass
class TrainRun:
    """The result of a training job: the fitted model, the test forecasts and their metrics."""

    job: TrainJob
    model: RecurrentForecaster
    forecasts: pd.DataFrame  # date x (actual, <cell>, no_change, historical_mean)
    metrics: dict[str, dict[str, float]]
    seconds: float
    out: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Metrics per model (rows) with the baselines beside the recurrent model."""
        return pd.DataFrame(self.metrics).T

    def summary(self) -> str:
        """A plain-text table of the metrics."""
        return self.table().to_string(float_format=lambda v: f"{v:.6g}")


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
    model = job.forecaster()
    model.column = column
    model.fit(history)
    frame, metrics = fit_and_score(model, df, history, test_start, spec, column)
    run = TrainRun(job, model, frame, metrics, time.perf_counter() - t0)
    run.extras["dropped_rows"] = int(df.attrs.get("dropped", 0))
    if out is not None:
        write_train_run(run, out, plots=plots)
    return run


def write_train_run(run: TrainRun, out: str | Path, *, plots: bool = True) -> Path:
    """Write the run folder for ``run`` (every file atomically)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = run.model
    model.save(out)
    fc = pd.DataFrame({"actual": run.forecasts["actual"], "forecast": run.forecasts[model.name]})
    fc.index.name = "date"
    atomic_write_text(out / "forecasts.csv", fc.to_csv(float_format="%.10g"))
    payload = {
        "target": run.job.target,
        "horizon": run.job.horizon,
        "test_start": str(run.forecasts.index[0]),
        "test_end": str(run.forecasts.index[-1]),
        "n_test": len(run.forecasts),
        "models": run.metrics,
        "train_seconds": model.result_.seconds if model.result_ else None,
        "dropped_rows": run.extras.get("dropped_rows", 0),
    }
    atomic_write_json(out / "metrics.json", payload)
    history = model.result_.to_dict() if model.result_ else {}
    atomic_write_json(out / "loss.json", history)
    atomic_write_json(out / "config.json", asdict(run.job))
    if plots:
        from gatecast.plots.forecasts import forecast_vs_actual, loss_curves

        loss_curves({model.name: history.get("history", {})}, out / "loss.png")
        forecast_vs_actual(
            run.forecasts["actual"],
            {model.name: run.forecasts[model.name], "no change": run.forecasts["no_change"]},
            out / "forecast.png",
            title=f"{model.name.upper()} forecast of {run.job.target} on {run.job.data} (test period)",
        )
    run.out = out
    return out


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
    """Forecast ``data`` with a saved model and write ``date,forecast[,actual]`` to ``out`` (CSV)."""
    model = RecurrentForecaster.load(model_dir, device=device)
    df = load(data, column=model.column_, sort=sort, dropna=dropna)
    fc = model.predict(df, start=start)
    if fc.empty:
        raise ConfigError(
            f"no forecasts: {data} has no date on or after {start} with {model.window} rows of "
            "history before it; pick an earlier --start or more data"
        )
    actual = make_target(df, model.target, model.column_).reindex(fc.index)
    frame = pd.DataFrame({"forecast": fc, "actual": actual})
    frame.index.name = "date"
    atomic_write_text(Path(out), frame.to_csv(float_format="%.10g"))
    return frame


def read_metrics(folder: str | Path) -> dict[str, Any]:
    """The metrics.json of a run folder."""
    return json.loads((Path(folder) / "metrics.json").read_text())
