"""Value-at-Risk and expected shortfall over a panel: every instrument's variance forecasts from
the panel walk-forward, backtested per instrument and pooled per model (``gc.var_panel``;
``gatecast var`` on a panel).

The walk is that of :mod:`gatecast.experiment.panel_evaluation` (the global recurrent model,
local and classical per-instrument models), started a calibration period before the test so that
each instrument's Student-t degrees of freedom are fit, per fold, on that instrument's
out-of-sample standardised returns before the fold only. Every statistic is a single-series one
of :mod:`gatecast.evaluation.var` (:func:`~gatecast.evaluation.var.backtest_var`) applied to one
instrument; the pooled summary counts instruments.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.panel import Panel
from gatecast.data.volatility import percent_returns
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import PanelWalkResult, panel_walk_forward
from gatecast.evaluation.var import (
    Distribution,
    expected_shortfall,
    value_at_risk,
)
from gatecast.experiment.intervals import calibration_start
from gatecast.experiment.notebook import html_view
from gatecast.experiment.panel_evaluation import (
    PANEL_MODELS,
    PanelEvaluationConfig,
    PanelRunFacts,
    load_checked_panel,
    panel_run_output,
    recurrent_models,
    resumed_notes,
)
from gatecast.experiment.panel_var_config import PANEL_VAR_REFUSED as PANEL_VAR_REFUSED
from gatecast.experiment.panel_var_config import PanelVarConfig as PanelVarConfig
from gatecast.experiment.panel_var_config import panel_var_refusals as panel_var_refusals
from gatecast.experiment.panel_var_horizon import backtest_panel_horizon as backtest_panel_horizon
from gatecast.experiment.panel_var_horizon import pool_horizon as pool_horizon
from gatecast.experiment.panel_var_horizon import pool_rows, summed
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    settings_record,
)
from gatecast.experiment.settings import config_of
from gatecast.experiment.var import fold_dof
from gatecast.experiment.var_settings import MIN_DOF_ROWS

__all__ = [
    "PANEL_VAR_KIND",
    "PanelVarConfig",
    "PanelVarResult",
    "backtest_panel_horizon",
    "backtest_panel_var",
    "panel_var_refusals",
    "pool_horizon",
    "pool_var",
    "run_panel_var",
    "var_panel",
    "write_panel_var",
]

#: The kind of run a panel VaR backtest writes (``run.json``).
PANEL_VAR_KIND = "panel-var"


def level_tag(level: float) -> str:
    """The tail probability of ``level`` in percent, as the columns name it: 0.99 -> ``1``."""
    return f"{100 * (1 - level):g}"


@dataclass
class PanelVarResult(PanelRunFacts):
    """A panel VaR backtest.

    ``table``: one row per (instrument, model, distribution, level), the columns of
    :class:`~gatecast.evaluation.var.VarBacktest` (``n``, ``exceptions``, ``expected``,
    ``kupiec_p``, ``ind_p``, ``cc_p``, ``zone``, ``es_z2``, ``es_p``...), the mean ``nu`` and
    ``ratio`` (exceptions / expected). ``summary``: one row per (model, distribution, level),
    pooled over the instruments (:func:`pool_var`). ``risk``: one row per instrument, date,
    model and distribution: ``as_of`` (the instrument's previous row, the last one its forecast
    used), ``return``, ``variance``, ``nu``, ``var_<p>`` and ``hit_<p>`` (the VaR at tail
    probability p percent as a positive loss, and whether the return fell below -VaR) per level,
    and ``es_<p>`` at ``es_level``.

    With ``horizon`` h > 1, the h-day VaR of every instrument as ``gatecast var --horizon`` gives
    it on one series (:func:`~gatecast.experiment.var.horizon_table`): ``horizon_table`` one row
    per (instrument, model, distribution, level) with ``windows``, ``expected``,
    ``var_sqrt``/``var_own`` (mean h-day VaR), ``exceptions_*`` and ``kupiec_p_*``;
    ``horizon_summary`` pooled per (model, distribution, level) (:func:`pool_horizon`);
    ``horizon_risk`` one row per window: ``instrument``, ``model``, ``distribution``, ``level``,
    ``date`` (the window's first day), ``as_of`` (the row before it), ``return``,
    ``var_sqrt``, ``var_own``, ``hit_sqrt``, ``hit_own``.
    """

    config: PanelVarConfig
    table: pd.DataFrame
    summary: pd.DataFrame
    risk: pd.DataFrame
    walk: PanelWalkResult
    calibration_start: str
    horizon_table: pd.DataFrame | None = None
    horizon_summary: pd.DataFrame | None = None
    horizon_risk: pd.DataFrame | None = None

    @property
    def instruments(self) -> list[str]:
        """The instruments backtested."""
        return sorted(set(self.table["instrument"]))

    def title(self) -> str:
        """One line: the panel, the levels and the test dates."""
        levels = ", ".join(f"{v:.3g}" for v in self.config.levels)
        return (
            f"{self.source or 'panel'}: VaR at {levels}, {self.config.es_level:.3g} ES, "
            f"{len(self.instruments)} instruments, {str(self.risk['date'].min())[:10]}.."
            f"{str(self.risk['date'].max())[:10]}"
        )

    def __str__(self) -> str:
        with pd.option_context("display.width", 180, "display.max_columns", 30):
            text = self.summary.to_string(float_format=lambda v: f"{v:.4g}")
            if self.horizon_summary is not None:
                h = self.horizon_summary.to_string(float_format=lambda v: f"{v:.4g}")
                text += f"\n{self.config.horizon}-day VaR on non-overlapping windows:\n{h}"
        return f"{self.title()}\n{text}"

    def _repr_html_(self) -> str:
        lines = [
            f"pooled over instruments; kupiec/ind/cc/es_rejected: instruments whose test "
            f"rejects at {self.config.alpha:g}. Per instrument: .table; per day: .risk",
            *(
                [
                    f"{self.config.horizon}-day VaR: .horizon_summary, .horizon_table (per "
                    "instrument), .horizon_risk (per window)"
                ]
                if self.horizon_summary is not None
                else []
            ),
            *self.notes,
        ]
        return html_view(self.title(), self.summary, lines)


def pool_var(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The pooled summary of a per-instrument VaR table: one row per (model, distribution,
    level) with ``instruments``, ``days`` and ``exceptions`` (summed), ``hit_rate``
    (exceptions / days) beside ``expected_rate`` (1 - level), ``median_ratio`` (the median over
    instruments of exceptions / expected), and the instruments rejected at ``alpha`` by each
    test: ``kupiec_rejected`` (split into ``too_many``, more exceptions than expected, and
    ``too_few``), ``ind_rejected``, ``cc_rejected``, ``es_rejected``."""
    rej = table["kupiec_p"] < alpha
    t = table.assign(
        days=table["n"],
        kupiec_rejected=rej,
        too_many=rej & (table["exceptions"] > table["expected"]),
        too_few=rej & (table["exceptions"] < table["expected"]),
        ind_rejected=table["ind_p"] < alpha,
        cc_rejected=table["cc_p"] < alpha,
        es_rejected=table["es_p"] < alpha,
    )
    rejected = ("kupiec_rejected", "too_many", "too_few", "ind_rejected", "cc_rejected")
    out = pool_rows(
        t,
        {**summed("days", "exceptions"), "median_ratio": ("ratio", "median")}
        | summed(*rejected, "es_rejected"),
    )
    out.insert(3, "hit_rate", out["exceptions"] / out["days"])
    out.insert(4, "expected_rate", 1.0 - out.index.get_level_values("level").to_numpy())
    return out


def _seed(seed: int, position: int) -> int:
    """A seed per instrument, so that the instruments' ES tests draw independent paths."""
    return int(np.random.SeedSequence([seed, position]).generate_state(1)[0])


def backtest_panel_var(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    cfg: PanelVarConfig,
    fold_starts: Iterable[pd.Timestamp],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Backtest every instrument's VaR and ES from the walk's variance forecasts: the
    per-instrument table and the per-day risk frame of :class:`PanelVarResult`.

    ``fold_starts`` are the walk's refit dates: an instrument's Student-t degrees of freedom for
    a fold are fit (:func:`~gatecast.experiment.var.fold_dof`) on its own returns and forecasts
    dated before the fold's refit date only. The test holds the forecasts dated on or after
    ``cfg.test_start``; those before it only fit nu.
    """
    starts = sorted(pd.Timestamp(d) for d in fold_starts)
    test0 = pd.Timestamp(cfg.test_start)
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    for position, (key, fc) in enumerate(walk.forecasts.groupby(level="instrument", sort=True)):
        name = str(key)
        fc = fc.droplevel("instrument")
        df = panel[name]
        returns = percent_returns(df, cfg.column)
        for m in walk.forecasts.columns:
            variance = fc[m].dropna()
            variance = variance[variance > 0]
            test = variance[variance.index >= test0]
            if test.empty:
                raise ConfigError(
                    f"instrument {name!r}: model {m!r} has no positive variance forecast from "
                    f"{cfg.test_start} on; check the instrument's prices there"
                )
            nu_all = fold_dof(returns, variance, starts) if "t" in cfg.distributions else None
            as_of = df.index[df.index.get_indexer(test.index) - 1]  # min_train >= 1 rows before
            for d in cfg.distributions:
                dist: Distribution = "t" if d == "t" else "normal"
                nu = None
                if dist == "t":
                    assert nu_all is not None
                    nu = nu_all.reindex(test.index)
                    if nu.isna().any():
                        first = nu.index[nu.isna()][0]
                        raise ConfigError(
                            f"instrument {name!r}: fewer than {MIN_DOF_ROWS} out-of-sample "
                            f"{m} forecasts before the fold of {first.date()}, too few to fit "
                            f"the Student-t's degrees of freedom; lengthen --calibration, or "
                            f"use --dist normal"
                        )
                nu_a = None if nu is None else nu.to_numpy()
                risk = pd.DataFrame(
                    {
                        "instrument": name,
                        "model": m,
                        "distribution": d,
                        "date": test.index,
                        "as_of": as_of,
                        "return": returns.reindex(test.index).to_numpy(),
                        "variance": test.to_numpy(),
                        "nu": np.nan if nu_a is None else nu_a,
                    }
                )
                for level in cfg.levels:
                    bt = cfg.backtest(
                        returns, test, dist, nu, level=level, seed=_seed(cfg.seed, position)
                    )
                    rows.append(
                        {"instrument": name, "model": m, "distribution": d}
                        | bt.to_dict()
                        | {
                            "nu": np.nan if nu_a is None else float(np.mean(nu_a)),
                            "ratio": bt.exceptions / bt.expected,
                        }
                    )
                    tag = level_tag(level)
                    risk[f"var_{tag}"] = value_at_risk(test.to_numpy(), 1 - level, dist, nu_a)
                    risk[f"hit_{tag}"] = risk["return"] < -risk[f"var_{tag}"]
                risk[f"es_{level_tag(cfg.es_level)}"] = expected_shortfall(
                    test.to_numpy(), 1 - cfg.es_level, dist, nu_a
                )
                frames.append(risk)
    table = pd.DataFrame(rows)
    first = ["instrument", "model", "distribution", "level", "n", "exceptions", "expected"]
    table = table[first + [c for c in table.columns if c not in first]]
    return table, pd.concat(frames, ignore_index=True)


def _load(cfg: PanelVarConfig) -> tuple[Panel, PanelEvaluationConfig, str]:
    """The panel (checked for the test's folds), the walk's settings started a calibration
    period before the test (checked again: every instrument needs ``min_train`` rows before it)
    and that start; everything before any fit."""
    panel = load_checked_panel(cfg.evaluation())
    union = pd.DatetimeIndex(sorted(set().union(*(df.index for df in panel.values()))))
    start = calibration_start(union, cfg.test_start, cfg.calibration, cfg.refit_every)
    walk_cfg = cfg.evaluation(start, data=panel)
    # the folds from the calibration's start checked on the panel as loaded (with covariates:
    # as joined, which load_checked_panel(walk_cfg) would join again)
    plan = walk_cfg.panel_plan()
    refits = plan.refit_dates(panel)
    for name, df in panel.items():
        plan.folds(str(name), df.index, refits)
    if "t" in cfg.distributions:  # each instrument's forecasts before the test fit its nu
        test0 = pd.Timestamp(cfg.test_start)
        for name, df in panel.items():
            k = int(((df.index >= pd.Timestamp(start)) & (df.index < test0)).sum())
            if k < MIN_DOF_ROWS:
                raise ConfigError(
                    f"instrument {name!r} has {k} rows in the calibration period {start} to "
                    f"{cfg.test_start}, fewer than the {MIN_DOF_ROWS} needed to fit its "
                    f"Student-t degrees of freedom; lengthen --calibration or use --dist normal"
                )
    if cfg.horizon > 1:  # each instrument's test holds a whole h-day window
        test0 = pd.Timestamp(cfg.test_start)
        end = pd.Timestamp(cfg.test_end) if cfg.test_end else None
        for name, df in panel.items():
            k = int(((df.index >= test0) & (df.index <= end if end else True)).sum())
            if k < cfg.horizon:
                raise ConfigError(
                    f"instrument {name!r} has {k} rows from {cfg.test_start}"
                    f"{f' to {cfg.test_end}' if cfg.test_end else ''}, fewer than one whole "
                    f"{cfg.horizon}-day window; lower --horizon or test longer"
                )
    return panel, walk_cfg, start


def run_panel_var(cfg: PanelVarConfig) -> PanelVarResult:
    """Walk ``cfg``'s models over its panel, backtest every instrument's VaR and ES, pool them
    and (with ``cfg.out``) write the run folder (:func:`write_panel_var`).

    Every setting, the panel and ``out`` are checked before anything is fit or written. With
    ``out``, each refit's forecasts are kept under ``out/folds`` and ``out/instruments`` as
    they finish (the layout of a panel evaluation), so ``resume`` continues a killed run.
    """
    t0 = time.perf_counter()
    if cfg.out is not None:
        check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind=PANEL_VAR_KIND)
    panel, walk_cfg, start = _load(cfg)
    if cfg.out is None:
        return _run(cfg, panel, walk_cfg, start, None, t0)
    record = _record(cfg, panel.source)
    with panel_run_output(cfg, PANEL_VAR_KIND, record, panel.identity()) as path:
        result = _run(cfg, panel, walk_cfg, start, path, t0)
        write_panel_var(result, path)
    return result


def _record(cfg: PanelVarConfig, source: str) -> dict[str, Any]:
    """The settings as plain values; prices passed in (a Panel, a mapping) named by the
    panel's source, never written whole."""
    record = settings_record(cfg)
    if not isinstance(cfg.data, str | os.PathLike):
        record["data"] = source
    return record


def _run(
    cfg: PanelVarConfig,
    panel: Panel,
    walk_cfg: PanelEvaluationConfig,
    start: str,
    run_dir: Path | None,
    t0: float,
) -> PanelVarResult:
    factories = walk_cfg.factories()
    warm = {m: cfg.warm_start and m in recurrent_models([m]) for m in factories}
    plan = walk_cfg.panel_plan()
    walk = panel_walk_forward(
        factories, panel, plan, warm_start=warm, run_dir=run_dir, n_jobs=cfg.n_jobs
    )
    refits = plan.refit_dates(panel)
    table, risk = backtest_panel_var(walk, panel, cfg, refits)
    h_table = h_risk = None
    if cfg.horizon > 1:
        h_table, h_risk = backtest_panel_horizon(walk, panel, cfg, refits)
    return PanelVarResult(
        config=cfg,
        table=table,
        summary=pool_var(table, cfg.alpha),
        risk=risk,
        walk=walk,
        calibration_start=start,
        horizon_table=h_table,
        horizon_summary=None if h_table is None else pool_horizon(h_table, cfg.alpha),
        horizon_risk=h_risk,
        source=panel.source,
        layout=panel.layout,
        seconds=time.perf_counter() - t0,
        notes=[*getattr(panel, "notes", []), *resumed_notes(walk)],  # a covariate join's
    )


def write_panel_var(result: PanelVarResult, out: str | Path) -> Path:
    """Write a panel VaR run's files: ``per_instrument.csv`` (one row per instrument, model,
    distribution and level), ``summary.csv`` (pooled), ``risk.parquet`` (per day),
    ``folds.csv``, with a horizon ``horizon_per_instrument.csv``, ``horizon_summary.csv`` and
    ``horizon_risk.parquet``, ``metrics.json`` and, from those, ``report.html``; every file
    atomically."""
    from gatecast.experiment.report import write_report

    cfg = result.config
    folder = RunFolder(out)
    folder.write_csv("per_instrument.csv", result.table, index=False)
    folder.write_csv("summary.csv", result.summary)
    folder.write_parquet("risk.parquet", result.risk)
    folder.write_csv("folds.csv", result.walk.folds, index=False)
    horizon: dict[str, Any] | None = None
    if result.horizon_table is not None and result.horizon_summary is not None:
        folder.write_csv("horizon_per_instrument.csv", result.horizon_table, index=False)
        folder.write_csv("horizon_summary.csv", result.horizon_summary)
        if result.horizon_risk is not None:
            folder.write_parquet("horizon_risk.parquet", result.horizon_risk)
        horizon = {
            "days": cfg.horizon,
            "windows": "non-overlapping blocks of h of the instrument's own rows from the test "
            "start (a last, incomplete one left out); overlapping windows would share days, "
            "so their exceptions would not be independent and Kupiec's test would not apply",
            "sqrt_time": "h-day VaR = sqrt(h) x the one-day VaR at the window's start",
            "own": "GARCH/GJR: the closed-form h-day cumulative variance with the parameters "
            "of the fold the window starts in, refit on the instrument's rows before it; other "
            "models: the square-root-of-time rule (no closed form)",
            "tests": "Kupiec per instrument on its windows; no Christoffersen test (as on one "
            "series)",
            "summary": result.horizon_summary.reset_index().to_dict(orient="records"),
        }
    folder.write_metrics(
        {
            "config": _record(cfg, result.source),
            "source": result.source,
            "layout": result.layout,
            "instruments": result.instruments,
            "first_date": result.risk["date"].min(),
            "last_date": result.risk["date"].max(),
            "calibration_start": result.calibration_start,
            "n_refits": int(result.walk.folds["fold"].nunique()),
            "mean": "zero (daily returns)",
            "returns": "percent log returns, 100 x diff(log price), each instrument's own rows",
            "nu": "Student-t degrees of freedom per instrument and fold, fit on that "
            "instrument's out-of-sample standardised returns before the fold's refit date",
            "tests": {
                "kupiec": "proportion of failures, LR ~ chi2(1)",
                "ind": "Christoffersen independence, LR ~ chi2(1)",
                "cc": "Christoffersen conditional coverage, LR_pof + LR_ind ~ chi2(2)",
                "zone": "Basel traffic light, 99% VaR exceptions in the last 250 days",
                "es": f"Acerbi-Szekely Z2 at {1 - cfg.es_level:.3g}, p-value from {cfg.sims} "
                f"simulated paths of the predictive distribution (a seed per instrument)",
                "rejected": f"instruments whose p-value is below {cfg.alpha:g}",
            },
            "summary": result.summary.reset_index().to_dict(orient="records"),
            "horizon": horizon,
            "walk_forward_seconds": result.walk.seconds,
            "seconds": result.seconds,
            "notes": result.notes,
        }
    )
    write_report(folder.path)
    return folder.path


def var_panel(
    panel: Any = "sp500_stocks",
    *,
    models: str | Iterable[str] = PANEL_MODELS,
    levels: float | Iterable[float] = (0.99,),
    out: str | Path | None = None,
    **settings: Any,
) -> PanelVarResult:
    """VaR and ES of every instrument of ``panel`` from walk-forward variance forecasts,
    backtested per instrument and pooled per model (``gatecast var`` on a panel).

    Parameters
    ----------
    panel
        A :class:`gatecast.Panel`, a mapping instrument -> prices, a bundled panel's name
        (``sp500_stocks``, ``arch_panel``) or a long/wide file read by :func:`gatecast.load_panel`.
    models
        Names, a list or ``"lstm,gjr_t"``: a cell is the global model, ``lstm_local`` one
        LSTM per instrument, a classical model (``gjr_t``, ``garch``, ``ewma``, ``har``) runs
        per instrument.
    levels
        VaR confidence levels (0.99: the 1% VaR), one or several.
    out
        A run folder to write (kind ``panel-var``; read back by :meth:`gatecast.Run.open`).
    settings
        Those of :class:`PanelVarConfig`: ``test_start``, ``test_end``, ``refit_every``,
        ``min_train``, ``distributions``, ``es_level``, ``calibration``, ``sims``, ``seed``,
        ``alpha``, ``horizon`` (the h-day VaR per instrument) and the recurrent settings (``hidden``, ``recurrent_epochs``...).

    Returns
    -------
    PanelVarResult with ``table`` (per instrument, model, distribution and level: exceptions,
    Kupiec, Christoffersen, Basel zone, ES test), ``summary`` (pooled per model) and ``risk``.

    Examples
    --------
    >>> res = var_panel("arch_panel", models="garch,ewma", test_start="2015-01-02")  # doctest: +SKIP
    >>> res.summary["kupiec_rejected"]  # doctest: +SKIP
    """
    names = tuple(m.strip() for m in models.split(",")) if isinstance(models, str) else models
    values = {
        "data": panel,
        "models": tuple(names),
        "levels": (levels,) if isinstance(levels, int | float) else tuple(levels),
        "out": None if out is None else str(out),
        **settings,
    }
    cfg: PanelVarConfig = config_of("var_panel", PanelVarConfig, values)
    return run_panel_var(cfg)
