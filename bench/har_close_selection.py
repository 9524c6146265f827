"""Which realised measure should the close-only HAR use? A selection-period comparison, before any
test block that gatecast reports (those start in 2005): an expanding walk-forward refit every 21
trading days, QLIKE against the squared return, on the S&P 500 (closes only, test 2002-2004)
and WTI crude (test 1995-2004). Not a test; prints a table.

    .venv/bin/python bench/har_close_selection.py

Candidates, each an OLS of a daily measure on its 1-, 5- and 22-day means up to the day before,
the forecast mapped to the squared-return level by one constant fit on the training rows:

- ``squared``: r_t^2 on means of r^2 (HAR-RV with r^2 as the realised variance), in levels;
- ``abs``: |r_t| on means of |r| (absolute returns, Forsberg and Ghysels 2007), forecast c f^2;
- ``log_abs``: log |r_t| on the logs of the means of |r| (floored at 0.01%), forecast c e^(2f);
- ``log_squared``: log r_t^2 on the logs of the means of r^2 (floored), forecast c e^f.

With High/Low, the range HAR (log Parkinson) is shown on the S&P 500 for reference only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatecast.data import load
from gatecast.data.features import parkinson
from gatecast.data.volatility import QLIKE_FLOOR, percent_returns
from gatecast.evaluation.losses import qlike

LAGS = (1, 5, 22)
FLOOR = 1e-2  # percent: below a tick for both series; only log candidates need it


def _design(m: pd.Series, log: bool) -> pd.DataFrame:
    cols = {}
    for k in LAGS:
        avg = m.rolling(k).mean().shift(1)
        cols[f"avg{k}"] = np.log(avg) if log else avg
    X = pd.DataFrame(cols)
    X.insert(0, "const", 1.0)
    return X


def candidate(name: str, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, str]:
    """(design, dependent, how the fitted value becomes a variance) of one candidate."""
    r = percent_returns(df).dropna()
    if name == "squared":
        return _design(r**2, False), r**2, "level"
    if name == "abs":
        return _design(r.abs(), False), r.abs(), "square"
    if name == "log_abs":
        a = r.abs().clip(lower=FLOOR)
        return _design(a, True), np.log(a), "exp2"
    if name == "log_squared":
        s = (r**2).clip(lower=FLOOR**2)
        return _design(s, True), np.log(s), "exp"
    if name == "range":
        pk = parkinson(df).reindex(r.index)
        return _design(pk, True), np.log(pk), "exp"
    raise ValueError(name)


def to_variance(fitted: np.ndarray, how: str) -> np.ndarray:
    if how == "level":
        return np.maximum(fitted, 1e-6)
    if how == "square":
        return np.maximum(fitted, 1e-3) ** 2
    if how == "exp2":
        return np.exp(2 * fitted)
    return np.exp(fitted)


def walk(df: pd.DataFrame, name: str, start: str, end: str, every: int = 21) -> float:
    X, y, how = candidate(name, df)
    r2 = percent_returns(df).dropna() ** 2
    ok = (X.notna().all(axis=1) & y.notna()).to_numpy()
    Xa, ya = X.to_numpy(), y.to_numpy()
    test = np.flatnonzero((X.index >= start) & (X.index <= end))
    fc = np.full(len(X), np.nan)
    for f0 in range(0, len(test), every):
        rows = test[f0 : f0 + every]
        train = ok & (np.arange(len(X)) < rows[0])
        beta, *_ = np.linalg.lstsq(Xa[train], ya[train], rcond=None)
        v_train = to_variance(Xa[train] @ beta, how)
        c = r2.to_numpy()[train].mean() / v_train.mean()
        fc[rows] = c * to_variance(Xa[rows] @ beta, how)
    return qlike(r2.to_numpy()[test], fc[test], floor=QLIKE_FLOOR)


def main() -> None:
    sp = load("sp500")
    sp_close = sp[["adj_close"]]
    wti = load("wti", dropna=True)
    names = ("squared", "abs", "log_abs", "log_squared")
    rows = {
        n: {
            "S&P 500 2002-2004": walk(sp_close, n, "2002-01-01", "2004-12-31"),
            "WTI 1995-2004": walk(wti, n, "1995-01-01", "2004-12-31"),
        }
        for n in names
    }
    rows["range (reference)"] = {
        "S&P 500 2002-2004": walk(sp, "range", "2002-01-01", "2004-12-31"),
        "WTI 1995-2004": np.nan,
    }
    table = pd.DataFrame(rows).T
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
