"""One honest evaluation: walk-forward forecasts of many models, losses, DM / PT tests, the MCS, files.

``evaluate_models(EvaluationConfig(...))`` is what ``gatecast evaluate`` runs.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import atomic_write_bytes, atomic_write_json, atomic_write_text
from gatecast.data.features import TargetSpec, make_target
from gatecast.data.sources import check_finite, load, resolve_column
from gatecast.data.volatility import PROXIES, parkinson_scale, variance_proxy
from gatecast.errors import ConfigError
from gatecast.evaluate.losses import QLIKE_FLOOR, loss_series
from gatecast.evaluate.metrics import hit_rate
from gatecast.evaluate.significance import (
    MCS_BLOCK_SIZE,
    diebold_mariano,
    model_confidence_set,
    pesaran_timmermann_test,
)
from gatecast.evaluate.walkforward import WalkForwardPlan, WalkForwardResult, walk_forward
from gatecast.models.base import Forecaster

TARGETS = ("variance", "return", "direction")
RECURRENT = ("lstm", "gru", "rnn")
LOSS_NAMES = {
    "variance": ("qlike", "mse", "mae"),
    "return": ("mse", "mae"),
    "direction": ("brier",),
}
DEFAULT_MODELS = {
    "variance": ("lstm", "garch", "gjr-t", "egarch-t", "ewma", "har", "no-change", "mean"),
    "return": ("lstm", "no-change", "mean", "ar1"),
    "direction": ("lstm", "always-up", "no-change", "mean", "ar1"),
}


@dataclass
class EvaluationConfig:
    """Everything one evaluation needs, as plain values (a config file maps onto it one to one).

    ``recurrent_epochs`` / ``warm_epochs`` are the epochs of a cold fit and of a warm refit;
    ``warm_start`` refits recurrent models from the previous fold's weights. Recurrent models
    run once per seed in ``range(seeds)`` and are reported as the mean over seeds.
    ``train_proxy`` is what recurrent variance models train against (``parkinson`` by default:
    the range is a far less noisy target than r^2, whatever ``proxy`` scores them); None: ``proxy``.
    """

    data: str = "sp500"
    target: str = "variance"
    proxy: str = "squared"
    column: str | None = None
    test_start: str = "2015-01-01"
    test_end: str | None = None
    refit_every: int = 21
    window: str = "expanding"
    train_size: int | None = None
    gap: int = 0
    models: tuple[str, ...] = ()
    seeds: int = 1
    recurrent_epochs: int = 30
    warm_epochs: int = 5
    warm_start: bool = True
    hidden: int = 16
    input_window: int = 22
    train_proxy: str | None = "parkinson"
    n_jobs: int | None = -1
    sort: bool = False
    dropna: bool = False
    mcs_size: float = 0.10
    mcs_block_size: int = MCS_BLOCK_SIZE
    mcs_reps: int = 1000
    out: str | None = None
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise ConfigError(
                f"target {self.target!r} is unknown; choose one of {', '.join(TARGETS)}"
            )
        if self.proxy not in PROXIES:
            raise ConfigError(
                f"proxy {self.proxy!r} is unknown; choose one of {', '.join(PROXIES)}"
            )
        if self.train_proxy not in (None, *PROXIES):
            raise ConfigError(
                f"train_proxy {self.train_proxy!r} is unknown; choose one of {', '.join(PROXIES)}"
            )
        if self.seeds < 1:
            raise ConfigError(f"seeds={self.seeds}: must be >= 1")
        self.models = tuple(
            m.strip() for m in (self.models or DEFAULT_MODELS[self.target]) if m.strip()
        )
        known = set(model_names(self.target))
        bad = [m for m in self.models if m not in known]
        if bad:
            raise ConfigError(
                f"model(s) {', '.join(bad)} cannot forecast a {self.target} target; choose from "
                f"{', '.join(sorted(known))}"
            )
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models {self.models} list a model twice")


def model_names(target: str) -> tuple[str, ...]:
    """The model names ``gatecast evaluate`` knows for ``target``."""
    if target == "variance":
        return (*RECURRENT, "garch", "gjr-t", "egarch-t", "ewma", "har", "no-change", "mean", "ar1")
    extra = ("always-up",) if target == "direction" else ()
    return (*RECURRENT, "no-change", "mean", "ar1", *extra)


def model_factory(name: str, cfg: EvaluationConfig, seed: int = 0) -> Callable[[], Forecaster]:
    """A picklable zero-argument factory of the model ``name`` for ``cfg``'s target."""
    P = functools.partial
    if cfg.target == "variance":
        from gatecast.models.garch import ArchForecaster
        from gatecast.models.har import HARForecaster
        from gatecast.models.recurrent_variance import RecurrentVariance
        from gatecast.models.volatility import HistoricalVariance

        t, col = cfg.proxy, cfg.column
        if name in RECURRENT:
            return P(
                RecurrentVariance,
                cell=name,
                target=t,
                column=col,
                seed=seed,
                hidden=cfg.hidden,
                window=cfg.input_window,
                epochs=cfg.recurrent_epochs,
                warm_epochs=cfg.warm_epochs,
                warm_start=cfg.warm_start,
                train_proxy=cfg.train_proxy,
                **cfg.extra,
            )
        table: dict[str, Callable[[], Forecaster]] = {
            "garch": P(ArchForecaster, "GARCH", target=t, column=col, name="garch"),
            "gjr-t": P(ArchForecaster, "GARCH", o=1, dist="t", target=t, column=col, name="gjr-t"),
            "egarch-t": P(
                ArchForecaster, "EGARCH", o=1, dist="t", target=t, column=col, name="egarch-t"
            ),
            "ewma": P(ArchForecaster, "EWMA", lam=0.94, target=t, column=col, name="ewma"),
            "har": P(HARForecaster, (1, 5, 22), target=t, column=col, name="har"),
            "ar1": P(HARForecaster, (1,), target=t, column=col, name="ar1"),
            "no-change": P(HistoricalVariance, 22, target=t, column=col, name="no-change"),
            "mean": P(HistoricalVariance, None, target=t, column=col, name="mean"),
        }
        return table[name]
    from gatecast.models.baselines import HistoricalMean, NoChange
    from gatecast.models.linear import AR1, AlwaysUp
    from gatecast.models.recurrent import RecurrentForecaster

    t2, col = cfg.target, cfg.column
    if name in RECURRENT:
        return P(
            RecurrentForecaster,
            cell=name,
            target=t2,
            column=col,
            seed=seed,
            hidden=cfg.hidden,
            layers=1,
            window=cfg.input_window,
            epochs=cfg.recurrent_epochs,
            warm_start=cfg.warm_start,
            warm_epochs=cfg.warm_epochs,
            device="cpu",
            **cfg.extra,
        )
    table2: dict[str, Callable[[], Forecaster]] = {
        "no-change": P(NoChange, t2, col),
        "mean": P(HistoricalMean, t2, col),
        "ar1": P(AR1, t2, col),
        "always-up": P(AlwaysUp, t2, col),
    }
    return table2[name]


@dataclass
class EvaluationResult:
    """The leaderboard, the forecasts, the per-date losses and the metrics of one evaluation."""

    config: EvaluationConfig
    leaderboard: pd.DataFrame
    forecasts: pd.DataFrame
    losses: pd.DataFrame
    metrics: dict[str, Any]
    walk: WalkForwardResult

    def summary(self) -> str:
        """The leaderboard as text."""
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            return self.leaderboard.to_string(float_format=lambda v: f"{v:.4g}")

    def plot(self, folder: str | Path) -> list[Path]:
        """Write ``forecasts.png`` and ``cumulative_loss.png`` into ``folder``."""
        import matplotlib.pyplot as plt

        from gatecast.plots.evaluation import plot_cumulative_loss_difference, plot_forecasts

        folder = Path(folder)
        paths = []
        actual = self.forecasts["actual"].rename(
            "proxy" if self.config.target == "variance" else "actual"
        )
        models = [m for m in self.leaderboard.index if m in self.forecasts]
        figs = {
            "forecasts.png": plot_forecasts(
                actual,
                self.forecasts[models],
                log_scale=self.config.target == "variance",
                title=f"{self.config.data} {self.config.target}: walk-forward forecasts",
            ),
            "cumulative_loss.png": plot_cumulative_loss_difference(
                self.losses, self.metrics["reference"], loss_name=self.metrics["primary_loss"]
            ),
        }
        for fname, fig in figs.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110)
            plt.close(fig)
            atomic_write_bytes(folder / fname, buf.getvalue())
            paths.append(folder / fname)
        return paths


def _actual(df: pd.DataFrame, cfg: EvaluationConfig) -> tuple[pd.Series, dict[str, Any]]:
    if cfg.target == "variance":
        info: dict[str, Any] = {"proxy": cfg.proxy, "qlike_floor": QLIKE_FLOOR}
        scale = None
        if cfg.proxy == "parkinson":
            scale = parkinson_scale(df.loc[df.index < pd.Timestamp(cfg.test_start)], cfg.column)
            info["parkinson_scale"] = scale
        return variance_proxy(df, cfg.proxy, scale=scale, column=cfg.column), info
    return make_target(df, TargetSpec(cfg.target), cfg.column), {}


def _losses(name: str, actual: pd.Series, fc: pd.Series) -> np.ndarray:
    return loss_series("mse" if name == "brier" else name, actual.to_numpy(), fc.to_numpy())


def evaluate_models(cfg: EvaluationConfig) -> EvaluationResult:
    """Run the walk-forward of every model in ``cfg``, score it and (with ``cfg.out``) write the run.

    Returns an :class:`EvaluationResult`; with ``cfg.out`` also writes ``leaderboard.csv``,
    ``forecasts.parquet`` (date x model, per seed too), ``metrics.json``, ``forecasts.png`` and
    ``cumulative_loss.png``, and keeps per-fold results under ``folds/`` so a rerun resumes.
    """
    t0 = time.perf_counter()
    df = load(cfg.data, sort=cfg.sort)
    # every column the models read is checked before any fit: a NaN is an error naming its date,
    # or (dropna) a dropped row that metrics.json reports; no model skips a row silently
    used = [resolve_column(df, cfg.column)]
    if cfg.target == "variance":
        used += [c for c in ("high", "low") if c in df.columns]
    n0 = len(df)
    for col in used:
        df = check_finite(df, col, dropna=cfg.dropna)
    dropped_rows = n0 - len(df)
    plan = WalkForwardPlan(
        cfg.test_start, cfg.test_end, cfg.refit_every, cfg.window, cfg.train_size, cfg.gap
    )
    factories: dict[str, Callable[[], Forecaster]] = {}
    warm: dict[str, bool] = {}
    members: dict[str, list[str]] = {}
    for m in cfg.models:
        if m in RECURRENT:
            members[m] = [f"{m}[s{s}]" for s in range(cfg.seeds)]
            for s, key in enumerate(members[m]):
                factories[key] = model_factory(m, cfg, seed=s)
                warm[key] = cfg.warm_start
        else:
            members[m] = [m]
            factories[m] = model_factory(m, cfg)
    walk = walk_forward(
        factories, df, plan, warm_start=warm, n_jobs=cfg.n_jobs, run_dir=cfg.out, quiet=cfg.quiet
    )
    actual, info = _actual(df, cfg)
    fc = walk.forecasts.dropna()  # the dates every model forecasts (recurrent windows start later)
    not_shared = len(walk.forecasts) - len(fc)  # reported in metrics.json, never silent
    if fc.empty:
        raise ConfigError(
            "the models share no forecast dates; check test_start and the models' windows"
        )
    actual = actual.reindex(fc.index)
    keep = actual.notna()
    fc, actual = fc[keep], actual[keep]
    loss_names = LOSS_NAMES[cfg.target]
    primary = loss_names[0]
    # per-date loss of each model: recurrent models average their seeds' losses date by date
    per_loss = {
        ln: pd.DataFrame(
            {
                m: np.mean([_losses(ln, actual, fc[k]) for k in members[m]], axis=0)
                for m in cfg.models
            },
            index=fc.index,
        )
        for ln in loss_names
    }
    seed_means = {
        m: [float(np.mean(_losses(primary, actual, fc[k]))) for k in members[m]] for m in cfg.models
    }
    losses = per_loss[primary]
    baselines = [m for m in cfg.models if m not in RECURRENT]
    reference = (
        "garch"
        if "garch" in baselines
        else "no-change"
        if "no-change" in baselines
        else (baselines or list(cfg.models))[0]
    )
    best_base = min(baselines, key=lambda m: losses[m].mean()) if baselines else reference
    mcs = model_confidence_set(
        losses, size=cfg.mcs_size, block_size=cfg.mcs_block_size, reps=cfg.mcs_reps
    )
    rows = []
    for m in cfg.models:
        row: dict[str, Any] = {"model": m, "seeds": len(members[m])}
        for ln in loss_names:
            row[ln] = float(per_loss[ln][m].mean())
        row[f"{primary}_sd"] = (
            float(np.std(seed_means[m], ddof=1)) if len(members[m]) > 1 else np.nan
        )
        for tag, ref in (("ref", reference), ("best", best_base)):
            if m == ref:
                row[f"dm_{tag}"], row[f"p_{tag}"] = np.nan, np.nan
            else:
                dm = diebold_mariano(losses[m].to_numpy(), losses[ref].to_numpy())
                row[f"dm_{tag}"], row[f"p_{tag}"] = dm.statistic, dm.pvalue
        row["mcs_p"] = float(mcs["pvalue"][m])
        row["in_mcs"] = bool(mcs.loc[m, "in_mcs"])
        if cfg.target in ("return", "direction"):
            signal = np.mean([fc[k].to_numpy() for k in members[m]], axis=0)
            ret = make_target(df, TargetSpec("return"), cfg.column).reindex(fc.index).to_numpy()
            pt = pesaran_timmermann_test(ret, signal - (0.5 if cfg.target == "direction" else 0.0))
            # NaN for a forecast that never changes side (no-change), as in `gatecast train`
            row["hit_rate"] = hit_rate(ret, signal - (0.5 if cfg.target == "direction" else 0.0))
            row["pt_stat"], row["pt_p"] = pt.statistic, pt.pvalue
        rows.append(row)
    board = pd.DataFrame(rows).set_index("model").sort_values(primary)
    out_fc = fc.copy()
    for m in cfg.models:
        if m in RECURRENT:
            out_fc[m] = fc[members[m]].mean(axis=1)
    out_fc.insert(0, "actual", actual)
    metrics = {
        "config": asdict(cfg),
        "n_dates": len(fc),
        "dates_not_forecast_by_every_model": not_shared,
        "dropped_rows": dropped_rows,
        "first_date": fc.index[0],
        "last_date": fc.index[-1],
        "n_folds": int(walk.folds["fold"].nunique()),
        "primary_loss": primary,
        "reference": reference,
        "best_baseline": best_base,
        "dm_test": "Diebold-Mariano with the Harvey-Leybourne-Newbold correction (statsmodels), "
        "on per-date losses; negative = lower loss than the comparison model",
        "mcs": {
            "size": cfg.mcs_size,
            "block_size": cfg.mcs_block_size,
            "reps": cfg.mcs_reps,
            "bootstrap": "stationary",
            "statistic": "range (R)",
            "loss": primary,
        },
        "leaderboard": board.reset_index().to_dict(orient="records"),
        "seed_losses": seed_means,
        "walk_forward_seconds": walk.seconds,
        "seconds": time.perf_counter() - t0,
        **info,
    }
    result = EvaluationResult(cfg, board, out_fc, losses, metrics, walk)
    if cfg.out:
        out = Path(cfg.out)
        atomic_write_text(out / "leaderboard.csv", board.to_csv())
        buf = io.BytesIO()
        out_fc.to_parquet(buf)
        atomic_write_bytes(out / "forecasts.parquet", buf.getvalue())
        result.plot(out)
        metrics["seconds"] = time.perf_counter() - t0
        atomic_write_json(out / "metrics.json", metrics)
    return result
