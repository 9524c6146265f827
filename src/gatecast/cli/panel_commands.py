"""`gatecast train` and `predict` on a panel: a global model (variance, return or direction),
one forecast per instrument (called from train_commands when --panel or a global model folder
is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.markup import escape

from gatecast.cli import options
from gatecast.cli.output import console, print_table
from gatecast.errors import ConfigError
from gatecast.experiment.training import TrainJob


def train_panel(
    job: TrainJob, out: Path, why: str, overwrite: bool, signing_key: Path | None
) -> None:
    """Train the global model on ``job.data`` read as a panel, print the per-instrument table."""
    from gatecast.experiment.panel_serving import run_panel_training

    run = run_panel_training(job, out, overwrite=overwrite, signing_key=signing_key)
    console.print(
        f"panel ({why}): {escape(run.source)}; {len(run.test_starts)} instruments, each split "
        "on its own rows"
    )
    for note in run.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    loss, base = _TRAIN_TITLES[job.target]
    print_table(
        run.table(),
        f"global {run.model.name.upper()} {job.target} model: {loss} per instrument on its test "
        f"rows (ratio < 1: better than {base})",
    )
    kind = "global_variance" if job.variance else "global_return"
    console.print(
        f"wrote {out}/: manifest.json, model.safetensors (one global model, kind "
        f"{kind}), forecasts.csv, metrics.json, loss.json, config.json"
    )


#: Per target of a panel's training: its loss and the baseline of the ratio, in words.
_TRAIN_TITLES = {
    "variance": ("QLIKE", "the 22-day historical variance"),
    "return": ("MSE", "no change (a zero return)"),
    "direction": ("Brier score", "the historical mean (the training share of up days)"),
}


def predict_panel(
    model: Path,
    data: str,
    out: Path,
    given: dict[str, Any],
    served: dict[str, Any],
    engine: str = "torch",
) -> None:
    """One forecast per instrument with a global model folder; options that do not apply to it
    (``given``: option name -> value, None when left out) are refused by name first;
    ``served``: the keywords of run_panel_prediction that predict takes on one series too
    (column, device, calendar, the reading options, signing)."""
    import pandas as pd

    from gatecast.experiment.panel_serving import (
        global_folder,
        run_panel_prediction,
    )
    from gatecast.experiment.prediction import stamp

    bands = {k: given.pop(k, None) for k in ("--interval", "--quantiles", "--dist")}
    steps = given.pop("--steps", None)
    refused = [name for name, value in given.items() if value is not None]
    if refused:
        also = f" (also: {', '.join(refused[1:])})" if len(refused) > 1 else ""
        raise ConfigError(
            f"{refused[0]} does not apply to a panel: predict gives each instrument's forecast "
            f"for the bars after its data (with --interval or --quantiles, its bands; with "
            f"--steps, 1..H bars ahead), without a fan chart yet; leave it out{also}"
        )
    if not global_folder(model):
        raise ConfigError(
            f"--panel needs a global model folder (gatecast train on a panel); {model} holds "
            f"no such model: leave --panel out to forecast one series with it"
        )
    frame = run_panel_prediction(
        model,
        data,
        out,
        engine=engine,
        **served,
        interval=bands["--interval"],
        quantiles=options.float_list(bands["--quantiles"], "--quantiles"),
        dist=bands["--dist"],
        steps=steps,
    )
    new = frame.loc[~frame["in_fit"], "instrument"].tolist()
    if new:
        console.print(
            f"[yellow]note:[/] not in the fit: {escape(', '.join(new))}; each forecast with "
            "its scaler and level fit on its own rows"
        )
    every = pd.DatetimeIndex([*frame["as_of"], *frame["date"]])  # intraday: times shown
    shown = frame.assign(
        as_of=[stamp(d, every) for d in frame["as_of"]],
        date=[stamp(d, every) for d in frame["date"]],
    ).set_index("instrument")
    what = _forecast_words(model)
    shown = shown[[c for c in shown.columns if not c.startswith("price_")]]  # in the file
    if steps is None:
        print_table(shown, f"{what} forecasts for the bar after each instrument's data")
    else:
        shown = shown.drop(columns=["method"])
        print_table(shown, f"{what} forecasts 1..{steps} bars after each instrument's data")
    for note in frame.attrs.get("notes", []):
        console.print(f"[yellow]note:[/] {escape(note)}")
    each = "one per instrument" if steps is None else f"{steps} per instrument (steps 1..{steps})"
    console.print(f"wrote {len(frame)} forecasts, {each}, to {escape(str(out))}")


def _forecast_words(model: Path) -> str:
    """What a global folder's forecast is, in words, from its manifest (unverified: only the
    title of the table; the loader has checked the folder): a variance (%^2), a log or simple
    return, or the probability of an up day."""
    import json

    from gatecast.artifacts import MANIFEST_FILE
    from gatecast.experiment.panel_serving import global_kind

    if global_kind(model) != "global_return":
        return "variance (%^2)"
    target = json.loads((model / MANIFEST_FILE).read_text(encoding="utf-8")).get("target")
    target = target if isinstance(target, dict) else {}
    if target.get("kind") == "direction":
        return "up-day probability"
    return "simple-return" if target.get("log") is False else "log-return"
