"""Point-forecast metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluate.metrics import hit_rate, mae, mape, mse, oos_r2, rmse, score, theil_u

A = np.array([1.0, -2.0, 3.0, -4.0])
F = np.array([0.5, -1.0, 1.0, 1.0])


def test_closed_forms():
    assert mse(A, F) == pytest.approx((0.25 + 1 + 4 + 25) / 4)
    assert rmse(A, F) == pytest.approx(math.sqrt(30.25 / 4))
    assert mae(A, F) == pytest.approx((0.5 + 1 + 2 + 5) / 4)
    assert mape([100.0, 200.0], [110.0, 190.0]) == pytest.approx(7.5)
    assert theil_u(A, F, np.zeros(4)) == pytest.approx(math.sqrt(30.25 / 30))
    mean = np.full(4, A.mean())
    assert oos_r2(A, F, mean) == pytest.approx(1 - 30.25 / np.sum((A - A.mean()) ** 2))
    assert hit_rate(A, F) == pytest.approx(0.75)
    assert math.isnan(hit_rate(A, np.zeros(4)))  # no-change has no direction


def test_errors():
    with pytest.raises(AlignmentError, match="shape"):
        mse([1.0, 2.0], [1.0])
    with pytest.raises(ConfigError, match="prices only"):
        mape([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(AlignmentError, match="empty"):
        mse([], [])


def test_score_aligns_on_shared_dates_and_picks_metrics():
    idx = pd.date_range("2020-01-01", periods=4)
    a = pd.Series(A, idx)
    f = pd.Series(F, idx).iloc[1:]  # one date fewer: scored on the three shared dates
    out = score("return", a, f, pd.Series(0.0, idx), pd.Series(A.mean(), idx))
    assert out["n"] == 3
    assert out["mse"] == pytest.approx(mse(A[1:], F[1:]))
    assert "mape" not in out
    p = score(
        "direction",
        pd.Series([1.0, 0, 1, 0], idx),
        pd.Series([0.9, 0.2, 0.4, 0.6], idx),
        pd.Series(0.5, idx),
        pd.Series(0.5, idx),
    )
    assert p["hit_rate"] == pytest.approx(0.5)
    assert p["mse"] == pytest.approx(np.mean([0.01, 0.04, 0.36, 0.36]))  # the Brier score
