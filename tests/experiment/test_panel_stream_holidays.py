"""A stream of a global model that reads another instrument (``instrument:A``) with an exchange
calendar (recorded by `train --calendar XNYS`, or set on the stream): a row of B on a day that
is not an XNYS session (a holiday of A) reads A's row of the session before, as the join does,
instead of waiting for a row of A that will never come; on a session, B's row still waits for
A's row of that day."""

from __future__ import annotations

import functools
from pathlib import Path

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.data.calendar import Calendar, last_session
from gatecast.errors import DataError
from gatecast.experiment.panel_covariates import join_panel_covariates
from gatecast.experiment.panel_serving import open_panel_stream

HOLIDAY = pd.Timestamp("2015-07-03")  # Independence Day observed: no XNYS session
EVE, AFTER = pd.Timestamp("2015-07-02"), pd.Timestamp("2015-07-06")
COVS = ("a_return", "a_log_parkinson")


@functools.cache
def _frames() -> dict[str, pd.DataFrame]:
    """A on XNYS sessions; B on the same sessions and on 2015-07-03 (it trades elsewhere)."""
    sessions = pd.DatetimeIndex(
        xc.get_calendar("XNYS").sessions_in_range("2014-06-02", "2015-07-10")
    )
    rng = np.random.default_rng(0)
    frames = {}
    for name, vol in (("A", 1.0), ("B", 2.0)):
        own = sessions.union([HOLIDAY]) if name == "B" else sessions
        r = vol * 0.01 * rng.standard_normal(len(own))
        up, down = np.exp(vol * 0.01 * np.abs(rng.standard_normal((2, len(own)))))
        close = 100 * np.exp(r.cumsum())
        frames[name] = pd.DataFrame(
            {"open": close, "high": close * up, "low": close / down, "close": close},
            index=own.rename("date"),
        )
    return frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("holidays") / "model"
    gc.train(_frames(), target="variance", covariates=("instrument:A",), calendar="XNYS",
             hidden=4, epochs=1, device="cpu", quiet=True, test_start="2015-06-01", out=out)  # fmt: skip
    return out


def test_last_session_is_exchange_calendars_session_on_or_before() -> None:
    xnys = xc.get_calendar("XNYS")
    for day in ("2015-07-02", "2015-07-03", "2015-07-04", "2015-07-05", "2015-07-06"):
        want = xnys.date_to_session(day, direction="previous")
        assert last_session(Calendar("XNYS"), pd.Timestamp(day)) == want
    assert last_session(None, HOLIDAY) == HOLIDAY  # no calendar: every day may hold a row
    assert last_session(Calendar("data"), HOLIDAY) == HOLIDAY


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_holiday_of_a_reads_as_last_session_as_the_join_does(folder: Path, engine: str) -> None:
    frames = _frames()
    days = sorted(set(frames["A"].index) | set(frames["B"].index))
    days = [d for d in days if d <= HOLIDAY]
    streams = open_panel_stream(folder, engine=engine)
    assert streams.calendar is not None and streams.calendar.name == "XNYS"  # the model's
    carried = open_panel_stream(folder, engine=engine)  # rows carrying the join's columns
    joined = join_panel_covariates(
        {n: df.loc[:HOLIDAY] for n, df in frames.items()}, ["instrument:A"]
    )
    for day in days:
        rows = {n: df.loc[day].to_dict() for n, df in frames.items() if day in df.index}
        got = streams.update_many(rows, at=day)  # on the holiday: B alone, A sends nothing
        want = carried.update_many(
            {n: df.loc[day].to_dict() for n, df in joined.items() if day in df.index}, at=day
        )
        for n in got:  # a row the join leaves out (before A's first return) is not carried
            expected = want.get(n, np.nan)
            assert got[n] == pytest.approx(expected, rel=1e-9, nan_ok=True), (n, day)
    assert list(got) == ["B"] and np.isfinite(got["B"])  # B's row of the holiday: answered
    # predict on the data to the holiday: B's last row reads A's row of the eve
    fc = gc.predict(folder, {n: df.loc[:HOLIDAY] for n, df in frames.items()}, engine=engine)
    b = fc.set_index("instrument").loc["B"]
    assert b.as_of == HOLIDAY and b.date == AFTER
    assert got["B"] == pytest.approx(b.forecast, rel=1e-5)


def test_a_row_of_a_session_still_waits_for_a_and_so_does_a_holiday_after_a_missing_eve(
    folder: Path,
) -> None:
    frames = _frames()
    streams = open_panel_stream(folder)
    for day in frames["A"].index[frames["A"].index < EVE]:
        streams.update_many({n: df.loc[day].to_dict() for n, df in frames.items()}, at=day)
    # the holiday's row of B, A's row of the eve not sent yet: it is due, so B waits
    with pytest.raises(
        DataError, match=r"A's row of 2015-07-02 \(2015-07-03 is not a XNYS session"
    ):
        streams.update("B", frames["B"].loc[HOLIDAY].to_dict(), at=HOLIDAY)
    streams.update_many({n: df.loc[EVE].to_dict() for n, df in frames.items()}, at=EVE)
    assert np.isfinite(streams.update("B", frames["B"].loc[HOLIDAY].to_dict(), at=HOLIDAY))
    # a session: B's row before A's row of that day is refused, as without a calendar
    with pytest.raises(DataError, match="A's row of 2015-07-06 has not come"):
        streams.update("B", frames["B"].loc[AFTER].to_dict(), at=AFTER)
    # without the calendar the stream cannot tell the holiday from a row not sent yet
    plain = open_panel_stream(folder)
    plain.calendar = None
    for day in frames["A"].index[frames["A"].index <= EVE]:
        plain.update_many({n: df.loc[day].to_dict() for n, df in frames.items()}, at=day)
    with pytest.raises(DataError, match="on a day A does not trade, give the row's a_return"):
        plain.update("B", frames["B"].loc[HOLIDAY].to_dict(), at=HOLIDAY)
