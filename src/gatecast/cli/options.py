"""Options that several commands share, declared once: the settings groups of
``gatecast.experiment.settings`` (data, walk-forward, recurrent models, executor, run folder;
names and defaults from those dataclasses), ``--overwrite`` and ``--resume`` (docs/run-folders.md),
the signing options (docs/model-folder.md), and every other option that means the same in
several commands (--covariates, --calendar, --panel, --interval, --quantiles, --features...:
one object, or one factory taking the command's own sentence); which options the user
actually gave, as opposed to those left at their defaults: an option given for a run that does
not use it is refused (on a panel, by :func:`refuse_on_panel`)."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import typer

from gatecast.errors import ConfigError
from gatecast.experiment.evaluation_config import EvaluationConfig
from gatecast.experiment.settings import (
    DataSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    group_fields,
)
from gatecast.models.config import ForecasterConfig
from gatecast.types import SCHEMES

#: Where a value came from (click's ``ParameterSource`` names; typer vendors its own click, so
#: the enum is compared by name).
_GIVEN = ("COMMANDLINE", "ENVIRONMENT")


def given_options(ctx: Any) -> set[str]:
    """The parameter names (``refit_every``) of the command of ``ctx`` (a click or typer
    context) that were given explicitly (``--window rolling``, its earlier meaning, counts as
    ``scheme``)."""
    given = {
        name
        for name in ctx.params
        if getattr(ctx.get_parameter_source(name), "name", None) in _GIVEN
    }
    if isinstance(ctx.params.get("window"), str):
        given = (given - {"window"}) | {"scheme"}
    return given


def optional(help: str) -> Any:
    """An option that is None unless given (the command, or the model's own setting, decides
    then); typed as its parameter's name says: ``max_gap`` is ``--max-gap``."""
    return typer.Option(None, help=help)


def overwrite_option(what: str = "run", replaced: str = "") -> Any:
    """``--overwrite``: replace an earlier ``what`` in --out (``replaced``: what goes with it)."""
    also = (
        f" ({replaced})"
        if replaced.startswith("whole")
        else f" ({replaced} too)"
        if replaced
        else ""
    )
    text = "an existing --out file" if what == "file" else f"an earlier {what} in --out{also}"
    return typer.Option(False, "--overwrite", help=f"Replace {text}.")


def resume_option(reused: str) -> Any:
    """``--resume``: continue the run in --out, its finished ``reused`` read back."""
    return typer.Option(
        False,
        "--resume",
        help=f"Continue the run in --out (a killed or finished one): {reused}.",
    )


def panel_option(
    then: str, implied: str = "bundled panels such as sp500_stocks need no flag"
) -> Any:
    """``--panel``: read --data as a panel of instruments, ``then`` what the command does with
    it; ``implied``: when the command reads a panel without the flag."""
    return typer.Option(
        False,
        "--panel",
        help="Read --data as a panel of instruments (a long file with an instrument column, or "
        f"a wide one with a column per instrument; {implied}): {then}.",
    )


MODEL_FOLDER_HELP = "A model folder written by `gatecast train`."
MODEL_FOLDER = typer.Option(..., help=MODEL_FOLDER_HELP)

# -- signing model folders (docs/model-folder.md), the same on every command that saves or loads one
SIGNING_KEY = typer.Option(
    None,
    help="File holding your secret key: refuse a model folder it did not sign (HMAC-SHA256; "
    "default: $GATECAST_SIGNING_KEY_FILE; without either, a signature is not checked).",
)
SIGNING_KEY_SAVE = typer.Option(
    None,
    help="File holding your secret key: sign the model folder with it (HMAC-SHA256; default: "
    "$GATECAST_SIGNING_KEY_FILE; without either, not signed).",
)
REQUIRE_SIGNATURE = typer.Option(
    False,
    "--require-signature",
    help="Refuse to load a model without a signing key to verify it "
    "(default: $GATECAST_REQUIRE_SIGNATURE).",
)

# -- the option groups of experiment/settings.py, declared once for every command ------------------
_D, _W, _R, _U = DataSettings(), WalkSettings(), RecurrentSettings(), RunSettings()

DAYFIRST_HELP = "Read 01/02/2020 as 1 February (default: detected; refused if it reads both ways)."
DATE_FORMAT_HELP = "The date column's format, e.g. %d.%m.%Y (default: ISO and common formats)."
OUTLIERS_HELP = "Keep non-positive prices and prices 1000x off their neighbours (recorded)."

DATA_HELP = "Bundled name (see `gatecast datasets`) or a CSV/Parquet path."
DATA = typer.Option(_D.data, help=DATA_HELP)
#: --data where it has no default: the prices a saved model forecasts or draws its gates over.
DATA_GIVEN = typer.Option(..., help=DATA_HELP)
COLUMN = typer.Option(_D.column, help="Price column (default adj_close, else close).")
SORT = typer.Option(_D.sort, "--sort", help="Sort unsorted dates instead of failing.")
DROPNA = typer.Option(
    _D.dropna, "--dropna", help="Drop rows with NaN/inf in a used column (the count is reported)."
)
DAYFIRST = typer.Option(False, "--dayfirst", help=DAYFIRST_HELP)
DATE_FORMAT = typer.Option(_D.date_format, help=DATE_FORMAT_HELP)
ALLOW_OUTLIERS = typer.Option(_D.allow_outliers, "--allow-outliers", help=OUTLIERS_HELP)

TEST_START = typer.Option(_W.test_start, help="First test date.")
TEST_END = typer.Option(_W.test_end, help="Last test date (default: end of data).")
REFIT_EVERY = typer.Option(_W.refit_every, help="Refit every k rows (trading days).")
SCHEME = typer.Option(
    _W.scheme, "--scheme", help="Training scheme: expanding or rolling (--train-size rows)."
)
TRAIN_SIZE = typer.Option(_W.train_size, help="Rows of a rolling training window.")
GAP = typer.Option(_W.gap, help="Rows left out between training and test (embargo).")


def _window(value: str | None) -> int | str | None:
    """``--window``: the recurrent models' input length in rows; its earlier meaning, a
    training scheme (``--window rolling``), is still read, as ``--scheme`` (group_values)."""
    if value is None:
        return None
    if value.strip() in SCHEMES:
        return value.strip()
    if not value.strip().isdigit():
        raise typer.BadParameter(
            f"{value!r}: give the input length in days (e.g. 22), or expanding|rolling for the "
            f"training scheme (now --scheme)"
        )
    return int(value)


SEEDS = typer.Option(_R.seeds, help="Seeds per recurrent model (reported as mean and sd).")
# the lanes of sequence mode (--mode sequence), None unless given: the model's own then
_LANES = ForecasterConfig()
CHUNKS = optional(help=f"Sequence mode: lanes trained side by side (default {_LANES.chunks}).")
CHUNK_LEN = optional(
    help=f"Sequence mode: steps per truncated-BPTT chunk (default {_LANES.chunk_len})."
)
BURN_IN = optional(
    help=f"Sequence mode: first steps of a lane left out of the loss (default {_LANES.burn_in})."
)
LANE_OPTIONS = ("chunks", "chunk_len", "burn_in")


def lane_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The lanes of sequence mode given (``--chunks``...), refused by name without ``--mode
    sequence``."""
    lanes = {k: params[k] for k in LANE_OPTIONS if params.get(k) is not None}
    if lanes and params.get("mode") != "sequence":
        given = ", ".join(option_name(k) for k in lanes)
        raise ConfigError(
            f"{given} set(s) the lanes of sequence mode (truncated BPTT); add --mode sequence, "
            f"or leave them out"
        )
    return lanes


EPOCHS = typer.Option(
    _R.recurrent_epochs, "--epochs", "--recurrent-epochs", help="Epochs of a cold recurrent fit."
)
WARM_EPOCHS = typer.Option(_R.warm_epochs, help="Epochs of a warm-started refit.")
WARM_START = typer.Option(_R.warm_start, help="Refit recurrent models from the last weights.")
HIDDEN = typer.Option(_R.hidden, help="Hidden units of the recurrent models.")
WINDOW = typer.Option(
    _R.window,
    "--window",
    parser=_window,
    help="Input window of the recurrent models in rows (default 22 for return and direction "
    "models, 5 for variance models); expanding|rolling, its earlier meaning, is read as --scheme.",
)

EXECUTOR = typer.Option(
    _U.executor,
    help="Where the walk-forward's tasks run: serial (here, in order), pool (--n-jobs local "
    "processes) or ray (a local Ray runtime, or the cluster at --ray-address).",
)
N_JOBS = typer.Option(
    _U.n_jobs, help="Workers of --executor pool or ray (-1: all cores; a pool of 1: sequential)."
)
RAY_ADDRESS = typer.Option(
    _U.ray_address,
    help="Join this Ray cluster (auto, ray://host:10001; --executor ray); default: a local "
    "runtime.",
)
QUIET = typer.Option(_U.quiet, "--quiet", help="No progress bar.")


# -- options that mean the same in several commands beyond the settings groups, declared once ------
_E = EvaluationConfig()

EVALUATION_TARGET = typer.Option(_E.target, help="What to forecast: variance, return or direction.")
SCORED_PROXY = typer.Option(
    _E.proxy, help="Variance proxy the forecasts are scored against: squared or parkinson."
)
TRAIN_PROXY = optional(
    help="What recurrent variance models train against: parkinson or squared (default: "
    "parkinson when the data has High/Low, else squared, shrunk halfway toward the base's "
    "forecast for a model that scales a classical one: lstm_resid, lstm_hybrid, --residual)."
)
DEVICE_HELP = "Where the network runs: auto, cpu or cuda"
FEATURES = optional(
    help="Comma-separated inputs of the recurrent models (default: "
    f"{','.join(ForecasterConfig().features or ())}; for variance, range inputs with High/Low, "
    "close-only inputs without)."
)


def covariates_option(then: str) -> Any:
    """``--covariates``: the covariate groups joined on as model inputs; ``then``, a sentence:
    what the command does with them."""
    return optional(
        help="Comma-separated covariate groups joined on as model inputs, each row holding the "
        "value known at its close (vix, nasdaq, sp500; file:PATH:COLUMN[:COLUMN...], columns "
        "of a CSV/Parquet file of yours; calendar:EXCHANGE, the next session on that "
        "exchange's calendar; on a panel instrument:NAME, another instrument's return and log "
        f"range; see docs/covariates.md). {then}"
    )


def calendar_option(then: str) -> Any:
    """``--calendar``: the trading calendar of the data, ``then`` what the command does with it."""
    return optional(
        help="Trading calendar: an exchange code (XNYS, XLON, XTKS, 24/7, ...) or 'data' (the "
        f"data's own days and hours; FX, crypto, weekly data); {then}. See docs/calendars.md."
    )


#: --calendar of a command that serves a saved model (predict, stream).
MODEL_CALENDAR = calendar_option(
    "it says which bar comes next, the one a forecast is for (default: the model's)"
)
# -- the bands a served one-day return or variance model puts beside its forecasts
INTERVAL = optional(
    help="A calibrated interval at this level (e.g. 0.9) beside each forecast, by adaptive "
    "conformal inference from the calibration recorded at train (a one-day return or variance "
    "model): lower, upper, price_lower, price_upper columns."
)
QUANTILES = optional(
    help="Calibrated quantiles beside each forecast, e.g. 0.05,0.5,0.95 (as --interval): "
    "q<tau> and price_q<tau> columns."
)


def _group(settings: type, *options: Any, skip: int = 0) -> tuple[tuple[str, Any, Any], ...]:
    """The rows (parameter, type, option) of the fields of ``settings`` from its ``skip``-th on,
    one per option of ``options``: each field's name and type as the settings dataclass
    declares them (the one place they are written), with its option."""
    names = group_fields(settings)[skip : skip + len(options)]
    kinds = typing.get_type_hints(settings)
    return tuple((name, kinds[name], option) for name, option in zip(names, options, strict=True))


#: The options of each group, in the order --help lists them: (parameter, type, option).
GROUPS: dict[str, tuple[tuple[str, Any, Any], ...]] = {
    "walk": _group(WalkSettings, TEST_START, TEST_END, REFIT_EVERY, SCHEME, TRAIN_SIZE, GAP),
    "recurrent": _group(RecurrentSettings, SEEDS, EPOCHS, WARM_EPOCHS, WARM_START, HIDDEN, WINDOW),
    # --data and --column are each command's own (after its --out, or required)
    "reading": _group(DataSettings, SORT, DROPNA, DAYFIRST, DATE_FORMAT, ALLOW_OUTLIERS, skip=2),
    "executor": _group(RunSettings, EXECUTOR, N_JOBS, RAY_ADDRESS),
}
#: Where the tasks run and the progress bar: every command that runs a walk-forward.
GROUPS["jobs"] = (*GROUPS["executor"], ("quiet", bool, QUIET))

_Command = TypeVar("_Command", bound=Callable[..., Any])


def with_groups(*groups: str) -> Callable[[_Command], _Command]:
    """Give a command the options of ``groups`` (keys of :data:`GROUPS`), declared here once:
    they join its signature, which typer reads, after the command's own options, and reach it
    in its ``**shared`` keywords (and ``ctx.params``, which :func:`group_values` reads)."""
    return with_options(*(row for group in groups for row in GROUPS[group]))


def with_options(
    *rows: tuple[str, Any, Any], after: str | None = None
) -> Callable[[_Command], _Command]:
    """Give a command the options of ``rows`` ((parameter, type, option), as in :data:`GROUPS`):
    they join its signature after its parameter ``after`` (default: after all of its own) and
    reach it in its ``**shared`` keywords."""

    def give(command: _Command) -> _Command:
        signature = inspect.signature(command)
        own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
        at = len(own) if after is None else [p.name for p in own].index(after) + 1
        shared = [
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
            for name, kind, option in rows
        ]
        # typer passes every option by keyword: those after the shared ones are keyword-only too
        rest = [p.replace(kind=p.KEYWORD_ONLY) for p in own[at:]]
        command.__signature__ = signature.replace(parameters=[*own[:at], *shared, *rest])  # type: ignore[attr-defined]
        return command

    return give


def option_name(name: str) -> str:
    """How the option of parameter ``name`` is typed: ``--test-start``, ``--epochs``."""
    return "--epochs" if name == "recurrent_epochs" else "--" + name.replace("_", "-")


def given_in_order(ctx: Any) -> list[str]:
    """The parameters of ``ctx`` given explicitly (:func:`given_options`), in the command's
    order, ``--panel`` left out: what a panel run checks against the options it takes."""
    given = given_options(ctx)
    return [n for n in ctx.params if n in given and n != "panel"]


def refuse_on_panel(refused: Mapping[str, str]) -> None:
    """Refuse the options of ``refused`` (parameter name -> why it does not apply, in the order
    given): the first by name with its reason, the others listed after it."""
    if not refused:
        return
    spelled = [option_name(n) for n in refused]
    also = f" (also: {', '.join(spelled[1:])})" if len(spelled) > 1 else ""
    raise ConfigError(
        f"{spelled[0]} does not apply to a panel: {next(iter(refused.values()))}; leave it "
        f"out{also}"
    )


def group_values(params: Mapping[str, Any], *groups: type) -> dict[str, Any]:
    """The values of ``params`` (a command's ``ctx.params``) that are fields of the settings
    ``groups``, as the configs take them (a path as text, ``--dayfirst`` unset as None)."""
    out: dict[str, Any] = {}
    for name in group_fields(*groups):
        if name not in params:
            continue
        value = params[name]
        if name == "dayfirst":
            value = value or None  # the flag unset: detected from the file
        elif name == "window" and isinstance(value, str):  # its earlier meaning: the scheme
            out["scheme"], value = value, None
        elif isinstance(value, os.PathLike):
            value = os.fspath(value)
        out[name] = value
    return out


def walk_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``params`` of the settings every walk-forward command takes: data,
    walk-forward, recurrent models and run (:func:`group_values`)."""
    return group_values(params, DataSettings, WalkSettings, RecurrentSettings, RunSettings)


def name_list(text: str | None) -> tuple[str, ...] | None:
    """``log_return,rv5`` as names, blanks dropped; None when nothing is given."""
    if not text:
        return None
    return tuple(n.strip() for n in text.split(",") if n.strip())


def float_list(text: str | None, option: str) -> tuple[float, ...] | None:
    """``0.05,0.5,0.95`` as numbers; a clear error for anything that is not a number."""
    if text is None:
        return None
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {text!r}: give comma-separated numbers, e.g. 0.05,0.5,0.95"
        ) from None
