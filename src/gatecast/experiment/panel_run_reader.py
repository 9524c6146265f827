"""A finished panel evaluation of returns read back for a backtest (``from_run``): its
configuration, long forecasts and panel, whose prices must be those the run recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.data.panel import BUNDLED_PANELS, Panel
from gatecast.errors import ConfigError, ModelFileError
from gatecast.experiment.panel_evaluation import (
    PANEL_KIND,
    PanelEvaluationConfig,
    load_checked_panel,
)
from gatecast.experiment.run_reader import open_finished_run, run_forecasts

__all__ = ["read_panel_run"]


def read_panel_run(
    folder: str | Path, data: Any = None
) -> tuple[PanelEvaluationConfig, pd.DataFrame, Panel]:
    """The configuration, long forecasts (``instrument``, ``date``, ``as_of``, ``actual``, a
    column per model) and panel of a finished panel evaluation of returns (read by
    :meth:`~gatecast.experiment.run_reader.Run.open`).

    The panel is read again from the run's data (a bundled panel, a file or folder), or is
    ``data`` (prices passed in again: a run made on prices from Python keeps only their
    hashes); either way each instrument's content hash must be the one the run recorded.
    """
    run = open_finished_run(
        folder,
        PANEL_KIND,
        "--from-run on a panel takes a finished `gatecast evaluate --target return` run folder "
        "of a panel",
        f"kind {PANEL_KIND}",
    )
    saved = dict(run.config)
    if saved.get("target") != "return":
        raise ConfigError(
            f"{folder} holds {saved.get('target')} forecasts of a panel; a panel backtest trades "
            f"return forecasts: rerun `gatecast evaluate --target return` on the panel"
        )
    if int(saved.get("seeds") or 1) != 1:
        raise ConfigError(
            f"{folder} was made with --seeds {saved['seeds']}; a panel backtest trades one "
            f"forecast per model (one seed) so far: rerun `gatecast evaluate` without --seeds"
        )
    known = {f.name for f in dataclasses.fields(PanelEvaluationConfig)}
    values = {k: v for k, v in saved.items() if k in known}
    values["models"] = tuple(values.get("models") or ())
    recorded = saved.get("data")
    if data is None:
        if not _readable(recorded):
            raise ConfigError(
                f"the run in {folder} was made on prices passed in from Python ({recorded}), "
                f"which a run folder does not keep: pass them again, "
                f"gc.backtest_panel(panel, from_run=...)"
            )
    else:
        values["data"] = data
    try:
        eval_cfg = PanelEvaluationConfig(**{**values, "out": None, "quiet": True})
    except (KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{folder} has no readable panel evaluation configuration ({exc}); rerun `gatecast "
            f"evaluate` into a new folder"
        ) from exc
    panel = load_checked_panel(eval_cfg)
    _check_identity(panel, run.data or {}, folder)
    return eval_cfg, run_forecasts(run, folder), panel


def _readable(recorded: Any) -> bool:
    """Whether a run's recorded data names prices that can be read again (a bundled panel, or
    files and folders that exist)."""
    paths = recorded if isinstance(recorded, list) else [recorded]
    return bool(paths) and all(
        isinstance(p, str) and (p.lower() in BUNDLED_PANELS or Path(p).exists()) for p in paths
    )


def _check_identity(panel: Panel, recorded: Mapping[str, Any], folder: str | Path) -> None:
    """Refuse a panel whose instruments or contents differ from those the run recorded."""
    was = recorded.get("instruments") or {}
    now = panel.identity()["instruments"]
    if not was:
        raise ConfigError(
            f"the run in {folder} records no content hash of its panel (run.json); rerun "
            f"`gatecast evaluate --target return` into a new folder"
        )
    differ = sorted(set(was) ^ set(now))
    if differ:
        raise ConfigError(
            f"the panel given has instruments {', '.join(sorted(now))}, but the run in {folder} "
            f"was made on {', '.join(sorted(was))} (differ: {', '.join(differ)}): pass the same "
            f"prices, or leave out from_run to make new forecasts on these"
        )
    changed = [n for n in sorted(was) if was[n].get("sha256") != now[n]["sha256"]]
    if changed:
        raise ConfigError(
            f"the prices of {', '.join(changed)} are not those the run in {folder} was made on "
            f"(their content hash differs): pass the same prices, or leave out from_run to make "
            f"new forecasts on these"
        )
