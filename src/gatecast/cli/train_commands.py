"""`gatecast train`, `predict`, `demo` and `datasets`: fit a forecaster, use it, try the demo."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, print_table
from gatecast.errors import ConfigError
from gatecast.experiment.settings import DataSettings
from gatecast.experiment.training import TrainJob
from gatecast.models.config import ForecasterConfig, VarianceConfig
from gatecast.types import Cell, Mode, Proxy, ScalerKind, TrainTarget

app = typer.Typer()

# The defaults are written once, in the library: the models' in ForecasterConfig and
# VarianceConfig, the data's and the split's in TrainJob. The options below read them (a model
# option left out takes its family's default).
_M = ForecasterConfig()
_V = VarianceConfig()
_J = TrainJob()


@app.command()
def datasets() -> None:
    """List the bundled datasets and panels (shipped by the `arch` and, for the 20-stock panel,
    `skfolio` packages; no network needed)."""
    from gatecast.data.panel import panel_datasets
    from gatecast.data.sources import datasets as list_datasets

    print_table(list_datasets(), "Bundled datasets")
    print_table(panel_datasets(), "Bundled panels (gatecast.load_panel; see docs/panel.md)")


def _default(name: str) -> str:
    """The help text's default of a model setting: the point family's, and the variance
    family's where it differs."""

    def show(v: object) -> str:
        return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)

    point, var = getattr(_M, name), getattr(_V, name, None)
    if var == point or not hasattr(_V, name):
        return f"default {show(point)}"
    return f"default {show(point)}; variance: {show(var) if var is not None else 'from the data'}"


#: The model options of `train`, in --help's order: (parameter, type, help with {} for the
#: default, or an option declared in cli/options.py, where evaluate takes it too). Each is None
#: when left out: the model family's default applies, shown in the help.
_MODEL_HELP: tuple[tuple[str, Any, Any], ...] = (
    ("cell", Cell | None, "Recurrent cell ({})."),
    ("mode", Mode | None, "window: stateless; sequence: stateful, truncated BPTT ({})."),
    ("chunks", int | None, "Sequence mode: lanes trained side by side ({})."),
    ("chunk_len", int | None, "Sequence mode: steps per truncated-BPTT chunk ({})."),
    ("burn_in", int | None, "Sequence mode: first steps of a lane left out ({})."),
    ("window", int | None, "Input window ({})."),
    ("hidden", int | None, "Hidden units ({})."),
    ("layers", int | None, "Recurrent layers ({})."),
    ("dropout", float | None, "Dropout ({})."),
    ("features", str | None, options.FEATURES),
    ("scaler", ScalerKind | None, "Input scaler, fit on training only ({})."),
    ("epochs", int | None, "({})"),
    ("batch_size", int | None, "0 = full batch ({})."),
    ("lr", float | None, "({})"),
    ("patience", int | None, "Early-stopping patience, 0 = off ({})."),
    ("clip", float | None, "Max gradient norm, 0 = off ({})."),
    ("val_size", float | None, "Validation tail of the training part ({})."),
    ("seed", int | None, "({})"),
)
MODEL_OPTIONS: tuple[tuple[str, Any, Any], ...] = tuple(
    (
        name,
        kind,
        options.optional(help=text.format(_default(name))) if isinstance(text, str) else text,
    )
    for name, kind, text in _MODEL_HELP
)


@app.command()
@options.with_groups("reading")
@options.with_options(*MODEL_OPTIONS, after="train_proxy")
def train(
    data: str = options.DATA,
    out: Path = typer.Option(..., help="Folder for the model, forecasts, metrics and plots."),
    column: str | None = options.COLUMN,
    target: TrainTarget = typer.Option(
        _J.target, help="What to forecast (variance: next-day variance, percent^2)."
    ),
    simple: bool | None = typer.Option(
        None, "--simple", help="Simple instead of log returns (return, price, direction)."
    ),
    horizon: int = typer.Option(_J.horizon, help="Forecast horizon in steps."),
    anchored: bool | None = options.optional(
        help="Price target: learn the return from the last price and move it (default), or "
        "--no-anchored to learn the level (the notebook's recipe; saturates out of range).",
    ),
    proxy: Proxy | None = options.optional(
        help="Variance target: what QLIKE scores against (default squared)."
    ),
    train_proxy: Proxy | None = options.TRAIN_PROXY,
    classical_inputs: str | None = options.optional(
        help="Variance target: classical forecasts as inputs, comma-separated (garch, gjr_t, "
        "egarch_t, har, har_abs; har is on |r| without High/Low). lstm_hybrid: "
        "garch,gjr_t,har with --residual gjr_t.",
    ),
    residual: str | None = options.optional(
        help="Variance target: the classical model the net scales (e.g. gjr_t)."
    ),
    covariates: str | None = options.covariates_option(
        "The model folder records them: predict joins the same ones, a stream's rows carry "
        "their columns."
    ),
    test_start: str | None = typer.Option(_J.test_start, help="First test date, YYYY-MM-DD."),
    test_size: float | None = typer.Option(
        _J.test_size, help="Test part: a fraction in (0, 1) or a count of rows (default 0.2)."
    ),
    gap: int = options.GAP,
    device: str | None = options.optional(help=f"{options.DEVICE_HELP} ({_default('device')})."),
    calendar: str | None = options.calendar_option(
        "recorded in the model (default: XNYS for sp500, nasdaq, vix; else data)"
    ),
    overwrite: bool = options.overwrite_option("run", "whole, once this one is done"),
    quiet: bool = options.QUIET,
    signing_key: Path | None = options.SIGNING_KEY_SAVE,
    panel: bool = options.panel_option(
        "train one global model on it (--target variance, return or direction; docs/panel.md)"
    ),
    **shared: Any,
) -> None:
    """Train a recurrent forecaster, score it against no-change and the historical mean, and say
    whether it beats them (Diebold-Mariano test); on a panel, one global variance, return or
    direction model for every instrument."""
    from gatecast.experiment.training import run_training

    model = {name: shared[name] for name, _, _ in MODEL_OPTIONS}
    model["features"] = options.name_list(model["features"])
    job = TrainJob(
        data=data,
        column=column,
        target=target,
        log=None if simple is None else not simple,
        horizon=horizon,
        anchored=anchored,
        proxy=proxy,
        train_proxy=train_proxy,
        **model,
        test_start=test_start,
        test_size=test_size,
        gap=gap,
        device=device,
        **options.group_values(shared, DataSettings),  # the reading options
        calendar=calendar,
        quiet=quiet or None,
        classical_inputs=(
            tuple(c.strip() for c in classical_inputs.split(",") if c.strip())
            if classical_inputs is not None
            else None
        ),
        residual=residual,
        covariates=options.name_list(covariates) or (),
    )
    from gatecast.cli.panel_commands import train_panel
    from gatecast.experiment.panel_serving import is_panel_source

    if panel or is_panel_source(data):
        train_panel(job, out, "--panel" if panel else "a bundled panel", overwrite, signing_key)
        return
    run = run_training(job, out, overwrite=overwrite, signing_key=signing_key)
    console.print(f"price column: {escape(str(run.column))}")
    if run.dropped_rows:
        console.print(f"[yellow]dropped {run.dropped_rows} row(s) with NaN/inf values[/]")
    for note in run.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    print_table(
        run.table(),
        f"{run.model.name.upper()} vs baselines on {data} ({target}, test from "
        f"{run.forecasts.index[0]:%Y-%m-%d}, {len(run.forecasts)} forecasts)",
    )
    console.print(escape(run.verdict))
    console.print(
        f"wrote {out}/: model.safetensors, manifest.json, forecasts.csv, metrics.json, "
        "loss.png, forecast.png, report.html"
    )


@app.command()
@options.with_groups("reading")
def predict(
    model: Path = options.MODEL_FOLDER,
    data: str = options.DATA_GIVEN,
    out: Path = typer.Option(
        ...,
        help="CSV file for date,actual,forecast,in_sample,as_of (with --steps: the long table "
        "as_of,date,step,forecast,...,method).",
    ),
    start: str | None = options.optional(help="First date to forecast."),
    end: str | None = options.optional(
        help="Last date to forecast (default: the bar after the data)."
    ),
    column: str | None = options.optional(
        help="Price column (default: the one the model was trained on)."
    ),
    device: str = typer.Option(_M.device, help=f"{options.DEVICE_HELP}."),
    overwrite: bool = options.overwrite_option("file"),
    signing_key: Path | None = options.SIGNING_KEY,
    require_signature: bool = options.REQUIRE_SIGNATURE,
    calendar: str | None = options.MODEL_CALENDAR,
    interval: float | None = options.INTERVAL,
    quantiles: str | None = options.QUANTILES,
    dist: str | None = options.optional(
        help="Variance models: quantiles, VaR and ES from this predictive distribution "
        "(normal, or t with nu fit at train) instead of conformal ones.",
    ),
    steps: int | None = options.optional(
        help="Forecast the 1..STEPS bars after the data (not with --start/--end): a return "
        "model's step 1, zero beyond; variance k x the one-day forecast (sqrt-of-time); bands "
        "scaled by sqrt(k). See docs/train-predict.md. A global model folder: each "
        "instrument's, one row per instrument and step (docs/panel.md).",
    ),
    plot: Path | None = options.optional(
        help="Write the fan chart of the bands here (.png, .svg or .pdf; needs --interval or "
        "--quantiles): the h-step price fan with --steps.",
    ),
    panel: bool = options.panel_option(
        "one forecast per instrument, for the bar after its data",
        implied="implied by a global model folder, which gatecast train writes on a panel",
    ),
    engine: str | None = options.optional(
        help="With a global model folder: numpy (read with NumPy alone, no torch imported; "
        "the instruments of the fit only) or torch (default).",
    ),
    **shared: Any,
) -> None:
    """Forecast with a saved model (safetensors + JSON; nothing in it can run code); the last
    line is the forecast for the bar after the data, dated in its trading calendar; as_of is
    the date of the last observation each forecast used."""
    from gatecast.cli.panel_commands import predict_panel
    from gatecast.experiment.panel_serving import global_folder
    from gatecast.experiment.prediction import run_prediction, stamp

    # what a forecast of one series and of a panel both take
    served: dict[str, Any] = {
        "column": column,
        "device": device,
        **options.group_values(shared, DataSettings),  # the reading options
        "overwrite": overwrite,
        "signing_key": signing_key,
        "require_signature": require_signature or None,  # not given: the environment decides
        "calendar": calendar,
    }
    if panel or global_folder(model):
        given: dict[str, object] = {"--start": start, "--end": end, "--interval": interval}
        given |= {"--quantiles": quantiles, "--dist": dist, "--steps": steps, "--plot": plot}
        predict_panel(model, data, out, given, served, engine or "torch")
        return
    if engine is not None:
        raise ConfigError(
            "--engine applies to a global model folder (a panel); predict on one series runs "
            "the torch model: leave it out (gatecast stream --engine numpy serves one series "
            "with NumPy alone)"
        )
    pred = run_prediction(
        model,
        data,
        out,
        start=start,
        end=end,
        **served,
        interval=interval,
        quantiles=options.float_list(quantiles, "--quantiles"),
        dist=dist,  # type: ignore[arg-type]  # checked by run_prediction
        steps=steps,
        plot=plot,
    )
    frame = pred.frame if pred.steps is None else pred.steps.set_index("date")
    console.print(f"price column: {escape(str(pred.column))}")
    for note in pred.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    first, last = (stamp(d, frame.index) for d in (frame.index[0], frame.index[-1]))
    what = (
        f"the forecasts 1..{len(frame)} bars ahead ({first} .. {last}) as a long table"
        if pred.steps is not None
        else f"{len(frame)} forecasts ({first} .. {last}; {int(frame['in_sample'].sum())} "
        "in the training range, marked in_sample)"
    )
    console.print(
        f"wrote {what} to {out}; the bars after the data dated in {escape(pred.calendar)}"
    )
    if plot is not None:
        console.print(f"wrote the fan chart to {escape(str(plot))}")
    console.print(escape(pred.last_line()), highlight=False, soft_wrap=True)
    for line in pred.step_lines():
        console.print(escape(line), highlight=False, soft_wrap=True)


@app.command()
def demo(
    quick: bool = typer.Option(False, "--quick", help="A short version (under a minute)."),
    out: Path | None = options.optional(help="Run folder (default runs/demo-<timestamp>)."),
    seed: int = typer.Option(0),
    overwrite: bool = options.overwrite_option("run", "whole, once this one is done"),
) -> None:
    """The notebook's LSTM done honestly, then RNN vs LSTM vs GRU on S&P 500 returns."""
    from gatecast.experiment.demo import DEMO_LABELS, run_demo

    console.print("[bold]gatecast demo[/] " + ("(quick)" if quick else "(full: a few minutes)"))
    res = run_demo(out, quick=quick, seed=seed, overwrite=overwrite)
    console.print(f"[bold]{escape(res.verdict)}[/]\n")
    cols = ["parameters", "epochs", "train_s", "mse", "theil_u", "mape"]
    print_table(
        res.notebook[[c for c in cols if c in res.notebook]].rename(index=DEMO_LABELS),
        "1. The course notebook's random walk (price target, 2x50 LSTM, window 20, "
        "scalers fit on train only)",
    )
    console.print(
        "   Theil U > 1 means worse than repeating yesterday's price. The min-max level model "
        "saturates once prices leave the training range; the anchored one cannot.\n"
    )
    cols = [
        "parameters",
        "epochs",
        "train_s",
        "mse",
        "theil_u",
        "oos_r2",
        "hit_rate",
        "dm_p_no_change",
    ]
    print_table(
        res.sp500[[c for c in cols if c in res.sp500]].rename(index=DEMO_LABELS),
        "2. S&P 500 daily log returns, train 1999-2014, test 2015-2018",
    )
    console.print(
        "   theil_u < 1 beats the zero-return forecast; oos_r2 > 0 beats the training mean; "
        "dm_p_no_change: Diebold-Mariano (HLN) p-value against the zero-return forecast."
    )
    for cell, text in res.verdicts.items():
        if cell != "lstm":
            console.print(f"   {escape(text)}")
    console.print(
        escape(f"files in {res.out}/: " + ", ".join(p.name for p in res.files)), highlight=False
    )
