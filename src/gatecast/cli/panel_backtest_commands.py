"""`gatecast backtest` on a panel: the return models walked forward over the panel and traded
across instruments by a dollar-neutral long/short rule (docs/panel.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, print_table
from gatecast.experiment.settings import (
    DataSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    group_fields,
)

#: Options of the single-series backtest that a panel backtest does not take, and why.
SINGLE_SERIES_ONLY = {
    "rule": "a panel is traded by --cross-section (top_bottom or rank) across instruments",
    "upper": "it sets the threshold rule, which trades one series",
    "lower": "it sets the threshold rule, which trades one series",
    "target_vol": "volatility targeting trades one series",
    "cap": "volatility targeting trades one series",
}


def panel_run(from_run: Path | None) -> bool:
    """Whether ``from_run`` is a panel evaluation's run folder (then the panel backtest trades
    it); a folder that is no run is left to the single-series backtest to refuse."""
    if from_run is None:
        return False
    from gatecast.errors import ConfigError
    from gatecast.experiment.panel_evaluation import PANEL_KIND
    from gatecast.experiment.run_reader import Run

    try:
        return Run.open(from_run).kind == PANEL_KIND
    except ConfigError:
        return False


def backtest_panel_command(ctx: Any, why: str) -> None:
    """Refuse the options that do not apply (by name, before anything is read), then run the
    panel backtest into its run folder and print its table."""
    from gatecast.errors import ConfigError
    from gatecast.experiment.panel_backtest import PanelBacktestConfig, run_panel_backtest
    from gatecast.experiment.panel_evaluation import panel_refusals
    from gatecast.experiment.panel_returns import RETURN_MODELS, return_model_names

    params = ctx.params
    order = options.given_in_order(ctx)
    names = return_model_names(params["models"].split(",")) if params["models"].strip() else ()
    refused = {n: SINGLE_SERIES_ONLY[n] for n in order if n in SINGLE_SERIES_ONLY}
    from_run = params.get("from_run")
    if from_run is not None:  # the walk that made the forecasts is the run's own
        because = (
            f"the forecasts of --from-run {from_run} were made with the data and walk-forward "
            f"of that run (its run.json), which would ignore it (or leave out --from-run to "
            f"make new forecasts)"
        )
        walk_fields = (*group_fields(DataSettings, WalkSettings, RecurrentSettings), "covariates")
        refused |= {n: because for n in order if n in walk_fields}
    else:
        # --blocks here is the PBO's CSCV blocks, not evaluate's out-of-time blocks
        walked = [n for n in order if n != "blocks"]
        refused |= panel_refusals(walked, names or RETURN_MODELS, "return")
    if refused:
        first = next(n for n in order if n in refused)
        raise ConfigError(
            f"{options.option_name(first)} does not apply to a panel backtest: {refused[first]}; leave it out"
        )
    walk = () if from_run else (DataSettings, WalkSettings, RecurrentSettings)
    cfg = PanelBacktestConfig(
        **options.group_values(params, *walk, RunSettings),
        models=names,
        cross_section=params["cross_section"],
        fraction=params["fraction"],
        cost_bps=params["cost_bps"],
        pbo_blocks=params["blocks"],
        n_trials=params["n_trials"],
        var_sharpe_annual=params["var_sharpe"],
        from_run=None if from_run is None else str(from_run),
        sweep=None if params.get("sweep") is None else str(params["sweep"]),
        covariates=options.name_list(params["covariates"]) or (),
    )
    res = run_panel_backtest(cfg)
    ev = res.evaluation
    n = res.trades.weights[next(iter(res.trades.weights))].shape[1]
    read = f"read as {ev.layout}; " if ev is not None else ""
    console.print(escape(f"panel ({why}): {res.source}, {read}{n} instruments"))
    for note in res.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    g = res.trades.gross.index
    table = res.table.copy()
    for c in ("ann_return", "ann_return_gross"):
        table[c] = [f"{v:+.2%}" for v in table[c]]
    for c in ("sharpe", "sharpe_gross"):
        table[c] = [f"{v:+.2f}" if v == v else "—" for v in table[c]]
    for c in ("psr", "dsr"):
        table[c] = [f"{v:.3f}" if v == v else "—" for v in table[c]]
    table["n_trials"] = [f"{v:.0f}" for v in table["n_trials"]]
    table["sr0"] = [f"{v:.4f}" for v in table["sr0"]]
    table["turnover"] = [f"{v:.2f}" for v in table["turnover"]]
    table["turnover_year"] = [f"{v:.0f}" for v in table["turnover_year"]]
    table["look_ahead"] = ["yes" if v else "" for v in table["look_ahead"]]
    rule = res.trades.rule
    print_table(
        table,
        f"{cfg.data} cross-section {rule.scheme}"
        + (f" {rule.fraction:g}" if rule.scheme == "top_bottom" else "")
        + f", dollar-neutral, {res.trades.cost_bps:g} bps one-way: {len(g)} days "
        f"{str(g[0])[:10]}..{str(g[-1])[:10]} (ann_return and sharpe net of costs; dsr "
        f"deflated for n_trials; sr0 per day)",
    )
    pbo = res.pbo
    if pbo is not None:
        console.print(
            f"PBO {pbo.pbo:.2f} over {pbo.n_configs} configurations ({pbo.n_splits:,} CSCV "
            f"splits); P(out-of-sample loss) {pbo.prob_oos_loss:.2f}; degradation slope "
            f"{pbo.degradation_slope:+.2f}"
        )
    else:
        console.print(escape(f"PBO not computed: {res.statistics.pbo_note}"))
    screen = res.trades.lookahead
    for (model, instrument), row in screen[screen["look_ahead"]].iterrows():
        console.print(
            f"[red]possible look-ahead:[/] {escape(f'{model} on {instrument}: {row.reason}')}"
        )
    console.print(escape(res.verdict()))
    where = "" if cfg.from_run else " (forecast scores under evaluation/)"
    console.print(escape(f"Written to {cfg.out}{where}"))
