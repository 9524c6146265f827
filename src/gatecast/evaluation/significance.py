"""Tests of forecast comparison, from the libraries: Diebold-Mariano (HLN), Pesaran-Timmermann, MCS.

Only the glue is ours: aligning series, and turning the results into plain records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError

MCS_BLOCK_SIZE = 10  # ~ n^(1/3) for 1000 days; stationary bootstrap mean block length
MCS_REPS = 1000


@dataclass(frozen=True)
class TestResult:
    """A test statistic and its p-value, with what was tested."""

    name: str
    statistic: float
    pvalue: float
    n: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pass_through(_y: Any, loss: Any) -> np.ndarray:
    return np.asarray(loss, dtype=float)


def diebold_mariano(
    loss_a: Any, loss_b: Any, *, horizon: int = 1, lags: int | None = None
) -> TestResult:
    """Diebold-Mariano test of equal expected loss, with the Harvey-Leybourne-Newbold correction.

    Takes the per-date losses of two forecasts (e.g. :func:`gatecast.evaluation.losses.qlike_loss`)
    so any loss works, averaged over seeds too; ``statsmodels``' ``diebold_mariano_test`` does the
    work (Newey-West variance with ``max(h - 1, ceil(n^(1/3)))`` lags by default, t(n - 1) p-value).
    A negative statistic means ``a`` has the lower loss.
    """
    a = np.asarray(loss_a, dtype=float)
    b = np.asarray(loss_b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ConfigError(
            f"the two loss series must be 1-D and aligned; got {a.shape} and {b.shape}"
        )
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        raise ConfigError(f"{int(ok.sum())} common dates are too few for a Diebold-Mariano test")
    if np.allclose(a[ok], b[ok]):
        return TestResult("diebold_mariano_hln", 0.0, 1.0, int(ok.sum()), "identical losses")
    from statsmodels.tsa.stattools import diebold_mariano_test  # on first use: a fast CLI start

    res = diebold_mariano_test(
        np.zeros(int(ok.sum())),
        a[ok],
        b[ok],
        criterion=_pass_through,
        harvey_adj=True,
        horizon=horizon,
        lags=lags,
    )
    return TestResult(
        "diebold_mariano_hln",
        float(res.statistic),
        float(res.pvalue),
        int(ok.sum()),
        f"lags={res.lags}",
    )


def pesaran_timmermann_test(actual: Any, predicted: Any) -> TestResult:
    """Pesaran-Timmermann test that forecast signs carry information about the actual signs
    (``statsmodels``). For probabilities of an up move, pass ``p - 0.5``."""
    a = np.asarray(actual, dtype=float)
    p = np.asarray(predicted, dtype=float)
    if a.shape != p.shape:
        raise ConfigError(f"actual {a.shape} and predicted {p.shape} must be aligned")
    if np.all(p > 0) or np.all(p <= 0):
        return TestResult(
            "pesaran_timmermann",
            float("nan"),
            float("nan"),
            len(a),
            "the forecast never changes sign: the test is undefined",
        )
    from statsmodels.stats.diagnostic import pesaran_timmermann

    res = pesaran_timmermann(a, p)
    return TestResult("pesaran_timmermann", float(res.statistic), float(res.pvalue), len(a))


def model_confidence_set(
    losses: pd.DataFrame,
    *,
    size: float = 0.10,
    block_size: int = MCS_BLOCK_SIZE,
    reps: int = MCS_REPS,
    seed: int = 0,
) -> pd.DataFrame:
    """Hansen-Lunde-Nason model confidence set (``arch.bootstrap.MCS``, range statistic).

    ``losses`` is dates x models. Returns one row per model: ``pvalue`` (MCS p-value) and
    ``in_mcs`` (kept at level 1 - ``size``), from a stationary bootstrap with mean block length
    ``block_size`` and ``reps`` replications. Models whose losses are equal on every date share
    one verdict: the set is computed with one of them.
    """
    clean = losses.dropna()
    # models with the same loss on every date (two 0/1 direction forecasts that agree every
    # day) cannot be told apart, and arch's statistic divides by the variance of their
    # difference (zero): the set is computed on one model of each such group, and every
    # member gets its verdict
    twin_of: dict[Any, Any] = {}
    for m in clean.columns:
        values = clean[m].to_numpy()
        twin_of[m] = next(
            (r for r in dict.fromkeys(twin_of.values()) if np.array_equal(clean[r], values)), m
        )
    distinct = list(dict.fromkeys(twin_of.values()))
    table: pd.DataFrame
    if len(distinct) < 2:
        table = pd.DataFrame({"pvalue": 1.0, "in_mcs": True}, index=losses.columns)
        return table
    from arch.bootstrap import MCS

    mcs = MCS(
        clean[distinct],
        size=size,
        reps=reps,
        block_size=block_size,
        method="R",
        bootstrap="stationary",
        seed=seed,
    )
    mcs.compute()
    pv = mcs.pvalues["Pvalue"]
    kept = set(mcs.included)
    table = pd.DataFrame(
        {
            "pvalue": [float(pv[twin_of[m]]) for m in losses.columns],
            "in_mcs": [twin_of[m] in kept for m in losses.columns],
        },
        index=losses.columns,
    )
    return table
