"""`gatecast backtest`: trade walk-forward forecasts after costs, deflated for the trials run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import COLUMN_FORMATS, console, formatted, print_table
from gatecast.evaluation.trading import RuleName
from gatecast.evaluation.trading.cross_section import Scheme
from gatecast.experiment.report.formatting import BACKTEST_COLUMNS
from gatecast.experiment.settings import (
    DataSettings,
    RecurrentSettings,
    WalkSettings,
    group_fields,
)

app = typer.Typer()

#: The printed columns, those a decision rests on first (the order of BACKTEST_COLUMNS: net
#: Sharpe, DSR, PSR, break-even cost), so that on a narrow terminal they are the ones on the
#: first screen.
_SHOWN = [c for c in BACKTEST_COLUMNS if c in COLUMN_FORMATS]


#: Options of the walk-forward that made the forecasts: with --from-run they are the run's own.
_RUN_OPTIONS = {
    name: options.option_name(name)
    for name in group_fields(DataSettings, WalkSettings, RecurrentSettings)
}


def _given(ctx: typer.Context, names: dict[str, str]) -> list[str]:
    """The options among ``names`` the user gave, whatever their value: a default typed out is
    given too."""
    typed = options.given_options(ctx)
    return [option for name, option in names.items() if name in typed]


@app.command()
@options.with_groups("walk", "recurrent", "reading", "jobs")
def backtest(
    ctx: typer.Context,
    out: Path = typer.Option(
        ...,
        help="Run folder: backtest.csv, returns.parquet, cost_sweep.csv, pbo.json, plots, "
        "run.json (and the walk-forward under evaluation/); an earlier run needs --overwrite "
        "or --resume.",
    ),
    data: str = options.DATA,
    models: str = typer.Option(
        "", help="Comma-separated identifiers (default: lstm,gru,ar1 for the return rules)."
    ),
    rule: RuleName = typer.Option(
        "sign",
        help="sign or long_flat (return forecasts), threshold (direction probabilities), "
        "vol_target (variance forecasts).",
    ),
    cost_bps: float = typer.Option(5.0, help="One-way cost in bps of the traded amount |dw|."),
    from_run: Path | None = options.optional(
        help="A finished `gatecast evaluate` folder (on a panel: of --target return): trade its "
        "forecasts, no refitting (its data and walk-forward are the run's own: --data, "
        "--test-start... are refused beside it).",
    ),
    column: str | None = options.COLUMN,
    upper: float = typer.Option(0.55, help="threshold rule: long above this probability."),
    lower: float = typer.Option(0.45, help="threshold rule: short below this probability."),
    target_vol: float = typer.Option(
        10.0, help="Volatility targeting: annualised volatility aimed at, in percent."
    ),
    cap: float = typer.Option(1.0, help="Volatility targeting: the largest position."),
    blocks: int = typer.Option(16, help="CSCV blocks for the PBO (C(16,8) = 12,870 splits)."),
    sweep: Path | None = options.optional(
        help="A `gatecast sweep` folder to cite: N of the DSR = its configurations tried, "
        "Var[SR] and the PBO from its trials' net returns on its selection period (on a "
        "panel: a sweep on the same panel of returns, its trials traded by --cross-section).",
    ),
    n_trials: int | None = options.optional(
        help="Override N of the DSR (default: every seed of every model asked for, identical "
        "return series once).",
    ),
    var_sharpe: float | None = options.optional(
        help="Override the variance of the trials' annualised Sharpe ratios."
    ),
    covariates: str | None = options.covariates_option(
        "Each recurrent model is traded with and without each group (lstm, lstm+vix), ar1 "
        "beside arx (ARX), for --rule vol_target har beside har_x."
    ),
    panel: bool = options.panel_option(
        "return forecasts traded across instruments (docs/panel.md)"
    ),
    cross_section: Scheme = typer.Option(
        "top_bottom",
        help="Panel only: top_bottom (long the top --fraction by forecast, short the bottom) "
        "or rank (weights from the ranks); dollar-neutral.",
    ),
    fraction: float = typer.Option(
        0.2, help="Panel, top_bottom: the share of instruments on each side."
    ),
    overwrite: bool = options.overwrite_option("backtest", "its walk-forward"),
    resume: bool = options.resume_option("its walk-forward's finished folds are reused"),
    **shared: Any,
) -> None:
    """Cost-aware backtest of walk-forward forecasts with buy-and-hold, PSR/DSR and the PBO."""
    from gatecast.cli.evaluate_commands import _bundled_panel
    from gatecast.cli.panel_backtest_commands import backtest_panel_command, panel_run
    from gatecast.errors import ConfigError
    from gatecast.experiment.backtest import BacktestConfig, run_backtest

    if panel or _bundled_panel(data) or panel_run(from_run):
        why = "--panel" if panel else "a panel run" if from_run else "a bundled panel"
        return backtest_panel_command(ctx, why)
    if _given(ctx, {"cross_section": "--cross-section", "fraction": "--fraction"}):
        raise ConfigError(
            "--cross-section and --fraction trade a panel across instruments; give --panel "
            "(or a bundled panel such as sp500_stocks), or leave them out"
        )
    ignored = (
        _given(ctx, {**_RUN_OPTIONS, "covariates": "--covariates"}) if from_run is not None else []
    )
    if ignored:
        raise ConfigError(
            f"{', '.join(ignored)} cannot be used with --from-run: the forecasts of {from_run} "
            f"were made with the data and walk-forward of that run (its metrics.json), which "
            f"label the backtest; drop {'it' if len(ignored) == 1 else 'them'}, or leave out "
            f"--from-run to make new forecasts"
        )
    if rule != "threshold":
        unused = _given(ctx, {"upper": "--upper", "lower": "--lower"})
        if unused:
            raise ConfigError(
                f"{', '.join(unused)} set the threshold rule's bands; rule {rule!r} does not use "
                f"them: leave them out, or pass --rule threshold"
            )
    cfg = BacktestConfig(
        **options.walk_values(ctx.params),
        models=tuple(models.split(",")),
        rule=rule,
        cost_bps=cost_bps,
        upper=upper,
        lower=lower,
        target_vol=target_vol,
        cap=cap,
        from_run=str(from_run) if from_run else None,
        pbo_blocks=blocks,
        n_trials=n_trials,
        var_sharpe_annual=var_sharpe,
        sweep=str(sweep) if sweep else None,
        covariates=options.name_list(covariates) or (),
    )
    if from_run is None:  # recurrent settings without a recurrent model, named as typed
        names = group_fields(RecurrentSettings)
        cfg.evaluation().check_applicable(_given(ctx, {k: k for k in names}))
    res = run_backtest(cfg)
    cfg = res.config  # with --from-run: the run's data and test period
    for note in res.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    g = res.trades.gross.index
    print_table(
        formatted(res.table, _SHOWN),
        f"{cfg.data}, rule {cfg.rule}, {res.cost_bps:g} bps one-way: {len(g)} days "
        f"{str(g[0])[:10]}..{str(g[-1])[:10]} (sharpe net of costs; dsr deflated for n_trials)",
    )
    pbo = res.pbo
    if pbo is not None:
        console.print(
            f"PBO {pbo.pbo:.2f} over {pbo.n_configs} configurations ({pbo.n_splits:,} CSCV splits); "
            f"P(out-of-sample loss) {pbo.prob_oos_loss:.2f}; degradation slope "
            f"{pbo.degradation_slope:+.2f}"
        )
    console.print(escape(res.verdict()))
    console.print(escape(f"Written to {out}"), highlight=False)
