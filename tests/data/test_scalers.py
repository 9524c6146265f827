"""Scalers: fit on training rows only, exact round trips, JSON persistence, clear errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gatecast.data import fit_scaler, make_scaler, scaler_from_dict
from gatecast.errors import ConfigError, ConstantSeriesError, NotFittedError

# `make mutate` runs these once per mutant: ten draws there (a broken scaler fails on nearly any
# draw, and the closed-form tests below pin the exact values)
FAST = settings(deadline=None, max_examples=10 if os.environ.get("MUTANT_UNDER_TEST") else 60)
KINDS = ("minmax", "standard", "none")

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def series_with_train(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    """A (T, F) array and the number of leading training rows; every training column varies."""
    T = draw(st.integers(3, 40))
    F = draw(st.integers(1, 3))
    values = draw(arrays(np.float64, (T, F), elements=finite))
    n_train = draw(st.integers(2, T - 1))
    train = values[:n_train]
    spread = np.ptp(train, axis=0)
    # well-posed: the spread is not lost in rounding at the column's magnitude
    assume(np.all(spread > 1e-6 * (1.0 + np.abs(train).max(axis=0))))
    return values, n_train


@FAST
@given(data=series_with_train(), kind=st.sampled_from(KINDS))
def test_transform_then_inverse_round_trips(data: tuple[np.ndarray, int], kind: str) -> None:
    values, n_train = data
    s = fit_scaler(kind, values[:n_train])
    back = s.inverse_transform(s.transform(values))
    np.testing.assert_allclose(back, values, rtol=1e-9, atol=1e-9 * (1 + np.abs(values).max()))


@FAST
@given(data=series_with_train())
def test_minmax_maps_the_training_min_and_max_to_zero_and_one(data: tuple[np.ndarray, int]) -> None:
    values, n_train = data
    z = fit_scaler("minmax", values[:n_train]).transform(values[:n_train])
    np.testing.assert_array_equal(z.min(axis=0), 0.0)
    np.testing.assert_allclose(z.max(axis=0), 1.0, rtol=1e-12)


@FAST
@given(data=series_with_train())
def test_standard_gives_zero_mean_unit_std_on_train(data: tuple[np.ndarray, int]) -> None:
    values, n_train = data
    train = values[:n_train]
    assume(np.all(train.std(axis=0) > 1e-3 * (1.0 + np.abs(train).max(axis=0))))
    z = fit_scaler("standard", train).transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-6)


@FAST
@given(data=series_with_train(), kind=st.sampled_from(KINDS))
def test_fitted_parameters_are_the_closed_forms_of_the_rows_given(
    data: tuple[np.ndarray, int], kind: str
) -> None:
    # A scaler only sees the rows it is given; that models give it the training rows only is
    # tested where they claim it (tests/models/test_training_range_only.py).
    values, n_train = data
    train = values[:n_train]
    s = fit_scaler(kind, train)
    shift, scale = {
        "minmax": (train.min(axis=0), np.ptp(train, axis=0)),
        "standard": (train.mean(axis=0), train.std(axis=0)),
        "none": (np.zeros(train.shape[1]), np.ones(train.shape[1])),
    }[kind]
    np.testing.assert_allclose(s.shift_, shift, rtol=1e-12, atol=1e-12 * np.abs(train).max())
    np.testing.assert_allclose(s.scale_, scale, rtol=1e-9)
    np.testing.assert_allclose(s.transform(values), (values - shift) / scale, rtol=1e-9, atol=1e-9)
    # the order of the rows does not matter; every row does
    rev = fit_scaler(kind, train[::-1])
    np.testing.assert_allclose(rev.shift_, s.shift_, rtol=1e-9, atol=1e-9 * np.abs(train).max())
    np.testing.assert_allclose(rev.scale_, s.scale_, rtol=1e-9)
    if kind != "none":
        bigger = train.copy()
        bigger[-1] = train.max(axis=0) + np.ptp(train, axis=0) + 1.0
        assert not np.array_equal(fit_scaler(kind, bigger).scale_, s.scale_)


@FAST
@given(data=series_with_train(), kind=st.sampled_from(KINDS))
def test_to_dict_round_trips_through_json(data: tuple[np.ndarray, int], kind: str) -> None:
    values, n_train = data
    s = fit_scaler(kind, values[:n_train])
    d = json.loads(json.dumps(s.to_dict()))
    assert d["kind"] == kind
    t = scaler_from_dict(d)
    assert type(t) is type(s)
    np.testing.assert_array_equal(t.shift_, s.shift_)
    np.testing.assert_array_equal(t.scale_, s.scale_)
    np.testing.assert_array_equal(t.transform(values), s.transform(values))


def test_known_parameters_on_a_small_column() -> None:
    train = np.array([[2.0, 10.0], [4.0, 20.0], [6.0, 60.0]])
    mm = fit_scaler("minmax", train)
    np.testing.assert_array_equal(mm.shift_, [2.0, 10.0])
    np.testing.assert_array_equal(mm.scale_, [4.0, 50.0])
    # values beyond the training range map beyond [0, 1]
    np.testing.assert_allclose(mm.transform(np.array([[8.0, 110.0]])), [[1.5, 2.0]])
    st_ = fit_scaler("standard", train)
    np.testing.assert_allclose(st_.shift_, [4.0, 30.0])
    np.testing.assert_allclose(st_.scale_, [np.sqrt(8 / 3), np.sqrt(1400 / 3)])  # population std


def test_a_scaler_read_from_json_integers_holds_floats() -> None:
    s = scaler_from_dict({"kind": "minmax", "shift": [1], "scale": [2]})
    assert s.shift_.dtype == np.float64 and s.scale_.dtype == np.float64
    np.testing.assert_array_equal(s.transform(np.array([2.0])), [0.5])


def test_one_dimensional_values_use_the_single_column() -> None:
    s = fit_scaler("minmax", np.array([1.0, 3.0, 5.0]))
    np.testing.assert_array_equal(s.transform(np.array([1.0, 5.0, 7.0])), [0.0, 1.0, 1.5])
    np.testing.assert_array_equal(s.inverse_transform(np.array([0.5])), [3.0])


def test_non_finite_training_rows_are_ignored() -> None:
    train = np.array([[1.0], [np.nan], [3.0], [np.inf]])
    s = fit_scaler("minmax", train)
    np.testing.assert_array_equal(s.shift_, [1.0])
    np.testing.assert_array_equal(s.scale_, [2.0])
    # a JSON null (gatecast writes NaN as null) is a missing value too, in a list of rows
    listed = fit_scaler("minmax", [1.0, None, 3.0])
    np.testing.assert_array_equal(listed.shift_, [1.0])
    np.testing.assert_array_equal(listed.transform([None, 2.0]), [np.nan, 0.5])
    np.testing.assert_array_equal(listed.inverse_transform([0.5, None]), [2.0, np.nan])


@pytest.mark.parametrize("kind", ["minmax", "standard"])
@pytest.mark.parametrize("value", [0.1, 0.7, 1e-3, 123.456, -5.0, 0.0])
def test_constant_training_column_raises_naming_it(kind: str, value: float) -> None:
    # 0.1 and 0.7 once slipped through `standard`: their float std is ~1e-17, not 0
    train = np.column_stack([np.linspace(0, 1, 9), np.full(9, value)])
    with pytest.raises(
        ConstantSeriesError,
        match=r"volume is constant over the training range .*use a longer training range",
    ):
        fit_scaler(kind, train, ["return", "volume"])
    with pytest.raises(ConstantSeriesError, match="column 1"):
        fit_scaler(kind, train)


@FAST
@given(value=finite, n=st.integers(1, 30), kind=st.sampled_from(["minmax", "standard"]))
def test_any_constant_column_raises(value: float, n: int, kind: str) -> None:
    with pytest.raises(ConstantSeriesError, match="column 0 is constant over the training range"):
        fit_scaler(kind, np.full(n, value))


def test_constant_only_in_train_still_raises_even_if_test_varies() -> None:
    values = np.array([5.0, 5.0, 5.0, 6.0, 7.0])
    with pytest.raises(ConstantSeriesError, match=r"constant over the training range \(5.0\)"):
        fit_scaler("minmax", values[:3])


def test_none_scaler_is_the_identity_even_on_a_constant_column() -> None:
    s = fit_scaler("none", np.full(4, 2.0))
    np.testing.assert_array_equal(s.transform(np.array([2.0, 3.0])), [2.0, 3.0])


@pytest.mark.parametrize("kind", KINDS)
def test_unfitted_use_raises_not_fitted(kind: str) -> None:
    s = make_scaler(kind)
    for use in (
        lambda: s.transform(np.ones(3)),
        lambda: s.inverse_transform(np.ones(3)),
        s.to_dict,
    ):
        with pytest.raises(NotFittedError, match=rf"{kind} scaler is not fitted; call fit"):
            use()


def test_unknown_kind_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="minmax, standard, none"):
        make_scaler("robust")


def test_fit_on_no_finite_rows_raises() -> None:
    with pytest.raises(ConfigError, match=r"^cannot fit a scaler on zero finite rows$"):
        fit_scaler("minmax", np.array([np.nan, np.inf]))
