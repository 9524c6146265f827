"""Losses: QLIKE's shape and floor, squared and absolute error."""

from __future__ import annotations

import numpy as np
import pytest

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.losses import QLIKE_FLOOR, loss_series, qlike, qlike_loss


def test_qlike_is_zero_for_a_perfect_forecast_and_positive_otherwise() -> None:
    p = np.array([0.5, 1.0, 2.0])
    assert np.allclose(qlike_loss(p, p), 0.0)
    assert np.all(qlike_loss(p, p * 1.3) > 0) and np.all(qlike_loss(p, p / 1.3) > 0)


def test_qlike_penalises_under_prediction_more_than_over_prediction() -> None:
    # Patton's QLIKE is asymmetric: forecasting half the variance costs more than twice it
    assert qlike(1.0, 0.5) > qlike(1.0, 2.0)


def test_qlike_matches_patton_formula_and_floors_zero_proxy() -> None:
    p, f = np.array([1.5, 0.0]), np.array([1.0, 0.4])
    x = np.maximum(p, QLIKE_FLOOR) / f
    assert np.allclose(qlike_loss(p, f), x - np.log(x) - 1)
    assert np.isfinite(qlike_loss(p, f)).all()


def test_qlike_mean_passes_its_floor_on() -> None:
    p, f = np.array([0.0, 2.0]), np.array([1.0, 1.0])
    x = np.array([0.5, 2.0])
    assert qlike(p, f, floor=0.5) == pytest.approx(np.mean(x - np.log(x) - 1))
    assert QLIKE_FLOOR == 1e-8  # the floor README and the reference numbers state
    assert qlike(p, f) == pytest.approx(qlike(p, f, floor=QLIKE_FLOOR))


def test_qlike_refuses_non_positive_forecasts() -> None:
    with pytest.raises(
        ConfigError, match=r"^QLIKE needs positive variance forecasts; 3 are <= 0 or NaN\. Clip"
    ):
        qlike_loss([1.0] * 5, [1.0, 0.0, -1.0, np.nan, 0.5])
    with pytest.raises(ConfigError, match="; 1 are <= 0 or NaN"):
        qlike_loss([1.0, 1.0], [1.0, 0.0])  # a zero variance forecast too


def test_loss_series_names_and_errors() -> None:
    a, f = np.array([1.0, 2.0]), np.array([1.5, 1.0])
    assert np.allclose(loss_series("mse", a, f), [0.25, 1.0])
    assert np.allclose(loss_series("mae", a, f), [0.5, 1.0])
    with pytest.raises(
        ConfigError, match=r"^loss 'huber' is unknown; choose one of qlike, mse, mae$"
    ):
        loss_series("huber", a, f)
    with pytest.raises(AlignmentError, match="shape"):
        loss_series("mse", a, f[:1])


def test_a_missing_value_read_back_from_json_is_nan_not_an_error() -> None:
    # gatecast's JSON files store NaN as null: a list read back holds None on that date
    from gatecast.evaluation.losses import absolute_error, squared_error

    nan = np.nan
    np.testing.assert_array_equal(squared_error([1.0, None, 3.0], [0.0, 1.0, None]), [1, nan, nan])
    np.testing.assert_array_equal(absolute_error([None, 2.0], [1.0, 4.0]), [nan, 2.0])
    q = qlike_loss([None, 2.0], [1.0, 2.0])
    assert np.isnan(q[0]) and q[1] == 0.0
    with pytest.raises(ConfigError, match=r"1 are <= 0 or NaN"):
        qlike_loss([1.0, 2.0], [None, 2.0])
