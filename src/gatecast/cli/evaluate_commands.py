"""`gatecast evaluate`: walk-forward comparison of recurrent models with the classic baselines."""

from __future__ import annotations

from pathlib import Path

import typer

from gatecast.cli.output import console, print_table
from gatecast.experiment.registry import EvaluationTarget
from gatecast.types import Proxy, Scheme

app = typer.Typer()


@app.command()
def evaluate(
    data: str = typer.Option(
        "sp500",
        help="Bundled name or a CSV/Parquet path (needs High/Low "
        "for the parkinson proxy and the HAR model).",
    ),
    target: EvaluationTarget = typer.Option("variance", help="variance, return or direction."),
    out: Path = typer.Option(
        ...,
        help="Run folder: leaderboard.csv, forecasts.parquet, "
        "metrics.json, plots; finished folds are reused.",
    ),
    models: str = typer.Option(
        "",
        help="Comma-separated, e.g. lstm,gru,garch,gjr_t,egarch_t,"
        "ewma,har,har_daily,no_change,historical_mean (default: a set per target).",
    ),
    proxy: Proxy = typer.Option("squared", help="Variance proxy: squared or parkinson."),
    column: str | None = typer.Option(None, help="Price column (default adj_close)."),
    test_start: str = typer.Option("2015-01-01", help="First test date."),
    test_end: str | None = typer.Option(None, help="Last test date (default: end of data)."),
    refit_every: int = typer.Option(21, help="Refit every k trading days."),
    scheme: Scheme = typer.Option(
        "expanding",
        "--scheme",
        "--window",
        help="Training scheme: expanding or rolling (--window is its earlier name).",
    ),
    train_size: int | None = typer.Option(None, help="Rows of a rolling training window."),
    gap: int = typer.Option(0, help="Rows left out between training and test (embargo)."),
    seeds: int = typer.Option(1, help="Seeds per recurrent model (reported as mean and sd)."),
    recurrent_epochs: int = typer.Option(30, help="Epochs of a cold recurrent fit."),
    warm_epochs: int = typer.Option(5, help="Epochs of a warm-started refit."),
    warm_start: bool = typer.Option(True, help="Refit recurrent models from the last weights."),
    hidden: int = typer.Option(16, help="Hidden units of the recurrent models."),
    train_proxy: Proxy = typer.Option(
        "parkinson", help="What recurrent variance models train against: parkinson or squared."
    ),
    n_jobs: int = typer.Option(-1, help="Worker processes (-1: all cores; 1: sequential)."),
    sort: bool = typer.Option(False, "--sort", help="Sort unsorted dates instead of failing."),
    dropna: bool = typer.Option(
        False,
        "--dropna",
        help="Drop rows with NaN/inf in a used column (the count is reported).",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Walk-forward evaluation with DM tests and the model confidence set; prints a leaderboard."""
    from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

    cfg = EvaluationConfig(
        data=data,
        target=target,
        proxy=proxy,
        column=column,
        test_start=test_start,
        test_end=test_end,
        refit_every=refit_every,
        scheme=scheme,
        train_size=train_size,
        gap=gap,
        models=tuple(m for m in models.split(",") if m.strip()),
        seeds=seeds,
        recurrent_epochs=recurrent_epochs,
        warm_epochs=warm_epochs,
        warm_start=warm_start,
        hidden=hidden,
        train_proxy=train_proxy,
        n_jobs=n_jobs,
        sort=sort,
        dropna=dropna,
        out=str(out),
        quiet=quiet,
    )
    res = evaluate_models(cfg)
    if res.dropped_rows:
        console.print(f"[yellow]dropped {res.dropped_rows} row(s) with NaN/inf values[/]")
    if res.dates_not_forecast_by_every_model:
        console.print(
            f"scored on the {res.n_dates} dates every model forecasts "
            f"({res.dates_not_forecast_by_every_model} test date(s) left out)"
        )
    board = res.leaderboard.copy()
    board["in_mcs"] = board["in_mcs"].map({True: "yes", False: "no"})
    board = board.dropna(axis=1, how="all")
    if (board["seeds"] == 1).all():
        board = board.drop(columns="seeds")
    print_table(
        board,
        f"{data} {target}{' (' + proxy + ' proxy)' if target == 'variance' else ''}: "
        f"{res.n_dates} days {str(res.first_date)[:10]}..{str(res.last_date)[:10]}, "
        f"{res.n_folds} refits",
    )
    console.print(
        f"dm_ref/p_ref: DM (HLN) vs {res.reference}; dm_best/p_best: vs the best baseline "
        f"{res.best_baseline}; negative = lower {res.primary_loss}. in_mcs: in the "
        f"{1 - cfg.mcs_size:.0%} model confidence set. Written to {out}"
    )
