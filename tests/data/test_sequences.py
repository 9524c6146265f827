"""Whole sequences for stateful training: row/target pairs, lanes, padding and masks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecast.data import make_windows
from gatecast.data.sequences import length_mask, pad_sequences, sequence_pairs, split_lanes
from gatecast.errors import ConfigError, MissingValueError, TooFewRowsError

FAST = settings(deadline=None, max_examples=60)


@FAST
@given(T=st.integers(3, 40), F=st.integers(1, 3), horizon=st.integers(1, 4), lead=st.integers(0, 2))
def test_sequence_pairs_are_windows_of_one_row(T: int, F: int, horizon: int, lead: int) -> None:
    values = np.arange(T * F, dtype=float).reshape(T, F)
    values[:lead] = np.nan
    idx = pd.bdate_range("2020-01-01", periods=T)
    features = pd.DataFrame(values, index=idx)
    target = pd.Series(np.arange(T, dtype=float) + 0.5, index=idx)
    if T - lead < 1 + horizon:
        with pytest.raises(TooFewRowsError, match=rf"need at least {1 + horizon}"):
            sequence_pairs(features, target, horizon)
        return
    pairs = sequence_pairs(features, target, horizon)
    win = make_windows(features, target, 1, horizon)
    assert len(pairs) == T - lead - horizon
    np.testing.assert_array_equal(pairs.X, win.X[:, 0, :])
    assert pairs.X.flags.c_contiguous
    for k in range(len(pairs)):
        row = lead + k
        np.testing.assert_array_equal(pairs.X[k], values[row])
        assert pairs.y[k] == target.iloc[row + horizon]
        assert pairs.index[k] == idx[row + horizon]


def test_sequence_pairs_name_an_inner_nan() -> None:
    idx = pd.bdate_range("2020-01-01", periods=6)
    features = pd.DataFrame({"r": [np.nan, 1.0, 2.0, np.nan, 4.0, 5.0]}, index=idx)
    with pytest.raises(MissingValueError, match=str(idx[3])):
        sequence_pairs(features, None)


@FAST
@given(n=st.integers(0, 200), lanes=st.integers(1, 30))
def test_split_lanes_cover_the_range_in_at_most_lanes_pieces(n: int, lanes: int) -> None:
    pieces = split_lanes(n, lanes)
    if n == 0:
        assert pieces == []
        return
    assert pieces[0][0] == 0 and pieces[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert 1 <= len(pieces) <= lanes
    sizes = [b - a for a, b in pieces]
    size = math.ceil(n / min(lanes, n))
    assert all(s == size for s in sizes[:-1]) and 1 <= sizes[-1] <= size


def test_split_lanes_rejects_zero_lanes() -> None:
    with pytest.raises(ConfigError, match="must be >= 1"):
        split_lanes(10, 0)


def test_pad_sequences_and_mask() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = np.array([[7.0, 8.0]])
    x, lengths = pad_sequences([a, b], value=-1.0)
    assert x.shape == (2, 3, 2) and lengths.dtype == np.int64 and lengths.tolist() == [3, 1]
    np.testing.assert_array_equal(x[0], a)
    np.testing.assert_array_equal(x[1], [[7.0, 8.0], [-1.0, -1.0], [-1.0, -1.0]])
    np.testing.assert_array_equal(
        length_mask(lengths, 3), [[True, True, True], [True, False, False]]
    )


@pytest.mark.parametrize(
    ("seqs", "match"),
    [
        ([], "at least one sequence"),
        ([np.ones((2, 1)), np.ones((0, 1))], r"at least one step; lengths are \[2, 0\]"),
        ([np.ones((2, 1)), np.ones((2, 3))], "differ beyond their length"),
    ],
)
def test_pad_sequences_rejects_bad_input(seqs: list[np.ndarray], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        pad_sequences(seqs)
