"""The trials of a study: one rule for N, the count behind the deflated Sharpe ratio and PBO."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.trading.sharpe import sharpe_moments

#: How N of the deflated Sharpe ratio is counted, everywhere (``backtest``, ``sweep``, PBO).
TRIAL_RULE = (
    "every (configuration, seed) traded and every model asked to compare is a trial; identical "
    "net return series count once; a seed mean reports its seeds and is no trial of its own, "
    "nor is a model not asked for, nor a benchmark"
)
_SEED_COLUMN = re.compile(r"^(?P<model>.+)\[s(?P<seed>\d+)\]$")


def trial_columns(columns: Iterable[Any], models: Iterable[str] | None = None) -> list[str]:
    """The columns of a forecast or return frame that are trials of ``models``.

    A model's trials are its seed columns (``lstm[s0]``, ``lstm[s1]``...) when the frame holds
    them, else its own column; a seed mean (``lstm`` beside its seeds) is their report, not a
    trial. ``models`` None: every model of ``columns``.

    Examples
    --------
    >>> trial_columns(["lstm[s0]", "lstm[s1]", "lstm", "ar1", "gru"], ["lstm", "ar1"])
    ['lstm[s0]', 'lstm[s1]', 'ar1']
    """
    cols = [str(c) for c in columns]
    if models is None:
        seen: dict[str, None] = {}
        for c in cols:
            match = _SEED_COLUMN.match(c)
            seen[match["model"] if match else c] = None
        models = list(seen)
    out: list[str] = []
    for m in models:
        seeds = [c for c in cols if (match := _SEED_COLUMN.match(c)) and match["model"] == m]
        for c in seeds or ([m] if m in cols else []):
            if c not in out:
                out.append(c)
    return out


@dataclass(frozen=True)
class TrialSet:
    """The distinct strategies a study tried: N of the deflated Sharpe ratio, the Sharpe ratios
    behind Var[SR_n] and the T x N net returns of the PBO (:data:`TRIAL_RULE`).

    ``returns``: date x trial, one column per distinct net return series; ``same_as``: each
    trial left out as a repeat -> the trial it repeats; ``left_out``: the columns given that are
    no trial (seed means, models not asked for); ``sharpes``: per-period Sharpe ratios of the
    trials that have one (a trial that never holds a position has none); ``unchecked``: trials
    without returns to compare (a sweep's trials written by an older gatecast), each counted once.
    """

    returns: pd.DataFrame
    sharpes: pd.Series
    same_as: dict[str, str]
    left_out: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()

    @property
    def n_trials(self) -> int:
        """N: the distinct trials (at least the one reported)."""
        return max(1, self.returns.shape[1] + len(self.unchecked))

    @property
    def var_sharpe(self) -> float:
        """Var[SR_n] per period (ddof 1) of the trials' Sharpe ratios; 0 for fewer than 2."""
        return float(np.var(self.sharpes, ddof=1)) if len(self.sharpes) > 1 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """What a run folder records of its trials."""
        return {
            "n_trials": self.n_trials,
            "trials": [str(c) for c in self.returns.columns],
            "same_as": dict(self.same_as),
            "left_out": list(self.left_out),
            "unchecked": list(self.unchecked),
            "trial_rule": TRIAL_RULE,
        }


def count_trials(net: pd.DataFrame, trials: Sequence[str] | None = None) -> TrialSet:
    """The :class:`TrialSet` of the net returns ``net`` (date x column).

    ``trials`` are the columns that are trials (every (configuration, seed) traded and every
    model asked to compare); None: :func:`trial_columns` of ``net``. Identical series (e.g. two
    configurations that take the same positions) count once.

    Examples
    --------
    >>> r = pd.Series([0.01, -0.02, 0.03, 0.01])
    >>> net = pd.DataFrame({"lstm[s0]": r, "lstm[s1]": -r, "lstm": 0 * r, "ar1": r, "gru": r})
    >>> ts = count_trials(net, trial_columns(net.columns, ["lstm", "ar1"]))
    >>> ts.n_trials, ts.same_as, ts.left_out
    (2, {'ar1': 'lstm[s0]'}, ('lstm', 'gru'))
    """
    chosen = trial_columns(net.columns) if trials is None else [str(c) for c in trials]
    missing = [c for c in chosen if c not in net.columns]
    if missing:
        raise ConfigError(
            f"trial(s) {', '.join(missing)} have no returns; the returns hold "
            f"{', '.join(map(str, net.columns))}"
        )
    kept: list[str] = []
    same_as: dict[str, str] = {}
    for c in dict.fromkeys(chosen):
        x = net[c].to_numpy(dtype=float)
        twin = next(
            (k for k in kept if np.array_equal(net[k].to_numpy(dtype=float), x, equal_nan=True)),
            None,
        )
        if twin is None:
            kept.append(c)
        else:
            same_as[c] = twin
    distinct: pd.DataFrame = net[kept]
    sharpes = pd.Series(
        {c: sharpe_moments(distinct[c].dropna().to_numpy()).sharpe for c in kept},
        name="sr",
        dtype=float,
    ).dropna()
    return TrialSet(
        returns=distinct,
        sharpes=sharpes,
        same_as=same_as,
        left_out=tuple(str(c) for c in net.columns if str(c) not in set(chosen)),
    )
