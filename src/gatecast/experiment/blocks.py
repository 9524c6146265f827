"""Out-of-time evaluation in consecutive test blocks: one fixed configuration, every block scored
on its own (DM tests, MCS) and all of them pooled, so one lucky period cannot carry the verdict.

``evaluate_blocks(cfg, "4y")`` is what ``gatecast evaluate --blocks 4y`` runs.
"""

from __future__ import annotations

import re
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import data_label, parse_date
from gatecast.errors import ConfigError
from gatecast.evaluation.significance import model_confidence_set
from gatecast.experiment.evaluation import (
    DM_TEST,
    EvaluationConfig,
    EvaluationResult,
    check_models,
    dm_columns,
    evaluate_into,
    load_checked,
)
from gatecast.experiment.notebook import html_view
from gatecast.experiment.registry import COMBINATIONS, is_recurrent
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    job_output,
    settings_record,
)

__all__ = ["Block", "BlocksResult", "block_plan", "evaluate_blocks", "parse_block_length"]

PROTOCOL = (
    "consecutive test blocks, each an {scheme} walk-forward from the first row of the data, "
    "refit every {refit} trading days; one configuration fixed before the first block (the "
    "settings in config), nothing chosen on any block's test days; warm-started recurrent "
    "chains start cold at each block"
)


@dataclass(frozen=True)
class Block:
    """One test block: calendar bounds ``[start, end]`` and the trading days inside them."""

    number: int
    start: pd.Timestamp
    end: pd.Timestamp
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    n_rows: int

    @property
    def label(self) -> str:
        """``2005-2008`` (or ``2017-2018`` for a short last block)."""
        a, b = self.first_date.year, self.last_date.year
        return f"{a}" if a == b else f"{a}-{b}"

    def to_dict(self) -> dict[str, Any]:
        d = {k: str(v)[:10] if isinstance(v, pd.Timestamp) else v for k, v in asdict(self).items()}
        return {"label": self.label} | d


def parse_block_length(text: str | int) -> int:
    """``"4y"``, ``"4"`` or ``4`` -> 4 (years per block); a :class:`ConfigError` otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*(y|yr|years?)?\s*", str(text).lower())
    if m is None or int(m.group(1)) < 1:
        raise ConfigError(f"--blocks {text!r}: give the block length in years, e.g. 4y")
    return int(m.group(1))


def block_plan(
    index: pd.Index, test_start: str, years: int, test_end: str | None = None
) -> list[Block]:
    """Consecutive blocks of ``years`` calendar years from ``test_start`` to ``test_end`` (default:
    the last date of ``index``); the last may be short. Blocks share no date."""
    if not isinstance(index, pd.DatetimeIndex):
        raise ConfigError(
            "--blocks cuts the test period into calendar years and needs dated rows; this data "
            "has an integer index: use --test-start/--test-end runs instead"
        )
    start = parse_date(test_start, "test_start")
    stop = index[-1] if test_end is None else min(parse_date(test_end, "test_end"), index[-1])
    blocks: list[Block] = []
    while start <= stop:
        end = min(start + pd.DateOffset(years=years) - pd.Timedelta(days=1), stop)
        days = index[(index >= start) & (index <= end)]
        if len(days):
            blocks.append(Block(len(blocks), start, end, days[0], days[-1], len(days)))
        start = end + pd.Timedelta(days=1)
    if not blocks:
        raise ConfigError(
            f"no dates from test_start {test_start} to {stop.date()} (data runs "
            f"{index[0].date()} to {index[-1].date()}); pick a test start inside the data"
        )
    return blocks


@dataclass
class BlocksResult:
    """Every block's leaderboard and the pooled one.

    ``table`` has one row per (block, model): the primary loss, DM against the reference and the
    best baseline, MCS membership, dates; the ``pooled`` rows score the concatenated per-date
    losses of all blocks (DM on those, the MCS on those).
    """

    config: EvaluationConfig
    blocks: list[Block]
    results: list[EvaluationResult]
    table: pd.DataFrame
    losses: pd.DataFrame
    reference: str
    best_baseline: str
    primary_loss: str
    seconds: float = 0.0
    block_seconds: list[float] = field(default_factory=list)

    def wide(self) -> pd.DataFrame:
        """Model x block of the primary loss, ``*`` marking a model outside that block's MCS."""
        t = self.table
        cell = t[self.primary_loss].map(lambda v: f"{v:.3f}") + np.where(t["in_mcs"], "", "*")
        wide = cell.unstack("block")
        order = [b.label for b in self.blocks] + ["pooled"]
        pooled = pd.DataFrame(t.loc["pooled"])
        wide = wide.loc[pooled[self.primary_loss].sort_values().index, order]
        p = pooled[["p_ref", "p_best"]].add_prefix("pooled_")
        out: pd.DataFrame = wide.join(p)
        return out

    def _repr_html_(self) -> str:
        title = (
            f"{data_label(self.config.data)} {self.config.target}: {self.primary_loss} per block"
        )
        lines = [f"* = outside the {1 - self.config.mcs_size:.0%} MCS of that block", *self.notes]
        return html_view(title, self.wide(), lines)

    def summary(self) -> str:
        """The per-block table as text, with what the marks mean."""
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            text: str = self.wide().to_string(float_format=lambda v: f"{v:.3g}")
        text += "".join(f"\nnote: {n}" for n in self.notes)
        return (
            f"{self.primary_loss} per block ({data_label(self.config.data)}, {self.config.target}); * = outside "
            f"the {1 - self.config.mcs_size:.0%} MCS of that block; pooled_p_ref / pooled_p_best: "
            f"DM p-value of the pooled per-date losses vs {self.reference} / the best baseline "
            f"{self.best_baseline}\n{text}"
        )

    def __str__(self) -> str:
        return self.summary()

    @property
    def notes(self) -> list[str]:
        """What the models chose from the data (the same in every block: one data set)."""
        return list(self.results[0].notes) if self.results else []

    @property
    def labels(self) -> dict[str, str]:
        """Each model's display label on this data (``har`` says which HAR it is)."""
        return dict(self.results[0].labels) if self.results else {}

    def to_dict(self) -> dict[str, Any]:
        """What ``blocks.json`` holds."""
        cfg = self.config
        return {
            "protocol": PROTOCOL.format(scheme=cfg.scheme, refit=cfg.refit_every),
            "config": settings_record(cfg),
            "blocks": [b.to_dict() for b in self.blocks],
            "primary_loss": self.primary_loss,
            "reference": self.reference,
            "best_baseline": self.best_baseline,
            "dm_test": DM_TEST,
            "table": self.table.reset_index().to_dict(orient="records"),
            "notes": self.notes,
            "labels": self.labels,
            "seconds": self.seconds,
            "block_seconds": self.block_seconds,
        }


def _pooled_rows(
    losses: pd.DataFrame, reference: str, best: str, cfg: EvaluationConfig
) -> pd.DataFrame:
    mcs = model_confidence_set(
        losses, size=cfg.mcs_size, block_size=cfg.mcs_block_size, reps=cfg.mcs_reps
    )
    rows = []
    for m in losses.columns:
        row: dict[str, Any] = {"model": m, "loss": float(losses[m].mean())}
        row |= dm_columns(losses, m, reference, best)
        row["mcs_p"], row["in_mcs"] = float(mcs["pvalue"][m]), bool(mcs.loc[m, "in_mcs"])
        rows.append(row)
    table: pd.DataFrame = pd.DataFrame(rows).set_index("model")
    return table


def score_blocks(
    cfg: EvaluationConfig,
    blocks: list[Block],
    results: list[EvaluationResult],
) -> BlocksResult:
    """The per-block and pooled table of finished block evaluations."""
    primary = results[0].primary_loss
    losses = pd.concat([r.losses for r in results])
    if losses.index.has_duplicates:  # blocks are disjoint by construction; a guard, not a path
        raise ConfigError("test blocks overlap; each date must be scored once")
    reference = results[0].reference
    baselines = [m for m in cfg.models if not is_recurrent(m) and m not in COMBINATIONS]
    best = min(baselines, key=lambda m: losses[m].mean()) if baselines else reference
    parts = []
    for b, r in zip(blocks, results, strict=True):
        cols = [primary, "dm_ref", "p_ref", "dm_best", "p_best", "mcs_p", "in_mcs"]
        part = r.leaderboard[cols].copy()
        part["n_dates"], part["first_date"], part["last_date"] = (
            r.n_dates,
            r.first_date,
            r.last_date,
        )
        part["best_baseline"] = r.best_baseline
        parts.append(part.assign(block=b.label))
    pooled = _pooled_rows(losses, reference, best, cfg).rename(columns={"loss": primary})
    pooled["n_dates"], pooled["first_date"], pooled["last_date"] = (
        len(losses),
        losses.index[0],
        losses.index[-1],
    )
    pooled["best_baseline"] = best
    parts.append(pooled.assign(block="pooled"))
    table = pd.concat(parts).reset_index().set_index(["block", "model"])
    return BlocksResult(cfg, blocks, results, table, losses, reference, best, primary)


def evaluate_blocks(cfg: EvaluationConfig, blocks: str | int) -> BlocksResult:
    """Evaluate ``cfg``'s models on consecutive test blocks from ``cfg.test_start`` and pool them.

    Each block is an ordinary :func:`~gatecast.experiment.evaluation.evaluate_models` run with ``test_start`` / ``test_end`` at
    the block's bounds (so its folds train on rows before each fold's test days only), written
    under ``cfg.out/block-<years>`` when ``cfg.out`` is set; ``blocks.csv`` (block x model),
    ``blocks_wide.csv`` (model x block) and ``blocks.json`` go to ``cfg.out``.

    Parameters
    ----------
    cfg
        The evaluation, fixed before the first block: nothing is tuned on any test block.
    blocks
        Block length in years (``"4y"``); the last block may be short.

    Examples
    --------
    >>> cfg = EvaluationConfig(test_start="2005-01-01", models=("garch", "gjr_t"))  # doctest: +SKIP
    >>> print(evaluate_blocks(cfg, "4y").summary())  # doctest: +SKIP
    """
    t0 = time.perf_counter()
    years = parse_block_length(blocks)
    if cfg.intervals is not None:
        raise ConfigError("--blocks reports losses and tests per block; run --intervals without it")
    cfg.check_applicable()
    if cfg.out is not None:
        check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind="blocks")
    df, dropped = load_checked(cfg)
    check_models(cfg, df)
    plan = block_plan(df.index, cfg.test_start, years, cfg.test_end)
    bcfgs = [
        replace(
            cfg,
            test_start=str(b.start.date()),
            test_end=str(b.end.date()),
            out=str(Path(cfg.out) / f"block-{b.label}") if cfg.out else None,
        )
        for b in plan
    ]
    for bcfg in bcfgs:  # every block's plan is checked before the first block is fit
        check_models(bcfg, df)
    output = job_output(cfg, "blocks", df, blocks=blocks) if cfg.out is not None else nullcontext()
    with output, cfg.runtime():  # one Ray runtime for every block's walk
        results, seconds = [], []
        for bcfg in bcfgs:
            t1 = time.perf_counter()
            results.append(evaluate_into(bcfg, (df, dropped)))
            seconds.append(time.perf_counter() - t1)
        res = score_blocks(cfg, plan, results)
        res.block_seconds, res.seconds = seconds, time.perf_counter() - t0
        if cfg.out:
            folder = RunFolder(cfg.out)
            folder.write_csv("blocks.csv", res.table)
            folder.write_csv("blocks_wide.csv", res.wide())
            folder.write_json("blocks.json", res.to_dict())
    return res
