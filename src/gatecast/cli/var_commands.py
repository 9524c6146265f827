"""`gatecast var`: Value-at-Risk and expected shortfall from walk-forward variance forecasts, backtested."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from gatecast.cli.options import given_options, overwrite_option, resume_option
from gatecast.cli.output import console, print_table

app = typer.Typer()

_SHOWN = {
    "nu": "{:.2f}",
    "exceptions": "{:.0f}",
    "expected": "{:.1f}",
    "kupiec_p": "{:.4f}",
    "ind_p": "{:.4f}",
    "cc_p": "{:.4f}",
    "basel_exceptions": "{:.0f}",
    "zone": "{}",
    "es_z2": "{:+.3f}",
    "es_p": "{:.3f}",
    "verdict": "{}",
}


@app.command("var")
def var(
    ctx: typer.Context,
    out: Path = typer.Option(
        ...,
        help="Run folder: var_backtest.csv/.json, risk.parquet, exceptions.png, run.json (and the "
        "walk-forward under evaluation/); an earlier run needs --overwrite or --resume.",
    ),
    data: str = typer.Option("sp500", help="Bundled name or a CSV/Parquet path."),
    models: str = typer.Option(
        "lstm,garch,gjr_t", help="Comma-separated variance models, e.g. lstm,garch,gjr_t,egarch_t."
    ),
    level: float = typer.Option(0.99, help="VaR confidence level (0.99: the 1% VaR)."),
    es_level: float = typer.Option(0.975, help="Expected shortfall confidence level."),
    dist: str = typer.Option("normal,t", help="Predictive distributions: normal, t or both."),
    test_start: str = typer.Option("2015-01-01", help="First test date."),
    test_end: str | None = typer.Option(None, help="Last test date (default: end of data)."),
    column: str | None = typer.Option(None, help="Price column (default adj_close)."),
    refit_every: int = typer.Option(21, help="Refit every k trading days."),
    calibration: int = typer.Option(
        250, help="Days of out-of-sample forecasts before the test that fit the t's nu."
    ),
    seeds: int = typer.Option(1, help="Seeds per recurrent model (their variances averaged)."),
    epochs: int = typer.Option(30, help="Epochs of a cold recurrent fit."),
    warm_epochs: int = typer.Option(5, help="Epochs of a warm-started refit."),
    hidden: int = typer.Option(16, help="Hidden units of the recurrent models."),
    sims: int = typer.Option(2000, help="Simulated paths for the ES test's p-value."),
    n_jobs: int = typer.Option(-1, help="Worker processes (-1: all cores; 1: sequential)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    overwrite: bool = overwrite_option("run", "its walk-forward"),
    resume: bool = resume_option("its walk-forward's finished folds are reused"),
) -> None:
    """VaR and ES from every variance model (Normal and Student-t), with Kupiec, Christoffersen,
    the Basel traffic light and the Acerbi-Szekely ES test."""
    from gatecast.experiment.var import VarConfig, run_var

    cfg = VarConfig(
        data=data,
        column=column,
        models=tuple(m for m in models.split(",") if m.strip()),
        level=level,
        es_level=es_level,
        distributions=tuple(dist.split(",")),
        test_start=test_start,
        test_end=test_end,
        refit_every=refit_every,
        calibration=calibration,
        seeds=seeds,
        recurrent_epochs=epochs,
        warm_epochs=warm_epochs,
        hidden=hidden,
        sims=sims,
        n_jobs=n_jobs,
        out=str(out),
        quiet=quiet,
        overwrite=overwrite,
        resume=resume,
    )
    cfg.check_applicable(given_options(ctx))
    res = run_var(cfg)
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    table = res.table[list(_SHOWN)].astype(object)
    for c, fmt in _SHOWN.items():
        table[c] = [fmt.format(v) if v is not None and v == v else "—" for v in res.table[c]]
    table.index = [f"{m} {d}" for m, d in table.index]
    print_table(
        table,
        f"{cfg.data}: {cfg.level:.0%} VaR, {cfg.es_level:.1%} ES, {int(res.table['n'].max())} days "
        f"{str(res.first_date)[:10]}..{str(res.last_date)[:10]}",
    )
    console.print(
        "p-values: kupiec (proportion of failures), ind (Christoffersen independence), cc "
        "(conditional coverage); zone: Basel traffic light on the last 250 days (99% VaR); "
        f"es: Acerbi-Szekely Z2 (< 0: ES too small). verdict at 5%. Written to {escape(str(out))}"
    )
