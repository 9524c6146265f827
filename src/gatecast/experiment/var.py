"""Value-at-Risk and expected shortfall from walk-forward variance forecasts, backtested: what
`gatecast var` does.

``run_var(VarConfig(...))`` runs the variance models' walk-forward with the machinery of
:mod:`gatecast.experiment.evaluation` (kept under ``out/evaluation``, so a rerun resumes),
started a calibration period before the test so that the Student-t degrees of freedom of each
fold are fit on out-of-sample standardised returns before it. Every model gives a Normal and a
Student-t predictive distribution; each is backtested with :func:`gatecast.evaluation.var.backtest_var`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import data_label
from gatecast.data.volatility import percent_returns
from gatecast.errors import ConfigError
from gatecast.evaluation.var import (
    Distribution,
    VarBacktest,
    block_returns,
    fit_t_dof,
    garch_cumulative_variance,
    kupiec_pof,
    predictive_risk,
    standard_quantile,
    value_at_risk,
)
from gatecast.evaluation.walkforward import WalkForwardResult
from gatecast.experiment.evaluation import (
    EvaluationConfig,
    check_models,
    fallback_notes,
    load_checked,
    walk_config,
    walk_models,
)
from gatecast.experiment.intervals import calibration_start
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.registry import canonical_names
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    job_output,
    settings_record,
)
from gatecast.experiment.var_settings import MIN_DOF_ROWS, VarJobSettings, check_confidence_level

__all__ = [
    "VarConfig",
    "VarResult",
    "fold_dof",
    "horizon_backtests",
    "horizon_table",
    "run_var",
    "write_var",
]

#: The columns of the printed table (``var_backtest.csv`` has them all).
SHOWN = [
    "nu",
    "exceptions",
    "expected",
    "kupiec_p",
    "ind_p",
    "cc_p",
    "basel_exceptions",
    "zone",
    "es_z2",
    "es_p",
    "verdict",
]


@dataclass(kw_only=True)
class VarConfig(VarJobSettings):
    """Everything one VaR backtest needs, as plain values: the shared settings of
    :mod:`gatecast.experiment.settings` and the VaR run's own.

    ``level`` is the VaR confidence level backtested (0.99: the 1% VaR, with the Basel zone),
    ``es_level`` the expected shortfall's (0.975; :class:`~gatecast.experiment.var_settings.VarSettings`). ``calibration`` days
    of out-of-sample forecasts before ``test_start`` (rounded up to whole refits, so the test
    folds are those of ``gatecast evaluate``) fit the first fold's Student-t degrees of
    freedom. The recurrent settings are those of
    :class:`~gatecast.experiment.evaluation.EvaluationConfig`; a recurrent model's variance is
    the mean over its seeds. ``sims`` return paths drawn with ``seed`` give the ES test's
    p-value. ``covariates`` are joined onto the data and read by the variance models as in
    ``gatecast evaluate``: each recurrent model with and without each group (``lstm``,
    ``lstm+vix``), ``har`` beside ``har_x+vix``, every one a row of the table.
    """

    models: tuple[str, ...] = ("lstm", "garch", "gjr_t")
    level: float = 0.99

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        self.models = canonical_names(
            tuple(self.models), "variance", covariates=bool(self.covariates)
        )
        if not self.models:
            raise ConfigError("no models given; e.g. --models lstm,garch,gjr_t")
        if self.covariates:  # the groups, and a model that reads them, checked before any fit
            self.covariates = self.evaluation().covariates
        check_confidence_level(self.level, "level")

    def check_applicable(self, given: Iterable[str] | None = None) -> None:
        """Refuse every setting in ``given`` (default: those set away from their defaults)
        that this run does not use (the rules of its walk-forward's evaluation)."""
        if given is None:
            default = VarConfig(models=self.models, covariates=self.covariates)
            given = [
                f.name
                for f in dataclasses.fields(self)
                if f.name != "data" and getattr(self, f.name) != getattr(default, f.name)
            ]
        # the h-day VaR is this run's own, built on the walk's one-day forecasts
        self.evaluation().check_applicable([g for g in given if g != "horizon"])

    def evaluation(self, test_start: str | None = None) -> EvaluationConfig:
        """The variance walk-forward (squared-return proxy) from ``test_start`` (default: the
        test's start; :func:`run_var` starts it a calibration period earlier)."""
        return walk_config(
            self,
            target="variance",
            proxy="squared",
            test_start=test_start or self.test_start,
            models=self.models,
            covariates=self.covariates,
        )


def fold_dof(returns: pd.Series, variance: pd.Series, fold_starts: list[pd.Timestamp]) -> pd.Series:
    """Student-t degrees of freedom for every forecast date, fit per fold on the returns and
    variance forecasts of the dates before the fold's start only."""
    nu: pd.Series = pd.Series(np.nan, index=variance.index, name="nu")
    starts = sorted(fold_starts)
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else None
        before = variance.index < start
        inside = (variance.index >= start) & (
            variance.index < stop if stop is not None else np.ones(len(nu), dtype=bool)
        )
        if inside.any() and before.sum() >= MIN_DOF_ROWS:
            dates = variance.index[before]
            nu[inside] = fit_t_dof(returns.reindex(dates), variance[before])
    return nu


@dataclass
class VarResult:
    """The backtest table ((model, distribution) rows), the VaR/ES series and the run's facts.

    ``risk`` has one row per date, model and distribution: ``variance``, ``nu``, VaR at 1%
    and 5% and ES at 2.5% (positive percent losses), ``var`` at ``level``, ``return``.
    """

    config: VarConfig
    table: pd.DataFrame
    risk: pd.DataFrame
    walk: WalkForwardResult
    backtests: dict[tuple[str, str], VarBacktest]
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    calibration_start: str
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # what close-only data made the models use
    #: ``horizon`` > 1: the h-day VaR on non-overlapping windows, per (model, distribution).
    horizon_table: pd.DataFrame | None = None

    def summary(self) -> str:
        """The table as text."""
        with pd.option_context("display.width", 180, "display.max_columns", 30):
            text: str = self.table[SHOWN].to_string(float_format=lambda v: f"{v:.4g}")
        return text

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """What ``var_backtest.json`` holds."""
        cfg = self.config
        return {
            "config": settings_record(cfg),
            "first_date": self.first_date,
            "last_date": self.last_date,
            "n_dates": int(self.table["n"].max()),
            "calibration_start": self.calibration_start,
            "mean": "zero (daily returns)",
            "returns": "percent log returns, 100 x diff(log price)",
            "tests": {
                "kupiec": "proportion of failures, LR ~ chi2(1)",
                "ind": "Christoffersen independence, LR ~ chi2(1)",
                "cc": "Christoffersen conditional coverage, LR_pof + LR_ind ~ chi2(2)",
                "zone": "Basel traffic light, 99% VaR exceptions in the last 250 days",
                "es": f"Acerbi-Szekely Z2 at {1 - cfg.es_level:.3g}, p-value from "
                f"{cfg.sims} simulated paths of the predictive distribution",
            },
            "notes": self.notes,
            "horizon": None
            if self.horizon_table is None
            else {
                "days": cfg.horizon,
                "windows": "non-overlapping blocks of h trading days from the test start",
                "sqrt_time": "h-day VaR = sqrt(h) x the one-day VaR at the block's start",
                "own": "GARCH/GJR: the closed-form h-day cumulative variance of the fold's fit; "
                "other models: the square-root-of-time rule (no closed form)",
                "table": self.horizon_table.reset_index().to_dict(orient="records"),
            },
            "backtests": [
                {"model": m, "distribution": d} | bt.to_dict()
                for (m, d), bt in self.backtests.items()
            ],
        }

    def _repr_html_(self) -> str:
        title = (
            f"{data_label(self.config.data)}: {self.config.level:.0%} VaR, "
            f"{self.config.es_level:.1%} ES, {str(self.first_date)[:10]}.."
            f"{str(self.last_date)[:10]}"
        )
        return html_view(title, self.table[SHOWN], self.notes)

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """The returns, each (model, distribution)'s -VaR and its exceptions: a dict of one
        figure, or (``folder``) ``exceptions.png`` written there (its path, in a list)."""
        from gatecast.plots.risk import plot_exceptions

        wide = self.risk.pivot_table(index="date", columns=["model", "distribution"], values="var")
        wide.columns = [f"{m} {d}" for m, d in wide.columns]
        returns = self.risk.drop_duplicates("date").set_index("date")["return"]
        title = (
            f"{data_label(self.config.data)}: {self.config.level:.0%} VaR and its exceptions, "
            f"{str(self.first_date)[:10]}..{str(self.last_date)[:10]}"
        )
        return draw_or_write(
            {"exceptions.png": plot_exceptions(returns, wide, title=title)}, folder
        )


def run_var(cfg: VarConfig) -> VarResult:
    """Walk the variance models forward, build their predictive distributions and backtest them;
    with ``cfg.out`` write the run (:func:`write_var`).

    Examples
    --------
    >>> res = run_var(VarConfig(models=("garch", "gjr_t"), out="runs/var"))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    cfg.check_applicable()
    if cfg.out is not None:
        check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind="var")
    base = cfg.evaluation()
    df, _ = load_checked(base)
    check_models(base, df)  # the test period itself lies in the data
    start = calibration_start(df.index, cfg.test_start, cfg.calibration, cfg.refit_every)
    ecfg = dataclasses.replace(base, test_start=start)
    check_models(ecfg, df)
    if cfg.out is None:
        return _run_var(cfg, df, ecfg, start, t0)
    with job_output(cfg, "var", df):
        return _run_var(cfg, df, ecfg, start, t0)


def _run_var(
    cfg: VarConfig, df: pd.DataFrame, ecfg: EvaluationConfig, start: str, t0: float
) -> VarResult:
    walk = walk_models(ecfg, df)
    returns = percent_returns(df, cfg.column)
    folds = sorted(pd.Timestamp(d) for d in walk.folds["test_start"].unique())
    test0 = pd.Timestamp(cfg.test_start)
    rows, frames = [], []
    backtests: dict[tuple[str, str], VarBacktest] = {}
    for m, keys in ecfg.members().items():
        variance = walk.forecasts[keys].mean(axis=1).dropna()
        variance = variance[variance > 0]
        nu_all = fold_dof(returns, variance, folds)
        test = variance[variance.index >= test0]
        for d in cfg.distributions:
            dist: Distribution = "t" if d == "t" else "normal"
            nu = nu_all.reindex(test.index) if dist == "t" else None
            bt = cfg.backtest(returns, test, dist, nu, level=cfg.level, seed=cfg.seed)
            backtests[m, d] = bt
            row = {"model": m, "distribution": d, "nu": np.nan}
            if nu is not None:
                row["nu"] = float(nu.mean())
            rows.append(row | bt.to_dict())
            risk = predictive_risk(test, dist, None if nu is None else nu.to_numpy())
            risk["var"] = value_at_risk(
                test, 1 - cfg.level, dist, None if nu is None else nu.to_numpy()
            )
            risk["variance"], risk["nu"] = test, np.nan if nu is None else nu
            risk["return"] = returns.reindex(test.index)
            frames.append(risk.assign(model=m, distribution=d).rename_axis("date").reset_index())
    table = pd.DataFrame(rows).set_index(["model", "distribution"])
    risk_frame = pd.concat(frames, ignore_index=True)
    horizon = (
        horizon_backtests(cfg, df, ecfg, walk, returns, folds, test0) if cfg.horizon > 1 else None
    )
    dates = risk_frame["date"]
    result = VarResult(
        config=cfg,
        table=table,
        risk=risk_frame,
        walk=walk,
        backtests=backtests,
        first_date=dates.min(),
        last_date=dates.max(),
        calibration_start=start,
        notes=[*df.attrs.get("covariate_notes", []), *fallback_notes(ecfg, df)],
        horizon_table=horizon,
    )
    result.seconds = time.perf_counter() - t0
    if cfg.out:
        write_var(result, cfg.out)
    return result


def write_var(result: VarResult, out: str | Path) -> Path:
    """Write ``config.json``, ``var_backtest.csv``, ``risk.parquet``, ``exceptions.png`` and, last,
    ``var_backtest.json`` (every file atomically)."""
    folder = RunFolder(out)
    folder.write_config(settings_record(result.config))
    folder.write_csv("var_backtest.csv", result.table)
    folder.write_parquet("risk.parquet", result.risk)
    if result.horizon_table is not None:
        folder.write_csv("var_horizon.csv", result.horizon_table)
    result.plot(folder)
    folder.write_json("var_backtest.json", result.to_dict())
    return folder.path


def _garch_params(
    name: str, history: pd.DataFrame, column: str | None
) -> tuple[float, float, float, float] | None:
    """(omega, alpha, gamma, beta) of a GARCH/GJR-GARCH(1,1) registry model fit on ``history``;
    None for a model without a closed-form h-step variance."""
    from gatecast.experiment.registry import REGISTRY
    from gatecast.models.garch import ArchForecaster

    entry = REGISTRY.get(("variance", name))
    if entry is None or entry.params.get("vol") != "GARCH":
        return None
    model = ArchForecaster(**entry.params, column=column).fit(history)
    rec = model.recursion()
    return (rec.omega, rec.alpha, rec.gamma, rec.beta)


def horizon_backtests(
    cfg: VarConfig,
    df: pd.DataFrame,
    ecfg: EvaluationConfig,
    walk: WalkForwardResult,
    returns: pd.Series,
    folds: list[pd.Timestamp],
    test0: pd.Timestamp,
) -> pd.DataFrame:
    """The ``cfg.horizon``-day VaR at ``cfg.level`` on non-overlapping windows of the test: the
    square-root-of-time rule on the one-day forecast at each window's start beside the model's own
    h-day variance (GARCH/GJR: closed form with the parameters of the fold the window starts in;
    other models: the rule again, said so), each with its exceptions and Kupiec test
    (:func:`horizon_table` on each model's one-day forecasts, the mean over its seeds)."""
    variances = {m: walk.forecasts[keys].mean(axis=1) for m, keys in ecfg.members().items()}
    return horizon_table(
        variances,
        df,
        returns,
        folds,
        test0,
        horizon=cfg.horizon,
        level=cfg.level,
        distributions=cfg.distributions,
        column=cfg.column,
        scheme=cfg.scheme,
        train_size=cfg.train_size,
        gap=cfg.gap,
    )


def horizon_table(
    variances: Mapping[str, pd.Series],
    df: pd.DataFrame,
    returns: pd.Series,
    folds: list[pd.Timestamp],
    test0: pd.Timestamp,
    *,
    horizon: int,
    level: float,
    distributions: Iterable[str],
    column: str | None,
    scheme: str = "expanding",
    train_size: int | None = None,
    gap: int = 0,
    windows: list[pd.DataFrame] | None = None,
    fits: dict[tuple[str, pd.Timestamp], tuple[float, float, float, float] | None] | None = None,
) -> pd.DataFrame:
    """The ``horizon``-day VaR at ``level`` of one series on non-overlapping windows of the test
    from ``test0``, one row per (model, distribution): ``variances`` are each model's one-day
    walk-forward forecasts (dated by the day forecast, made at the close before), ``df`` the
    series' prices (a GARCH/GJR model is refit on the rows before each fold start of ``folds``,
    as the walk did: ``scheme``, ``train_size``, ``gap``), ``returns`` its percent log returns.
    ``gatecast var --horizon`` on one series (:func:`horizon_backtests`) and on a panel (per
    instrument, :mod:`gatecast.experiment.panel_var`). ``windows``, when given, gets one frame
    per (model, distribution) of its windows: ``model``, ``distribution``, ``date`` (the
    window's first day), ``return`` (its h-day log return), ``var_sqrt``, ``var_own`` and their
    ``hit_sqrt``, ``hit_own`` (the return below -VaR). ``fits``, when given, keeps each
    (model, fold start)'s GARCH parameters, so that another level on the same series reuses
    them rather than refit."""
    h, p = horizon, 1.0 - level
    blocks = block_returns(returns, test0, h)
    if len(blocks) < 1:
        raise ConfigError(f"the test period holds no whole {h}-day window; test longer")
    starts = sorted(folds)
    rows = []
    for m, forecast in variances.items():
        one = forecast.reindex(blocks.index)
        own = pd.Series(np.nan, index=blocks.index)
        closed = False
        for k, start in enumerate(starts):
            stop = starts[k + 1] if k + 1 < len(starts) else None
            inside = (blocks.index >= start) & (
                blocks.index < stop if stop is not None else np.ones(len(blocks), dtype=bool)
            )
            if not inside.any():
                continue
            # the rows the walk trained this fold on (WalkForwardPlan.train_rows): the last
            # train_size rows before the gap, not the gap cut out of the last train_size
            last = int(df.index.searchsorted(start)) - gap
            first = max(0, last - train_size) if scheme == "rolling" and train_size else 0
            train = df.iloc[first:last]
            if fits is not None and (m, start) in fits:
                params = fits[m, start]
            else:
                params = _garch_params(m, train, column)
                if fits is not None:
                    fits[m, start] = params
            if params is None:
                break
            closed = True
            own[inside] = garch_cumulative_variance(one[inside].to_numpy(), *params, h)
        if not closed:
            own = h * one
        for d in distributions:
            dist: Distribution = "t" if d == "t" else "normal"
            nu = None
            if dist == "t":
                nu_all = fold_dof(returns, forecast.dropna(), starts)
                nu = nu_all.reindex(blocks.index).to_numpy()
            z = -np.asarray(standard_quantile(p, dist, nu), dtype=float)
            ok = one.notna().to_numpy() & own.notna().to_numpy()
            if nu is not None:
                ok &= np.isfinite(nu)
            row: dict[str, Any] = {"model": m, "distribution": d, "windows": int(ok.sum())}
            frame = pd.DataFrame(
                {"model": m, "distribution": d, "date": blocks.index[ok]}
                | {"return": blocks.to_numpy()[ok]}
            )
            for tag, var_h in (("sqrt", np.sqrt(h * one) * z), ("own", np.sqrt(own) * z)):
                v = np.asarray(var_h, dtype=float)[ok]
                x = int((blocks.to_numpy()[ok] < -v).sum())
                frame[f"var_{tag}"] = v
                frame[f"hit_{tag}"] = blocks.to_numpy()[ok] < -v
                test = kupiec_pof(x, int(ok.sum()), p) if ok.any() else None
                row |= {
                    f"var_{tag}": float(np.mean(v)) if ok.any() else np.nan,
                    f"exceptions_{tag}": x,
                    f"kupiec_p_{tag}": test.pvalue if test else np.nan,
                }
            row["own_is"] = "closed form" if closed else "sqrt-time (no closed form)"
            row["expected"] = p * int(ok.sum())
            rows.append(row)
            if windows is not None:
                windows.append(frame)
    out: pd.DataFrame = pd.DataFrame(rows).set_index(["model", "distribution"])
    return out
