"""`gatecast sweep`: choose a recurrent configuration on a selection period, test only the choice."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from gatecast.cli import options
from gatecast.cli.output import (
    FOLD_ROWS,
    console,
    print_panel_read,
    print_per_instrument,
    print_table,
)
from gatecast.errors import ConfigError
from gatecast.experiment.registry import EvaluationTarget
from gatecast.experiment.settings import DataSettings, RunSettings, SeedSettings, WalkSettings
from gatecast.experiment.sweep import Sampler

if TYPE_CHECKING:
    from gatecast.experiment.sweep import PanelSweepConfig
from gatecast.types import Proxy

app = typer.Typer()


@app.command()
@options.with_groups("walk", "reading", "executor")
def sweep(
    ctx: typer.Context,
    out: Path = typer.Option(
        ...,
        help="Run folder: trials/, trials.parquet, selection.csv, test.csv, selection.png, "
        "run.json; an earlier sweep needs --resume (its trials are read back) or --overwrite.",
    ),
    grid: list[str] = typer.Option(
        [],
        "--grid",
        help="Values to try, e.g. --grid 'window=10,22,63 cell=lstm,gru lr=5e-4,1e-3' "
        "(repeatable; any constructor parameter of the recurrent model).",
    ),
    fixed: list[str] = typer.Option(
        [],
        "--set",
        help="Parameters fixed for every configuration, e.g. --set 'epochs=10 hidden=8'.",
    ),
    data: str = options.DATA,
    target: EvaluationTarget = options.EVALUATION_TARGET,
    proxy: Proxy = options.SCORED_PROXY,
    column: str | None = options.COLUMN,
    select_start: str | None = options.optional(
        help="First selection date (default: 4 years before --test-start)."
    ),
    select_end: str | None = options.optional(
        help="Last selection date (default: the day before --test-start)."
    ),
    sampler: Sampler = typer.Option(
        "grid", help="grid (every combination), or tpe / random (Optuna, --trials of them)."
    ),
    trials: int | None = options.optional(help="Configurations an Optuna sampler tries."),
    seeds: int = options.SEEDS,
    top_k: int = typer.Option(1, help="Configurations (best by selection loss) to test."),
    record: bool = typer.Option(
        False,
        "--record",
        help="Also test every other configuration, in a separate table never used to choose "
        "(costs one test walk-forward per configuration and seed).",
    ),
    baselines: str = typer.Option(
        "", help="Models scored beside the choice on both periods, e.g. garch,gjr_t,har."
    ),
    covariates: str | None = options.covariates_option(
        "Every configuration's recurrent model reads them (lstm+vix), and so do the baselines "
        "har_x (variance) and arx (return, direction) when named; --grid covariates=none,vix "
        "chooses among them."
    ),
    overwrite: bool = options.overwrite_option("sweep", "its trials"),
    resume: bool = options.resume_option("its finished trials are read back (--seeds may grow)"),
    panel: bool = options.panel_option(
        "the global model's parameters are swept, each trial scored by the median over "
        "instruments of its loss ratio to the reference (docs/sweep.md)"
    ),
    **shared: Any,
) -> None:
    """Nested selection: walk-forward on the selection period, the chosen configuration on the test."""
    from gatecast.experiment.panel_serving import is_panel_source
    from gatecast.experiment.sweep import PanelSweepConfig, SweepConfig, parse_space, run_sweep

    on_panel = panel or is_panel_source(data)
    kind = PanelSweepConfig if on_panel else SweepConfig
    cfg = kind(
        **options.group_values(ctx.params, DataSettings, WalkSettings, SeedSettings, RunSettings),
        target=target,
        proxy=proxy,
        select_start=select_start,
        select_end=select_end,
        grid=parse_space(grid, target, panel=on_panel),
        fixed={k: v[0] for k, v in _fixed(fixed, target, on_panel).items()},
        sampler=sampler,
        trials=trials,
        top_k=top_k,
        record=record,
        baselines=tuple(b.strip() for b in baselines.split(",") if b.strip()),
        covariates=options.name_list(covariates) or (),
    )
    if isinstance(cfg, PanelSweepConfig):
        _sweep_panel(cfg, out, "--panel" if panel else "a bundled panel")
        return
    given = options.given_options(ctx)
    if "proxy" in given and target != "variance":
        raise ConfigError(
            f"--proxy does not apply to --target {target}: the proxy is what variance forecasts "
            f"are scored against; leave it out"
        )
    res = run_sweep(cfg)
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    (s0, s1), (t0, t1) = res.periods["select"], res.periods["test"]
    loss = res.loss_name
    print_table(
        res.selection,
        f"selection {s0}..{s1}: {res.n_configs} configurations x {cfg.seeds} seed(s), "
        f"{loss} mean and sd over seeds (rank 1 is chosen)",
        max_rows=FOLD_ROWS,
        full_table=str(out / "selection.csv"),
    )
    print_table(
        res.test,
        f"test {t0}..{t1}: the top {cfg.top_k} by selection {loss} and the baselines, "
        "selection and test side by side",
    )
    if res.record is not None:
        print_table(
            res.record,
            "for the record: test scores of the other configurations (never used to choose)",
            max_rows=FOLD_ROWS,
            full_table=str(out / "record.csv"),
        )
    console.print(
        f"selected: {res.selected_text()}; {len(res.trials)} trial runs "
        f"({res.resumed} read back from {out}); DSR/PBO count N = {res.n_trials}; "
        f"plot: {out / 'selection.png'}"
    )


def _sweep_panel(cfg: PanelSweepConfig, out: Path, why: str) -> None:
    """A sweep on a panel: run it, print the selection, the choice and the test's panel
    leaderboard (pooled and per instrument)."""
    from gatecast.cli.evaluate_commands import _per_instrument
    from gatecast.experiment.sweep import run_panel_sweep

    res = run_panel_sweep(cfg)
    test = res.test
    print_panel_read(why, test.source, test.layout, len(set(test.table.instrument)), res.notes)
    (s0, s1), (t0, t1) = res.periods["select"], res.periods["test"]
    print_table(
        res.selection,
        f"selection {s0}..{s1}: {res.n_configs} configurations x {cfg.seeds} seed(s), the "
        f"{res.statistic}, mean and sd over seeds (rank 1 is chosen)",
        max_rows=FOLD_ROWS,
        full_table=str(out / "selection.csv"),
    )
    scores = test.scores
    print_table(
        test.summary,
        f"test {t0}..{t1}: the chosen configuration ({res.selected_model}, seed 0) beside the "
        f"baselines, pooled over instruments",
    )
    print_per_instrument(
        _per_instrument(test.table, scores.reference, scores.alpha),
        f"per instrument: {scores.loss.upper()} ratio to {scores.reference}",
        out / "test",
    )
    console.print(
        f"selected: {res.selected_text()}; {len(res.trials)} trial runs ({res.resumed} read "
        f"back from {out}); median_ratio: median over instruments of {scores.loss.upper()} / "
        f"{scores.reference}'s; the test's panel evaluation: {out / 'test'}"
    )


def _fixed(
    items: list[str], target: EvaluationTarget, panel: bool = False
) -> dict[str, tuple[object, ...]]:
    from gatecast.experiment.sweep import parse_space

    space = parse_space(items, target, panel=panel)
    many = [k for k, v in space.items() if len(v) != 1]
    if many:
        raise ConfigError(f"--set {many[0]} has several values; sweep it with --grid instead")
    return space
