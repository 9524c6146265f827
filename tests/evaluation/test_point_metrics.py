"""Point-forecast metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.metrics import hit_rate, mae, mape, mse, oos_r2, rmse, score, theil_u

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
    with pytest.raises(
        ConfigError,
        match=r"^MAPE is undefined where the actual value is 0; use it for prices only$",
    ):
        mape([0.0, 1.0], [1.0, 1.0])
    assert mape([1.0, 2.0], [1.5, 2.0]) == pytest.approx(25.0)  # an actual of 1 is fine
    with pytest.raises(AlignmentError, match=r"^no forecasts to score \(empty series\)$"):
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


IDX = pd.date_range("2020-01-01", periods=5)


def test_score_of_a_price_target_every_metric_in_closed_form():
    a = pd.Series([101.0, 99.0, 102.0, 104.0, 103.0], IDX)
    f = pd.Series([100.5, 100.0, 101.0, 103.0, 103.5], IDX)
    naive = pd.Series([100.0, 101.0, 99.0, 102.0, 104.0], IDX)  # yesterday's price
    mean = pd.Series(100.0, IDX)
    out = score("price", a, f, naive, mean, last_price=naive)
    e = (a - f).to_numpy()
    assert out["n"] == 5.0 and isinstance(out["n"], float)
    assert out["mse"] == pytest.approx(np.mean(e**2))
    assert out["rmse"] == pytest.approx(np.sqrt(np.mean(e**2)))
    assert out["mae"] == pytest.approx(np.mean(np.abs(e)))
    assert out["mape"] == pytest.approx(100 * np.mean(np.abs(e / a)))
    assert out["theil_u"] == pytest.approx(np.sqrt(np.sum(e**2) / np.sum((a - naive) ** 2)))
    assert out["oos_r2"] == pytest.approx(1 - np.sum(e**2) / np.sum((a - mean) ** 2))
    # moves from the last price: actual +1, -2, +3, +2, -1; forecast +0.5, -1, +2, +1, -0.5
    assert out["hit_rate"] == 1.0
    assert set(out) == {"n", "mse", "rmse", "mae", "mape", "theil_u", "oos_r2", "hit_rate"}
    # without the last price there is no move to score; with it on fewer dates, fewer dates count
    assert "hit_rate" not in score("price", a, f, naive, mean)
    assert score("price", a, f, naive, mean, last_price=naive.iloc[1:])["n"] == 4.0


def test_score_of_a_return_target_and_a_forecast_equal_to_no_change():
    a = pd.Series([0.01, -0.02, 0.03, 0.0, -0.01], IDX)
    f = pd.Series([0.02, -0.01, -0.01, 0.01, -0.02], IDX)
    zero, mean = pd.Series(0.0, IDX), pd.Series(0.002, IDX)
    out = score("return", a, f, zero, mean)
    assert set(out) == {"n", "mse", "rmse", "mae", "theil_u", "oos_r2", "hit_rate"}
    assert out["theil_u"] == pytest.approx(np.sqrt(np.sum((a - f) ** 2) / np.sum(a**2)))
    assert out["oos_r2"] == pytest.approx(1 - np.sum((a - f) ** 2) / np.sum((a - 0.002) ** 2))
    assert out["hit_rate"] == pytest.approx(3 / 5)  # the zero actual counts as a miss
    # actuals that equal the no-change forecast on every date: Theil's U is undefined, not inf
    flat = score("return", zero, f, zero, mean)
    assert math.isnan(flat["theil_u"]) and math.isfinite(flat["oos_r2"])


def test_score_of_a_direction_target_calls_a_probability_above_one_half_up():
    a = pd.Series([1.0, 0.0, 1.0, 0.0, 1.0], IDX)
    f = pd.Series([0.5, 0.2, 0.9, 0.6, 0.51], IDX)  # 0.5 exactly is a call of "down"
    out = score("direction", a, f, pd.Series(1.0, IDX), pd.Series(0.5, IDX))
    assert set(out) == {"n", "mse", "rmse", "mae", "hit_rate"}
    assert out["hit_rate"] == pytest.approx(3 / 5)
    assert out["mse"] == pytest.approx(np.mean((a - f) ** 2))  # the Brier score


def test_score_refuses_forecasts_on_other_dates():
    a = pd.Series([1.0, 2.0], IDX[:2])
    f = pd.Series([1.0, 2.0], IDX[3:])
    message = (
        r"^the forecasts share no dates with the actual values; check that both cover the "
        r"test period$"
    )
    with pytest.raises(AlignmentError, match=message):
        score("return", a, f, a, a)


def test_metric_helpers_at_their_edges():
    assert hit_rate([0.0, 1.0], [0.0, 1.0]) == 1.0  # both zero: a hit
    assert hit_rate([0.0, 1.0], [1.0, 1.0]) == 0.5
    assert math.isnan(hit_rate([1.0, -1.0], [0.0, 0.0]))
    assert mape([-100.0, 50.0], [-110.0, 45.0]) == pytest.approx(10.0)  # |error| / |actual|
    assert rmse([0.0, 0.0], [3.0, 4.0]) == pytest.approx(np.sqrt(12.5))
    assert theil_u([1.0, 2.0], [1.0, 2.0], [0.0, 0.0]) == 0.0
    assert oos_r2([1.0, 3.0], [1.5, 2.5], [2.0, 2.0]) == pytest.approx(0.75)
    with pytest.raises(AlignmentError, match=r"actual has shape \(2,\) but forecast has \(3,\)"):
        oos_r2([1.0, 2.0], [1.0, 2.0], [1.0, 2.0, 3.0])


def test_a_json_null_is_read_as_nan() -> None:
    # gatecast's JSON files store NaN as null: a None read back is a NaN, not a TypeError
    assert math.isnan(mse([1.0, None], [1.0, 2.0])) and math.isnan(mae([1.0, 2.0], [None, 2.0]))
