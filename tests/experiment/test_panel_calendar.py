"""A global model's trading calendar: `gatecast train --panel --calendar XNYS` checks every
instrument's rows against the exchange's sessions and records the calendar in the folder (under
its checksum); predict (both engines) and stream date the next bar by the exchange's next
session, which after a holiday eve is the session after the holiday (exchange_calendars' own
``next_session``, the closed form)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import exchange_calendars as xc
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import ModelFileError
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.serve import load_global_numpy

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
#: Thursday 2015-07-02, the eve of the NYSE's Independence Day holiday (observed on Friday).
EVE = pd.Timestamp("2015-07-02")


@functools.cache
def _xnys() -> xc.ExchangeCalendar:
    return xc.get_calendar("XNYS")


def _long(days: pd.DatetimeIndex, names: tuple[str, ...] = ("AAA", "BBB")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for k, name in enumerate(names):
        close = 100 * np.exp(np.cumsum((0.01 + 0.01 * k) * rng.standard_normal(len(days))))
        parts.append(
            pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "ticker": name, "close": close})
        )
    return pd.concat(parts, ignore_index=True)


@functools.cache
def _sessions() -> pd.DatetimeIndex:
    return pd.DatetimeIndex(_xnys().sessions_in_range("2014-06-02", EVE))


def _train(tmp: Path, frame: pd.DataFrame, *extra: str) -> tuple[Path, Path, object]:
    tmp.mkdir(exist_ok=True)
    csv, out = tmp / "long.csv", tmp / "model"
    frame.to_csv(csv, index=False)
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(csv),
            "--panel",
            "--target",
            "variance",
            "--out",
            str(out),
            *TINY,
            *extra,
        ],
    )
    return out, csv, res


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out, csv, res = _train(tmp_path_factory.mktemp("cal"), _long(_sessions()), "--calendar", "XNYS")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    return out, csv


def test_the_folder_records_the_calendar_under_its_checksum(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out, _ = trained
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["calendar"] == {"name": "XNYS"}
    model = GlobalRecurrentVariance.load(out)
    assert model.calendar_ == {"name": "XNYS"}
    assert model.for_instrument("AAA")._fitted().calendar.name == "XNYS"
    assert load_global_numpy(out).for_instrument("BBB").spec.calendar.name == "XNYS"
    # saved again, it keeps it
    model.save(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "manifest.json").read_text())["calendar"] == {
        "name": "XNYS"
    }
    # an edited calendar is refused as any edit of the manifest
    manifest["calendar"] = {"name": "XLON"}
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "manifest.json").write_text(json.dumps(manifest))
    (edited / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="checksum"):
        GlobalRecurrentVariance.load(edited)
    with pytest.raises(ModelFileError, match="checksum"):
        load_global_numpy(edited)


@pytest.mark.parametrize("engine", ["torch", "numpy"])
def test_predict_dates_the_forecast_by_the_exchanges_next_session(trained, engine: str) -> None:  # type: ignore[no-untyped-def]
    out, csv = trained
    fc = gc.predict(out, str(csv), engine=engine)
    after = _xnys().next_session(EVE)  # the closed form: Monday 2015-07-06, not the holiday
    assert after == pd.Timestamp("2015-07-06")
    assert (fc.as_of == EVE).all() and (fc.date == after).all()
    # a --calendar at predict overrides the recorded one, as for one series
    own = gc.predict(out, str(csv), engine=engine, calendar="data")
    assert (own.date == pd.Timestamp("2015-07-03")).all()  # the data's weekdays know no holiday
    np.testing.assert_allclose(own.forecast, fc.forecast, rtol=0, atol=0)


def test_without_a_calendar_the_forecast_is_for_the_next_weekday(tmp_path: Path) -> None:
    out, csv, res = _train(tmp_path, _long(_sessions()))
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert "calendar" not in json.loads((out / "manifest.json").read_text())
    assert (gc.predict(out, str(csv)).date == pd.Timestamp("2015-07-03")).all()


def test_the_stream_dates_the_next_bar_by_the_recorded_calendar(trained) -> None:  # type: ignore[no-untyped-def]
    out, csv = trained
    rows = pd.read_csv(csv)
    text = rows[rows.date >= "2015-06-25"].sort_values(["date", "ticker"]).to_csv(index=False)
    res = runner.invoke(app, ["stream", "--model", str(out), "--max-ahead", "99999D"], input=text)
    assert res.exit_code == 0, res.output
    assert "records no calendar" not in res.output
    lines = [ln.split(",") for ln in res.stdout.splitlines() if ln.startswith(("instr", "AAA"))]
    got = pd.DataFrame(lines[1:], columns=lines[0]).set_index("date").forecast_for
    assert got["2015-07-02"] == "2015-07-06" and got["2015-06-26"] == "2015-06-29"


def test_a_panel_off_the_calendar_and_the_datas_own_are_refused(tmp_path: Path) -> None:
    # BBB's rows fall on weekends: none is an XNYS session
    days = pd.date_range("2014-06-02", EVE, freq="D")
    frame = pd.concat(
        [_long(_sessions(), ("AAA",)), _long(days[days.day_of_week >= 5], ("BBB",))],
        ignore_index=True,
    )
    out, _, res = _train(tmp_path, frame, "--calendar", "XNYS")
    assert res.exit_code == 2  # type: ignore[attr-defined]
    text = " ".join(res.output.split())  # type: ignore[attr-defined]
    assert "instrument 'BBB'" in text and "does not follow XNYS" in text
    assert not out.exists()
    _, _, res = _train(tmp_path / "b", _long(_sessions()), "--calendar", "data")
    assert res.exit_code == 2 and "--calendar data does not apply to a panel" in " ".join(  # type: ignore[attr-defined]
        res.output.split()  # type: ignore[attr-defined]
    )
    _, _, res = _train(tmp_path / "c", _long(_sessions()), "--calendar", "XNYSE")
    assert res.exit_code == 2 and "'XNYSE' is unknown" in res.output  # type: ignore[attr-defined]
