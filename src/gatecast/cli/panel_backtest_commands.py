"""`gatecast backtest` on a panel: the return models walked forward over the panel and traded
across instruments by a dollar-neutral long/short rule (docs/panel.md)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, print_table
from gatecast.experiment.settings import DataSettings, RecurrentSettings, RunSettings, WalkSettings

#: Options of the single-series backtest that a panel backtest does not take, and why.
SINGLE_SERIES_ONLY = {
    "rule": "a panel is traded by --cross-section (top_bottom or rank) across instruments",
    "upper": "it sets the threshold rule, which trades one series",
    "lower": "it sets the threshold rule, which trades one series",
    "target_vol": "volatility targeting trades one series",
    "cap": "volatility targeting trades one series",
    "blocks": "the PBO of a panel backtest is not built yet",
    "sweep": "the DSR and PBO of a panel backtest are not built yet",
    "n_trials": "the DSR of a panel backtest is not built yet",
    "var_sharpe": "the DSR of a panel backtest is not built yet",
    "from_run": "a panel backtest makes its own forecasts (no --from-run yet)",
}


def backtest_panel_command(ctx: Any, why: str) -> None:
    """Refuse the options that do not apply (by name, before anything is read), then run the
    panel backtest into its run folder and print its table."""
    from gatecast.errors import ConfigError
    from gatecast.experiment.panel_backtest import PanelBacktestConfig, run_panel_backtest
    from gatecast.experiment.panel_evaluation import panel_refusals
    from gatecast.experiment.panel_returns import RETURN_MODELS, return_model_names

    params = ctx.params
    given = options.given_options(ctx)
    order = [n for n in params if n in given and n != "panel"]
    names = return_model_names(params["models"].split(",")) if params["models"].strip() else ()
    refused = {n: SINGLE_SERIES_ONLY[n] for n in order if n in SINGLE_SERIES_ONLY}
    refused |= panel_refusals(order, names or RETURN_MODELS, "return")
    if refused:
        first = next(n for n in order if n in refused)
        spelled = "--" + ("epochs" if first == "recurrent_epochs" else first).replace("_", "-")
        raise ConfigError(
            f"{spelled} does not apply to a panel backtest: {refused[first]}; leave it out"
        )
    cfg = PanelBacktestConfig(
        **options.group_values(params, DataSettings, WalkSettings, RecurrentSettings, RunSettings),
        models=names,
        cross_section=params["cross_section"],
        fraction=params["fraction"],
        cost_bps=params["cost_bps"],
    )
    res = run_panel_backtest(cfg)
    ev = res.evaluation
    console.print(
        f"panel ({why}): {ev.source}, read as {ev.layout}; {len(set(ev.table.instrument))} "
        f"instruments"
    )
    for note in ev.notes:
        console.print(f"[yellow]note:[/] {note}")
    g = res.trades.gross.index
    table = res.table.copy()
    for c in ("ann_return", "ann_return_gross"):
        table[c] = [f"{v:+.2%}" for v in table[c]]
    for c in ("sharpe", "sharpe_gross"):
        table[c] = [f"{v:+.2f}" if v == v else "—" for v in table[c]]
    table["turnover"] = [f"{v:.2f}" for v in table["turnover"]]
    table["turnover_year"] = [f"{v:.0f}" for v in table["turnover_year"]]
    rule = res.trades.rule
    print_table(
        table,
        f"{cfg.data} cross-section {rule.scheme}"
        + (f" {rule.fraction:g}" if rule.scheme == "top_bottom" else "")
        + f", dollar-neutral, {res.trades.cost_bps:g} bps one-way: {len(g)} days "
        f"{str(g[0])[:10]}..{str(g[-1])[:10]} (ann_return and sharpe net of costs)",
    )
    console.print(escape(f"Written to {cfg.out} (forecast scores under evaluation/)"))
