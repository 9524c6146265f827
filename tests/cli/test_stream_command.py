"""`gatecast stream`: one flushed forecast per row, errors name the line, state resumes."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys

import numpy as np
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
