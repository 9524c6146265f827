"""How gatecast writes numbers, counts, dates and p-values, alike in the console and the report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

#: Significant digits for every column that has no fixed format below.
DEFAULT_FORMAT = "{:.4g}"

# Ratios near 1 or 0 need fixed decimals: 4 significant digits would print U = 1.0003 as "1".
FIXED_FORMATS = {
    "theil_u": "{:.4f}",
    "oos_r2": "{:+.4f}",
    "hit_rate": "{:.4f}",
    "train_s": "{:.1f}",
}

#: What a missing value (NaN) prints as.
MISSING = "—"


def column_format(column: object, floatfmt: str = DEFAULT_FORMAT) -> str:
    """The format of the numbers in ``column`` (a fixed one for ratios near 0 or 1)."""
    return FIXED_FORMATS.get(str(column), floatfmt)


def format_cell(value: Any, fmt: str = DEFAULT_FORMAT) -> str:
    """One table cell as text: NaN as "—", whole numbers with thousands separators, other floats
    with ``fmt``; anything else as ``str``.

    Examples
    --------
    >>> format_cell(1.00031, column_format("theil_u"))
    '1.0003'
    >>> format_cell(31051.0), format_cell(float("nan")), format_cell(7.4312e-05)
    ('31,051', '—', '7.431e-05')
    """
    if isinstance(value, float):
        if math.isnan(value):
            return MISSING
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        return fmt.format(value)
    return str(value)


def day(value: Any) -> str:
    """A date as YYYY-MM-DD (a timestamp string's time of day dropped)."""
    text = str(value)
    return text[:10] if len(text) >= 10 and text[4] == "-" else text


def count(value: Any) -> str:
    """A whole number with thousands separators: 31051 -> "31,051"."""
    return f"{int(value):,}"


def num(value: Any) -> str:
    """A number in a sentence, as :data:`DEFAULT_FORMAT` writes it in a table."""
    return f"{float(value):.4g}"


def p_value(value: Any) -> str:
    """A p-value: two decimals, or two significant digits below 0.01 ("0.0031")."""
    p = float(value)
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


#: Columns whose infinite values mean something in words: (+inf, -inf). A break-even cost is
#: infinite for a position that never trades (buy-and-hold): its net return is its gross return
#: at every cost. The CSV files keep the number (``inf``/``-inf``); every human table says this.
INFINITE_WORDS = {
    "break_even_bps": ("profitable at any cost", "never profitable"),
}


def column_cell(column: object, value: Any, fmt: str = DEFAULT_FORMAT) -> str:
    """One cell of ``column`` as text: :func:`format_cell`, with an infinite value of a column in
    :data:`INFINITE_WORDS` in words.

    Examples
    --------
    >>> column_cell("break_even_bps", float("-inf")), column_cell("break_even_bps", 12.5)
    ('never profitable', '12.5')
    """
    words = INFINITE_WORDS.get(str(column))
    if words is not None and isinstance(value, float) and math.isinf(value):
        return words[0] if value > 0 else words[1]
    return format_cell(value, fmt)


#: A backtest's columns, those its decision rests on first (after the model, the row label): the
#: Sharpe ratio net of costs, its deflated (DSR) and probabilistic (PSR) versions and the cost
#: that would wipe the edge out; then the rest. The terminal table, the report page and the
#: notebook view show them in this order (``backtest.csv`` keeps the order it was computed in).
BACKTEST_COLUMNS = (
    "sharpe",
    "dsr",
    "psr",
    "break_even_bps",
    "ann_return",
    "ann_vol",
    "sharpe_gross",
    "sortino",
    "max_drawdown",
    "max_dd_days",
    "hit_rate",
    "exposure",
    "turnover_year",
    "n_trials",
)


def decision_first(frame: pd.DataFrame, first: Sequence[str]) -> pd.DataFrame:
    """``frame`` with the columns of ``first`` it has, in that order, before all others."""
    leading = [c for c in first if c in frame.columns]
    ordered: pd.DataFrame = frame[[*leading, *(c for c in frame.columns if c not in leading)]]
    return ordered


def in_words(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the infinite values of its :data:`INFINITE_WORDS` columns as words (for a
    table people read: a notebook view, a summary; the CSV files keep the numbers). Such a column
    becomes text, its numbers written as :func:`format_cell` writes them."""
    out: pd.DataFrame = frame.copy()
    for column in INFINITE_WORDS:
        if column in out and out[column].dtype.kind == "f":
            values = out[column].to_numpy()
            if np.isinf(values).any():
                out[column] = [column_cell(column, float(v)) for v in values]
    return out
