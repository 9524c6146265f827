"""Helpers of the hostile-input corpus: run a command, and check it refused by name or accepted."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import Result
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import ar1_prices

runner = CliRunner()
#: The smallest model `gatecast train` accepts here: fast, and enough to read and write folders.
TINY = ["--cell", "gru", "--hidden", "4", "--layers", "1", "--window", "5", "--epochs", "1"]
TINY += ["--batch-size", "0", "--patience", "0", "--device", "cpu", "--quiet"]


def invoke(args: Sequence[str], input: str | bytes | None = None) -> Result:
    """Run ``gatecast ARGS`` in-process."""
    return runner.invoke(app, [str(a) for a in args], input=input)


def refused(result: Result, *phrases: str, out: Path | None = None) -> None:
    """Exit code 2, each phrase in the one error message, no traceback, nothing in ``out``."""
    text = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert result.exit_code == 2, f"exit {result.exit_code}: {text}"
    assert "Traceback" not in text, text
    message = " ".join(result.stderr.split())  # rich may wrap a long message
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} not in: {message}"
    if out is not None:
        left = sorted(p.name for p in out.rglob("*")) if out.exists() else []
        assert not left, f"left in --out: {left}"


def accepted(result: Result) -> None:
    """Exit code 0 and no traceback."""
    text = result.stdout + result.stderr
    assert result.exit_code == 0, f"exit {result.exit_code}: {text}"
    assert "Traceback" not in text, text


def prices_frame(n: int = 160, seed: int = 0, start: str = "2019-01-01") -> pd.DataFrame:
    """``n`` business days of positive prices around 100 (date, open, high, low, close, volume)."""
    close = ar1_prices(n, seed=seed)["close"].to_numpy()
    rng = np.random.default_rng(seed)
    spread = 1 + rng.uniform(0.001, 0.02, n)
    return pd.DataFrame(
        {
            "date": pd.bdate_range(start, periods=n).strftime("%Y-%m-%d"),
            "open": close,
            "high": close * spread,
            "low": close / spread,
            "close": close,
            "volume": rng.integers(1_000, 9_000, n),
        }
    )


def write_csv(path: Path, frame: pd.DataFrame, **kwargs: object) -> Path:
    frame.to_csv(path, index=False, **kwargs)  # type: ignore[arg-type]
    return path
