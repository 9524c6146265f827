"""Rows dated too far ahead: a stream (and a StreamSet, both of its paths) refuses a row that
skips more than ``max_gap`` bars of its calendar, or is dated past the clock, naming it, with
the state unchanged; a row that skips fewer bars is taken and says which it skipped."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gatecast.data import ar1_prices
from gatecast.data.calendar import Calendar
from gatecast.errors import DataError, FutureDateError, ModelFileError
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import StreamSet

TINY = dict(hidden=3, layers=1, window=4, epochs=1, chunks=4, chunk_len=16, burn_in=4, seed=0)
# XNYS sessions of December 2024: the 2nd to the 6th, then the 9th ...
DAYS = ["2024-12-02", "2024-12-03", "2024-12-04", "2024-12-05", "2024-12-06", "2024-12-09"]


@pytest.fixture(scope="module")
def model() -> RecurrentForecaster:
    prices = ar1_prices(120, phi=0.6, sigma=0.01, seed=4)
    return RecurrentForecaster(mode="sequence", **TINY).fit(prices)


@pytest.fixture
def xnys(model: RecurrentForecaster):  # a stream on the sessions of the New York exchange
    s = model.stream("numpy")
    s.calendar = Calendar("XNYS")
    s.update(100.0, at=DAYS[0])
    s.update(101.0, at=DAYS[1])
    return s


def test_the_fit_records_the_data_calendar(model: RecurrentForecaster) -> None:
    # ar1_prices are business days from 2000-01-03, too short to learn a fixed holiday
    assert model._fitted().info["calendar"] == {"name": "data"}
    assert model.stream("numpy").calendar == Calendar("data")


def test_a_row_dated_2099_is_refused_even_in_a_replay_of_history(xnys) -> None:
    before = xnys.state("json")
    xnys.max_gap = None  # no calendar check: the clock alone refuses it
    with pytest.raises(
        FutureDateError, match=r"row 2099-01-02 is dated more than 2 days after now"
    ):
        xnys.update(102.0, at="2099-01-02")
    assert xnys.state("json") == before and xnys.last == pd.Timestamp(DAYS[1])
    xnys.update(102.0, at=DAYS[2])  # the next session goes on as if the typo never came
    assert xnys.ticks == 3


def test_a_row_past_the_allowed_gap_is_refused_naming_the_next_bar(xnys) -> None:
    before = xnys.state("json")
    # 2024-12-13 after the 3rd skips the 4th, 5th, 6th, 9th, 10th, 11th and 12th: seven sessions
    with pytest.raises(
        FutureDateError,
        match=r"row 2024-12-13 skips more than 5 bars of XNYS sessions after the last row "
        r"consumed \(2024-12-03; the next is 2024-12-04\)",
    ):
        xnys.update(102.0, at="2024-12-13")
    assert xnys.state("json") == before
    xnys.max_gap = 7
    xnys.update(102.0, at="2024-12-13")
    assert len(xnys.missed) == 7


def test_a_gap_within_the_allowance_is_taken_and_said(xnys) -> None:
    xnys.update(102.0, at="2024-12-06")
    assert xnys.missed == [pd.Timestamp("2024-12-04"), pd.Timestamp("2024-12-05")]
    xnys.update(103.0, at="2024-12-09")  # Friday to Monday on XNYS: nothing missing
    assert xnys.missed == []


def test_the_new_year_holiday_is_no_gap_on_xnys_but_one_in_the_data_calendar(model) -> None:
    for calendar, missed in [
        (Calendar("XNYS"), []),
        (Calendar("data"), [pd.Timestamp("2025-01-01")]),  # business days, no holiday known
    ]:
        s = model.stream("numpy")
        s.calendar = calendar
        s.update(100.0, at="2024-12-31")
        s.update(101.0, at="2025-01-02")
        assert s.missed == missed


def test_intraday_rows_skip_bars_of_the_session_not_of_the_day(model) -> None:
    s = model.stream("numpy")
    s.calendar = Calendar("XNYS", bar="5min")
    s.update(100.0, at="2024-12-24 12:50")  # an early close at 13:00
    s.update(100.5, at="2024-12-24 12:55")
    s.update(101.0, at="2024-12-26 09:40")  # 09:30 and 09:35 missing, not the afternoon
    assert s.missed == [pd.Timestamp("2024-12-26 09:30"), pd.Timestamp("2024-12-26 09:35")]
    with pytest.raises(FutureDateError, match=r"the next is 2024-12-26T09:45:00"):
        s.update(101.0, at="2024-12-26 10:30")


def test_sequence_numbers_may_skip_max_gap_numbers(model) -> None:
    s = model.stream("numpy")
    s.update(100.0, at=1)
    s.update(101.0, at=7)  # 2..6 missing: five
    assert s.missed == [2, 3, 4, 5, 6]
    with pytest.raises(FutureDateError, match=r"row #500 skips more than 5 sequence numbers"):
        s.update(102.0, at=500)


def test_a_model_without_a_calendar_checks_the_clock_only(model) -> None:
    s = model.stream("numpy")
    s.calendar = None  # as a folder written before calendars were recorded
    s.update(100.0, at="2020-01-02")
    s.update(101.0, at="2024-06-03")  # years later: nothing says which bar was next
    with pytest.raises(FutureDateError, match="after now"):
        s.update(102.0, at="2099-01-02")


def test_a_state_that_consumed_a_2099_row_is_refused_on_load(model, tmp_path) -> None:
    s = model.stream("numpy")
    s.max_ahead = s.max_gap = None  # as gatecast did before it checked dates
    s.update(100.0, at="2024-12-02")
    s.update(101.0, at="2099-01-02")
    path = s.save_state(tmp_path / "poisoned.json")
    fresh = model.stream("numpy")
    with pytest.raises(ModelFileError, match=r"last row was dated 2099-01-02, more than 2 days"):
        fresh.load_state(path)
    fresh.allow_replay = True  # the way on from it, on purpose
    fresh.load_state(path)
    assert fresh.last == pd.Timestamp("2099-01-02")


# -- a whole market: the general and the vectorised tick refuse and tell the same ------------


def _market(model, vector: bool) -> StreamSet:
    s = StreamSet(lambda: model.stream("numpy"))
    s.vector_min = 2 if vector else 10**9
    s.calendar = Calendar("XNYS")
    return s


@pytest.mark.parametrize("vector", [False, True], ids=["general", "vectorised"])
def test_a_market_refuses_a_row_dated_too_far_ahead_and_changes_nothing(model, vector) -> None:
    market = _market(model, vector)
    names = [f"I{k}" for k in range(20)]
    for t, day in enumerate(DAYS[:3]):
        market.update_many({k: 100.0 + t + j for j, k in enumerate(names)}, at=day)
    before = market.state("json")
    tick = {k: 104.0 + j for j, k in enumerate(names)}
    with pytest.raises(FutureDateError, match=r"instrument 'I0': row 2099-01-02 is dated"):
        market.update_many(tick, at="2099-01-02")
    with pytest.raises(FutureDateError, match=r"skips more than 5 bars"):
        market.update_many(tick, at="2024-12-31")
    assert market.state("json") == before
    # I1..I19 skipped the 5th; I0 traded on it alone
    market.update(names[0], 104.0, at="2024-12-05")
    out = market.update_many(tick, at="2024-12-06")
    assert len(out) == 20 and np.isfinite(list(out.values())).all()
    assert market.missed == {k: [pd.Timestamp("2024-12-05")] for k in names[1:]}
    market.update_many(tick, at="2024-12-09")
    assert market.missed == {}


def test_a_first_tick_whose_first_row_is_refused_names_it(model) -> None:
    # the error handling once removed instruments it had not added yet: a KeyError instead
    market = StreamSet(lambda: model.stream("numpy"))
    with pytest.raises(DataError, match=r"instrument 'A': the price is nan"):
        market.update_many({"A": float("nan"), "B": 100.0, "C": 101.0})
    assert len(market) == 0


def test_a_market_state_saves_its_last_dates(model, tmp_path) -> None:
    market = _market(model, vector=True)
    market.update_many({"A": 100.0, "B": 50.0}, at=DAYS[0])
    doc = json.loads(market.state("json"))
    assert [m["last"] for m in doc["streams"]] == [{"date": "2024-12-02T00:00:00"}] * 2
