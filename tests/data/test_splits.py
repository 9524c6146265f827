"""Chronological splits: disjoint, ordered, exact gaps, nothing lost, clear errors."""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatecast.data import Split, chronological_split
from gatecast.errors import ConfigError, TooFewRowsError

FAST = settings(deadline=None, max_examples=150)


def expected_sizes(n_pre: int, val_size: float, gap: int) -> tuple[int, int]:
    """(train, val) rows from the spec: val is val_size of the rows before test less one gap, and a
    second gap separates train from val when there is a val part."""
    n_val = round((n_pre - gap) * val_size)
    return n_pre - gap - n_val - (gap if n_val else 0), n_val


def check_layout(index: pd.Index, split: Split, gap: int) -> None:
    """[train][gap][val][gap][test] covering every row, the gaps only where both neighbours exist."""
    pos = {v: i for i, v in enumerate(index)}
    tr = [pos[v] for v in split.train]
    va = [pos[v] for v in split.val]
    te = [pos[v] for v in split.test]
    for part in (tr, va, te):
        assert all(b - a == 1 for a, b in itertools.pairwise(part))  # contiguous
    assert not (set(tr) & set(va) or set(tr) & set(te) or set(va) & set(te))
    assert tr and te and tr[0] == 0 and te[-1] == len(index) - 1
    if va:
        assert max(tr) < min(va) < min(te)
        assert va[0] - tr[-1] - 1 == gap
        assert te[0] - va[-1] - 1 == gap
    else:
        assert max(tr) < min(te)
        assert te[0] - tr[-1] - 1 == gap
    n_gaps = 2 if va else 1
    assert len(tr) + len(va) + len(te) + n_gaps * gap == len(index)


@FAST
@given(
    n=st.integers(2, 300),
    test_size=st.floats(0.01, 0.99),
    val_size=st.floats(0.0, 0.95),
    gap=st.integers(0, 10),
    dates=st.booleans(),
)
def test_fraction_split_layout(
    n: int, test_size: float, val_size: float, gap: int, dates: bool
) -> None:
    index = pd.bdate_range("2010-01-04", periods=n) if dates else pd.RangeIndex(n)
    try:
        split = chronological_split(index, test_size=test_size, val_size=val_size, gap=gap)
    except TooFewRowsError as err:
        n_train, _ = expected_sizes(n - max(1, round(n * test_size)), val_size, gap)
        assert n_train < 1  # raised only when test, gaps and val truly leave no training row
        assert "training rows remain (need 1)" in str(err) and "use more data" in str(err)
        return
    check_layout(index, split, gap)
    assert len(split.test) == max(1, round(n * test_size))
    assert abs(len(split.test) - n * test_size) <= max(0.5, 1 - n * test_size) + 1e-9
    n_pre = n - len(split.test)
    assert abs(len(split.val) - val_size * (n_pre - gap)) <= 0.5 + 1e-9
    assert (len(split.train), len(split.val)) == expected_sizes(n_pre, val_size, gap)


@FAST
@given(
    n=st.integers(3, 200),
    offset_days=st.integers(1, 400),
    val_size=st.floats(0.0, 0.5),
    gap=st.integers(0, 5),
)
def test_test_start_begins_the_test_part_at_the_first_date_on_or_after_it(
    n: int, offset_days: int, val_size: float, gap: int
) -> None:
    index = pd.bdate_range("2015-01-05", periods=n)
    test_start = index[0] + pd.Timedelta(days=offset_days)  # may be a weekend, not in the index
    first = int(index.searchsorted(test_start))
    if first >= n:
        with pytest.raises(ConfigError, match="after the last date"):
            chronological_split(index, test_start=test_start)
        return
    try:
        split = chronological_split(index, test_start=test_start, val_size=val_size, gap=gap)
    except TooFewRowsError:
        assert expected_sizes(first, val_size, gap)[0] < 1
        return
    check_layout(index, split, gap)
    assert split.test[0] == index[index >= test_start][0]
    assert split.test[0] >= test_start and (split.val.append(split.train) < test_start).all()


def test_test_start_ignores_test_size() -> None:
    index = pd.bdate_range("2020-01-01", periods=100)
    split = chronological_split(index, test_start=index[90], test_size=0.5)
    assert len(split.test) == 10


def test_default_test_size_is_a_fifth() -> None:
    split = chronological_split(pd.RangeIndex(100))
    assert (len(split.train), len(split.val), len(split.test)) == (80, 0, 20)


def test_known_layout_with_val_and_gap() -> None:
    split = chronological_split(pd.RangeIndex(100), test_size=0.2, val_size=0.25, gap=2)
    # n_pre = 80, usable = 78, val = round(19.5) = 20, train = 78 - 20 - 2 = 56
    assert list(split.train) == list(range(56))
    assert list(split.val) == list(range(58, 78))
    assert list(split.test) == list(range(80, 100))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"gap": -1}, "gap=-1: must be >= 0"),
        ({"val_size": 1.0}, r"val_size=1.0: must be in \[0, 1\)"),
        ({"val_size": -0.1}, "val_size=-0.1"),
        ({"test_size": 0.0}, r"test_size=0.0: must be a fraction in \(0, 1\)"),
        ({"test_size": 1.0}, "test_size=1.0"),
        ({"test_size": 20}, "test_size=20"),
    ],
)
def test_bad_parameters_raise_config_error(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        chronological_split(pd.RangeIndex(50), **kwargs)


def test_test_start_outside_the_dates_raises_naming_them() -> None:
    index = pd.bdate_range("2020-01-06", periods=10)  # to 2020-01-17
    with pytest.raises(ConfigError, match="2021-01-01 is after the last date 2020-01-17"):
        chronological_split(index, test_start="2021-01-01")
    with pytest.raises(ConfigError, match="2020-01-06 is on or before the first date 2020-01-06"):
        chronological_split(index, test_start="2020-01-06")


def test_test_start_needs_dates() -> None:
    with pytest.raises(ConfigError, match=r"test_start needs dates.*use test_size"):
        chronological_split(pd.RangeIndex(10), test_start="2020-01-01")


def test_too_few_training_rows_says_how_many_remain() -> None:
    with pytest.raises(
        TooFewRowsError, match=r"only 3 training rows remain \(need 5\) from 10 rows"
    ):
        chronological_split(pd.RangeIndex(10), test_size=0.3, gap=4, min_train=5)
    with pytest.raises(TooFewRowsError, match="only 0 training rows remain"):
        chronological_split(pd.RangeIndex(4), test_size=0.5, gap=3)
