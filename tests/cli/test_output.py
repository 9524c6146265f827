"""What the commands print: labels and messages are text, never rich markup."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.cli import output
from gatecast.experiment.report.formatting import column_cell, column_format


def test_table_labels_with_brackets_print_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    df = pd.DataFrame(
        {"qlike": [1.25, 2.5], "in[mcs]": ["yes", "no"]},
        index=pd.Index(["lstm[s1]", "[bold]x[/bold]"], name="model"),
    )
    output.print_table(df, "scores [test]")
    text = capsys.readouterr().out
    # rich markup would swallow "[s1]" and "[bold]" and the bracketed title and header
    for shown in ("lstm[s1]", "[bold]x[/bold]", "scores [test]", "in[mcs]", "1.25", "2.5"):
        assert shown in text


def _printed(monkeypatch: pytest.MonkeyPatch, df: pd.DataFrame, width: int, **kw: object) -> str:
    import io

    from rich.console import Console

    buf = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=buf, width=width, color_system=None))
    output.print_table(df, "LSTM vs baselines on prices.csv (return, test from 2018-07-02)", **kw)
    return buf.getvalue()


# The columns `gatecast train` prints (run.table()): 12 metrics beside the model labels.
TRAIN_COLUMNS = [
    "rmse",
    "mae",
    "theil_u",
    "oos_r2",
    "hit_rate",
    "pt_stat",
    "pt_p",
    "dm_p_no_change",
    "parameters",
    "epochs",
    "train_s",
    "direction_acc",
]


def test_a_wide_table_at_80_columns_wraps_whole_columns_and_cuts_no_cell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        rng.normal(size=(4, len(TRAIN_COLUMNS))),
        columns=TRAIN_COLUMNS,
        index=["lstm", "no_change", "historical_mean", "ar1"],
    )
    text = _printed(monkeypatch, df, 80)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    assert "…" not in text  # rich's ellipsis: a cut cell
    cells = {c.strip() for line in lines for c in line.replace("┃", "│").split("│")}
    for name in [*TRAIN_COLUMNS, *df.index]:
        assert name in cells, name  # every header and row label whole
    for column in df.columns:
        fmt = column_format(column)
        for value in df[column]:
            assert column_cell(column, value, fmt) in cells  # every number whole
    assert "(continued)" in text and f"of {len(TRAIN_COLUMNS)}]" in text


def test_a_table_that_fits_is_printed_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame({"rmse": [0.01, 0.02]}, index=["lstm", "ar1"])
    text = _printed(monkeypatch, df, 80)
    assert "continued" not in text and "column" not in text


def test_a_long_table_is_folded_with_a_line_naming_the_full_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    df = pd.DataFrame({"sharpe": np.arange(35.0) / 100}, index=[f"m{i}" for i in range(35)])
    text = _printed(monkeypatch, df, 100, max_rows=8, full_table="cost_sweep.csv")
    assert "m7 " in text and "m8 " not in text
    assert "27 more row(s) not shown; the full table is in cost_sweep.csv" in text


def test_infinite_break_even_costs_print_as_words(monkeypatch: pytest.MonkeyPatch) -> None:
    df = pd.DataFrame(
        {"break_even_bps": [np.inf, -np.inf, 4.25]}, index=["hold_up", "hold_down", "lstm"]
    )
    text = _printed(monkeypatch, df, 100)
    assert "profitable at any cost" in text and "never profitable" in text and "4.25" in text
    assert "inf" not in text
