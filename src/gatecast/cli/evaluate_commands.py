"""`gatecast evaluate`: walk-forward comparison of recurrent models with the classic baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gatecast.cli import options
from gatecast.cli.output import console, print_panel_read, print_per_instrument, print_table
from gatecast.experiment.evaluation import EvaluationConfig
from gatecast.experiment.registry import EvaluationTarget
from gatecast.types import Mode, Proxy

app = typer.Typer()
#: The defaults live in EvaluationConfig; the options read them.
_E = EvaluationConfig()


@app.command()
@options.with_groups("walk", "recurrent", "reading", "jobs")
def evaluate(
    ctx: typer.Context,
    data: str = options.DATA,
    target: EvaluationTarget = options.EVALUATION_TARGET,
    out: Path = typer.Option(
        ...,
        help="Run folder: leaderboard.csv, forecasts.parquet, metrics.json, plots, run.json "
        "(new or empty; an earlier run needs --overwrite or --resume).",
    ),
    models: str = typer.Option(
        "",
        help="Comma-separated, e.g. lstm,gru,garch,gjr_t,egarch_t,ewma,har,har_abs,har_daily,"
        "no_change,historical_mean,lstm_hybrid,combo (default: a set per target). har_daily and "
        "the parkinson proxy need High/Low; without them har is the HAR on |r|.",
    ),
    proxy: Proxy = options.SCORED_PROXY,
    column: str | None = options.COLUMN,
    mode: Mode = typer.Option(
        _E.mode,
        help="Recurrent models: window (a fresh pass over the last --window days per forecast) "
        "or sequence (stateful: each refit warm-starts, the state is carried day by day; "
        "return and direction targets; on a panel the global model of any target).",
    ),
    chunks: int | None = options.CHUNKS,
    chunk_len: int | None = options.CHUNK_LEN,
    burn_in: int | None = options.BURN_IN,
    features: str | None = options.FEATURES,
    ensemble: bool = typer.Option(
        _E.ensemble,
        "--ensemble",
        help="Score recurrent models on their mean forecast over the seeds (a seed ensemble; "
        "on a panel per instrument).",
    ),
    train_proxy: Proxy | None = options.TRAIN_PROXY,
    intervals: float | None = options.optional(
        help="Conformal intervals at this level (e.g. 0.9): coverage, width and coverage by "
        "volatility tercile in the leaderboard, intervals.csv and fan_chart.png.",
    ),
    interval_scale: str | None = typer.Option(
        _E.interval_scale,
        help="Variance model whose forecasts scale the return intervals: garch (default), "
        "gjr_t, lstm...",
    ),
    covariates: str | None = options.covariates_option(
        "Any target, on one series or a panel. Adds an ablation: each recurrent model with "
        "and without each group, and har beside har_x (HAR-X on the same covariates), or for "
        "returns and directions ar1 beside arx (ARX); ablation.csv."
    ),
    overwrite: bool = options.overwrite_option("run", "its folds"),
    resume: bool = options.resume_option("its finished folds are reused"),
    blocks: str | None = options.optional(
        help="Out-of-time protocol: cut the test period from --test-start into consecutive "
        "blocks of this many years (e.g. 4y), evaluate each, and pool them (blocks.csv).",
    ),
    panel: bool = options.panel_option("per-instrument table, pooled summary (docs/panel.md)"),
    **shared: Any,
) -> None:
    """Walk-forward evaluation with DM tests and the model confidence set; prints a leaderboard."""
    from gatecast.experiment.evaluation import evaluate_models

    if panel or _bundled_panel(data):
        _evaluate_panel(ctx, "--panel" if panel else "a bundled panel")
        return

    cfg = EvaluationConfig(
        **options.walk_values(ctx.params),
        target=target,
        proxy=proxy,
        models=tuple(m for m in models.split(",") if m.strip()),
        ensemble=ensemble,
        mode=mode,
        extra=dict(options.lane_values(ctx.params)),  # the recurrent models' lanes
        features=options.name_list(features),
        train_proxy=train_proxy,
        intervals=intervals,
        interval_scale=interval_scale,
        covariates=tuple(c.strip() for c in covariates.split(",")) if covariates else (),
    )
    cfg.check_applicable(options.given_options(ctx))
    if blocks is not None:
        _print_blocks(cfg, blocks)
        return
    res = evaluate_models(cfg)
    if res.dropped_rows:
        console.print(f"[yellow]dropped {res.dropped_rows} row(s) with NaN/inf values[/]")
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
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
    if res.ablation is not None and not res.ablation.empty:
        ab = res.ablation.copy()
        for col in ("in_mcs_without", "in_mcs_with"):
            ab[col] = ab[col].map({True: "yes", False: "no"})
        print_table(
            ab,
            "ablation: each model with a covariate group beside the same model without it "
            "(dm/p: DM (HLN) of with vs without; negative = the covariates lower the loss)",
        )
    if res.intervals is not None:
        iv = res.intervals
        print_table(
            iv.table.drop(columns="n").reset_index(level="method"),
            f"{iv.level:.0%} conformal intervals: coverage overall and by volatility tercile "
            f"(fixed before the test), mean width, Winkler score, pinball loss",
        )
        console.print(f"scores scaled by {iv.scale}; cover/width in the leaderboard: aci_norm")


def _bundled_panel(data: str) -> bool:
    from gatecast.data.panel import BUNDLED_PANELS
    from gatecast.data.sources import BUNDLED_PREFIX

    name = data.strip().lower().removeprefix(BUNDLED_PREFIX)
    return name in BUNDLED_PANELS and not Path(data).exists()


def _evaluate_panel(ctx: typer.Context, why: str) -> None:
    """``gatecast evaluate`` on a panel: options that do not apply refused by name, then the
    panel walk-forward, its run folder, the pooled summary and the per-instrument table."""
    from gatecast.experiment.panel_evaluation import (
        PANEL_MODELS,
        PanelEvaluationConfig,
        check_panel_target,
        panel_model_names,
        panel_refusals,
        run_panel_evaluation,
    )
    from gatecast.experiment.panel_returns import (
        POINT_TARGETS,
        point_defaults,
        return_model_names,
    )

    params = ctx.params
    target = params["target"]
    check_panel_target(target, "squared")
    points = target in POINT_TARGETS  # a return or its direction
    given = params["models"].split(",")
    names: tuple[str, ...] = ()
    if params["models"].strip():
        names = return_model_names(given, target) if points else panel_model_names(given)
    defaults = point_defaults(target) if points else PANEL_MODELS
    asked = options.given_in_order(ctx)
    options.refuse_on_panel(panel_refusals(asked, names or defaults, target, params["seeds"]))
    cfg = PanelEvaluationConfig(
        **options.walk_values(params),
        target=target,
        proxy=params["proxy"],
        models=names,
        covariates=options.name_list(params["covariates"]) or (),
        mode=params["mode"],
        ensemble=params["ensemble"],
        **options.lane_values(params),
    )
    res = run_panel_evaluation(cfg)
    print_panel_read(why, res.source, res.layout, len(set(res.table.instrument)), res.notes)
    dates = res.walk.forecasts.index.get_level_values("date")
    summary = res.summary.copy()
    print_table(
        summary,
        f"{cfg.data} {target if points else 'variance (squared proxy)'}, pooled "
        f"over instruments: "
        f"{str(dates.min())[:10]}..{str(dates.max())[:10]}, "
        f"{res.walk.folds['fold'].nunique()} refits",
    )
    print_per_instrument(
        _per_instrument(res.table, res.scores.reference, res.scores.alpha),
        f"per instrument: {res.scores.loss.upper()} ratio to {res.scores.reference}",
        cfg.out,
    )
    console.print(
        f"median_ratio: median over instruments of {res.scores.loss.upper()} / "
        f"{res.scores.reference}'s; wins / "
        f"losses: instruments where the DM (HLN) test vs {res.scores.reference} is significant "
        f"at {res.scores.alpha:.0%} for / against the model; in_mcs: instruments whose "
        f"{1 - res.scores.mcs_size:.0%} model confidence set holds it. out_of_mcs, dm_wins, "
        f"dm_losses: the models, per instrument. Written to {cfg.out}"
    )
    if res.ablation is not None and not res.ablation.empty:
        loss = res.scores.loss.upper()
        print_table(
            res.ablation,
            f"ablation: each model with covariates beside the same model without them "
            f"(median_ratio: median over instruments of {loss} / {res.scores.reference}'s; "
            f"ratio_to_without: median over instruments of {loss} with / without, below 1 = "
            f"the covariates lower the loss; in_mcs: instruments)",
        )
    if res.seeds is not None:
        print_table(
            res.seeds.per_seed,
            "each seed alone (its recurrent models beside the classical ones): pooled "
            "summary; the summary above scores each recurrent model on "
            + (
                f"the {res.scores.loss.upper()} of its {cfg.seeds} seeds' mean forecast"
                if cfg.ensemble
                else f"the mean of its {cfg.seeds} seeds' {res.scores.loss.upper()} date by date"
            ),
        )
        print_table(
            res.seeds.spread,
            "seed spread: the pooled median ratio over seeds (min, median, max, sd)",
        )


def _per_instrument(table: Any, reference: str, alpha: float) -> Any:
    """One row per instrument: each model's QLIKE ratio, and which models are out of its MCS
    or significantly better / worse than the reference."""
    import pandas as pd

    wide = table.pivot(index="instrument", columns="model", values="ratio")
    wide = wide[list(dict.fromkeys(table["model"]))].drop(columns=reference)
    sig = table["p_ref"] < alpha

    def listed(mask: Any) -> pd.Series:
        picked = table[mask].groupby("instrument")["model"].agg(lambda m: ",".join(m))
        out: pd.Series = picked.reindex(wide.index).fillna("-")
        return out

    wide["out_of_mcs"] = listed(~table["in_mcs"].astype(bool))
    wide["dm_wins"] = listed(sig & (table["dm_ref"] < 0))
    wide["dm_losses"] = listed(sig & (table["dm_ref"] > 0))
    wide.columns.name = None
    return wide


def _print_blocks(cfg: EvaluationConfig, blocks: str) -> None:
    from gatecast.experiment.blocks import evaluate_blocks

    res = evaluate_blocks(cfg, blocks)
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}")
    spans = ", ".join(
        f"{b.label} ({r.n_dates} days)" for b, r in zip(res.blocks, res.results, strict=True)
    )
    print_table(
        res.wide(),
        f"{cfg.data} {cfg.target}: {res.primary_loss} per block ({spans}) and pooled",
    )
    console.print(
        f"*: outside that block's {1 - cfg.mcs_size:.0%} model confidence set. pooled_p_ref / "
        f"pooled_p_best: DM (HLN) p-value of the pooled per-date losses vs {res.reference} / "
        f"the best baseline {res.best_baseline}. {res.seconds:.0f} s. Written to {cfg.out} "
        f"(blocks.csv, blocks.json, a run folder per block)"
    )
