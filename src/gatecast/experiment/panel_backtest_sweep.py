"""A panel backtest citing a sweep on a panel (``sweep``; ``gatecast backtest --sweep DIR`` on a
panel): N of the deflated Sharpe ratio, Var[SR_n] and the PBO come from the strategies the sweep
tried on its selection period, as on one series. Each (configuration, seed) of the sweep and its
reference (a model it compared) is one trial: its selection-period forecasts, which the sweep
keeps (``trials/<config>/seed_<k>.parquet``, ``selection_reference.parquet``), traded by this
backtest's own cross-sectional rule and cost; identical net return series count once
(:func:`~gatecast.evaluation.trading.count_trials`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.trading import TrialSet, count_trials
from gatecast.evaluation.trading.cross_section import CrossSectionRule, trade_cross_section

__all__ = ["check_panel_sweep", "panel_sweep_trials"]

#: The run kinds of a sweep on one series and on a panel (``run.json``).
SERIES_SWEEP_KIND, PANEL_SWEEP_KIND = "sweep", "panel-sweep"


def check_panel_sweep(
    folder: str | Path, instruments: Iterable[Any] | None = None
) -> dict[str, Any]:
    """The run record (``run.json``) of the panel sweep in ``folder``, refused (a
    :class:`~gatecast.errors.ConfigError` naming the folder) when it is no sweep, a sweep on one
    series, a sweep of another target than returns or (given the backtest's ``instruments``)
    a sweep on other instruments."""
    try:
        record: dict[str, Any] = json.loads((Path(folder) / "run.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"--sweep {folder}: no readable run.json ({exc}); pass the --out folder of a "
            f"`gatecast sweep` on a panel"
        ) from exc
    kind = record.get("kind")
    if kind == SERIES_SWEEP_KIND:
        raise ConfigError(
            f"--sweep {folder} is a sweep on one series (run kind {kind}); a panel backtest "
            f"cites a sweep on a panel (kind {PANEL_SWEEP_KIND}: `gatecast sweep --data "
            f"<panel> --target return`), or backtest that series with `gatecast backtest --sweep`"
        )
    if kind != PANEL_SWEEP_KIND:
        raise ConfigError(
            f"--sweep {folder} holds a run of kind {kind}, not a sweep on a panel (kind "
            f"{PANEL_SWEEP_KIND}); pass the --out folder of `gatecast sweep` on a panel"
        )
    target = record.get("config", {}).get("target")
    if target != "return":
        raise ConfigError(
            f"--sweep {folder}: the panel sweep there forecast {target}, but a panel backtest "
            f"trades return forecasts: cite a panel sweep of --target return"
        )
    data = record.get("data") or {}
    swept = sorted(data.get("instruments", {}))
    traded = None if instruments is None else sorted(map(str, instruments))
    if traded is not None and swept != traded:
        raise ConfigError(
            f"--sweep {folder}: the panel sweep there ran on {len(swept)} instrument(s) "
            f"({', '.join(swept)}; {data.get('source', 'its panel')}), but this backtest trades "
            f"{len(traded)} ({', '.join(traded)}): cite a sweep of the same panel"
        )
    return record


def panel_sweep_trials(
    folder: str | Path,
    prices: Mapping[str, pd.Series],
    rule: CrossSectionRule,
    cost_bps: float,
) -> TrialSet:
    """The trials of the panel sweep in ``folder`` on its selection period: every (configuration,
    seed) and its reference, each traded across the instruments of ``prices`` by ``rule`` at
    ``cost_bps``; refused when the sweep ran on other instruments than ``prices`` holds."""
    from gatecast.experiment.sweep import read_trials

    record = check_panel_sweep(folder, prices)
    root = Path(folder)
    rows = read_trials(root)
    rows = rows[rows["phase"] == "select"]
    columns = {
        str(key): root / "trials" / str(config) / f"seed_{seed}.parquet"
        for key, config, seed in zip(rows["key"], rows["config"], rows["seed"], strict=True)
    }
    columns[str(record["config"]["reference"])] = root / "selection_reference.parquet"
    series = []
    for name, path in columns.items():
        try:
            long = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"--sweep {folder}: the selection forecasts {path} of trial {name} cannot be "
                f"read ({exc}); resume the sweep (--resume) to rewrite them"
            ) from exc
        series.append(long.set_index(["instrument", "date"])["forecast"].rename(name))
    forecasts = pd.concat(series, axis=1).reset_index()
    net = trade_cross_section(forecasts, prices, rule, cost_bps).net
    return count_trials(net, list(columns))
