"""`gatecast stream`: one flushed forecast per row, errors name the line, state resumes; rows
dated too far ahead refused, checkpoints that survive a kill -9, a held state named at once."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import ar1_prices
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import load_numpy

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    df = ar1_prices(200, phi=0.8, sigma=0.01, seed=2)
    m = RecurrentForecaster(
        hidden=6, layers=1, epochs=1, chunks=4, chunk_len=16, burn_in=4, mode="sequence", seed=0
    ).fit(df)
    torch.set_num_threads(before)
    folder = tmp_path_factory.mktemp("model") / "m"
    m.save(folder)
    return folder


@pytest.fixture(scope="module")
def closes():
    return ar1_prices(40, phi=0.8, sigma=0.01, seed=3)["close"].round(6).tolist()


def _expected(model_dir, closes):
    return load_numpy(model_dir).stream().update_many(closes)


def _values(lines):
    return np.array([float(v) if v else np.nan for v in lines])


def test_csv_rows_give_one_forecast_each_and_bad_rows_are_reported(model_dir, closes):
    rows = ["Date,Close"] + [f"2020-01-{k + 1:02d},{p}" for k, p in enumerate(closes[:10])]
    rows.insert(5, "2020-01-99,oops")  # line 6 of the input (the header is line 1)
    rows.insert(8, "1,2,3")  # line 9
    result = runner.invoke(app, ["stream", "--model", str(model_dir)], input="\n".join(rows) + "\n")
    assert result.exit_code == 0, result.output
    out = result.stdout.strip().splitlines()
    assert out[0] == "date,forecast,as_of,forecast_for" and len(out) == 11
    # no return before the second price; the forecast made at Friday 3rd is for Monday 6th
    assert out[1] == "2020-01-01,,2020-01-01,2020-01-02"
    assert out[3].startswith("2020-01-03,") and out[3].endswith(",2020-01-03,2020-01-06")
    got = _values([line.split(",")[1] for line in out[1:]])
    np.testing.assert_allclose(got, _expected(model_dir, closes[:10]), rtol=0, atol=0)
    assert "line 6 (2020-01-99): column 'close' holds 'oops', not a number" in result.stderr
    assert "line 9: 3 fields, the header has 2" in result.stderr
    assert "2 malformed row(s) skipped" in result.stderr


def test_jsonl_and_bare_numbers(model_dir, closes):
    lines = [
        json.dumps({"date": "2020-01-02", "Close": closes[0]}),
        *map(str, closes[1:6]),
        "{broken",
    ]
    result = runner.invoke(
        app,
        ["stream", "--model", str(model_dir), "--format", "jsonl"],
        input="\n".join(lines) + "\n",
    )
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert docs[0] == {
        "date": "2020-01-02",
        "forecast": None,
        "as_of": "2020-01-02",
        "forecast_for": "2020-01-03",
    }
    assert docs[1]["date"] == 2 and docs[1]["as_of"] is None  # a bare number has no date
    got = _values([d["forecast"] for d in docs])
    np.testing.assert_allclose(got, _expected(model_dir, closes[:6]), rtol=0, atol=0)
    assert "line 7: not valid JSON" in result.stderr


def test_state_file_resumes_across_runs(model_dir, closes, tmp_path):
    state = tmp_path / "spx.json"
    first = runner.invoke(
        app,
        ["stream", "--model", str(model_dir), "--state", str(state)],
        input="\n".join(map(str, closes[:20])) + "\n",
    )
    second = runner.invoke(
        app,
        ["stream", "--model", str(model_dir), "--state", str(state), "--engine", "torch"],
        input="\n".join(map(str, closes[20:])) + "\n",
    )
    assert first.exit_code == 0 and second.exit_code == 0, second.output
    got = _values([line.split(",")[1] for line in second.stdout.strip().splitlines()[1:]])
    np.testing.assert_allclose(got, _expected(model_dir, closes)[20:], rtol=0, atol=1e-6)


def test_missing_model_is_one_clear_error(tmp_path):
    result = runner.invoke(app, ["stream", "--model", str(tmp_path / "nope")], input="1\n")
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_subprocess_answers_each_row_as_it_arrives(model_dir, closes):
    # write a row, read its forecast back before writing the next: proves line-by-line flushing
    env = os.environ | {"PYTHONUNBUFFERED": "0"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gatecast",
            "stream",
            "--model",
            str(model_dir),
            "--format",
            "jsonl",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    got = []
    try:
        for k, p in enumerate(closes[:8]):
            proc.stdin.write(f"{p}\n" if k != 4 else "garbage\n")
            proc.stdin.flush()
            if k == 4:
                continue
            assert sel.select(timeout=30), f"no answer to row {k + 1} within 30 s"
            got.append(json.loads(proc.stdout.readline())["forecast"])
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        err = proc.stderr.read()
    finally:
        proc.kill()
    expected = _expected(model_dir, [p for k, p in enumerate(closes[:8]) if k != 4])
    np.testing.assert_allclose(_values(got), expected, rtol=0, atol=0)
    assert "line 5: not valid JSON" in err


# -- checkpoints: a kill -9 loses at most the rows since the last one -----------------------------


def _dated(closes, start=0, stop=None):
    days = pd.bdate_range("2020-01-01", periods=len(closes)).strftime("%Y-%m-%d")
    return [f"{d},{p}" for d, p in list(zip(days, closes, strict=True))[start:stop]]


def _popen(model_dir, *options):
    return subprocess.Popen(
        [sys.executable, "-m", "gatecast", "stream", "--model", str(model_dir), *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "0"},
    )


def _answer(proc, line):
    """Write one row, read its answer (the stream has taken it by then)."""
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(timeout=60), f"no answer to {line!r} within 60 s"
    return proc.stdout.readline()


def _killed(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.slow
def test_a_kill_9_loses_at_most_the_rows_since_the_last_checkpoint(model_dir, closes, tmp_path):
    state = tmp_path / "s.json"
    rows = _dated(closes)
    proc = _popen(model_dir, "--state", str(state), "--checkpoint-rows", "5")
    proc.stdout.readline()  # the header
    try:
        for line in rows[:12]:
            _answer(proc, line)
        saved = json.loads(state.read_text())  # rows 1-10 in two checkpoints; 11, 12 not yet
        _killed(proc)
    finally:
        proc.kill()
    assert (saved["ticks"], saved["last"]) == (10, {"date": "2020-01-14T00:00:00"})
    assert json.loads(state.read_text()) == saved  # what the kill left: the last checkpoint
    # resumed on the whole input: the 10 saved rows are refused as replays, the rest answered
    # as an uninterrupted stream answers them
    again = runner.invoke(
        app, ["stream", "--model", str(model_dir), "--state", str(state)], input="\n".join(rows)
    )
    assert again.exit_code == 0, again.output
    assert again.stderr.count("repeats the last row") + again.stderr.count("comes before") == 10
    got = _values([line.split(",")[1] for line in again.stdout.strip().splitlines()[1:]])
    np.testing.assert_allclose(got, _expected(model_dir, closes)[10:], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_a_quiet_stream_is_checkpointed_after_checkpoint_seconds(model_dir, closes, tmp_path):
    state = tmp_path / "s.json"
    proc = _popen(model_dir, "--state", str(state), "--checkpoint-seconds", "0.2")
    proc.stdout.readline()
    try:
        for line in _dated(closes, 0, 3):
            _answer(proc, line)
        deadline = time.monotonic() + 30  # the stream waits for its next row: the timer saves
        while not state.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        _killed(proc)
    finally:
        proc.kill()
    assert json.loads(state.read_text())["ticks"] == 3


def test_checkpoint_options_need_a_state_and_sane_values(model_dir, tmp_path):
    state = str(tmp_path / "s.json")
    for options, phrase in [
        (["--checkpoint-rows", "10"], "--checkpoint-rows apply to a --state file"),
        (["--wait", "3"], "--wait apply to a --state file"),
        (["--state", state, "--checkpoint-rows", "-1"], "--checkpoint-rows -1: a number of rows"),
        (["--state", state, "--checkpoint-seconds", "nan"], "--checkpoint-seconds nan: a number"),
        (["--state", state, "--wait", "-2"], "--wait -2.0: a number of seconds >= 0"),
        (["--max-gap", "-1"], "--max-gap -1: a number of bars >= 0"),
        (["--max-ahead", "soon"], "--max-ahead 'soon' is not a duration"),
        (["--max-ahead", "-1D"], "--max-ahead '-1D': a duration > 0"),
        (["--calendar", "XNYSE"], "calendar 'XNYSE' is unknown"),
    ]:
        result = runner.invoke(app, ["stream", "--model", str(model_dir), *options], input="1\n")
        assert result.exit_code == 2, (options, result.output)
        assert phrase in " ".join(result.stderr.split()), (options, result.stderr)
    assert not (tmp_path / "s.json").exists()


# -- rows dated too far ahead, and gaps --------------------------------------------------------


def test_a_2099_row_is_refused_and_a_gap_within_max_gap_is_said(model_dir, closes, tmp_path):
    state = tmp_path / "s.json"
    days = ["2020-01-01", "2020-01-02", "2020-01-03", "2099-01-06", "2020-01-06", "2020-01-13"]
    text = "date,close\n" + "".join(f"{d},{p}\n" for d, p in zip(days, closes, strict=False))
    result = runner.invoke(
        app, ["stream", "--model", str(model_dir), "--state", str(state)], input=text
    )
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert "error: line 5 (2099-01-06): row 2099-01-06 is dated more than 2 days after now" in err
    # Monday 2020-01-13 after Monday 2020-01-06 skips four business days: taken, and said
    assert (
        "note: line 7 (2020-01-13): 4 bar(s) missing before this row (2020-01-07, 2020-01-08, "
        "2020-01-09, ...); taken" in err
    )
    saved = json.loads(state.read_text())
    assert saved["last"] == {"date": "2020-01-13T00:00:00"} and saved["ticks"] == 5
    out = result.stdout.strip().splitlines()
    assert out[-1].endswith(",2020-01-13,2020-01-14")
    strict = runner.invoke(app, ["stream", "--model", str(model_dir), "--max-gap", "2"], input=text)
    assert "line 7 (2020-01-13): row 2020-01-13 skips more than 2 bars" in " ".join(
        strict.stderr.split()
    )


# -- a state held by another process ----------------------------------------------------------


def _holder(state, seconds):
    """Another process holding the state's lock for ``seconds``; returns once it holds it."""
    code = (
        "import sys, time; from gatecast.artifacts import locked\n"
        f"with locked({str(state)!r}, 'stream state'):\n"
        "    print('held', flush=True); time.sleep(float(sys.argv[1]))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.slow
def test_a_held_state_is_refused_at_once_naming_its_holder(model_dir, closes, tmp_path):
    state = tmp_path / "s.json"
    holder = _holder(state, 60)
    try:
        # a producer that never writes and never closes (`tail -f` of a quiet file): the stream
        # must still answer at once, not wait for its input
        proc = _popen(model_dir, "--state", str(state))
        try:
            proc.wait(timeout=60)  # its stdin stays open and silent
            err = proc.stderr.read()
        finally:
            proc.kill()
        assert proc.returncode == 2
        assert f"is in use by another process: held by pid {holder.pid} on host " in err
        assert "stop that process, wait for it (--wait SECONDS)" in err
        started = time.monotonic()
        waited = runner.invoke(
            app, ["stream", "--model", str(model_dir), "--state", str(state), "--wait", "0.5"]
        )
        assert time.monotonic() - started >= 0.5
        assert waited.exit_code == 2 and "after waiting 0.5 s" in waited.stderr
        assert f"waiting up to 0.5 s: stream state {state} is in use: held by pid" in (
            waited.stderr
        )
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_wait_takes_the_state_once_its_holder_lets_go(model_dir, closes, tmp_path):
    state = tmp_path / "s.json"
    holder = _holder(state, 1.0)
    try:
        result = runner.invoke(
            app,
            ["stream", "--model", str(model_dir), "--state", str(state), "--wait", "60"],
            input="\n".join(_dated(closes, 0, 3)) + "\n",
        )
    finally:
        holder.wait()
    assert result.exit_code == 0, result.output
    assert json.loads(state.read_text())["ticks"] == 3
