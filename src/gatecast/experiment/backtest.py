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
import os
import shutil
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pandas as pd

from gatecast.data.calendar import bars_per_year, calendar_of
from gatecast.data.sources import data_identity
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import (
    INFORMATION_DATE,
    PERIODS_PER_YEAR,
    RULE_OF_TARGET,
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
from gatecast.experiment.backtest_config import _TARGET_OF_RULE
from gatecast.experiment.backtest_config import BENCHMARKS as BENCHMARKS
from gatecast.experiment.backtest_config import OPTION_OF as OPTION_OF
from gatecast.experiment.backtest_config import RUN_SETTINGS as RUN_SETTINGS
from gatecast.experiment.backtest_config import BacktestConfig as BacktestConfig
from gatecast.experiment.backtest_from_run import _as_run, _refuse_run_settings, _run_prices
from gatecast.experiment.backtest_from_run import read_run as read_run
from gatecast.experiment.backtest_result import BacktestResult as BacktestResult
from gatecast.experiment.evaluation import (
    EvaluationConfig,
    evaluate_into,
    load_checked,
    walk_models,
)
from gatecast.experiment.registry import EvaluationTarget
from gatecast.experiment.report import write_report
from gatecast.experiment.run_folder import (
    RUN_RECORD,
    RunFolder,
    check_out_folder,
    record_data,
    run_output,
    settings_record,
)

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


def _garch_variance(
    eval_cfg: EvaluationConfig, data: pd.DataFrame, cfg: BacktestConfig
) -> pd.Series:
    """GARCH(1,1) next-day variance forecasts (percent^2) from the same walk-forward plan, on
    the same rows (``data``: with covariates, those the covariates cover), reading none."""
    garch = dataclasses.replace(
        eval_cfg,
        target="variance",
        proxy="squared",
        models=("garch",),
        covariates=(),
        seeds=1,
        n_jobs=cfg.n_jobs,
        executor=cfg.executor,
        ray_address=cfg.ray_address,
        quiet=cfg.quiet,
        out=str(Path(cfg.out) / "benchmark_garch") if cfg.out else None,
    )
    series: pd.Series = walk_models(garch, data).forecasts["garch"]
    return series


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
        result.notes = list(data.attrs.get("covariate_notes", []))
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
