"""Optuna's samplers over a sweep's grid (``tpe``, ``random``): configurations asked a fixed batch at a time, told their mean selection losses; Optuna is imported only here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gatecast.errors import ConfigError
from gatecast.experiment.sweep.config import SweepConfig
from gatecast.experiment.sweep.space import show

#: ``run_batch(configs) -> losses``: run the configurations' selection trials, their mean losses.
BatchRunner = Callable[[list[dict[str, Any]]], list[float]]


def optuna_configs(cfg: SweepConfig, run_batch: BatchRunner) -> None:
    """Ask Optuna for ``cfg.trials`` configurations, ``cfg.batch`` at a time, and tell it each
    batch's mean selection losses (``run_batch(configs) -> losses``)."""
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            f"--sampler {cfg.sampler} needs Optuna: pip install 'gatecast[sweep]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=0)
        if cfg.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=0)
    )
    study = optuna.create_study(sampler=sampler, direction="minimize")
    labels = {k: [show(v) for v in vals] for k, vals in cfg.grid.items()}
    left = int(cfg.trials or 0)
    while left > 0:
        asked = [study.ask() for _ in range(min(cfg.batch, left))]
        configs = [
            {
                k: cfg.grid[k][labels[k].index(str(tr.suggest_categorical(k, labels[k])))]
                for k in cfg.grid
            }
            for tr in asked
        ]
        for tr, value in zip(asked, run_batch(configs), strict=True):
            study.tell(tr, value)
        left -= len(asked)
