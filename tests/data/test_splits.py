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
        ({"test_size": 0.0}, r"test_size=0.0: must be .* > 0; give a fraction in \(0, 1\) or a"),
        ({"test_size": float("inf")}, r"test_size=inf: must be a finite number > 0"),
        ({"test_size": float("nan")}, r"test_size=nan: must be a finite number > 0"),
        ({"test_size": 1.5}, "test_size=1.5: a count must be a whole number"),
        ({"test_size": 50}, "test_size=50: a count must be .* below the 50 rows"),
    ],
)
def test_bad_parameters_raise_config_error(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        chronological_split(pd.RangeIndex(50), **kwargs)


def test_an_integer_test_size_is_a_count_of_rows() -> None:
    assert list(chronological_split(pd.RangeIndex(50), test_size=1).test) == [49]
    split = chronological_split(pd.RangeIndex(50), test_size=20)
    assert list(split.test) == list(range(30, 50)) and list(split.train) == list(range(30))
    frac = chronological_split(pd.RangeIndex(50), test_size=0.2)
    assert len(frac.test) == 10


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


def test_one_training_row_is_enough_by_default_and_test_start_is_named_in_errors() -> None:
    split = chronological_split(pd.RangeIndex(5), test_size=0.8)
    assert list(split.train) == [0] and list(split.test) == [1, 2, 3, 4]
    index = pd.bdate_range("2020-01-06", periods=10)
    with pytest.raises(ConfigError, match=r"^test_start 'soon' is not a date; use YYYY-MM-DD"):
        chronological_split(index, test_start="soon")
    with pytest.raises(
        ConfigError, match=r"^test_start needs dates; this data has no dates, use test_size$"
    ):
        chronological_split(pd.RangeIndex(10), test_start="2020-01-01")
    # a test_start between two dates starts the test part at the next date
    split = chronological_split(index, test_start="2020-01-11")  # a Saturday
    assert split.test[0] == pd.Timestamp("2020-01-13")


def test_date_mask_and_clip_dates_keep_both_ends() -> None:
    from gatecast.data.splits import clip_dates, date_mask

    index = pd.bdate_range("2020-01-06", periods=10)  # to 2020-01-17
    s = pd.Series(range(10), index=index, dtype=float)
    assert date_mask(index).all() and len(date_mask(index)) == 10
    assert date_mask(index, "2020-01-08").tolist() == [False] * 2 + [True] * 8
    assert date_mask(index, end="2020-01-08").tolist() == [True] * 3 + [False] * 7
    assert date_mask(index, pd.Timestamp("2020-01-08"), "2020-01-09").sum() == 2
    assert clip_dates(s) is s
    assert clip_dates(s, "2020-01-10", "2020-01-14").index.tolist() == list(index[4:7])
    assert clip_dates(s, end="2020-01-07").tolist() == [0.0, 1.0]
    with pytest.raises(ConfigError, match=r"^start/end 'tomorrow' is not a date"):
        clip_dates(s, "tomorrow")
    with pytest.raises(ConfigError, match=r"^start/end '2020-13-45' is not a date; use YYYY"):
        date_mask(index, end="2020-13-45")  # the end is parsed as strictly as the start
    # an index of positions is compared as it is
    pos = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.RangeIndex(10, 14))
    assert clip_dates(pos, 11, 12).tolist() == [2.0, 3.0]
    assert date_mask(pos.index, end=11).tolist() == [True, True, False, False]
