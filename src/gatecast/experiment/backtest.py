"""A cost-aware backtest of walk-forward forecasts, deflated for the trials run: what `gatecast backtest` does.

``run_backtest(BacktestConfig(...))`` gets the forecasts (a new walk-forward through
:mod:`gatecast.experiment.evaluation`, written as an evaluate run folder under ``out/evaluation``,
or a finished evaluate run folder read back without refitting), trades them with the one-day lag
of :func:`gatecast.evaluation.trading.trade`, adds buy-and-hold and GARCH(1,1) volatility-targeted
buy-and-hold, and deflates each Sharpe ratio by the trials of the study (one rule,
:func:`gatecast.evaluation.trading.count_trials`). Forecasts whose information date is not before the
close at which they are traded are refused; forecasts too good for an honest daily model get a
"possible look-ahead" verdict instead of a comparison with buy-and-hold.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.calendar import bars_per_year, calendar_of
from gatecast.data.sources import data_identity, data_label, is_frame, is_frame_label
from gatecast.errors import ConfigError, ModelFileError
from gatecast.evaluation.trading import (
    COST_LEVELS_BPS,
    DEFAULT_COST_BPS,
    INFORMATION_DATE,
    PERIODS_PER_YEAR,
    RULE_OF_TARGET,
    RULES,
    PBOResult,
    Rule,
    RuleName,
    Trades,
    TrialSet,
    as_of_named,
    count_trials,
    cscv_pbo,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    realised_returns,
    trade,
    trial_columns,
)
from gatecast.experiment.evaluation import (
    WALK_SETTINGS,
    EvaluationConfig,
    evaluate_into,
    load_checked,
    walk_config,
    walk_models,
)
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.registry import EvaluationTarget
from gatecast.experiment.report import write_report
from gatecast.experiment.report.formatting import BACKTEST_COLUMNS, in_words
from gatecast.experiment.run_folder import (
    RUN_RECORD,
    RunFolder,
    check_out_folder,
    record_data,
    run_output,
    settings_record,
)
from gatecast.experiment.run_reader import Run, open_finished_run, run_forecasts
from gatecast.experiment.settings import (
    DataSettings,
    ExecutorSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    group_fields,
)
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
# columns of the printed table, those a decision rests on first (backtest.csv has them all)
_SHOWN = list(BACKTEST_COLUMNS)
#: The settings of the walk-forward that made the forecasts: with ``from_run`` they are the run's
#: own (its config), so a value given here would be ignored and is refused instead.
RUN_SETTINGS = (
    "test_start",
    *(s for s in WALK_SETTINGS if s not in (*group_fields(ExecutorSettings), "quiet")),
)
#: The command-line option of each setting, for messages.
OPTION_OF = {
    "cost_bps": "--cost-bps",
    "cost_levels": "cost_levels",
    "upper": "--upper",
    "lower": "--lower",
    "target_vol": "--target-vol",
    "cap": "--cap",
    "var_sharpe_annual": "--var-sharpe",
    "n_trials": "--n-trials",
    "pbo_blocks": "--blocks",
    "seeds": "--seeds",
    "refit_every": "--refit-every",
    "recurrent_epochs": "--epochs",
    "warm_epochs": "--warm-epochs",
    "hidden": "--hidden",
    "data": "--data",
    "column": "--column",
    "test_start": "--test-start",
    "test_end": "--test-end",
    "window": "window",
    "sort": "sort",
    "dropna": "dropna",
}


@dataclass(kw_only=True)
class BacktestConfig(DataSettings, WalkSettings, RecurrentSettings, RunSettings):
    """Everything one backtest needs, as plain values: the shared settings of
    :mod:`gatecast.experiment.settings` (of the walk-forward that makes the forecasts) and the
    backtest's own.

    ``rule`` picks the forecast target: ``sign`` / ``long_flat`` trade return forecasts,
    ``threshold`` up-probabilities (``upper`` / ``lower``), ``vol_target`` variance forecasts
    (``target_vol`` annualised percent, ``cap`` the largest position). ``cost_bps`` is one-way, on
    |w_t - w_{t-1}|. ``from_run``: a finished ``gatecast evaluate`` folder whose
    ``forecasts.parquet`` is traded without refitting; its data, test period and walk-forward
    settings (:data:`RUN_SETTINGS`) are the run's own and label the result, so a value other
    than the default here is refused. ``n_trials`` / ``var_sharpe_annual`` override the trial
    count and the variance of the trials' annualised Sharpe ratios, which otherwise come from
    the trials of the study (:func:`~gatecast.evaluation.trading.count_trials`: every seed of every
    model asked for, identical return series once). ``models`` empty: lstm, gru, ar1 for returns
    (a set per target otherwise), or every model of ``from_run``. ``sweep``: a ``gatecast
    sweep`` folder (of the same target) the backtest cites: N of the DSR, Var[SR_n] and the PBO
    are those of its trials on its selection period (``n_trials`` / ``var_sharpe_annual`` still
    override). Every value is checked here, before anything is fitted: NaN, infinite or
    negative numbers are refused.
    """

    models: tuple[str, ...] = ()
    rule: RuleName = "sign"
    cost_bps: float = DEFAULT_COST_BPS
    cost_levels: tuple[float, ...] = COST_LEVELS_BPS
    upper: float = 0.55
    lower: float = 0.45
    target_vol: float = 10.0
    cap: float = 1.0
    periods_per_year: float | None = None  # None: from the data's calendar (periods_of)
    from_run: str | None = None
    pbo_blocks: int = 16
    n_trials: int | None = None
    var_sharpe_annual: float | None = None
    sweep: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        check_choice(self.rule, RULES, "rule")
        self.models = tuple(m.strip() for m in self.models if m.strip())
        self.cost_levels = tuple(float(c) for c in self.cost_levels)
        numbers = {
            "cost_bps": self.cost_bps,
            "upper": self.upper,
            "lower": self.lower,
            "target_vol": self.target_vol,
            "cap": self.cap,
            "var_sharpe_annual": self.var_sharpe_annual,
        } | {f"cost_levels[{k}]": c for k, c in enumerate(self.cost_levels)}
        for name, value in numbers.items():
            if value is not None and not (math.isfinite(value) and value >= 0):
                option = OPTION_OF.get(name, name)
                raise ConfigError(
                    f"{option} {value}: must be a finite number >= 0 (NaN, infinity and "
                    f"negative values have no meaning here)"
                )
        counts = {
            "n_trials": (self.n_trials, 1),
            "periods_per_year": (self.periods_per_year, 1),
        }
        for name, (value, least) in counts.items():
            if value is not None and value < least:
                raise ConfigError(f"{OPTION_OF.get(name, name)} {value}: must be >= {least}")
        if self.pbo_blocks < 2 or self.pbo_blocks % 2:
            raise ConfigError(
                f"--blocks {self.pbo_blocks}: the CSCV blocks of the PBO must be an even number "
                f">= 2 (each split takes half of them in sample; the default is 16)"
            )
        self.trading_rule()  # fail fast on thresholds, target_vol, cap

    def changed_run_settings(self) -> list[str]:
        """The :data:`RUN_SETTINGS` set to other than their defaults (what ``from_run`` would
        ignore)."""
        defaults = {f.name: f.default for f in dataclasses.fields(BacktestConfig)}
        return [
            name
            for name in RUN_SETTINGS
            if not (name == "data" and is_frame(self.data))  # checked against the run
            and (is_frame(getattr(self, name)) or getattr(self, name) != defaults[name])
        ]

    @property
    def target(self) -> EvaluationTarget:
        """The forecast target the rule trades."""
        return _TARGET_OF_RULE[self.rule]

    def trading_rule(self) -> Rule:
        """The :class:`Rule` of the models."""
        ppy = self.periods_per_year if self.periods_per_year is not None else PERIODS_PER_YEAR
        return Rule(self.rule, self.upper, self.lower, self.target_vol, self.cap, ppy)

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
    ``cost_bps`` (``look_ahead`` marks forecasts the screen flags), ``sharpe_gross``, and the
    PSR(0) and DSR with the ``n_trials`` and ``var_sr`` (per period) they used (a benchmark is
    one trial). ``trades`` holds every traded model and seed column, ``benchmarks`` the two
    benchmark rows; ``trial_set`` the distinct trials behind N, Var[SR_n] and the PBO.
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
    trial_set: TrialSet | None = field(default=None, repr=False)

    @property
    def cost_bps(self) -> float:
        """The one-way cost of the table, in bps."""
        return self.trades.cost_bps

    @property
    def lookahead(self) -> pd.DataFrame:
        """The look-ahead screen of every traded column and benchmark
        (:attr:`Trades.lookahead`)."""
        frame: pd.DataFrame = pd.concat([self.trades.lookahead, self.benchmarks.lookahead])
        return frame

    @property
    def suspects(self) -> list[str]:
        """The table's models whose forecasts the look-ahead screen flags."""
        flagged = set(self.trades.suspects)
        return [m for m in self.models if m in flagged]

    def summary(self) -> str:
        """The table as text, then :meth:`verdict`."""
        with pd.option_context("display.width", 180, "display.max_columns", 30):
            text: str = in_words(self.table[_SHOWN]).to_string(float_format=lambda v: f"{v:.4g}")
        return f"{text}\n{self.verdict()}"

    def __str__(self) -> str:
        return self.summary()

    def verdict(self) -> str:
        """One sentence: does any model beat buy-and-hold's Sharpe ratio after costs? Models the
        look-ahead screen flags get "possible look-ahead" instead, and no comparison."""
        sharpe = self.table["sharpe"]
        bh = float(sharpe["buy_and_hold"])
        suspects = self.suspects
        warning = ""
        if suspects:
            reasons = self.trades.lookahead["reason"]
            why = "; ".join(f"{m}: {reasons[m]!s}" for m in suspects)
            warning = (
                f"Possible look-ahead in {', '.join(suspects)} ({why}). A forecast for day t "
                f"may use data up to day t-1 only: {'its' if len(suspects) == 1 else 'their'} "
                f"backtest is no evidence and is compared with nothing. "
            )
        models = sharpe[[m for m in self.models if m not in suspects]].dropna()
        if suspects and models.empty:
            return f"{warning}Buy-and-hold's net Sharpe ratio is {bh:.2f} at {self.cost_bps:g} bps."
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
                f"{warning}Nothing {'else ' if suspects else ''}beats buy-and-hold after costs: "
                f"at {self.cost_bps:g} bps the best model, {best}, has a net Sharpe ratio of "
                f"{best_sr} against buy-and-hold's {bh:.2f}{cited}."
            )
        dsr = self.table.loc[beat.index, "dsr"]
        return (
            f"{warning}{', '.join(beat.index)} beat{'s' if len(beat) == 1 else ''} buy-and-hold's "
            f"net Sharpe ratio {bh:.2f} at {self.cost_bps:g} bps; deflated for N = "
            f"{self.n_trials} trials{of_sweep} the DSR is {', '.join(f'{v:.2f}' for v in dsr)}"
            f"{pbo}."
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
        """What ``pbo.json`` holds: the PBO, the trials behind the DSR, the look-ahead screen
        and the run's facts."""
        cfg = self.config
        pbo: dict[str, Any] = (
            self.pbo.to_dict() if self.pbo is not None else {"pbo": None, "reason": self.pbo_note}
        )
        screen = self.lookahead
        return {
            **pbo,
            "cost_bps": self.cost_bps,
            "rule": asdict(self.trades.rule),
            "configurations": list(self.trials.index),
            "n_trials": self.n_trials,
            "trials": self.trial_set.to_dict() if self.trial_set is not None else None,
            "var_sharpe_per_period": self.var_sharpe,
            "var_sharpe_annual": self.var_sharpe * self.trades.rule.periods_per_year,
            "sr0_per_period": expected_max_sharpe(self.n_trials, self.var_sharpe),
            "trials_overridden": cfg.n_trials is not None or cfg.var_sharpe_annual is not None,
            "sweep": cfg.sweep,
            "trial_sharpes_annual": (
                self.trials * np.sqrt(self.trades.rule.periods_per_year)
            ).to_dict(),
            "periods_per_year": self.trades.rule.periods_per_year,
            "possible_look_ahead": self.suspects,
            "look_ahead_screen": screen.to_dict(orient="index"),
            "data": data_label(cfg.data),
            "test_start": cfg.test_start,
            "test_end": cfg.test_end,
            "first_date": self.trades.gross.index[0],
            "last_date": self.trades.gross.index[-1],
            "n_dates": len(self.trades.gross),
            "source": self.source,
            "verdict": self.verdict(),
            "seconds": self.seconds,
        }

    def _repr_html_(self) -> str:
        title = f"{data_label(self.config.data)}, rule {self.config.rule}, {self.cost_bps:g} bps"
        return html_view(title, in_words(self.table[_SHOWN]), [self.verdict()])

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """Net equity, drawdown and the Sharpe ratio against the cost: a dict of figures, or
        (``folder``) ``equity.png``, ``drawdown.png`` and ``cost_sweep.png`` written there."""
        from gatecast.plots.trading import plot_cost_sweep, plot_drawdown, plot_equity

        shown = [*self.models, *BENCHMARKS]
        net = pd.concat([self.trades.net(), self.benchmarks.net()], axis=1)[shown]
        title = f"{data_label(self.config.data)}, rule {self.trades.rule.name}, {self.cost_bps:g} bps one-way"
        sharpe = self.sweep["sharpe"].unstack("model")[shown]
        figures = {
            "equity.png": plot_equity(net, title=f"net equity: {title}"),
            "drawdown.png": plot_drawdown(net, title=f"drawdown: {title}"),
            "cost_sweep.png": plot_cost_sweep(sharpe, title=title),
        }
        return draw_or_write(figures, folder)


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


def _model_columns(
    forecasts: pd.DataFrame, models: tuple[str, ...] | None
) -> tuple[pd.DataFrame, pd.Series | None, tuple[str, ...]]:
    """The traded columns of ``forecasts`` (without ``actual`` and the information dates), the
    information dates (None without them) and the table's rows, checked."""
    columns = as_of_named(forecasts.drop(columns=["actual"], errors="ignore"))
    info = None
    if INFORMATION_DATE in columns:
        info = columns[INFORMATION_DATE]
        columns = columns.drop(columns=[INFORMATION_DATE])
    rows = tuple(models or columns.columns)
    lost = [m for m in rows if m not in columns]
    if lost:
        raise ConfigError(
            f"model(s) {', '.join(lost)} have no forecasts; the forecasts hold "
            f"{', '.join(map(str, columns.columns))}"
        )
    return columns, info, rows


def backtest_forecasts(
    forecasts: pd.DataFrame,
    realised: pd.Series,
    garch_variance: pd.Series,
    cfg: BacktestConfig,
    models: tuple[str, ...] | None = None,
) -> BacktestResult:
    """Backtest saved forecasts (date x column, each model and seed; ``actual`` is ignored,
    ``as_of``, where present, is checked against each traded day).

    ``realised`` are simple returns by the day they are earned, ``garch_variance`` GARCH(1,1)
    variance forecasts (percent^2) for the volatility-targeted benchmark; both indexed by the date
    they are for, as ``forecasts``. ``models`` are the rows of the table and the models asked to
    compare (default: every column); the trials behind N, Var[SR_n] and the PBO are their seed
    columns (``lstm[s0]``...) or their own column, identical return series once
    (:func:`~gatecast.evaluation.trading.count_trials`), unless ``cfg.sweep`` cites a sweep's.
    """
    t0 = time.perf_counter()
    columns, info, models = _model_columns(forecasts, models)
    trades = trade(columns, realised, cfg.trading_rule(), cfg.cost_bps, information_dates=info)
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
        lookahead=pd.concat([b.lookahead for b in bench_trades]),
    )
    net = trades.net()
    # the trials behind N, Var[SR_n] and the PBO: a cited sweep's, else this study's
    where = ""
    if cfg.sweep:
        trials = _cited_sweep(cfg.sweep, cfg.target)
        where = f" in the sweep {cfg.sweep}"
    else:
        trials = count_trials(net, trial_columns(net.columns, models))
    sharpes = trials.sharpes
    n_trials = cfg.n_trials or trials.n_trials
    if cfg.var_sharpe_annual is not None:
        var_sharpe = cfg.var_sharpe_annual / cfg.trading_rule().periods_per_year
    else:
        var_sharpe = trials.var_sharpe
    table = pd.concat([trades.statistics(), benchmarks.statistics()]).loc[[*models, *BENCHMARKS]]
    gross = pd.concat([trades.statistics(0.0), benchmarks.statistics(0.0)])["sharpe"]
    table.insert(list(table.columns).index("sharpe") + 1, "sharpe_gross", gross)
    table = _deflate(table, n_trials, var_sharpe, list(models))
    sweep = pd.concat([trades.cost_sweep(cfg.cost_levels), benchmarks.cost_sweep(cfg.cost_levels)])
    pool = trials.returns[list(sharpes.index)].dropna()
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
        pbo = cscv_pbo(pool, cfg.pbo_blocks)
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
        trial_set=trials,
        seconds=time.perf_counter() - t0,
    )


def _cited_sweep(folder: str, target: EvaluationTarget) -> TrialSet:
    """The trials of the sweep in ``folder`` on its selection period (N, their net returns),
    whose trials must trade forecasts of ``target``."""
    from gatecast.experiment.sweep import read_trials, trial_set

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
    return trial_set(folder)


# -- where the forecasts come from ---------------------------------------------------------------
def read_run(folder: str | Path) -> tuple[EvaluationConfig, pd.DataFrame]:
    """The configuration and forecasts of a finished ``gatecast evaluate`` run folder (read by
    :meth:`~gatecast.experiment.run_reader.Run.open`)."""
    run = open_finished_run(
        folder,
        "evaluate",
        "--from-run takes a finished `gatecast evaluate` run folder",
        "it has metrics.json and forecasts.parquet",
    )
    try:
        saved = run.config or run.json("metrics.json")["config"]
        known = {f.name for f in dataclasses.fields(EvaluationConfig)}
        values = {k: v for k, v in saved.items() if k in known}
        values["models"] = tuple(values.get("models") or ())
        eval_cfg = EvaluationConfig(**{**values, "out": None, "quiet": True})
    except (ConfigError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{folder} has no readable evaluate configuration ({exc}); rerun `gatecast evaluate`"
        ) from exc
    return eval_cfg, run_forecasts(run, folder)


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
        executor=cfg.executor,
        ray_address=cfg.ray_address,
        quiet=cfg.quiet,
        out=str(Path(cfg.out) / "benchmark_garch") if cfg.out else None,
    )
    series: pd.Series = walk_models(garch, data).forecasts["garch"]
    return series


def _as_run(cfg: BacktestConfig, eval_cfg: EvaluationConfig) -> BacktestConfig:
    """``cfg`` with the walk-forward settings of the run it trades, so that its label, test
    period and ``config.json`` say what made the forecasts."""
    return dataclasses.replace(cfg, **{name: getattr(eval_cfg, name) for name in RUN_SETTINGS})


def _run_prices(cfg: BacktestConfig, eval_cfg: EvaluationConfig) -> EvaluationConfig:
    """The run's config with the prices it was made on: a run on prices passed in from Python
    records only their label and content hash, so the same prices must be passed again (as
    ``data``), and are checked against that hash."""
    from_python = is_frame_label(eval_cfg.data)
    if not is_frame(cfg.data):
        if from_python:
            raise ConfigError(
                f"the run in {cfg.from_run} was made on prices passed in from Python "
                f"({eval_cfg.data}), which a run folder does not keep: pass them again, "
                f"gc.backtest(prices, from_run=...)"
            )
        return eval_cfg
    recorded = (Run.open(str(cfg.from_run)).data or {}).get("sha256")
    given = data_identity(cfg.data, load_checked(dataclasses.replace(eval_cfg, data=cfg.data))[0])
    if recorded is None or given["sha256"] != recorded:
        raise ConfigError(
            f"the prices passed as data ({data_label(cfg.data)}) are not those the run in "
            f"{cfg.from_run} was made on ({eval_cfg.data}; "
            f"{'its content hash differs' if recorded else 'it records no content hash'}): "
            f"pass the same prices, or leave out from_run to make new forecasts on these"
        )
    return dataclasses.replace(eval_cfg, data=cfg.data)


def _refuse_run_settings(cfg: BacktestConfig) -> None:
    changed = cfg.changed_run_settings()
    if changed:
        shown = ", ".join(
            f"{OPTION_OF.get(n, '--' + n.replace('_', '-'))} {getattr(cfg, n)!r}" for n in changed
        )
        raise ConfigError(
            f"{shown}: the forecasts of --from-run {cfg.from_run} were made with the data and "
            f"walk-forward of that run (its metrics.json), so these would be ignored; drop "
            f"them, or leave out --from-run to make new forecasts"
        )


def periods_of(data: pd.DataFrame) -> float:
    """Bars per year of ``data`` (what annualises its returns and Sharpe ratios), from its
    calendar: daily bars keep the convention of 252, which every published Sharpe ratio uses
    (an exchange has 250-253 sessions a year); intraday bars count the bars of a year's sessions
    (XNYS 5-minute bars: about 19,500), weekly and monthly ones theirs (52.2, 12)."""
    bars = bars_per_year(data.index, calendar_of(data))
    daily = abs(bars - PERIODS_PER_YEAR) <= 0.02 * PERIODS_PER_YEAR
    return float(PERIODS_PER_YEAR) if daily else bars


def _traded_data(
    cfg: BacktestConfig, eval_cfg: EvaluationConfig
) -> tuple[BacktestConfig, pd.DataFrame, pd.Series]:
    """The walk-forward's data, the returns a backtest of it trades against, and ``cfg`` with the
    data's periods per year where it gives none; with ``cfg.out``, the data's identity recorded."""
    data, _ = load_checked(eval_cfg)
    realised = realised_returns(data, eval_cfg.column)
    if cfg.periods_per_year is None:
        cfg = dataclasses.replace(cfg, periods_per_year=periods_of(data))
    if cfg.out is not None:
        record_data(cfg.out, data_identity(eval_cfg.data, data))
    return cfg, data, realised


def run_backtest(cfg: BacktestConfig) -> BacktestResult:
    """Make (or read) the forecasts of ``cfg``, backtest them and, with ``cfg.out``, write the run.

    Without ``from_run`` the walk-forward runs as ``gatecast evaluate`` would and its run folder
    is kept under ``out/evaluation`` (a rerun with ``resume`` continues it); ``out/benchmark_garch`` keeps the
    GARCH(1,1) benchmark's folds. Every setting is checked before anything is fitted. ``out``
    follows the rule of every run folder (docs/run-folders.md): new or empty, or an earlier
    backtest with ``overwrite`` (replaced) or ``resume`` (continued: the walk-forward's finished
    folds are reused); a run refused with a :class:`GatecastError` leaves nothing in ``out``.

    Examples
    --------
    >>> res = run_backtest(BacktestConfig(models=("ar1",), out="runs/bt"))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    if cfg.from_run:
        _refuse_run_settings(cfg)
    else:
        cfg.evaluation().check_applicable()  # e.g. recurrent settings without a recurrent model
    if cfg.out is not None:
        check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind="backtest")
    if cfg.sweep:
        _cited_sweep(cfg.sweep, cfg.target)  # refuse a folder without a sweep before any work
    output = (
        run_output(
            cfg.out,
            "backtest",
            overwrite=cfg.overwrite,
            resume=cfg.resume,
            config=settings_record(cfg),
        )
        if cfg.out is not None
        else nullcontext()
    )
    with output, cfg.runtime():  # one Ray runtime for the forecasts' walk and the benchmark's
        if cfg.from_run:
            eval_cfg, forecasts = read_run(cfg.from_run)
            if eval_cfg.target != cfg.target:
                targets = [r for r, t in _TARGET_OF_RULE.items() if t == eval_cfg.target]
                raise ConfigError(
                    f"{cfg.from_run} holds {eval_cfg.target} forecasts, but rule {cfg.rule!r} "
                    f"trades {cfg.target} forecasts: pick a rule for {eval_cfg.target} "
                    f"({', '.join(targets)})"
                )
            eval_cfg = _run_prices(cfg, eval_cfg)
            cfg = _as_run(cfg, eval_cfg)
            cfg, data, realised = _traded_data(cfg, eval_cfg)
            columns, info, rows = _model_columns(forecasts, cfg.models or tuple(eval_cfg.models))
            # refuse what the forecasts themselves hold wrong before the benchmark is fitted
            trade(columns, realised, cfg.trading_rule(), cfg.cost_bps, information_dates=info)
        else:
            eval_cfg = cfg.evaluation()
            forecasts = evaluate_into(eval_cfg).forecasts  # out/evaluation: part of this run
            rows = tuple(eval_cfg.models)
            cfg, data, realised = _traded_data(cfg, eval_cfg)
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
    """Write ``config.json``, ``backtest.csv``, ``returns.parquet``, ``cost_sweep.csv``, the
    plots, ``report.html`` and, last, ``pbo.json``: all are made in a staging folder inside
    ``out`` first and moved in only when every one is written, so a failure leaves none."""
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".backtest-", suffix=".tmp", dir=root))
    try:
        folder = RunFolder(stage)
        if (root / RUN_RECORD).is_file():  # the page shows the command it records
            shutil.copy2(root / RUN_RECORD, stage / RUN_RECORD)
        folder.write_config(settings_record(result.config))
        folder.write_csv("backtest.csv", result.table)
        folder.write_parquet("returns.parquet", result.returns())
        folder.write_csv("cost_sweep.csv", result.sweep)
        result.plot(folder)
        folder.write_json("pbo.json", result.to_dict())
        write_report(stage)
        # every file is written: move them in, pbo.json (what marks a finished run) last
        for name in sorted((p.name for p in stage.iterdir()), key=lambda n: n == "pbo.json"):
            os.replace(stage / name, root / name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return root
