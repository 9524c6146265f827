"""Sliding windows and the alignment of each window with its target and the target's date."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecast.data import TargetSpec, build_features, make_target, make_windows, random_walk
from gatecast.data.windows import Windows, sliding_windows
from gatecast.errors import ConfigError, MissingValueError, TooFewRowsError

FAST = settings(deadline=None, max_examples=60)


def loop_windows(values: np.ndarray, window: int) -> np.ndarray:
    """The obvious construction: one copied slice per start row."""
    return np.stack([values[k : k + window] for k in range(len(values) - window + 1)])


def create_sequences(data: np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The course notebook's Python loop, verbatim in spirit."""
    xs, ys = [], []
    for i in range(len(data) - seq_length):
        xs.append(data[i : i + seq_length])
        ys.append(data[i + seq_length])
    return np.array(xs), np.array(ys)


def positional_frame(T: int, F: int, lead: int) -> pd.DataFrame:
    """Features whose value encodes its own row (row + 1000 * column); the first ``lead`` rows NaN,
    as the first return is."""
    values = np.arange(T, dtype=float)[:, None] + 1000.0 * np.arange(F)[None, :]
    values[:lead] = np.nan
    idx = pd.bdate_range("2021-01-04", periods=T, name="date")
    return pd.DataFrame(values, index=idx, columns=[f"f{j}" for j in range(F)])


@FAST
@given(
    T=st.integers(1, 40), F=st.integers(1, 4), window=st.integers(1, 12), seed=st.integers(0, 2**16)
)
def test_sliding_windows_equals_python_loop_and_is_a_view(
    T: int, F: int, window: int, seed: int
) -> None:
    values = np.random.default_rng(seed).standard_normal((T, F))
    if window > T:
        with pytest.raises(TooFewRowsError, match=rf"{T} rows cannot fill one window of {window}"):
            sliding_windows(values, window)
        return
    out = sliding_windows(values, window)
    assert out.shape == (T - window + 1, window, F)
    np.testing.assert_array_equal(out, loop_windows(values, window))
    assert np.shares_memory(out, values)
    assert not out.flags.writeable


def test_sliding_windows_of_a_vector_has_one_feature() -> None:
    out = sliding_windows(np.arange(5.0), 3)
    np.testing.assert_array_equal(out[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])


def test_sliding_windows_rejects_window_below_one() -> None:
    with pytest.raises(ConfigError, match="window=0"):
        sliding_windows(np.arange(5.0), 0)


@FAST
@given(
    T=st.integers(2, 50),
    F=st.integers(1, 3),
    window=st.integers(1, 10),
    horizon=st.integers(1, 5),
    lead=st.integers(0, 3),
)
def test_make_windows_pairs_each_window_with_the_target_horizon_rows_later(
    T: int, F: int, window: int, horizon: int, lead: int
) -> None:
    lead = min(lead, T - 1)
    features = positional_frame(T, F, lead)
    target = pd.Series(np.arange(T, dtype=float) * 10.0 + 0.5, index=features.index)
    t_valid = T - lead
    if t_valid < window + horizon:
        with pytest.raises(TooFewRowsError, match=rf"need at least {window + horizon}"):
            make_windows(features, target, window, horizon)
        return
    w = make_windows(features, target, window, horizon)
    n = t_valid - window - horizon + 1
    assert len(w) == n
    assert w.X.shape == (n, window, F)
    body = features.to_numpy()[lead:]
    for k in range(n):
        np.testing.assert_array_equal(w.X[k], body[k : k + window])
        last = int(w.X[k, -1, 0])  # the row of the window's last feature values
        assert last == lead + k + window - 1
        assert w.y[k] == target.iloc[last + horizon]
        assert w.index[k] == features.index[last + horizon]
        # no look-ahead: the last input row is exactly `horizon` rows before the target's date
        assert features.index[last] < w.index[k]
        assert features.index.get_loc(w.index[k]) - last == horizon


def test_make_windows_does_not_copy_the_features() -> None:
    features = positional_frame(30, 2, 1)
    w = make_windows(features, None, 5, 2)
    assert np.shares_memory(w.X, features.to_numpy())
    assert not w.X.flags.writeable
    assert np.isnan(w.y).all() and len(w.y) == 30 - 1 - 5 - 2 + 1


def test_make_windows_windows_given_values_without_copying_them() -> None:
    features = positional_frame(20, 2, 1)
    scaled = (features.to_numpy() - 3.0) / 7.0
    w = make_windows(features, features["f0"], 4, 1, values=scaled)
    assert np.shares_memory(w.X, scaled)
    np.testing.assert_array_equal(w.X[0], scaled[1:5])
    assert w.y[0] == 5.0  # the target still comes from `target`, not from `values`


@pytest.mark.parametrize("L", [1, 5, 60])
def test_make_windows_matches_the_notebook_create_sequences(L: int) -> None:
    prices = random_walk(300)["close"]
    X_nb, y_nb = create_sequences(prices.to_numpy(), L)
    w = make_windows(prices.to_frame(), prices, L, 1)
    np.testing.assert_array_equal(w.X[:, :, 0], X_nb)
    np.testing.assert_array_equal(w.y, y_nb)
    assert w.index[0] == prices.index[L]


@pytest.mark.parametrize("horizon", [1, 3])
def test_return_windows_use_only_returns_up_to_t_minus_horizon(horizon: int) -> None:
    df = random_walk(60)
    prices = df["close"]
    features = build_features(df, ("return",))
    target = make_target(df, TargetSpec("return", horizon=horizon))
    w = make_windows(features, target, 4, horizon)
    log_p = np.log(prices.to_numpy())
    for k in range(len(w)):
        t = prices.index.get_loc(w.index[k])
        assert w.y[k] == pytest.approx(log_p[t] - log_p[t - horizon], rel=1e-12)
        # the window's last input is the return into t - horizon: P_{t-h} / P_{t-h-1}
        assert w.X[k, -1, 0] == pytest.approx(
            log_p[t - horizon] - log_p[t - horizon - 1], rel=1e-12
        )
    assert len(w) == 59 - 4 - horizon + 1


def test_make_windows_names_the_date_and_column_of_an_inner_nan() -> None:
    features = positional_frame(20, 2, 1)
    features.iloc[7, 1] = np.inf
    with pytest.raises(MissingValueError, match="f1") as err:
        make_windows(features, None, 3)
    msg = str(err.value)
    assert str(features.index[7].date()) in msg and "dropna" in msg


def test_make_windows_names_the_date_of_a_nan_target() -> None:
    features = positional_frame(20, 1, 0)
    target = pd.Series(np.arange(20.0), index=features.index)
    target.iloc[12] = np.nan
    with pytest.raises(MissingValueError, match=str(features.index[12].date())):
        make_windows(features, target, 3)


def test_make_windows_raises_when_no_row_is_finite() -> None:
    with pytest.raises(MissingValueError, match="no row has every feature finite"):
        make_windows(positional_frame(5, 1, 5), None, 2)


def test_too_few_rows_says_how_many_are_needed() -> None:
    features = positional_frame(10, 1, 1)  # 9 usable rows
    with pytest.raises(TooFewRowsError, match=r"9 usable rows .*need at least 10"):
        make_windows(features, None, 8, 2)
    assert len(make_windows(features, None, 7, 2)) == 1


def test_make_windows_rejects_horizon_below_one() -> None:
    with pytest.raises(ConfigError, match="horizon=0"):
        make_windows(positional_frame(10, 1, 0), None, 3, 0)


def test_select_keeps_matching_windows_aligned() -> None:
    features = positional_frame(12, 1, 0)
    w = make_windows(features, features["f0"], 3)
    mask = np.arange(len(w)) % 2 == 0
    s = w.select(mask)
    assert isinstance(s, Windows) and len(s) == mask.sum()
    np.testing.assert_array_equal(s.X[:, -1, 0] + 1, s.y)
    assert list(s.index) == list(w.index[mask])
