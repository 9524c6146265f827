"""A panel backtest: the return models walked forward over a panel (the panel evaluation with a
return target), or the forecasts of a finished one read back (``from_run``), then each model's
forecasts traded across instruments by a dollar-neutral long/short rule after costs, each net
Sharpe ratio deflated for the trials run (PSR, DSR, PBO of the single-series backtest)
(``gatecast.backtest_panel``; ``gatecast backtest`` on a panel)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.data.features import price_series
from gatecast.data.panel import Panel
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import (
    INFORMATION_DATE,
    PBOResult,
    TrialSet,
    count_trials,
    cscv_pbo,
    sharpe_moments,
    trial_columns,
)
from gatecast.evaluation.trading.cross_section import (
    CrossSectionRule,
    CrossSectionTrades,
    Scheme,
    trade_cross_section,
)
from gatecast.evaluation.trading.sharpe import _psr_or_nan
from gatecast.experiment.backtest import _deflate
from gatecast.experiment.backtest_config import BookSettings
from gatecast.experiment.panel_backtest_files import write_panel_backtest
from gatecast.experiment.panel_backtest_sweep import check_panel_sweep, panel_sweep_trials
from gatecast.experiment.panel_evaluation import (
    PanelEvaluation,
    PanelEvaluationConfig,
    _evaluate_into,
    evaluate_panel,
    load_checked_panel,
    long_forecasts,
    panel_run_output,
    write_panel_evaluation,
)
from gatecast.experiment.panel_run_reader import read_panel_run
from gatecast.experiment.run_folder import check_out_folder, record_data, settings_record

__all__ = [
    "PANEL_BACKTEST_KIND",
    "PanelBacktest",
    "PanelBacktestConfig",
    "backtest_panel",
    "deflate_panel",
    "read_panel_run",
    "run_panel_backtest",
]

#: The kind of run a panel backtest writes (``run.json``).
PANEL_BACKTEST_KIND = "panel-backtest"
#: The settings of the panel walk-forward that made the forecasts: with ``from_run`` they are the
#: run's own (its config), so a value given here would be ignored and is refused instead.
RUN_SETTINGS = tuple(
    f.name
    for f in dataclasses.fields(PanelEvaluationConfig)
    if f.name not in ("models", "out", "overwrite", "resume", "quiet", "n_jobs")
)


@dataclass
class PanelStatistics:
    """Each model's net Sharpe ratio deflated for the trials of the study, as the single-series
    backtest does it: ``table`` (per model: ``sr`` per period, ``skew``, raw ``kurtosis``,
    ``n_obs``, ``psr`` = PSR(0), ``n_trials``, ``var_sr``, ``sr0``, ``dsr``), the
    :class:`~gatecast.evaluation.trading.TrialSet` behind N and Var[SR_n] (one trial per model
    asked for, identical net return series once: :func:`~gatecast.evaluation.trading.count_trials`),
    and the CSCV PBO of those trials (None, with ``pbo_note`` saying why, when it cannot run)."""

    table: pd.DataFrame
    trial_set: TrialSet
    n_trials: int
    var_sharpe: float
    pbo: PBOResult | None
    pbo_note: str = ""


def deflate_panel(
    net: pd.DataFrame,
    models: Iterable[str] | None = None,
    *,
    pbo_blocks: int = 16,
    n_trials: int | None = None,
    var_sharpe: float | None = None,
    trials: TrialSet | None = None,
) -> PanelStatistics:
    """PSR, DSR and PBO of the daily net returns ``net`` (date x model) of a panel backtest.

    Parameters
    ----------
    net
        Each model's daily net return of its book (``CrossSectionTrades.net``).
    models
        The models asked to compare (default: every column): each is a trial; identical net
        return series count once.
    pbo_blocks
        The CSCV blocks of the PBO (even, >= 2).
    n_trials, var_sharpe
        Override N and Var[SR_n] (per period) of the DSR.
    trials
        The trials behind N, Var[SR_n] and the PBO (a cited sweep's); default: ``models``.
    """
    models = [str(m) for m in (net.columns if models is None else models)]
    trials = trials or count_trials(net, trial_columns(net.columns, models))
    n = n_trials or trials.n_trials
    var = trials.var_sharpe if var_sharpe is None else var_sharpe
    rows = {}
    for m in models:
        mom = sharpe_moments(net[m].dropna().to_numpy())
        rows[m] = {
            "sr": mom.sharpe,
            "skew": mom.skew,
            "kurtosis": mom.kurtosis,
            "n_obs": mom.n_obs,
            "psr": _psr_or_nan(mom),
        }
    table = _deflate(pd.DataFrame.from_dict(rows, orient="index"), n, var, models)
    pool = trials.returns[list(trials.sharpes.index)].dropna()
    pbo, note = None, ""
    if len(trials.sharpes) < 2:
        note = (
            f"CSCV needs at least 2 configurations with a Sharpe ratio; there are "
            f"{len(trials.sharpes)}"
        )
    elif len(pool) < 2 * pbo_blocks:
        note = f"{len(pool)} days are too few for {pbo_blocks} CSCV blocks of 2 or more"
    else:
        pbo = cscv_pbo(pool, pbo_blocks)
    return PanelStatistics(table.rename_axis("model"), trials, n, var, pbo, note)


@dataclass
class PanelBacktest:
    """The cross-sectional trades of each model's return forecasts (``trades``: weights, gross,
    net, turnover), their deflated statistics (``statistics``) and, unless the forecasts were
    read from a finished run (``source``), the panel evaluation that made them
    (``evaluation``); ``table`` one row per model."""

    evaluation: PanelEvaluation | None
    trades: CrossSectionTrades
    statistics: PanelStatistics
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def table(self) -> pd.DataFrame:
        """Per model: net and gross annualised return and Sharpe, ``psr``, ``dsr`` (deflated for
        ``n_trials``), turnover, days."""
        out: pd.DataFrame = self.trades.summary()
        stats = self.statistics.table
        at = list(out.columns).index("sharpe_gross") + 1
        for k, c in enumerate(("psr", "dsr", "n_trials", "sr0")):
            out.insert(at + k, c, stats.loc[out.index, c])
        out["look_ahead"] = [m in self.trades.look_ahead for m in out.index]
        return out

    @property
    def pbo(self) -> PBOResult | None:
        """The PBO of the trials (None when CSCV cannot run: ``statistics.pbo_note``)."""
        return self.statistics.pbo

    def verdict(self) -> str:
        """One sentence: which models' books earn a positive net Sharpe ratio (the benchmark of
        a dollar-neutral book is cash, a zero excess return) with their DSR and PSR, or the best
        one's when none does; the PBO and the turnover."""
        from gatecast.experiment.report.panel_backtest import panel_backtest_verdict

        pbo = None if self.pbo is None else self.pbo.pbo
        said = panel_backtest_verdict(
            self.table, self.trades.cost_bps, self.statistics.n_trials, pbo
        )
        screen = self.trades.lookahead
        hits = list(screen.index[screen["look_ahead"].to_numpy(bool)]) if len(screen) else []
        flagged = [
            f"{m} on {', '.join(str(i) for k, i in hits if k == m)}" for m in self.trades.look_ahead
        ]
        return (
            f"Possible look-ahead in {'; '.join(flagged)} (lookahead.csv says why). A forecast "
            f"for day t may use data up to day t-1 only: its backtest is no evidence. {said}"
            if flagged
            else said
        )

    def __str__(self) -> str:
        return f"{self.trades}\n{self.verdict()}"


def _traded(
    ev: PanelEvaluation, panel: Mapping[str, pd.DataFrame], cfg: PanelBacktestConfig
) -> PanelBacktest:
    """The evaluation's forecasts traded by ``cfg``'s rule, with their statistics."""
    fc = long_forecasts(ev.walk, panel, column=cfg.column, target="return")
    prices = {str(n): price_series(df, cfg.column) for n, df in panel.items()}
    return _result(ev, trade_cross_section(fc, prices, cfg.rule(), cfg.cost_bps), cfg, prices)


def backtest_panel(
    panel: Mapping[str, pd.DataFrame] | None = None,
    *,
    test_start: str | None = None,
    models: str | Iterable[str] | None = None,
    cross_section: Scheme = "top_bottom",
    fraction: float = 0.2,
    cost_bps: float = 5.0,
    column: str | None = None,
    from_run: str | Path | None = None,
    pbo_blocks: int = 16,
    n_trials: int | None = None,
    var_sharpe_annual: float | None = None,
    sweep: str | Path | None = None,
    **evaluation: Any,
) -> PanelBacktest:
    """Walk the return models forward over ``panel`` (or read the forecasts of ``from_run``)
    and trade each across instruments, with each net Sharpe ratio's PSR, DSR and the PBO.

    Parameters
    ----------
    panel, test_start, models, column
        As :func:`gatecast.evaluate_panel` with ``target="return"`` (default models: the global
        LSTM, no change, historical mean, AR(1)); further settings of it go in ``evaluation``.
        With ``from_run``: ``panel`` only where the run was made on prices passed in from
        Python (the same prices, checked against the run's content hashes), ``models`` a
        subset of the run's (default: all of them).
    cross_section, fraction
        The :class:`~gatecast.evaluation.trading.cross_section.CrossSectionRule`: each day long
        the top ``fraction`` of instruments by forecast and short the bottom one
        (``top_bottom``), or rank weights (``rank``); dollar-neutral, gross exposure 1.
    cost_bps
        One-way cost in basis points of each day's turnover.
    from_run
        A finished panel evaluation of returns (``gatecast evaluate --target return`` on a
        panel, kind ``panel-evaluate``): its forecasts are traded, nothing is refit; the
        test period, the walk-forward and the data are the run's, so ``test_start`` and the
        ``evaluation`` settings are refused beside it.
    pbo_blocks, n_trials, var_sharpe_annual
        The PBO's CSCV blocks; overrides of N and Var[SR_n] (annualised) of the DSR, which
        otherwise come from the models asked for (one trial each, identical net returns once).
    sweep
        A sweep on the same panel of returns (``gatecast sweep``, kind ``panel-sweep``) whose
        trials on its selection period, traded by this rule, are N, Var[SR_n] and the PBO.

    Returns
    -------
    PanelBacktest with ``table`` (per model: ann_return, ann_return_gross, sharpe,
    sharpe_gross, psr, dsr, n_trials, sr0, turnover, turnover_year, days), ``pbo`` and
    :meth:`~PanelBacktest.verdict`.
    """
    if evaluation.get("target", "return") != "return":
        raise ConfigError("a panel backtest trades return forecasts: leave target out")
    evaluation.pop("target", None)
    names: tuple[str, ...] = ()
    if models is not None:
        names = tuple(m.strip() for m in (models.split(",") if isinstance(models, str) else models))
    values: dict[str, Any] = {
        "models": names,
        "cross_section": cross_section,
        "fraction": fraction,
        "cost_bps": cost_bps,
        "column": column,
        "pbo_blocks": pbo_blocks,
        "n_trials": n_trials,
        "var_sharpe_annual": var_sharpe_annual,
        "sweep": None if sweep is None else str(sweep),
    }
    if from_run is not None:
        if test_start is not None:
            evaluation["test_start"] = test_start
        given = [k for k in evaluation if k in RUN_SETTINGS] + (["column"] if column else [])
        if given:
            raise ConfigError(
                f"{', '.join(given)}: the forecasts of from_run {from_run} were made with the "
                f"data and walk-forward of that run (its run.json), so these would be ignored; "
                f"drop them, or leave out from_run to make new forecasts"
            )
        if panel is not None:
            values["data"] = panel
        cfg = PanelBacktestConfig(**values, **evaluation, from_run=str(from_run))
        return run_panel_backtest(cfg)
    if panel is None or test_start is None:
        raise ConfigError(
            "give the panel and test_start (a new walk-forward), or from_run (the forecasts "
            "of a finished panel evaluation of returns)"
        )
    # the trading settings checked before any fit (the walk's by evaluate_panel)
    cfg = PanelBacktestConfig(
        data=panel, test_start=test_start, reference=evaluation.get("reference"), **values
    )
    if cfg.sweep:
        check_panel_sweep(cfg.sweep, panel)
    ev = evaluate_panel(
        panel,
        test_start=test_start,
        models=cfg.models,
        target="return",
        column=column,
        **evaluation,
    )
    return _traded(ev, panel, cfg)


def _result(
    ev: PanelEvaluation | None,
    trades: CrossSectionTrades,
    cfg: PanelBacktestConfig,
    prices: Mapping[str, pd.Series],
    **kw: Any,
) -> PanelBacktest:
    """The trades with their deflated statistics (the settings' overrides applied; a cited
    sweep's trials traded on ``prices``)."""
    var, sweep = cfg.var_sharpe_annual, cfg.sweep
    trials = panel_sweep_trials(sweep, prices, cfg.rule(), cfg.cost_bps) if sweep else None
    stats = deflate_panel(
        trades.net,
        list(trades.net.columns),
        pbo_blocks=cfg.pbo_blocks,
        n_trials=cfg.n_trials,
        var_sharpe=None if var is None else var / trades.periods_per_year,
        trials=trials,
    )
    source = kw.pop("source", ev.source if ev is not None else "")
    notes = kw.pop("notes", list(ev.notes) if ev is not None else [])
    if trials is not None:
        notes.append(
            f"N = {trials.n_trials}, Var[SR_n] and the PBO are those of the trials of the panel "
            f"sweep in {sweep} on its selection period, traded by this rule"
        )
    return PanelBacktest(ev, trades, stats, source, notes)


@dataclass(kw_only=True)
class PanelBacktestConfig(BookSettings, PanelEvaluationConfig):
    """A panel evaluation of returns (:class:`PanelEvaluationConfig`, ``target`` return) and
    the rule that trades it: ``cross_section`` (``top_bottom`` or ``rank``), ``fraction`` and
    ``cost_bps``; ``pbo_blocks`` (CSCV), ``n_trials`` and ``var_sharpe_annual`` (overrides of
    the DSR's N and Var[SR_n]). ``from_run``: a finished panel evaluation of returns whose
    forecasts are traded without refitting; its walk-forward settings (:data:`RUN_SETTINGS`)
    are the run's own, so a value other than the default is refused (``data`` may be the same
    prices passed in again, checked by content hash)."""

    target: Any = "return"
    cross_section: Scheme = "top_bottom"
    fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.target != "return":
            raise ConfigError(
                f"--target {self.target}: a panel backtest trades return forecasts; leave "
                f"--target out"
            )
        asked = bool(self.models)
        if self.from_run is not None:
            self._refuse_run_settings()
        if self.sweep is not None:
            check_panel_sweep(self.sweep)  # before any fit
        super().__post_init__()
        if self.from_run is not None and not asked:
            self.models = ()  # every model of the run
        self.rule()

    def walks(self) -> bool:
        """A backtest of ``from_run`` trades the run's forecasts: no walk, no reference."""
        return self.from_run is None

    def takes_seeds(self) -> bool:
        """A panel backtest trades one seed's forecasts (``--seeds`` is refused)."""
        return False

    def _refuse_run_settings(self) -> None:
        defaults = {f.name: f.default for f in dataclasses.fields(PanelBacktestConfig)}
        changed = [
            n for n in RUN_SETTINGS if n != "data" and not _same(getattr(self, n), defaults[n])
        ]
        if isinstance(self.data, str) and self.data != defaults["data"]:
            changed.insert(0, "data")
        if changed:
            shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in changed)
            raise ConfigError(
                f"{shown}: the forecasts of from_run {self.from_run} were made with the data and "
                f"walk-forward of that run (its run.json), so these would be ignored; drop "
                f"them, or leave out from_run to make new forecasts"
            )

    def rule(self) -> CrossSectionRule:
        """The cross-sectional rule."""
        return CrossSectionRule(self.cross_section, self.fraction)


def _same(value: Any, default: Any) -> bool:
    try:
        return bool(value == default)
    except (TypeError, ValueError):
        return False


def _as_run(
    cfg: PanelBacktestConfig, eval_cfg: PanelEvaluationConfig, models: Iterable[str]
) -> PanelBacktestConfig:
    """``cfg`` with the walk-forward settings of the run it trades, so that its record says
    what made the forecasts (prices passed in are named by the panel's source)."""
    values = {n: getattr(eval_cfg, n) for n in RUN_SETTINGS}
    if not isinstance(values["data"], str):
        values["data"] = getattr(values["data"], "source", "a panel passed in")
    # from_run refuses these settings; the run's own models keep its reference among them
    out = dataclasses.replace(cfg, from_run=None, models=tuple(eval_cfg.models), **values)
    out.from_run, out.models = cfg.from_run, tuple(models)
    return out


def _trade_run(cfg: PanelBacktestConfig) -> tuple[PanelBacktest, Panel, PanelBacktestConfig]:
    """Trade the forecasts of ``cfg.from_run`` (their ``as_of`` checked against each traded
    day, per instrument); the result, the panel and ``cfg`` with the run's settings."""
    assert cfg.from_run is not None
    data = None if isinstance(cfg.data, str) else cfg.data
    eval_cfg, forecasts, panel = read_panel_run(cfg.from_run, data)
    have = [
        c for c in forecasts.columns if c not in ("instrument", "date", INFORMATION_DATE, "actual")
    ]
    models = list(cfg.models) or have
    lost = [m for m in models if m not in have]
    if lost:
        raise ConfigError(
            f"model(s) {', '.join(lost)} have no forecasts in {cfg.from_run}; it holds "
            f"{', '.join(have)}"
        )
    keep = [c for c in ("instrument", "date", INFORMATION_DATE) if c in forecasts.columns]
    prices = {str(n): price_series(df, eval_cfg.column) for n, df in panel.items()}
    trades = trade_cross_section(forecasts[keep + models], prices, cfg.rule(), cfg.cost_bps)
    result = _result(None, trades, cfg, prices, source=panel.source)
    return result, panel, _as_run(cfg, eval_cfg, models)


def run_panel_backtest(cfg: PanelBacktestConfig) -> PanelBacktest:
    """Walk, score and trade ``cfg``'s models over its panel (or trade the forecasts of
    ``cfg.from_run``); with ``cfg.out`` write the run folder (kind ``panel-backtest``):
    ``backtest.csv`` (per model, with PSR and DSR), ``returns.parquet`` (daily gross and net
    return and turnover per model), ``weights.parquet`` (long: model, date, instrument,
    weight), ``pbo.json`` (the PBO and the trials behind N), the evaluation under
    ``evaluation/`` (its walk resumes after a kill; none with ``from_run``), ``metrics.json``
    and, from those, ``report.html``."""
    if cfg.out is not None:
        check_out_folder(
            cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind=PANEL_BACKTEST_KIND
        )
    if cfg.from_run is not None:
        if cfg.out is None:
            return _trade_run(cfg)[0]
        with panel_run_output(cfg, PANEL_BACKTEST_KIND, settings_record(cfg)) as path:
            result, panel, as_run = _trade_run(cfg)
            record_data(path, panel.identity())
            write_panel_backtest(result, path, panel, as_run)
        return result
    panel = load_checked_panel(cfg)
    if cfg.sweep:
        check_panel_sweep(cfg.sweep, panel)  # its instruments, before any fit
    if cfg.out is None:
        ev = _evaluate_into(cfg, panel, None)
        return _traded(ev, panel, cfg)
    with panel_run_output(cfg, PANEL_BACKTEST_KIND, settings_record(cfg), panel.identity()) as path:
        ev = _evaluate_into(cfg, panel, Path(path) / "evaluation")
        # its scores' files; the page of a run is written for a run folder (run.json) only
        write_panel_evaluation(ev, Path(path) / "evaluation", panel, cfg, report=False)
        result = _traded(ev, panel, cfg)
        write_panel_backtest(result, path, panel, cfg)
    return result
