"""`gatecast stream` fed hostile rows and state files: exactly-once rows, row errors that leave the
stream as it was, refused states, a locked state file, header-less input, a closed pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import save as st_save

from gatecast.artifacts import locked
from gatecast.serve import load_numpy

from .corpus import accepted, invoke, prices_frame, refused

PRICES = prices_frame(40, seed=3)
DATES = list(PRICES["date"])
CLOSES = [round(float(p), 6) for p in PRICES["close"]]


def _csv(rows: list[tuple[str, float]], header: str | None = "date,close") -> str:
    lines = [header] if header else []
    return "\n".join(lines + [f"{d},{p}" for d, p in rows]) + "\n"


def _forecasts(stdout: str) -> dict[str, float | None]:
    out = {}
    for line in stdout.strip().splitlines()[1:]:
        date, value, *_ = line.split(",")  # then as_of, forecast_for
        out[date] = float(value) if value else None
    return out


@pytest.fixture(scope="module")
def clean(model_dir: Path) -> np.ndarray:
    """The forecasts of the clean rows, from the library."""
    return load_numpy(model_dir).stream().update_many(CLOSES)


def _stream(model_dir: Path, *options: Any, input: str | bytes) -> Any:
    return invoke(["stream", "--model", model_dir, *options], input=input)


# -- rows: each bad one is an error naming its line; the good ones are answered as if it were not


def _rows_with(bad: dict[int, str]) -> tuple[str, list[int]]:
    """Rows 0..9 of the clean series with some replaced by hostile lines; (input, good rows)."""
    lines = ["date,close"]
    good = []
    for i in range(10):
        if i in bad:
            lines.append(bad[i])
        else:
            lines.append(f"{DATES[i]},{CLOSES[i]}")
            good.append(i)
    return "\n".join(lines) + "\n", good


# name, hostile lines by position, phrase of the row error
ROW_FAULTS = [
    ("a repeated date", {4: f"{DATES[3]},{CLOSES[3]}"}, "repeats the last row consumed"),
    ("an earlier date", {4: f"{DATES[1]},{CLOSES[4]}"}, "comes before the last row consumed"),
    ("a price of 1e300", {4: f"{DATES[4]},1e300"}, "times the previous one"),
    ("a subnormal price", {4: f"{DATES[4]},1e-320"}, "too small to be a price"),
    ("a negative price", {4: f"{DATES[4]},-5"}, "is not positive"),
    ("a zero price", {4: f"{DATES[4]},0"}, "is not positive"),
    ("an impossible date", {4: f"2019-13-45,{CLOSES[4]}"}, "'2019-13-45' is not a date"),
    ("a date that is a word", {4: f"yesterday,{CLOSES[4]}"}, "'yesterday' is not a date"),
    ("a word for a price", {4: f"{DATES[4]},oops"}, "holds 'oops', not a number"),
    ("too many fields", {4: f"{DATES[4]},1,2"}, "3 fields, the header has 2"),
    ("NaN", {4: f"{DATES[4]},nan"}, "the price is nan"),
    ("infinity", {4: f"{DATES[4]},inf"}, "the price is inf"),
    ("a date in 2099", {4: f"2099-01-08,{CLOSES[4]}"}, "is dated more than 2 days after now"),
    (
        "a date weeks past the next bar",
        {4: f"2019-02-07,{CLOSES[4]}"},
        "skips more than 5 bars of the data's own trading days",
    ),
]


@pytest.mark.parametrize("bad, phrase", [c[1:] for c in ROW_FAULTS], ids=[c[0] for c in ROW_FAULTS])
def test_a_bad_row_is_a_row_error_and_the_stream_goes_on(model_dir, clean, bad, phrase) -> None:
    text, good = _rows_with(bad)
    result = _stream(model_dir, input=text)
    accepted(result)
    assert f"line {min(bad) + 2}" in result.stderr and phrase in result.stderr, result.stderr
    assert "1 malformed row(s) skipped" in result.stderr
    got = _forecasts(result.stdout)
    expected = load_numpy(model_dir).stream().update_many([CLOSES[i] for i in good])
    np.testing.assert_allclose(
        [np.nan if v is None else v for v in got.values()], expected, rtol=0, atol=0
    )
    assert list(got) == [DATES[i] for i in good]


def test_undecodable_bytes_cost_one_row(model_dir: Path, clean: np.ndarray) -> None:
    text, _ = _rows_with({})
    lines = text.encode().split(b"\n")
    lines[5] = lines[5][:-1] + b"\xff"  # line 6: one byte that is not UTF-8
    result = _stream(model_dir, input=b"\n".join(lines))
    accepted(result)
    assert "line 6: not UTF-8 text (byte 0xff" in result.stderr
    assert len(_forecasts(result.stdout)) == 9


def test_a_resumed_stream_refuses_the_rows_it_has_seen(model_dir, clean, tmp_path) -> None:
    state = tmp_path / "s.json"
    first = _stream(
        model_dir, "--state", state, input=_csv(list(zip(DATES[:10], CLOSES[:10], strict=True)))
    )
    accepted(first)
    before = state.read_bytes()
    again = _stream(
        model_dir, "--state", state, input=_csv(list(zip(DATES[5:10], CLOSES[5:10], strict=True)))
    )
    accepted(again)
    assert again.stdout.strip() == "date,forecast,as_of,forecast_for"  # nothing answered twice
    assert again.stderr.count("repeats the last row") + again.stderr.count("comes before") == 5
    assert json.loads(state.read_bytes())["last"] == json.loads(before)["last"]
    on = _stream(
        model_dir, "--state", state, input=_csv(list(zip(DATES[10:], CLOSES[10:], strict=True)))
    )
    got = list(_forecasts(on.stdout).values())
    np.testing.assert_allclose(got, clean[10:], rtol=0, atol=1e-12)


def test_allow_replay_takes_the_rows_again(model_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    rows = _csv(list(zip(DATES[:5], CLOSES[:5], strict=True)))
    accepted(_stream(model_dir, "--state", state, input=rows))
    result = _stream(model_dir, "--state", state, "--allow-replay", input=rows)
    accepted(result)
    assert len(_forecasts(result.stdout)) == 5 and not result.stderr


def test_sequence_numbers_order_a_dateless_stream(model_dir: Path) -> None:
    text = "seq,close\n1,100\n2,101\n2,102\n3,103\n"
    result = _stream(model_dir, input=text)
    accepted(result)
    assert "line 4 (2): row #2 repeats the last row consumed (#2)" in result.stderr
    assert list(_forecasts(result.stdout)) == ["1", "2", "3"]


def test_jsonl_rows_with_hostile_values(model_dir: Path) -> None:
    lines = [
        json.dumps({"date": DATES[0], "close": CLOSES[0]}),
        json.dumps({"date": DATES[1], "Close": CLOSES[1], "CLOSE": 5}),
        json.dumps({"date": DATES[2], "close": {"nested": 1}}),
        json.dumps({"date": DATES[3], "close": None}),
        json.dumps({"date": DATES[4], "close": True}),
        "[" * 100_000,
        json.dumps({"date": DATES[5], "close": CLOSES[5]}),
    ]
    result = _stream(model_dir, "--format", "jsonl", input="\n".join(lines) + "\n")
    accepted(result)
    for no, phrase in [
        (2, "mean the same column"),
        (3, "not a number"),
        (4, "'close'"),
        (5, "not a number"),
        (6, "not valid JSON"),
    ]:
        assert f"line {no}" in result.stderr and phrase in result.stderr, result.stderr
    answered = [json.loads(x)["date"] for x in result.stdout.splitlines()]
    assert answered == [DATES[0], DATES[5]]


# -- input without a header --------------------------------------------------------------------


def test_tail_f_rows_need_no_header(model_dir: Path, clean: np.ndarray) -> None:
    result = _stream(model_dir, input=_csv(list(zip(DATES, CLOSES, strict=True)), header=None))
    accepted(result)
    got = _forecasts(result.stdout)
    assert list(got) == DATES
    np.testing.assert_allclose([np.nan if v is None else v for v in got.values()], clean)


def test_columns_names_the_fields_of_headerless_rows(model_dir: Path, clean: np.ndarray) -> None:
    text = "".join(f"{d},{p * 1.01},{p}\n" for d, p in zip(DATES, CLOSES, strict=True))
    result = _stream(model_dir, "--columns", "date,high,close", input=text)
    accepted(result)
    got = list(_forecasts(result.stdout).values())
    np.testing.assert_allclose([np.nan if v is None else v for v in got], clean)


def test_headerless_rows_of_many_fields_need_columns(model_dir: Path) -> None:
    refused(_stream(model_dir, input=f"{DATES[0]},1,2,3\n"), "is data, not a header", "--columns")


@pytest.mark.parametrize(
    "options, phrase",
    [
        (["--columns", "date,Close,CLOSE"], "does not give each field a distinct name"),
        (["--columns", "date,close", "--format", "jsonl"], "--columns names CSV fields"),
        (["--format", "xml"], "--format 'xml' is unknown"),
        (["--engine", "gpu"], "engine"),
        (["--input", "/nonexistent/ticks.csv"], "cannot read --input"),
    ],
    ids=["colliding columns", "columns with jsonl", "unknown format", "unknown engine", "no input"],
)
def test_bad_stream_options_are_refused(model_dir: Path, options, phrase) -> None:
    refused(_stream(model_dir, *options, input="1\n"), phrase)


def test_a_colliding_header_is_refused(model_dir: Path) -> None:
    refused(_stream(model_dir, input="date,Close,CLOSE\n"), "does not give each field a distinct")


# -- the state file ----------------------------------------------------------------------------


def test_a_state_held_by_another_stream_is_refused(model_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    with locked(state):
        result = _stream(model_dir, "--state", state, input=_csv([(DATES[0], CLOSES[0])]))
    refused(result, f"stream state {state} is in use by another process")
    assert not state.exists()  # the refused stream wrote nothing
    accepted(_stream(model_dir, "--state", state, input=_csv([(DATES[0], CLOSES[0])])))


def test_a_state_path_that_is_a_folder_is_refused(model_dir: Path, tmp_path: Path) -> None:
    refused(_stream(model_dir, "--state", tmp_path, input="1\n"), "is a folder")


@pytest.fixture
def state_doc(model_dir: Path, tmp_path: Path) -> dict[str, Any]:
    state = tmp_path / "good.json"
    accepted(
        _stream(
            model_dir, "--state", state, input=_csv(list(zip(DATES[:8], CLOSES[:8], strict=True)))
        )
    )
    doc: dict[str, Any] = json.loads(state.read_text())
    return doc


def _json_edit(edit: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], bytes]:
    def apply(doc: dict[str, Any]) -> bytes:
        edit(doc)
        return json.dumps(doc).encode()

    return apply


def _array(name: str, value: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda d: d["arrays"][name].update(data=[value] * len(d["arrays"][name]["data"]))


# name, how to make the bytes of a .json state from a good one, phrase
STATE_FAULTS = [
    ("not JSON", lambda d: b"{oops", "is not a valid JSON stream state"),
    ("not UTF-8", lambda d: b'{"a": "\xff"}', "is not UTF-8 text"),
    ("a JSON list", lambda d: b"[1, 2, 3]", "is not a valid JSON stream state"),
    ("nested a million deep", lambda d: b"[" * 10**6 + b"]" * 10**6, "not a valid JSON stream"),
    ("no arrays", _json_edit(lambda d: d.pop("arrays")), "is not a valid JSON stream state"),
    ("another format", _json_edit(lambda d: d.update(format="x")), "is not a gatecast stream"),
    ("version 9", _json_edit(lambda d: d.update(version=9)), "is not a gatecast stream state"),
    (
        "another model",
        _json_edit(lambda d: d.update(fingerprint="0" * 64)),
        "was saved from another model",
    ),
    ("NaN hidden state", _json_edit(_array("h", None)), "holds NaN/inf in its recurrent state"),
    ("infinite cell state", _json_edit(_array("c", 1e400)), "holds NaN/inf in its recurrent"),
    ("a hidden state out of range", _json_edit(_array("h", 3.0)), "outside [-1, 1]"),
    ("a negative count", _json_edit(lambda d: d.update(ticks=-1)), "count -1 is negative"),
    ("a count as text", _json_edit(lambda d: d.update(ticks="many")), "'many' is not a count"),
    ("a fractional count", _json_edit(lambda d: d.update(valid=2.5)), "2.5 is not a count"),
    ("more valid than ticks", _json_edit(lambda d: d.update(valid=99)), "is impossible"),
    (
        "a last date that is not a date",
        _json_edit(lambda d: d.update(last={"date": "yesterday"})),
        "'yesterday' is not a date",
    ),
    ("a last of the wrong kind", _json_edit(lambda d: d.update(last=5)), "is malformed"),
    (
        "a negative price in the history",
        _json_edit(_array("history", -5.0)),
        "holds an observation no stream accepts",
    ),
    ("no hidden state", _json_edit(lambda d: d["arrays"].pop("h")), "is malformed"),
    (
        "the wrong shape",
        _json_edit(lambda d: d["arrays"]["h"].update(shape=[1, 1], data=[0.0])),
        "state arrays have the wrong shapes",
    ),
    (
        "a shape that does not fit its data",
        _json_edit(lambda d: d["arrays"]["h"].update(shape=[10**9])),
        "is not a valid JSON stream state",
    ),
]


@pytest.mark.parametrize(
    "make, phrase", [c[1:] for c in STATE_FAULTS], ids=[c[0] for c in STATE_FAULTS]
)
def test_a_hostile_state_file_is_refused(model_dir, state_doc, tmp_path, make, phrase) -> None:
    state = tmp_path / "bad.json"
    state.write_bytes(make(state_doc))
    before = state.read_bytes()
    result = _stream(model_dir, "--state", state, input=_csv([(DATES[20], CLOSES[20])]))
    refused(result, phrase)
    assert state.read_bytes() == before  # a refused state is never overwritten


@pytest.mark.parametrize(
    "payload, phrase",
    [
        (b"\x00" * 40, "is not a readable safetensors stream state"),
        (st_save({"h": np.zeros(1)}, metadata={"gatecast": "5"}), "holds no stream state meta"),
        (st_save({"h": np.zeros(1)}, metadata={"gatecast": "{"}), "not a readable safetensors"),
    ],
    ids=["garbage bytes", "metadata not an object", "metadata not JSON"],
)
def test_a_hostile_safetensors_state_is_refused(model_dir, tmp_path, payload, phrase) -> None:
    state = tmp_path / "s.safetensors"
    state.write_bytes(payload)
    refused(_stream(model_dir, "--state", state, input="1\n"), phrase)


# -- the output pipe ----------------------------------------------------------------------------


def test_a_closed_pipe_ends_the_stream_quietly(model_dir: Path, tmp_path: Path) -> None:
    state = tmp_path / "s.json"
    rows = _csv(list(zip(DATES, CLOSES, strict=True)))
    cmd = [sys.executable, "-m", "gatecast", "stream", "--model", str(model_dir)]
    cmd += ["--state", str(state)]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()  # the header: the stream runs; now the reader goes away (`| head -1`)
    proc.stdout.close()
    try:
        proc.stdin.write(rows.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass  # it may have finished already
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err.decode()
    assert b"Traceback" not in err and b"Broken pipe" not in err, err.decode()
    assert json.loads(state.read_text())["last"] is not None  # the state was still saved
