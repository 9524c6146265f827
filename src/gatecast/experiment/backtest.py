"""A cost-aware backtest of walk-forward forecasts, deflated for the trials run: what `gatecast backtest` does.

``run_backtest(BacktestConfig(...))`` gets the forecasts (a new walk-forward through
:mod:`gatecast.experiment.evaluation`, written as an evaluate run folder under ``out/evaluation``,
or a finished evaluate run folder read back without refitting), trades them with the one-day lag
of :func:`gatecast.evaluate.trading.trade`, adds buy-and-hold and GARCH(1,1) volatility-targeted
buy-and-hold, and deflates each Sharpe ratio by the trials the run folder holds.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError, ModelFileError
from gatecast.evaluate.trading import (
    COST_LEVELS_BPS,
    DEFAULT_COST_BPS,
    PERIODS_PER_YEAR,
    RULE_OF_TARGET,
    RULES,
    PBOResult,
    Rule,
    RuleName,
    Trades,
    cscv_pbo,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    realised_returns,
    trade,
    trial_sharpes,
)
from gatecast.experiment.evaluation import (
    EvaluationConfig,
    evaluate_models,
    load_checked,
    walk_config,
    walk_models,
)
from gatecast.experiment.registry import EvaluationTarget
from gatecast.experiment.report import write_report
from gatecast.experiment.run_folder import RunFolder
from gatecast.types import check_choice

__all__ = [
    "BENCHMARKS",
    "RULE_OF_TARGET",
    "BacktestConfig",
    "BacktestResult",
    "backtest_forecasts",
    "read_run",
    "realised_returns",
    "run_backtest",
]

#: The rows every backtest shows beside the models.
BENCHMARKS = ("buy_and_hold", "garch_vol_target")
_TARGET_OF_RULE: dict[RuleName, EvaluationTarget] = {
    "sign": "return",
    "long_flat": "return",
    "threshold": "direction",
    "vol_target": "variance",
}
_DEFAULT_MODELS: dict[EvaluationTarget, tuple[str, ...]] = {
    "return": ("lstm", "gru", "ar1"),
    "direction": ("lstm", "gru", "ar1", "always_up"),
    "variance": ("lstm", "gru", "gjr_t", "egarch_t", "ewma", "har"),
}
# columns of the printed table (backtest.csv has them all)
_SHOWN = [
    "ann_return",
    "ann_vol",
    "sharpe",
    "sharpe_gross",
    "sortino",
    "max_drawdown",
    "max_dd_days",
    "hit_rate",
    "exposure",
    "turnover_year",
    "break_even_bps",
    "psr",
    "dsr",
    "n_trials",
]


@dataclass
class BacktestConfig:
    """Everything one backtest needs, as plain values.

    ``rule`` picks the forecast target: ``sign`` / ``long_flat`` trade return forecasts,
    ``threshold`` up-probabilities (``upper`` / ``lower``), ``vol_target`` variance forecasts
    (``target_vol`` annualised percent, ``cap`` the largest position). ``cost_bps`` is one-way, on
    |w_t - w_{t-1}|. ``from_run``: a finished ``gatecast evaluate`` folder whose
    ``forecasts.parquet`` is traded without refitting (its data and test period are used; the
    walk-forward settings here are then ignored). ``n_trials`` / ``var_sharpe_annual`` override
    the trial count and the variance of the trials' annualised Sharpe ratios, which otherwise come
    from every model and seed column of the run. ``models`` empty: lstm, gru, ar1 for returns (a
    set per target otherwise), or every model of ``from_run``. ``sweep``: a ``gatecast sweep``
    folder (of the same target) the backtest cites: N of the DSR is its trial count, Var[SR_n]
    the variance of its candidates' Sharpe ratios on its selection period, and the PBO that of
    its selection (``n_trials`` / ``var_sharpe_annual`` still override).
    """

    data: str = "sp500"
    column: str | None = None
    test_start: str = "2015-01-01"
    test_end: str | None = None
    models: tuple[str, ...] = ()
    rule: RuleName = "sign"
    cost_bps: float = DEFAULT_COST_BPS
    cost_levels: tuple[float, ...] = COST_LEVELS_BPS
    upper: float = 0.55
    lower: float = 0.45
    target_vol: float = 10.0
    cap: float = 1.0
    periods_per_year: int = PERIODS_PER_YEAR
    seeds: int = 1
    from_run: str | None = None
    refit_every: int = 21
    recurrent_epochs: int = 30
    warm_epochs: int = 5
    hidden: int = 16
    window: int | None = None  # None: the evaluation's default for the target
    n_jobs: int | None = -1
    pbo_blocks: int = 16
    n_trials: int | None = None
    var_sharpe_annual: float | None = None
    sweep: str | None = None
    sort: bool = False
    dropna: bool = False
    out: str | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        check_choice(self.rule, RULES, "rule")
        self.models = tuple(m.strip() for m in self.models if m.strip())
        self.cost_levels = tuple(float(c) for c in self.cost_levels)
        if self.cost_bps < 0 or any(c < 0 for c in self.cost_levels):
            raise ConfigError(f"cost_bps={self.cost_bps}, cost_levels={self.cost_levels}: >= 0")
        if self.n_trials is not None and self.n_trials < 1:
            raise ConfigError(f"n_trials={self.n_trials}: at least 1 (the model reported)")
        if self.var_sharpe_annual is not None and self.var_sharpe_annual < 0:
            raise ConfigError(f"var_sharpe_annual={self.var_sharpe_annual}: a variance is >= 0")
        self.trading_rule()  # fail fast on thresholds, target_vol, cap

    @property
    def target(self) -> EvaluationTarget:
        """The forecast target the rule trades."""
        return _TARGET_OF_RULE[self.rule]

    def trading_rule(self) -> Rule:
        """The :class:`Rule` of the models."""
        return Rule(
            self.rule, self.upper, self.lower, self.target_vol, self.cap, self.periods_per_year
        )

    def evaluation(self) -> EvaluationConfig:
        """The walk-forward that makes the models' forecasts (``out/evaluation``)."""
        return walk_config(
            self,
            target=self.target,
            test_start=self.test_start,
            models=self.models or _DEFAULT_MODELS[self.target],
        )


@dataclass
class BacktestResult:
    """Per-model statistics (models, then the benchmarks), the returns, the cost sweep and the PBO.

    ``table`` is ``backtest.csv``: the statistics of :meth:`Trades.statistics` net of
    ``cost_bps``, ``sharpe_gross``, and the PSR(0) and DSR with the ``n_trials`` and ``var_sr``
    (per period) they used (a benchmark is one trial). ``trades`` holds every traded model and
    seed column, ``benchmarks`` the two benchmark rows.
    """

    config: BacktestConfig
    table: pd.DataFrame
    trades: Trades
    benchmarks: Trades
    sweep: pd.DataFrame
    pbo: PBOResult | None
    models: tuple[str, ...]
    n_trials: int
    var_sharpe: float
    trials: pd.Series
    source: str | None = None
    seconds: float = 0.0
    pbo_note: str = ""

    @property
    def cost_bps(self) -> float:
        """The one-way cost of the table, in bps."""
        return self.trades.cost_bps

    def summary(self) -> str:
        """The table as text, then :meth:`verdict`."""
        with pd.option_context("display.width", 180, "display.max_columns", 30):
            text: str = self.table[_SHOWN].to_string(float_format=lambda v: f"{v:.4g}")
        return f"{text}\n{self.verdict()}"

    def __str__(self) -> str:
        return self.summary()

    def verdict(self) -> str:
        """One sentence: does any model beat buy-and-hold's Sharpe ratio after costs?"""
        sharpe = self.table["sharpe"]
        bh = float(sharpe["buy_and_hold"])
        models = sharpe[list(self.models)].dropna()
        beat = models[models > bh]
        pbo = "" if self.pbo is None else f", PBO {self.pbo.pbo:.2f}"
        cfg = self.config
        of_sweep = f" of the sweep in {cfg.sweep}" if cfg.sweep and cfg.n_trials is None else ""
        if beat.empty:
            best = str(models.idxmax()) if len(models) else "none"
            best_sr = f"{models.max():.2f}" if len(models) else "n/a"
            cited = (
                f" (the DSR is deflated for N = {self.n_trials} trials{of_sweep})"
                if cfg.sweep
                else ""
            )
            return (
                f"Nothing beats buy-and-hold after costs: at {self.cost_bps:g} bps the best model, "
                f"{best}, has a net Sharpe ratio of {best_sr} against buy-and-hold's {bh:.2f}"
                f"{cited}."
            )
        dsr = self.table.loc[beat.index, "dsr"]
        return (
            f"{', '.join(beat.index)} beat{'s' if len(beat) == 1 else ''} buy-and-hold's net "
            f"Sharpe ratio {bh:.2f} at {self.cost_bps:g} bps; deflated for N = {self.n_trials} "
            f"trials{of_sweep} the DSR is {', '.join(f'{v:.2f}' for v in dsr)}{pbo}."
        )

    def returns(self) -> pd.DataFrame:
        """Date x (model, kind): ``position`` held over the day (set at the previous close),
        ``gross`` and ``net`` return; ``market`` holds the realised return."""
        parts = {}
        for tr in (self.trades, self.benchmarks):
            held, net = tr.held(), tr.net()
            for c in tr.columns:
                parts[(c, "position")] = held[c]
                parts[(c, "gross")] = tr.gross[c]
                parts[(c, "net")] = net[c]
        parts[("market", "return")] = self.trades.returns
        frame: pd.DataFrame = pd.DataFrame(parts)
        frame.columns = frame.columns.set_names(["model", "kind"])
        frame.index.name = "date"
        return frame

    def to_dict(self) -> dict[str, Any]:
        """What ``pbo.json`` holds: the PBO, the trials behind the DSR, and the run's facts."""
        cfg = self.config
        pbo: dict[str, Any] = (
            self.pbo.to_dict() if self.pbo is not None else {"pbo": None, "reason": self.pbo_note}
        )
        return {
            **pbo,
            "cost_bps": self.cost_bps,
            "rule": asdict(self.trades.rule),
            "configurations": list(self.trials.index),
            "n_trials": self.n_trials,
            "var_sharpe_per_period": self.var_sharpe,
            "var_sharpe_annual": self.var_sharpe * cfg.periods_per_year,
            "sr0_per_period": expected_max_sharpe(self.n_trials, self.var_sharpe),
            "trials_overridden": cfg.n_trials is not None or cfg.var_sharpe_annual is not None,
            "sweep": cfg.sweep,
            "trial_sharpes_annual": (self.trials * np.sqrt(cfg.periods_per_year)).to_dict(),
            "first_date": self.trades.gross.index[0],
            "last_date": self.trades.gross.index[-1],
            "n_dates": len(self.trades.gross),
            "source": self.source,
            "verdict": self.verdict(),
            "seconds": self.seconds,
        }

    def plot(self, folder: str | Path | RunFolder) -> list[Path]:
        """Write ``equity.png``, ``drawdown.png`` and ``cost_sweep.png`` into ``folder``."""
        from gatecast.plots.trading import plot_cost_sweep, plot_drawdown, plot_equity

        run = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        shown = [*self.models, *BENCHMARKS]
        net = pd.concat([self.trades.net(), self.benchmarks.net()], axis=1)[shown]
        title = f"{self.config.data}, rule {self.trades.rule.name}, {self.cost_bps:g} bps one-way"
        sharpe = self.sweep["sharpe"].unstack("model")[shown]
        return [
            run.write_figure("equity.png", plot_equity(net, title=f"net equity: {title}")),
            run.write_figure("drawdown.png", plot_drawdown(net, title=f"drawdown: {title}")),
            run.write_figure("cost_sweep.png", plot_cost_sweep(sharpe, title=title)),
        ]


def _deflate(
    table: pd.DataFrame, n_trials: int, var_sharpe: float, trial_rows: list[str]
) -> pd.DataFrame:
    """``table`` with the trials (a benchmark is one trial), SR0 and the DSR of each row."""
    out: pd.DataFrame = table.copy()
    n = [n_trials if m in trial_rows else 1 for m in out.index]
    var = [var_sharpe if m in trial_rows else 0.0 for m in out.index]
    moments = out[["sr", "n_obs", "skew", "kurtosis"]].to_numpy(dtype=float)
    dsr = [
        deflated_sharpe_ratio(sr, int(t), n[k], var[k], skew, kurt) if np.isfinite(sr) else np.nan
        for k, (sr, t, skew, kurt) in enumerate(moments)
    ]
    out["n_trials"] = n
    out["var_sr"] = var
    out["sr0"] = [expected_max_sharpe(a, b) for a, b in zip(n, var, strict=True)]
    out["dsr"] = dsr
    return out


def backtest_forecasts(
    forecasts: pd.DataFrame,
    realised: pd.Series,
    garch_variance: pd.Series,
    cfg: BacktestConfig,
    models: tuple[str, ...] | None = None,
) -> BacktestResult:
    """Backtest saved forecasts (date x column, each model and seed; ``actual`` is ignored).

    ``realised`` are simple returns by the day they are earned, ``garch_variance`` GARCH(1,1)
    variance forecasts (percent^2) for the volatility-targeted benchmark; both indexed by the date
    they are for, as ``forecasts``. ``models`` are the rows of the table (default: every column);
    every column is a trial for N and Var[SR_n] and a configuration for the PBO.
    """
    t0 = time.perf_counter()
    columns = forecasts.drop(columns=["actual"], errors="ignore")
    models = tuple(models or columns.columns)
    lost = [m for m in models if m not in columns]
    if lost:
        raise ConfigError(
            f"model(s) {', '.join(lost)} have no forecasts; the forecasts hold "
            f"{', '.join(map(str, columns.columns))}"
        )
    trades = trade(columns, realised, cfg.trading_rule(), cfg.cost_bps)
    dates = trades.gross.index
    missing = dates.difference(garch_variance.dropna().index)
    if len(missing):
        raise ConfigError(
            f"the GARCH(1,1) variance forecasts miss {len(missing)} backtest date(s), the first "
            f"{missing[0]}; they must cover the forecasts' test period"
        )
    bench_fc = pd.DataFrame({"buy_and_hold": 1.0, "garch_vol_target": garch_variance}, index=dates)
    bench_trades = [
        trade(bench_fc[["buy_and_hold"]], realised, "long_flat", cfg.cost_bps),
        trade(
            bench_fc[["garch_vol_target"]],
            realised,
            dataclasses.replace(cfg.trading_rule(), name="vol_target"),
            cfg.cost_bps,
        ),
    ]
    benchmarks = Trades(
        positions=pd.concat([b.positions for b in bench_trades], axis=1),
        gross=pd.concat([b.gross for b in bench_trades], axis=1),
        traded=pd.concat([b.traded for b in bench_trades], axis=1),
        returns=bench_trades[0].returns,
        rule=bench_trades[1].rule,
        cost_bps=cfg.cost_bps,
    )
    net = trades.net()
    # the trials behind N, Var[SR_n] and the PBO: a cited sweep's candidates, else every column
    cited: int | None = None
    pool, where = net, ""
    if cfg.sweep:
        cited, pool = _cited_sweep(cfg.sweep, cfg.target)
        where = f" in the sweep {cfg.sweep}"
    sharpes = trial_sharpes(pool)
    n_trials = cfg.n_trials or cited or max(1, len(sharpes))
    if cfg.var_sharpe_annual is not None:
        var_sharpe = cfg.var_sharpe_annual / cfg.periods_per_year
    else:
        var_sharpe = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    table = pd.concat([trades.statistics(), benchmarks.statistics()]).loc[[*models, *BENCHMARKS]]
    gross = pd.concat([trades.statistics(0.0), benchmarks.statistics(0.0)])["sharpe"]
    table.insert(list(table.columns).index("sharpe") + 1, "sharpe_gross", gross)
    table = _deflate(table, n_trials, var_sharpe, list(columns.columns))
    sweep = pd.concat([trades.cost_sweep(cfg.cost_levels), benchmarks.cost_sweep(cfg.cost_levels)])
    pbo, pbo_note = None, ""
    if len(sharpes) < 2:
        pbo_note = (
            f"CSCV needs at least 2 configurations with a Sharpe ratio; there are "
            f"{len(sharpes)}{where}"
        )
    elif len(pool) < 2 * cfg.pbo_blocks:
        pbo_note = (
            f"{len(pool)} days{where} are too few for {cfg.pbo_blocks} CSCV blocks of 2 or more"
        )
    else:
        pbo = cscv_pbo(pool[list(sharpes.index)], cfg.pbo_blocks)
    return BacktestResult(
        config=cfg,
        table=table,
        trades=trades,
        benchmarks=benchmarks,
        sweep=sweep.sort_index(level="cost_bps", sort_remaining=False),
        pbo=pbo,
        pbo_note=pbo_note,
        models=models,
        n_trials=n_trials,
        var_sharpe=var_sharpe,
        trials=sharpes,
        seconds=time.perf_counter() - t0,
    )


def _cited_sweep(folder: str, target: EvaluationTarget) -> tuple[int, pd.DataFrame]:
    """N (the configurations tried) and the date x configuration net returns on the selection
    period of the sweep in ``folder``, whose trials must trade forecasts of ``target``."""
    from gatecast.experiment.sweep import read_trials, trial_count, trial_returns

    read_trials(folder)  # a ConfigError naming the folder if it holds no sweep
    try:
        swept = json.loads((Path(folder) / "sweep.json").read_text(encoding="utf-8"))["target"]
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(
            f"{folder} has no readable sweep.json ({exc}); pass a `gatecast sweep` --out folder"
        ) from exc
    if swept != target:
        raise ConfigError(
            f"the sweep in {folder} forecast {swept}, but this backtest trades {target} "
            f"forecasts: cite a sweep of --target {target}, or pick a rule for {swept}"
        )
    return trial_count(folder), trial_returns(folder, "select")


# -- where the forecasts come from ---------------------------------------------------------------
def read_run(folder: str | Path) -> tuple[EvaluationConfig, pd.DataFrame]:
    """The configuration and ``forecasts.parquet`` of a finished ``gatecast evaluate`` run folder."""
    root = Path(folder)
    metrics, fc_path = root / "metrics.json", root / "forecasts.parquet"
    for p in (metrics, fc_path):
        if not p.is_file():
            raise ModelFileError(
                f"{p} is missing: --from-run takes a finished `gatecast evaluate` run folder "
                f"(it has metrics.json and forecasts.parquet)"
            )
    try:
        saved = json.loads(metrics.read_text(encoding="utf-8"))["config"]
        known = {f.name for f in dataclasses.fields(EvaluationConfig)}
        values = {k: v for k, v in saved.items() if k in known}
        values["models"] = tuple(values.get("models") or ())
        eval_cfg = EvaluationConfig(**{**values, "out": None, "quiet": True})
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{metrics} has no readable evaluate configuration ({exc}); rerun `gatecast evaluate`"
        ) from exc
    return eval_cfg, pd.read_parquet(fc_path)


def _garch_variance(
    eval_cfg: EvaluationConfig, data: pd.DataFrame, cfg: BacktestConfig
) -> pd.Series:
    """GARCH(1,1) next-day variance forecasts (percent^2) from the same walk-forward plan."""
    garch = dataclasses.replace(
        eval_cfg,
        target="variance",
        proxy="squared",
        models=("garch",),
        seeds=1,
        n_jobs=cfg.n_jobs,
        quiet=cfg.quiet,
        out=str(Path(cfg.out) / "benchmark_garch") if cfg.out else None,
    )
    series: pd.Series = walk_models(garch, data).forecasts["garch"]
    return series


def run_backtest(cfg: BacktestConfig) -> BacktestResult:
    """Make (or read) the forecasts of ``cfg``, backtest them and, with ``cfg.out``, write the run.

    Without ``from_run`` the walk-forward runs as ``gatecast evaluate`` would and its run folder
    is kept under ``out/evaluation`` (a rerun resumes it); ``out/benchmark_garch`` keeps the
    GARCH(1,1) benchmark's folds.

    Examples
    --------
    >>> res = run_backtest(BacktestConfig(models=("ar1",), out="runs/bt"))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    if cfg.sweep:
        _cited_sweep(cfg.sweep, cfg.target)  # refuse a folder without a sweep before any work
    if cfg.from_run:
        eval_cfg, forecasts = read_run(cfg.from_run)
        if eval_cfg.target != cfg.target:
            raise ConfigError(
                f"{cfg.from_run} holds {eval_cfg.target} forecasts, but rule {cfg.rule!r} trades "
                f"{cfg.target} forecasts: pick a rule for {eval_cfg.target} "
                f"({', '.join(r for r, t in _TARGET_OF_RULE.items() if t == eval_cfg.target)})"
            )
        rows = cfg.models or tuple(eval_cfg.models)
        data, _ = load_checked(eval_cfg)
    else:
        eval_cfg = cfg.evaluation()
        forecasts = evaluate_models(eval_cfg).forecasts
        rows = tuple(eval_cfg.models)
        data, _ = load_checked(eval_cfg)
    realised = realised_returns(data, eval_cfg.column)
    if "garch" in forecasts and eval_cfg.target == "variance":
        garch = forecasts["garch"]
    else:
        garch = _garch_variance(eval_cfg, data, cfg)
    result = backtest_forecasts(forecasts, realised, garch, cfg, rows)
    result.source = cfg.from_run or eval_cfg.out
    result.seconds = time.perf_counter() - t0
    if cfg.out:
        write_backtest(result, cfg.out)
    return result


def write_backtest(result: BacktestResult, out: str | Path) -> Path:
    """Write ``config.json``, ``backtest.csv``, ``returns.parquet``, ``cost_sweep.csv``, the plots
    and, last, ``pbo.json`` (every file atomically)."""
    folder = RunFolder(out)
    folder.write_config(asdict(result.config))
    folder.write_csv("backtest.csv", result.table)
    folder.write_parquet("returns.parquet", result.returns())
    folder.write_csv("cost_sweep.csv", result.sweep)
    result.plot(folder)
    folder.write_json("pbo.json", result.to_dict())
    write_report(folder.path)
    return folder.path
