"""The look-ahead screen: forecasts too good for an honest daily model (they saw the day)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import ndtri

from gatecast.evaluation.trading.rules import Rule

#: The largest |rank correlation| between a daily return (or up-probability) forecast and the
#: return of the day it is for that an honest model plausibly reaches. Out-of-sample R^2 of daily
#: index-return predictors are well under 1% (|corr| < 0.1; AR(1) on the S&P 500 2001-2018: 0.04);
#: 0.2 (an R^2 of 4%) is a generous cap.
LOOKAHEAD_CORR_CAP = 0.2
#: The largest share of days on which an honest daily model calls the return's sign right
#: (documented models: 50-55%; AR(1) on the S&P 500 2001-2018: 51.7%), generously.
LOOKAHEAD_HIT_CAP = 0.6
#: A variance forecast made before day t tracks day t's squared return hardly more closely than
#: day t-1's: in Fisher-z units, atanh(rho same day) - atanh(rho previous day) on the S&P 500 is
#: below 0 for GARCH, GJR, EWMA and HAR in every year 2008-2018, and +0.04 to +0.16 per year
#: (+0.06 over 2015-2018) for the recurrent variance LSTM, whose range inputs follow day t-1's
#: squared return less; the day's own range scores +0.41 over 2015-2018. Beyond this margin (and
#: the sampling band) the forecast has seen the day.
LOOKAHEAD_VARIANCE_MARGIN = 0.2
#: The screen flags an estimate only when its one-sided confidence bound at this level is beyond
#: the cap: a false alarm on an honest model at the cap is a 1-in-1000 event.
LOOKAHEAD_LEVEL = 1e-3
# the variance of atanh of a Spearman correlation is about 1.06 / (n - 3) (Fieller, Hartley and
# Pearson, 1957)
_SPEARMAN_VAR = 1.06


def _rank_corr(x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Spearman's rank correlation of the finite pairs and their number (NaN when a side is
    constant: a forecast that never moves carries no information either way)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if len(x) < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan, int(len(x))
    rho = float(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])
    return rho, int(len(x))


def _fisher(rho: float) -> float:
    return math.atanh(min(max(rho, -1 + 1e-12), 1 - 1e-12))


def _z_band(n: int, terms: int = 1) -> float:
    """The one-sided :data:`LOOKAHEAD_LEVEL` band of ``terms`` independent Fisher-z estimates
    (their sum's sd; an upper bound for two correlated ones)."""
    return float(ndtri(1 - LOOKAHEAD_LEVEL)) * math.sqrt(terms * _SPEARMAN_VAR / max(n - 3, 1))


def _screen(
    f: np.ndarray, same: np.ndarray, previous: np.ndarray, rule: Rule, names: list[str]
) -> pd.DataFrame:
    """Per column: the rank correlations of the forecast with the return of the day it is for
    and of the day before (squared returns for variance forecasts), the sign hit rate, and
    whether (and why) the forecasts look as if they saw the day they trade."""
    rows = []
    for k in range(len(names)):
        x = f[:, k]
        if rule.name == "vol_target":
            rows.append(_variance_screen(x, same**2, previous**2))
        else:
            centre = 0.5 if rule.name == "threshold" else 0.0
            rows.append(_return_screen(x - centre, same, previous))
        rows[-1]["kind"] = {"vol_target": "variance", "threshold": "probability"}.get(
            rule.name, "return"
        )
    cols = ["kind", "n", "rank_corr", "rank_corr_prev", "hit_rate", "look_ahead", "reason"]
    table: pd.DataFrame = pd.DataFrame(rows, index=pd.Index(names, name="model"), columns=cols)
    table["look_ahead"] = table["look_ahead"].astype(bool)
    return table


def _return_screen(x: np.ndarray, same: np.ndarray, previous: np.ndarray) -> dict[str, Any]:
    rho, n = _rank_corr(x, same)
    prev, _ = _rank_corr(x, previous)
    called = np.isfinite(x) & np.isfinite(same) & (x != 0) & (same != 0)
    m = int(called.sum())
    hits = int((np.sign(x[called]) == np.sign(same[called])).sum())
    hit = hits / m if m else math.nan
    reasons = []
    if math.isfinite(rho) and abs(_fisher(rho)) - _z_band(n) > _fisher(LOOKAHEAD_CORR_CAP):
        reasons.append(
            f"its rank correlation with the return of the day it is for is {rho:+.2f} over {n} "
            f"days (an honest daily model stays within +-{LOOKAHEAD_CORR_CAP:g})"
        )
    cap = LOOKAHEAD_HIT_CAP
    if m and (
        stats.binom.sf(hits - 1, m, cap) < LOOKAHEAD_LEVEL
        or stats.binom.cdf(hits, m, 1 - cap) < LOOKAHEAD_LEVEL
    ):
        reasons.append(
            f"it calls that day's sign right on {hit:.1%} of {m} days (an honest daily model: "
            f"{1 - cap:.0%} to {cap:.0%})"
        )
    return {
        "n": n,
        "rank_corr": rho,
        "rank_corr_prev": prev,
        "hit_rate": hit,
        "look_ahead": bool(reasons),
        "reason": "; ".join(reasons),
    }


def _variance_screen(x: np.ndarray, same: np.ndarray, previous: np.ndarray) -> dict[str, Any]:
    rho, n = _rank_corr(x, same)
    prev, n_prev = _rank_corr(x, previous)
    flag = (
        math.isfinite(rho)
        and math.isfinite(prev)
        and _fisher(rho) - _fisher(prev) - _z_band(min(n, n_prev), terms=2)
        > LOOKAHEAD_VARIANCE_MARGIN
    )
    reason = (
        f"its rank correlation with the squared return of the day it is for, {rho:+.2f}, is "
        f"well above that with the previous day's, {prev:+.2f}, over {n} days (a variance "
        f"forecast made before the day tracks the previous day's at least as closely)"
        if flag
        else ""
    )
    return {
        "n": n,
        "rank_corr": rho,
        "rank_corr_prev": prev,
        "hit_rate": math.nan,
        "look_ahead": bool(flag),
        "reason": reason,
    }
