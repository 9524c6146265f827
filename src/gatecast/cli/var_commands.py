"""`gatecast var`: Value-at-Risk and expected shortfall from walk-forward variance forecasts, backtested."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, formatted, print_table

app = typer.Typer()


@app.command("var")
@options.with_groups("walk", "recurrent", "reading", "jobs")
def var(
    ctx: typer.Context,
    out: Path = typer.Option(
        ...,
        help="Run folder: var_backtest.csv/.json, risk.parquet, exceptions.png, run.json (and the "
        "walk-forward under evaluation/); an earlier run needs --overwrite or --resume.",
    ),
    data: str = options.DATA,
    models: str = typer.Option(
        "lstm,garch,gjr_t", help="Comma-separated variance models, e.g. lstm,garch,gjr_t,egarch_t."
    ),
    level: str = typer.Option(
        "0.99", help="VaR confidence level (0.99: the 1% VaR); on a panel, several: 0.99,0.95."
    ),
    es_level: float = typer.Option(0.975, help="Expected shortfall confidence level."),
    dist: str = typer.Option("normal,t", help="Predictive distributions: normal, t or both."),
    column: str | None = options.COLUMN,
    calibration: int = typer.Option(
        250, help="Days of out-of-sample forecasts before the test that fit the t's nu."
    ),
    sims: int = typer.Option(2000, help="Simulated paths for the ES test's p-value."),
    horizon: int = typer.Option(
        1,
        help="Also the h-day VaR (e.g. 10): the square-root-of-time rule beside the model's own "
        "h-day variance (GARCH/GJR closed form), Kupiec on non-overlapping h-day windows.",
    ),
    covariates: str | None = options.covariates_option(
        "Each recurrent model is backtested with and without each group (lstm, lstm+vix), "
        "har beside har_x (HAR-X)."
    ),
    overwrite: bool = options.overwrite_option("run", "its walk-forward"),
    resume: bool = options.resume_option("its walk-forward's finished folds are reused"),
    panel: bool = options.panel_option(
        "VaR backtests per instrument and pooled per model (docs/var.md)"
    ),
    **shared: Any,
) -> None:
    """VaR and ES from every variance model (Normal and Student-t), with Kupiec, Christoffersen,
    the Basel traffic light and the Acerbi-Szekely ES test."""
    from gatecast.cli.evaluate_commands import _bundled_panel
    from gatecast.errors import ConfigError
    from gatecast.experiment.var import SHOWN, VarConfig, run_var

    levels = options.float_list(level, "--level") or ()
    if panel or _bundled_panel(data):
        from gatecast.cli.panel_var_commands import var_on_panel

        var_on_panel(ctx, "--panel" if panel else "a bundled panel", levels)
        return
    if len(levels) != 1:
        raise ConfigError(f"--level {level}: one level on one series (several on a panel)")
    cfg = VarConfig(
        **options.walk_values(ctx.params),
        models=tuple(m for m in models.split(",") if m.strip()),
        level=levels[0],
        es_level=es_level,
        distributions=tuple(dist.split(",")),
        calibration=calibration,
        sims=sims,
        horizon=horizon,
        covariates=options.name_list(covariates) or (),
    )
    cfg.check_applicable(options.given_options(ctx))
    res = run_var(cfg)
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    table = formatted(res.table, SHOWN)
    table.index = [f"{m} {d}" for m, d in table.index]
    print_table(
        table,
        f"{cfg.data}: {cfg.level:.0%} VaR, {cfg.es_level:.1%} ES, {int(res.table['n'].max())} days "
        f"{str(res.first_date)[:10]}..{str(res.last_date)[:10]}",
    )
    if res.horizon_table is not None:
        h = res.horizon_table
        shown = h.round(4).astype(object)
        shown.index = [f"{m} {d}" for m, d in h.index]
        print_table(
            shown,
            f"{cfg.horizon}-day {cfg.level:.0%} VaR (percent loss) on {int(h['windows'].max())} "
            f"non-overlapping windows: square-root-of-time rule (sqrt) beside the model's own "
            f"(own)",
        )
        n = int(h["windows"].max())
        console.print(
            f"with {n} windows, {1 - cfg.level:.0%} exceptions expect {n * (1 - cfg.level):.1f}: "
            + _power_line(n, 1 - cfg.level)
        )
    console.print(
        "p-values: kupiec (proportion of failures), ind (Christoffersen independence), cc "
        "(conditional coverage); zone: Basel traffic light on the last 250 days (99% VaR); "
        f"es: Acerbi-Szekely Z2 (< 0: ES too small). verdict at 5%. Written to {escape(str(out))}"
    )


def _power_line(n: int, p: float) -> str:
    """Which exception counts Kupiec rejects at 5% with ``n`` windows: how little it can see."""
    from gatecast.evaluation.var import kupiec_pof

    reject = [x for x in range(n + 1) if kupiec_pof(x, n, p).pvalue < 0.05]
    low = [x for x in reject if x < n * p]
    high = min(x for x in reject if x > n * p)
    below = f", or {max(low)} or fewer," if low else " (no count is too few to reject)"
    return (
        f"Kupiec rejects at 5% only {high} or more exceptions{below}; every count between "
        "passes, so a test this short sees only gross errors"
    )
