"""`gatecast var` on a panel: per-instrument VaR/ES backtests and their pooled summary."""

from __future__ import annotations

import typer
from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, print_panel_read, print_per_instrument, print_table

#: Summary columns printed, with their format.
_SHOWN = {
    "instruments": "{:.0f}",
    "hit_rate": "{:.4f}",
    "expected_rate": "{:.3f}",
    "median_ratio": "{:.2f}",
    "kupiec_rejected": "{:.0f}",
    "too_many": "{:.0f}",
    "too_few": "{:.0f}",
    "ind_rejected": "{:.0f}",
    "cc_rejected": "{:.0f}",
    "es_rejected": "{:.0f}",
}


def var_on_panel(ctx: typer.Context, why: str, levels: tuple[float, ...]) -> None:
    """``gatecast var`` on a panel: options that do not apply refused by name, then the panel
    walk-forward, each instrument's VaR backtests, the run folder and the pooled summary."""
    from gatecast.experiment.panel_evaluation import PANEL_MODELS, panel_model_names
    from gatecast.experiment.panel_var import PanelVarConfig, panel_var_refusals, run_panel_var

    params = ctx.params
    names = (
        panel_model_names(params["models"].split(",")) if params["models"].strip() else PANEL_MODELS
    )
    options.refuse_on_panel(panel_var_refusals(options.given_in_order(ctx), names))
    cfg = PanelVarConfig(
        **options.walk_values(params),
        models=names,
        levels=levels,
        es_level=params["es_level"],
        distributions=tuple(params["dist"].split(",")),
        calibration=params["calibration"],
        sims=params["sims"],
        horizon=params["horizon"],
        covariates=options.name_list(params["covariates"]) or (),
    )
    res = run_panel_var(cfg)
    print_panel_read(why, res.source, res.layout, len(res.instruments), res.notes)
    summary = res.summary[list(_SHOWN)].astype(object)
    for c, fmt in _SHOWN.items():
        summary[c] = [fmt.format(v) for v in res.summary[c]]
    summary.index = [f"{m} {d} {lv:g}" for m, d, lv in res.summary.index]
    print_table(summary, f"{res.title()}; pooled over instruments")
    if res.horizon_summary is not None:
        h = res.horizon_summary.round(4).astype(object)
        h.index = [f"{m} {d} {lv:g}" for m, d, lv in res.horizon_summary.index]
        print_table(h, f"{cfg.horizon}-day VaR on non-overlapping windows, pooled over instruments")
    level = cfg.levels[0]
    table = res.table[res.table["level"] == level]
    cells = table.assign(
        label=table["model"] + " " + table["distribution"],
        cell=[
            f"{x}{'*' if p < cfg.alpha else ''}"
            for x, p in zip(table["exceptions"], table["kupiec_p"], strict=True)
        ],
    )
    wide = cells.pivot(index="instrument", columns="label", values="cell")
    wide = wide[list(dict.fromkeys(cells["label"]))]
    wide.columns.name = None
    n = table.groupby("instrument")["n"].first()
    wide.insert(0, "expected", [f"{v * (1 - level):.1f}" for v in n.reindex(wide.index)])
    print_per_instrument(
        wide,
        f"per instrument: exceptions of the {level:g} VaR (*: Kupiec rejects at {cfg.alpha:g})",
        cfg.out,
    )
    console.print(
        f"hit_rate: exceptions / days over all instruments; median_ratio: median over instruments "
        f"of exceptions / expected; *_rejected: instruments whose test's p-value is below "
        f"{cfg.alpha:g} (kupiec: proportion of failures, split into too_many and too_few; ind: "
        f"Christoffersen independence; cc: conditional coverage; es: Acerbi-Szekely Z2 at "
        f"{cfg.es_level:g}). Written to {escape(str(cfg.out))}"
    )
