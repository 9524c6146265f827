"""Conformal intervals around walk-forward forecasts, and how well they cover in calm and in storm.

Four methods, all on out-of-sample conformity scores s_t = |y_t - forecast_t| / scale_t:

- ``split``: split conformal per fold: at each refit, the conformal quantile of the scores of the
  ``calibration`` dates before the fold (its training tail, forecast out of sample by the folds
  before it) is fixed for the fold.
- ``aci``: adaptive conformal inference (Gibbs and Candes 2021, "Adaptive conformal inference
  under distribution shift"): the quantile of the last ``calibration`` scores at level
  1 - alpha_t, with alpha_{t+1} = alpha_t + gamma (alpha - err_t) day by day.
- ``split_norm`` / ``aci_norm``: the same with scores divided by a variance forecast's standard
  deviation, so the width follows volatility.

Without a scale, scale_t = 1. Scores: coverage overall and by volatility tercile (the trailing
realised variance, cut at its terciles on the dates before the test), mean width, the Winkler
(interval) score and the pinball loss of the two bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np
import pandas as pd

from gatecast.errors import AlignmentError, ConfigError
from gatecast.serve.conformal import (
    CALIBRATION,
    GAMMA,
    AdaptiveConformal,
    conformal_quantile,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CALIBRATION",
    "GAMMA",
    "METHODS",
    "IntervalMethod",
    "IntervalResult",
    "adaptive_conformal",
    "conformal_intervals",
    "conformity_scores",
    "coverage_scores",
    "pinball_loss",
    "regime_variance",
    "split_conformal",
    "tercile_cuts",
    "winkler_score",
]

IntervalMethod = Literal["split", "aci", "split_norm", "aci_norm"]
METHODS: tuple[IntervalMethod, ...] = get_args(IntervalMethod)
#: The trailing window (days) of the realised variance that sorts days into calm and storm.
REGIME_WINDOW = 22
TERCILES = ("calm", "middle", "storm")


# -- the methods -------------------------------------------------------------------------------
def conformity_scores(
    actual: pd.Series, forecast: pd.Series, scale: pd.Series | None = None
) -> pd.Series:
    """|actual - forecast| / scale on the dates where all are finite (scale > 0)."""
    s = (actual - forecast).abs()
    if scale is not None:
        s = s / scale.where(scale > 0)
    out: pd.Series = s.replace([np.inf, -np.inf], np.nan).dropna().rename("score")
    return out


def split_conformal(
    scores: pd.Series,
    fold_starts: Sequence[Any],
    *,
    alpha: float,
    calibration: int = CALIBRATION,
) -> pd.Series:
    """The split-conformal quantile for each date from the first fold start on: for the dates of
    fold k, the conformal quantile of the last ``calibration`` scores before its start (NaN for a
    fold with fewer before it)."""
    starts = sorted(_at(scores.index, s) for s in fold_starts)
    q: pd.Series = pd.Series(np.nan, index=scores.index, name="q")
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else None
        before = scores[scores.index < start].to_numpy()[-calibration:]
        inside = scores.index >= start
        if stop is not None:
            inside &= scores.index < stop
        if len(before) == calibration:
            q[inside] = conformal_quantile(before, alpha)
    return q


def adaptive_conformal(
    scores: pd.Series,
    *,
    alpha: float,
    gamma: float = GAMMA,
    calibration: int = CALIBRATION,
    alpha_start: float | None = None,
) -> pd.DataFrame:
    """Adaptive conformal inference over ``scores`` in date order: for each date the quantile of
    its interval (``q``, issued before its score is seen; NaN until ``calibration`` scores are in)
    and the alpha_t it used.

    The recursion is :class:`gatecast.serve.conformal.AdaptiveConformal`, the one a live
    :class:`~gatecast.serve.intervals.IntervalStream` runs, so batch and stream agree.
    """
    aci = AdaptiveConformal(alpha, gamma, calibration, alpha_start)
    q = np.full(len(scores), np.nan)
    alphas = np.full(len(scores), np.nan)
    for i, s in enumerate(scores.to_numpy(dtype=float)):
        alphas[i] = aci.alpha_t
        q[i] = aci.issue()
        aci.observe(s)
    out: pd.DataFrame = pd.DataFrame({"q": q, "alpha_t": alphas}, index=scores.index)
    return out


# -- the scores --------------------------------------------------------------------------------
def winkler_score(actual: Any, lower: Any, upper: Any, alpha: float) -> np.ndarray:
    """The interval score (Winkler 1972; Gneiting and Raftery 2007) of a 1 - alpha interval:
    (u - l) + (2 / alpha)(l - y)[y < l] + (2 / alpha)(y - u)[y > u]; lower is better."""
    y, lo, hi = (np.asarray(v, dtype=float) for v in (actual, lower, upper))
    out: np.ndarray = (hi - lo) + (2.0 / alpha) * (
        np.maximum(lo - y, 0.0) + np.maximum(y - hi, 0.0)
    )
    return out


def pinball_loss(actual: Any, quantile: Any, tau: float) -> np.ndarray:
    """The pinball (quantile) loss of a tau-quantile forecast: max(tau (y - q), (tau - 1)(y - q))."""
    d = np.asarray(actual, dtype=float) - np.asarray(quantile, dtype=float)
    out: np.ndarray = np.maximum(tau * d, (tau - 1.0) * d)
    return out


def regime_variance(proxy: pd.Series, window: int = REGIME_WINDOW) -> pd.Series:
    """The mean variance proxy over the ``window`` days before each date: the regime the day
    falls in, known before it (the day's own return would otherwise decide its own tercile)."""
    out: pd.Series = proxy.rolling(window).mean().shift(1).rename("regime")
    return out


def tercile_cuts(regime: pd.Series, before: Any) -> tuple[float, float]:
    """The 1/3 and 2/3 quantiles of ``regime`` on the dates before ``before`` (training data)."""
    train = regime[regime.index < _at(regime.index, before)].dropna()
    if len(train) < 3:
        raise ConfigError(
            f"{len(train)} dates before {before} with a trailing realised variance: too few to "
            f"fix volatility terciles; start the test later"
        )
    c1, c2 = np.quantile(train.to_numpy(), [1 / 3, 2 / 3])
    return float(c1), float(c2)


def coverage_scores(
    actual: pd.Series,
    lower: pd.Series,
    upper: pd.Series,
    alpha: float,
    tercile: pd.Series | None = None,
) -> dict[str, float]:
    """Coverage overall and per tercile (``calm``, ``middle``, ``storm``; ``spread`` = the
    largest minus the smallest), mean width, Winkler score and mean pinball loss of the bounds.

    An interval that is the whole line (or empty, when ACI's alpha_t >= 1) counts in coverage;
    ``n_infinite`` says how many there are, and width, Winkler and pinball are over the rest.
    """
    y, lo, hi = actual.to_numpy(float), lower.to_numpy(float), upper.to_numpy(float)
    hit = (lo <= y) & (y <= hi)
    finite = np.isfinite(lo) & np.isfinite(hi)
    out: dict[str, float] = {"coverage": float(hit.mean()) if len(y) else np.nan}
    if tercile is not None:
        t = tercile.to_numpy()
        cover = [float(hit[t == k].mean()) if (t == k).any() else np.nan for k in range(3)]
        out |= dict(zip(TERCILES, cover, strict=True))
        out["spread"] = float(np.nanmax(cover) - np.nanmin(cover))
    w = winkler_score(y[finite], lo[finite], hi[finite], alpha)
    pin = (
        pinball_loss(y[finite], lo[finite], alpha / 2)
        + pinball_loss(y[finite], hi[finite], 1 - alpha / 2)
    ) / 2
    out |= {
        "width": float(np.mean(hi[finite] - lo[finite])) if finite.any() else np.nan,
        "winkler": float(w.mean()) if finite.any() else np.nan,
        "pinball": float(pin.mean()) if finite.any() else np.nan,
        "n": float(len(y)),
        "n_infinite": float((~finite).sum()),
    }
    return out


# -- one evaluation's intervals ----------------------------------------------------------------
@dataclass
class IntervalResult:
    """Intervals of every model and method over the test period, and their scores.

    ``table``: (model, method) -> :func:`coverage_scores`. ``intervals``: one row per date, model
    and method (``forecast``, ``lower``, ``upper``, ``actual``, ``alpha_t``, ``tercile``).
    ``fan``: for :meth:`figure`, the ``aci_norm`` (else ``aci``) bounds of the first model at
    several levels. ``cuts``: the regime variance's tercile cut points, fixed before the test.
    """

    level: float
    gamma: float
    calibration: int
    table: pd.DataFrame
    intervals: pd.DataFrame
    fan: dict[float, pd.DataFrame]
    cuts: tuple[float, float]
    scale: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The coverage table as text."""
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            text: str = self.table.to_string(float_format=lambda v: f"{v:.4g}")
        return f"{self.level:.0%} intervals (gamma {self.gamma}, {self.calibration} scores)\n{text}"

    def __str__(self) -> str:
        return self.summary()

    def leaderboard_columns(self, method: IntervalMethod | None = None) -> pd.DataFrame:
        """Per model: coverage, width and tercile coverage of ``method`` (default: ``aci_norm``
        when there is a scale, else ``aci``), named ``cover``, ``width``, ``cover_calm`` ..."""
        method = method or ("aci_norm" if self.scale else "aci")
        rows: pd.DataFrame = self.table.xs(method, level="method")  # type: ignore[assignment]
        cols = {"coverage": "cover", "width": "width"} | {t: f"cover_{t}" for t in TERCILES}
        out: pd.DataFrame = rows[list(cols)].rename(columns=cols)
        return out

    def to_dict(self) -> dict[str, Any]:
        """What ``intervals.json`` holds."""
        return {
            "level": self.level,
            "gamma": self.gamma,
            "calibration": self.calibration,
            "scale": self.scale,
            "tercile_cuts": list(self.cuts),
            "regime": f"mean squared percent return over the {REGIME_WINDOW} days before each date",
            "table": self.table.reset_index().to_dict(orient="records"),
            "notes": self.notes,
        }

    def figure(self) -> Figure:
        """The fan chart of the first model: its intervals at every level of ``fan``."""
        from gatecast.plots.risk import plot_fan

        first = self.intervals.iloc[0]
        one = self.intervals[
            (self.intervals["model"] == first["model"])
            & (self.intervals["method"] == first["method"])
        ].set_index("date")
        title = f"{first['model']}: {first['method']} intervals, levels {sorted(self.fan)}"
        return plot_fan(one["actual"], one["forecast"], self.fan, title=title)


def conformal_intervals(
    actual: pd.Series,
    forecasts: pd.DataFrame,
    *,
    fold_starts: Sequence[Any],
    test_start: Any,
    regime: pd.Series,
    scale: pd.Series | pd.DataFrame | None = None,
    level: float = 0.9,
    gamma: float = GAMMA,
    calibration: int = CALIBRATION,
    fan_levels: tuple[float, ...] = (0.5, 0.8),
    scale_name: str | None = None,
) -> IntervalResult:
    """Intervals of every forecast column by every method, scored on the dates from ``test_start``.

    Parameters
    ----------
    actual
        The realised target by date.
    forecasts
        Date x model: out-of-sample walk-forward forecasts, starting at least ``calibration``
        dates before ``test_start`` (those dates only calibrate).
    fold_starts
        The first date of each refit (split conformal recalibrates there).
    test_start
        First scored date.
    regime
        The volatility measure that sorts dates into terciles (:func:`regime_variance`), cut at
        its terciles on the dates before ``test_start``.
    scale
        The score's scale (a standard deviation in the target's units) by date, one for every
        model (a Series) or per model (a DataFrame); None: only the unscaled methods.
    level, gamma, calibration
        Interval level, ACI step size, calibration window (scores).
    """
    if not 0 < level < 1:
        raise ConfigError(f"level={level}: an interval level is in (0, 1), e.g. 0.9")
    alpha = 1.0 - level
    start = _at(forecasts.index, test_start)
    cuts = tercile_cuts(regime, start)
    n_before = int((forecasts.dropna(how="all").index < start).sum())
    if n_before < calibration:
        raise AlignmentError(
            f"{n_before} out-of-sample forecasts before {test_start}, fewer than the "
            f"calibration window of {calibration}: start the walk-forward earlier"
        )
    methods: list[IntervalMethod] = ["split", "aci"]
    if scale is not None:
        methods += ["split_norm", "aci_norm"]
    rows, frames = [], []
    fan: dict[float, pd.DataFrame] = {}
    for model in forecasts.columns:
        fc = forecasts[model]
        for method in methods:
            sc: pd.Series | None = None
            if method.endswith("_norm"):
                sc = scale[model] if isinstance(scale, pd.DataFrame) else scale
            scores = conformity_scores(actual, fc, sc)
            if method.startswith("split"):
                q = split_conformal(scores, fold_starts, alpha=alpha, calibration=calibration)
                alpha_t = pd.Series(alpha, index=q.index)
            else:
                path = adaptive_conformal(scores, alpha=alpha, gamma=gamma, calibration=calibration)
                q, alpha_t = path["q"], path["alpha_t"]
            frame = _bounds(fc, q, sc, actual, start)
            frame["alpha_t"] = alpha_t.reindex(frame.index)
            frame["tercile"] = np.digitize(regime.reindex(frame.index).to_numpy(), cuts)
            frames.append(frame.assign(model=model, method=method))
            rows.append(
                {"model": model, "method": method}
                | coverage_scores(
                    frame["actual"], frame["lower"], frame["upper"], alpha, frame["tercile"]
                )
            )
            if model == forecasts.columns[0] and method == methods[-1]:
                fan[level] = frame[["lower", "upper"]]
                for lv in fan_levels:
                    path = adaptive_conformal(
                        scores, alpha=1 - lv, gamma=gamma, calibration=calibration
                    )
                    fan[lv] = _bounds(fc, path["q"], sc, actual, start)[["lower", "upper"]]
    table = pd.DataFrame(rows).set_index(["model", "method"])
    long = pd.concat(frames).rename_axis("date").reset_index()
    # the first model's primary method first: the fan chart draws it
    first = (long["model"] == forecasts.columns[0]) & (long["method"] == methods[-1])
    long = pd.concat([long[first], long[~first]], ignore_index=True)
    return IntervalResult(
        level=level,
        gamma=gamma,
        calibration=calibration,
        table=table,
        intervals=long,
        fan=fan,
        cuts=cuts,
        scale=scale_name if scale is not None else None,
    )


def _at(index: pd.Index, value: Any) -> Any:
    """``value`` as a key of ``index`` (a Timestamp on dates, else as given)."""
    return pd.Timestamp(value) if isinstance(index, pd.DatetimeIndex) else value


def _bounds(
    forecast: pd.Series,
    q: pd.Series,
    scale: pd.Series | None,
    actual: pd.Series,
    start: Any,
) -> pd.DataFrame:
    """forecast -/+ q x scale on the test dates with a quantile."""
    q = q[(q.index >= start) & q.notna()]
    f = forecast.reindex(q.index)
    half = q * (scale.reindex(q.index) if scale is not None else 1.0)
    out: pd.DataFrame = pd.DataFrame(
        {"forecast": f, "lower": f - half, "upper": f + half, "actual": actual.reindex(q.index)}
    )
    return out
