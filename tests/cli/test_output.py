"""What the commands print: labels and messages are text, never rich markup."""

from __future__ import annotations

import pandas as pd
import pytest

from gatecast.cli import output


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
