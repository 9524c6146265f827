"""The settings of one sweep (the shared groups and its own), its two periods, and the fingerprint a run folder must match to be resumed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import pandas as pd

from gatecast.artifacts import atomic_write_json
from gatecast.data.covariates import checked_groups
from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import WalkForwardPlan
from gatecast.experiment.evaluation import EvaluationConfig
from gatecast.experiment.panel_returns import ARX
from gatecast.experiment.registry import RECURRENT, EvaluationTarget, canonical_names, split_name
from gatecast.experiment.run_folder import settings_record
from gatecast.experiment.settings import (
    CovariateSettings,
    DataSettings,
    RunSettings,
    SeedSettings,
    TargetSettings,
    WalkSettings,
)
from gatecast.experiment.sweep.space import model_words, sweepable_parameters

Sampler = Literal["grid", "tpe", "random"]
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)
Phase = Literal["select", "test"]


@dataclass(kw_only=True)
class SweepConfig(
    DataSettings, TargetSettings, WalkSettings, CovariateSettings, SeedSettings, RunSettings
):
    """Everything one sweep needs, as plain values: the shared settings of
    :mod:`gatecast.experiment.settings` (``out`` is required: a sweep is its folder) and the
    sweep's own; the recurrent settings are what it sweeps (``grid``) or fixes (``fixed``).

    ``grid`` maps constructor parameters of the recurrent model of ``target`` to the values tried
    (``cell`` picks the cell); ``fixed`` sets others for every configuration (e.g. ``epochs``).
    ``sampler="grid"`` tries every combination; ``tpe`` / ``random`` (Optuna) try ``trials``
    combinations of the same values, asking ``batch`` at a time (a fixed batch, so every executor
    sees the same sequence). Each configuration runs ``seeds`` times (seeds 0..K-1).

    The selection period is ``select_start..select_end`` (default: the 4 years before
    ``test_start``, ending the day before it), walked with the same refit scheme as the test.
    ``top_k`` configurations are then tested; ``record=True`` also tests every other
    configuration, for a table that is never used to choose. ``baselines`` (e.g. garch, gjr_t,
    har) are scored on both periods for comparison, never selected.

    ``covariates`` names covariate groups (``vix``, ``file:PATH:COLUMN``...; see
    :mod:`gatecast.data.covariates`): they are joined onto the data once, as ``gatecast
    evaluate`` joins them (each row holds what is known at its close; the rows before a group's
    first date are left out, for both periods), and every configuration's recurrent model reads
    them (``lstm+vix``). Of the baselines, those that read covariates (``har_x`` for variance,
    ``arx`` for returns and directions) read them too; the others are as named. The groups a
    configuration reads may be swept: ``grid={"covariates": ("none", "vix")}`` (each value
    ``none`` or groups of ``covariates`` joined by ``+``); the data is joined with every group
    all the same, so every configuration reads the same rows.
    """

    select_start: str | None = None
    select_end: str | None = None
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    sampler: Sampler = "grid"
    trials: int | None = None
    batch: int = 4
    top_k: int = 1
    record: bool = False
    baselines: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        if not self.out:
            raise ConfigError("a sweep is its run folder: give out='runs/sweep' (--out)")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler={self.sampler!r}: choose from {', '.join(SAMPLERS)}")
        if self.top_k < 1 or self.batch < 1:
            raise ConfigError(f"top_k={self.top_k}, batch={self.batch}: each must be >= 1")
        if self.target != "variance" and self.proxy != "squared":
            raise ConfigError(
                f"--proxy {self.proxy} does not apply to --target {self.target}: the proxy is "
                f"what variance forecasts are scored against; leave it out"
            )
        if self.sampler == "grid" and self.trials is not None:
            raise ConfigError(
                "--trials counts the configurations an Optuna sampler tries; the grid sampler "
                "tries every combination: leave --trials out, or pass --sampler tpe or random"
            )
        cells = [
            *self.grid.get("cell", ()),
            *([self.fixed["cell"]] if "cell" in self.fixed else []),
        ]
        unknown = [c for c in cells if c not in RECURRENT]
        if unknown:
            raise ConfigError(
                f"cell={unknown[0]!r} is not a recurrent model; choose from {', '.join(RECURRENT)}"
            )
        if self.sampler != "grid" and (self.trials is None or self.trials < 1):
            raise ConfigError(f"--sampler {self.sampler} needs --trials N (N >= 1 configurations)")
        if self.sampler != "grid" and not self.grid:
            raise ConfigError(f"--sampler {self.sampler} samples the --grid values; give a --grid")
        valid = sweepable_parameters(self.target, panel=self.on_panel)
        for name in list(self.grid) + list(self.fixed):
            if name not in valid:
                raise ConfigError(
                    f"{name!r} is not a parameter of {model_words(self.target, self.on_panel)}; "
                    f"choose from {', '.join(sorted(valid))}"
                )
        both = sorted(set(self.grid) & set(self.fixed))
        if both:
            raise ConfigError(f"{both} are both swept (--grid) and fixed (--set); keep one")
        self.grid = {k: tuple(v) for k, v in self.grid.items()}
        if any(not v for v in self.grid.values()):
            raise ConfigError("a --grid parameter has no values; give name=v1,v2")
        self.covariates = checked_groups(self.covariates)
        if "covariates" in self.fixed:
            raise ConfigError(
                "covariates are not set per configuration: --covariates G (a group such as vix) "
                "joins them and every configuration reads them; to choose among them, sweep "
                "--grid covariates=none,G"
            )
        if "covariates" in self.grid:
            self.grid = {**self.grid, "covariates": self._group_choices(self.grid["covariates"])}
        self.baselines = self.checked_baselines()
        if any(split_name(b)[0] in RECURRENT for b in self.baselines):
            raise ConfigError(
                f"baselines {self.baselines}: recurrent cells are swept (--grid cell=...), "
                f"not baselines; name non-recurrent models such as garch,gjr_t,har"
            )

    #: Whether the sweep runs on a panel (its grid sets the global model's parameters).
    on_panel = False

    def checked_baselines(self) -> tuple[str, ...]:
        """The baselines as identifiers (:func:`sweep_baselines`), checked."""
        return sweep_baselines(self.baselines, self.covariates, self.target)

    # -- the periods -------------------------------------------------------------------------
    def selection_period(self) -> tuple[str, str]:
        """``(select_start, select_end)``, with the defaults filled in; refused if it reaches
        into the test period."""
        test_start = pd.Timestamp(self.test_start)
        end = (
            pd.Timestamp(self.select_end) if self.select_end else test_start - pd.Timedelta(days=1)
        )
        start = (
            pd.Timestamp(self.select_start)
            if self.select_start
            else test_start - pd.DateOffset(years=4)
        )
        if end >= test_start:
            raise ConfigError(
                f"select_end {end.date()} is not before test_start {test_start.date()}: the "
                f"selection period must end before the test begins"
            )
        if start > end:
            raise ConfigError(f"select_start {start.date()} is after select_end {end.date()}")
        return str(start.date()), str(end.date())

    def plans(self) -> dict[Phase, WalkForwardPlan]:
        """The walk-forward plans of the selection and the test period (the same scheme)."""
        s0, s1 = self.selection_period()
        same = (self.refit_every, self.scheme, self.train_size, self.gap)
        return {
            "select": WalkForwardPlan(s0, s1, *same),
            "test": WalkForwardPlan(self.test_start, self.test_end, *same),
        }

    def evaluation(self) -> EvaluationConfig:
        """The :class:`EvaluationConfig` whose model settings every trial starts from (the same
        defaults as ``gatecast evaluate``)."""
        cells = tuple(c for c in RECURRENT if c in (*self.grid.get("cell", ()), self._cell()))
        return EvaluationConfig(
            data=self.data,
            target=self.target,
            proxy=self.proxy,
            column=self.column,
            test_start=self.test_start,
            test_end=self.test_end,
            refit_every=self.refit_every,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
            models=tuple(self.model_name(c) for c in cells) + self.baselines,
            covariates=self.covariates,
            sort=self.sort,
            dropna=self.dropna,
            n_jobs=1,
            quiet=True,
        )

    def _cell(self) -> str:
        return str(self.fixed.get("cell", "lstm"))

    def model_name(self, cell: str, choice: str | None = None) -> str:
        """The name of a configuration's recurrent model: the cell, with the covariate groups
        it reads (``lstm+vix``), as ``gatecast evaluate`` names it; ``choice``: the value of a
        swept ``covariates`` (``none``, ``vix+nasdaq``), else every group of ``covariates``."""
        groups = self.covariates if choice is None else group_choice(choice)
        return "+".join((cell, *groups))

    def _group_choices(self, values: tuple[Any, ...]) -> tuple[str, ...]:
        """The values of ``--grid covariates=none,vix,vix+nasdaq`` as ``none`` or groups joined
        by ``+``, each group one of ``covariates``."""
        if not self.covariates:
            raise ConfigError(
                "--grid covariates=... chooses among the covariate groups that --covariates "
                "joins; name them there (e.g. --covariates vix --grid covariates=none,vix)"
            )
        out = []
        for v in values:
            if v is None or v == "none" or (isinstance(v, tuple | list) and not v):
                out.append("none")
                continue
            groups = tuple(str(g).strip() for g in ((v,) if isinstance(v, str) else v))
            groups = tuple(g for part in groups for g in part.split("+") if g.strip())
            extra = [g for g in groups if g not in self.covariates]
            if extra:
                raise ConfigError(
                    f"--grid covariates={'+'.join(groups)}: {', '.join(extra)} is not a group "
                    f"of --covariates ({', '.join(self.covariates)}); add it there"
                )
            out.append("+".join(groups))
        if len(set(out)) != len(out):
            raise ConfigError(f"--grid covariates={','.join(out)}: a value is listed twice")
        return tuple(out)

    def fingerprint(self) -> dict[str, Any]:
        """What a run folder must match to be resumed: the search space, the periods, the data
        settings (the executor, ``top_k`` and ``record`` may change between runs)."""
        d = settings_record(self)  # prices passed in: their label (the data hash is added)
        for k in ("out", "executor", "n_jobs", "ray_address", "top_k", "record"):
            d.pop(k)
        for k in ("overwrite", "resume"):  # how the folder is used, not what the sweep is
            d.pop(k)
        d["selection_period"] = self.selection_period()
        plain: dict[str, Any] = json.loads(json.dumps(d, default=repr))
        return plain


def group_choice(choice: str) -> tuple[str, ...]:
    """A value of a swept ``covariates`` as the groups it reads: ``none`` -> (), ``vix+nasdaq``
    -> ``("vix", "nasdaq")``."""
    return () if choice == "none" else tuple(choice.split("+"))


#: The baselines that read covariates, by target: they read every group of ``--covariates``.
_READERS: dict[str, str] = {"variance": "har_x", "return": ARX, "direction": ARX}


def sweep_baselines(
    names: tuple[str, ...], groups: tuple[str, ...], target: EvaluationTarget
) -> tuple[str, ...]:
    """The baselines ``names`` as identifiers; with covariate ``groups``, the one of ``target``
    that reads covariates (``har_x``, ``arx``) reads all of them (``har_x+vix``), the others are
    as named. A name with groups that ``groups`` does not hold, or on a model that reads none, is
    refused, and so is ``har_x`` or ``arx`` without ``groups``."""
    reader = _READERS[target]
    out = []
    for n in (n.strip() for n in names if n.strip()):
        base, has = split_name(n)
        if base != reader:
            if has:
                raise ConfigError(
                    f"baseline {n}: of the baselines, only {reader} reads covariates on a "
                    f"{target} target; name {base} without them"
                )
            out.append(canonical_names((base,), target)[0])
            continue
        if not groups:
            raise ConfigError(
                f"baseline {reader} reads covariates as regressors: name them (--covariates "
                f"vix), or use {'har' if reader == 'har_x' else 'ar1'}"
            )
        extra = [g for g in has if g not in groups]
        if extra:
            raise ConfigError(
                f"baseline {n} reads the covariate(s) {', '.join(extra)}, which --covariates "
                f"({', '.join(groups)}) does not name; add them there"
            )
        out.append("+".join((reader, *(has or groups))))
    return tuple(out)


#: Fingerprint entries a resumed sweep may change: trials are stored per (configuration, seed).
_MAY_CHANGE = frozenset({"seeds"})


def check_resumable(root: Path, record: dict[str, Any], *, write: bool = True) -> None:
    """Refuse to resume a folder that holds another sweep (search space, periods or data), then
    (``write``) record this one's ``sweep.json``."""
    path = root / "sweep.json"
    finished = list((root / "trials").glob("*/*.json")) if (root / "trials").is_dir() else []
    if path.is_file() and finished:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path} is corrupt ({exc}); use a new --out") from exc
        # more (or fewer) seeds only adds (or leaves unread) trials keyed by seed: resumable
        diff = sorted(
            k
            for k in set(old) | set(record)
            if k not in _MAY_CHANGE and old.get(k) != record.get(k)
        )
        if diff:
            raise ConfigError(
                f"{root} holds a sweep with a different search space or data (differs in "
                f"{diff}); resuming would mix them: pass a new --out folder, or --overwrite"
            )
    if write:
        atomic_write_json(path, record)
