"""Covariates on a panel: each instrument's frame with the covariate groups joined on its own
dates by the single-series rule (:func:`gatecast.data.covariates.join_covariates`), the models
of a panel's ablation, and its table (``gatecast evaluate --data sp500_stocks --covariates
sp500``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from gatecast.data.covariates import (
    MAX_AGE,
    covariate_group,
    covariate_values,
    instrument_of,
    join_covariates,
)
from gatecast.data.panel import Panel
from gatecast.data.sources import _fmt_date, parse_date
from gatecast.errors import ConfigError, DataError
from gatecast.experiment.evaluation_config import _check_covariate_models, _checked_covariates
from gatecast.experiment.registry import ablation_models, split_name
from gatecast.types import CELLS

__all__ = [
    "JoinedPanel",
    "join_panel_covariates",
    "panel_ablation_table",
    "panel_covariate_models",
]

#: The models of a panel that read covariates: the global cells, the local recurrent models
#: (``lstm_local``) and ``har_x`` (``har`` gets its ``har_x`` beside it in an ablation).
PANEL_READERS: tuple[str, ...] = (*CELLS, *(f"{c}_local" for c in CELLS), "har_x")


class JoinedPanel(Panel):
    """A :class:`Panel` whose instruments carry covariate columns, with the notes of the join
    (rows left out before a covariate starts, or after the test's end)."""

    def __init__(
        self,
        frames: Mapping[str, pd.DataFrame],
        *,
        notes: Sequence[str],
        column: str = "close",
        source: str = "a panel",
        layout: str = "instruments passed in",
    ) -> None:
        super().__init__(frames, column=column, source=source, layout=layout)
        self.notes = list(notes)


def join_panel_covariates(
    panel: Mapping[str, pd.DataFrame],
    groups: Sequence[str],
    *,
    test_end: str | None = None,
    values: Mapping[str, pd.DataFrame] | None = None,
) -> JoinedPanel:
    """``panel`` with the columns of the covariate groups ``groups`` joined onto each
    instrument's own dates, exactly as :func:`gatecast.data.covariates.join_covariates` joins
    them onto one series: the row of day t holds the value known at t's close (a value dated
    t is first read by the forecast of the instrument's next row), no older than
    :data:`~gatecast.data.covariates.MAX_AGE`.

    The single-series rule holds per instrument: its rows before a covariate's first value are
    left out (said in the notes); a row inside the covered span without a value (a gap, or an
    instrument running past the covariate's end) is refused, naming the covariate, the
    instrument and the dates. With ``test_end``, each instrument's rows after it (which no model
    of the run reads) are left out first, so a panel running past a covariate's end can be
    evaluated up to it. ``values``: the groups' values instead of the bundled series (tests).

    Returns
    -------
    JoinedPanel, its ``notes`` saying what was left out.
    """
    source = getattr(panel, "source", "a panel")
    stop = None if test_end is None else parse_date(test_end, "test_end")
    given = dict(values or {})
    loaded: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for g in groups:  # each bundled series read once for every instrument
        if g in given:
            loaded[g] = given[g]
            continue
        inst = instrument_of(g)
        if inst is not None:  # another instrument of the panel: its own rows, as of each close
            loaded[g] = _instrument_values(panel, g, inst)
            continue
        loaded[g], missing = covariate_values(g)
        if missing:
            notes.append(
                f"covariate {g}: {missing} row(s) of {covariate_group(g).source} are NaN and "
                f"were left out; those days read its previous value (at most {MAX_AGE.days} "
                f"days old)"
            )
    frames: dict[str, pd.DataFrame] = {}
    before: dict[str, int] = {}
    after: dict[str, int] = {}
    for name, df in panel.items():
        n = str(name)
        part = df.loc[df.index <= stop] if stop is not None else df.copy(deep=False)
        after[n] = len(df) - len(part)
        part.attrs = {**df.attrs, "source": f"instrument {n!r} of {source}"}
        try:
            joined, _ = join_covariates(part, groups, values=loaded)
        except DataError as exc:
            hint = (
                " (on a panel, --test-end / test_end ends every instrument there)"
                if stop is None
                else ""
            )
            raise DataError(f"{exc}{hint}") from None
        before[n] = len(part) - len(joined)
        frames[n] = joined
    if any(after.values()):
        notes.append(
            f"the rows after test_end {_fmt_date(stop)} were left out before the covariates "
            f"were joined (no model of the run reads them): "
            + ", ".join(f"{n} {k}" for n, k in after.items() if k)
        )
    if any(before.values()):
        first = max(loaded[g].index[0] for g in groups)
        notes.append(
            f"covariate(s) {', '.join(groups)} start on {_fmt_date(first)} at the latest: each "
            f"instrument's rows before its first covariate value were left out, for every "
            f"model of the run: " + ", ".join(f"{n} {k}" for n, k in before.items() if k)
        )
    return JoinedPanel(
        frames,
        notes=notes,
        column=getattr(panel, "column", "close"),
        source=f"{source}, with covariates {', '.join(groups)}",
        layout=getattr(panel, "layout", "instruments passed in"),
    )


def _instrument_values(panel: Mapping[str, pd.DataFrame], spec: str, inst: str) -> pd.DataFrame:
    """The columns of the covariate ``instrument:NAME`` on that instrument's own dates (its
    rows with a NaN left out), or an error naming the instruments / the missing High/Low."""
    names = [str(n) for n in panel]
    if inst not in names:
        raise ConfigError(
            f"covariate {spec!r}: the panel has no instrument {inst!r}; it has "
            f"{', '.join(names[:20])}{' ...' if len(names) > 20 else ''}"
        )
    df = panel[inst]
    lacking = [c for c in ("high", "low") if c not in df.columns]
    if lacking:
        raise DataError(
            f"covariate {spec!r}: instrument {inst} has no {'/'.join(lacking)} column, which "
            f"its log Parkinson range needs; use a bundled index group or a file:... covariate"
        )
    values = covariate_group(spec).build(df)
    ok = values.notna().all(axis=1).to_numpy() & np.isfinite(values.to_numpy(float)).all(axis=1)
    if not ok.any():  # a long file with High/Low columns empty on this instrument's rows
        raise DataError(
            f"covariate {spec!r}: instrument {inst} has no row with a close, high and low "
            f"(and a close before it), which its return and log Parkinson range need; give "
            f"its High/Low, or use a bundled index group or a file:... covariate"
        )
    out: pd.DataFrame = values[ok]
    return out


def panel_covariate_models(
    covariates: str | Iterable[str], models: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The covariate groups (checked as for one series) and the models of a panel evaluation
    with them: each model that reads covariates (a global cell, ``lstm_local``, ``har_x``) with
    and without each group, ``har`` beside ``har_x`` on the same groups (the single-series
    ablation's shape, :func:`gatecast.experiment.registry.ablation_models`). Without groups, a
    model name carrying one, or ``har_x``, is refused."""
    groups = _checked_covariates(covariates, "variance")
    if not groups:
        for m in models:
            base, has = split_name(m)
            if has:
                raise ConfigError(
                    f"model {m} reads the covariate(s) {', '.join(has)}: name them in "
                    f"--covariates (covariates=), or use {base}"
                )
            if base == "har_x":
                raise ConfigError(
                    "har_x is HAR with covariates as regressors: name them (--covariates "
                    "sp500), or use har"
                )
        return groups, models
    out = ablation_models(models, groups, PANEL_READERS)
    _check_covariate_models(out, groups)
    if len(set(out)) != len(out):
        raise ConfigError(f"models {', '.join(out)} list a model twice")
    return groups, out


#: Each model of a panel that needs covariates and the model without them it stands beside.
WITHOUT: dict[str, str] = {"har_x": "har", "arx": "ar1"}


def panel_ablation_table(
    table: pd.DataFrame, models: Sequence[str], loss: str = "qlike"
) -> pd.DataFrame:
    """Each model that reads covariates beside the same model without them (``lstm+sp500``
    beside ``lstm``, ``har_x+sp500`` beside ``har``, ``arx+sp500`` beside ``ar1``), from the
    per-instrument ``table`` of :class:`~gatecast.evaluation.panel_scores.PanelScores`: the
    median over instruments of each one's loss ratio to the reference (``median_ratio``,
    ``median_ratio_without``), the median over instruments of its loss over the one without's
    (``ratio_to_without``; below 1: the covariates lower the loss), and how many instruments'
    90% MCS holds each. ``loss``: the table's loss column (``qlike`` for a variance target,
    ``mse`` for a return target).

    A gain of ``lstm+sp500`` over ``lstm`` that ``har_x+sp500`` also has over ``har`` is the
    information's, not the network's.
    """
    by = {m: g.set_index("instrument") for m, g in table.groupby("model", sort=False)}
    rows = []
    for m in models:
        base, groups = split_name(m)
        without = WITHOUT.get(base, base)
        if not groups or without not in by:
            continue
        w, wo = by[m], by[without]
        rows.append(
            {
                "model": m,
                "covariates": "+".join(groups),
                "without": without,
                "median_ratio": float(w["ratio"].median()),
                "median_ratio_without": float(wo["ratio"].median()),
                "ratio_to_without": float((w[loss] / wo[loss].reindex(w.index)).median()),
                "in_mcs": int(w["in_mcs"].sum()),
                "in_mcs_without": int(wo["in_mcs"].sum()),
                "instruments": len(w),
            }
        )
    out: pd.DataFrame = pd.DataFrame(rows)
    return out.set_index("model") if rows else out
