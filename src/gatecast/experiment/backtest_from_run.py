"""A backtest of a finished ``gatecast evaluate`` run folder (``--from-run``): its configuration
and forecasts read back, its prices checked, its walk-forward settings taken as the backtest's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from gatecast.data.sources import data_identity, data_label, is_frame, is_frame_label
from gatecast.errors import ConfigError, ModelFileError
from gatecast.experiment.backtest_config import OPTION_OF, RUN_SETTINGS, BacktestConfig
from gatecast.experiment.evaluation import (
    EvaluationConfig,
    load_checked,
)
from gatecast.experiment.run_reader import Run, open_finished_run, run_forecasts


# -- where the forecasts come from ---------------------------------------------------------------
def read_run(folder: str | Path) -> tuple[EvaluationConfig, pd.DataFrame]:
    """The configuration and forecasts of a finished ``gatecast evaluate`` run folder (read by
    :meth:`~gatecast.experiment.run_reader.Run.open`)."""
    run = open_finished_run(
        folder,
        "evaluate",
        "--from-run takes a finished `gatecast evaluate` run folder",
        "it has metrics.json and forecasts.parquet",
    )
    try:
        saved = run.config or run.json("metrics.json")["config"]
        known = {f.name for f in dataclasses.fields(EvaluationConfig)}
        values = {k: v for k, v in saved.items() if k in known}
        values["models"] = tuple(values.get("models") or ())
        eval_cfg = EvaluationConfig(**{**values, "out": None, "quiet": True})
    except (ConfigError, KeyError, TypeError) as exc:
        raise ModelFileError(
            f"{folder} has no readable evaluate configuration ({exc}); rerun `gatecast evaluate`"
        ) from exc
    return eval_cfg, run_forecasts(run, folder)


def _as_run(cfg: BacktestConfig, eval_cfg: EvaluationConfig) -> BacktestConfig:
    """``cfg`` with the walk-forward settings of the run it trades, so that its label, test
    period and ``config.json`` say what made the forecasts."""
    return dataclasses.replace(cfg, **{name: getattr(eval_cfg, name) for name in RUN_SETTINGS})


def _run_prices(cfg: BacktestConfig, eval_cfg: EvaluationConfig) -> EvaluationConfig:
    """The run's config with the prices it was made on: a run on prices passed in from Python
    records only their label and content hash, so the same prices must be passed again (as
    ``data``), and are checked against that hash."""
    from_python = is_frame_label(eval_cfg.data)
    if not is_frame(cfg.data):
        if from_python:
            raise ConfigError(
                f"the run in {cfg.from_run} was made on prices passed in from Python "
                f"({eval_cfg.data}), which a run folder does not keep: pass them again, "
                f"gc.backtest(prices, from_run=...)"
            )
        return eval_cfg
    recorded = (Run.open(str(cfg.from_run)).data or {}).get("sha256")
    given = data_identity(cfg.data, load_checked(dataclasses.replace(eval_cfg, data=cfg.data))[0])
    if recorded is None or given["sha256"] != recorded:
        raise ConfigError(
            f"the prices passed as data ({data_label(cfg.data)}) are not those the run in "
            f"{cfg.from_run} was made on ({eval_cfg.data}; "
            f"{'its content hash differs' if recorded else 'it records no content hash'}): "
            f"pass the same prices, or leave out from_run to make new forecasts on these"
        )
    return dataclasses.replace(eval_cfg, data=cfg.data)


def _refuse_run_settings(cfg: BacktestConfig) -> None:
    changed = cfg.changed_run_settings()
    if changed:
        shown = ", ".join(
            f"{OPTION_OF.get(n, '--' + n.replace('_', '-'))} {getattr(cfg, n)!r}" for n in changed
        )
        raise ConfigError(
            f"{shown}: the forecasts of --from-run {cfg.from_run} were made with the data and "
            f"walk-forward of that run (its metrics.json), so these would be ignored; drop "
            f"them, or leave out --from-run to make new forecasts"
        )
