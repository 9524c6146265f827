"""Every command spells a shared setting the same way: one option name, one default, one help
text, declared once (gatecast.cli.options) from the settings groups of
gatecast.experiment.settings. The test walks the whole command-line app."""

from __future__ import annotations

from typing import Any

import pytest
import typer

from gatecast.cli.app import app
from gatecast.experiment.settings import (
    DataSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    group_fields,
)

SHARED = set(group_fields(DataSettings, WalkSettings, RecurrentSettings, RunSettings))
SHARED -= {"out"}  # each command says what its folder holds
#: Where a command means something else by the name, and why (the only exceptions).
OWN = {
    ("predict", "data"): "the prices to forecast: always given",
    ("predict", "column"): "default: the column the model was trained on",
    ("gates", "data"): "the prices whose window the gates are drawn over: always given",
    ("train", "test_start"): "default None: the split is --test-size (0.2) unless a date is given",
    ("train", "window"): "a model setting: the family's default (20), not the walk-forward's",
    ("train", "hidden"): "a model setting: the family's default (50), not the walk-forward's",
    ("gradient-flow", "hidden"): "the units of the demonstration's one-layer cells",
}
#: Declared once with the help text naming what goes with the run (its folds, its trials...).
WORDED = {"overwrite", "resume"}


def _commands() -> dict[str, Any]:
    """The commands of the app (typer's own click: compared by what they hold, not by class)."""
    group: Any = typer.main.get_command(app)
    return dict(group.commands)


def _declaration(param: Any) -> tuple[Any, ...]:
    if param.name in WORDED:
        return (tuple(param.opts), param.default)
    return (
        tuple(param.opts),
        tuple(param.secondary_opts),
        param.default,
        getattr(param, "help", None),
        getattr(getattr(param, "type", None), "name", None),
    )


def test_every_shared_option_is_declared_one_way() -> None:
    seen: dict[str, dict[tuple[Any, ...], list[str]]] = {}
    for name, command in _commands().items():
        for param in command.params:
            if param.name in SHARED and (name, param.name) not in OWN:
                seen.setdefault(str(param.name), {}).setdefault(_declaration(param), []).append(
                    name
                )
    differ = {k: v for k, v in seen.items() if len(v) > 1}
    assert not differ, f"declared differently in different commands: {differ}"
    # the walk-forward commands each take every setting of the groups they are built from
    for name in ("evaluate", "backtest", "var"):
        params = {p.name for p in _commands()[name].params}
        assert SHARED <= params, f"{name} lacks {sorted(SHARED - params)}"
    assert len(seen["data"][next(iter(seen["data"]))]) >= 5  # one --data for five commands


def test_the_defaults_are_those_of_the_settings() -> None:
    defaults = {**vars(DataSettings()), **vars(WalkSettings()), **vars(RecurrentSettings())}
    defaults |= {k: v for k, v in vars(RunSettings()).items() if k != "out"}
    params = {p.name: p for p in _commands()["evaluate"].params}
    for name, value in defaults.items():
        default = params[name].default
        assert (default or None) == (value or None) or default == value, name


def _callbacks() -> dict[str, Any]:
    """The functions behind the commands, by command name (their signatures hold the options)."""
    from gatecast.cli import (
        backtest_commands,
        evaluate_commands,
        nn_commands,
        stream_commands,
        sweep_commands,
        train_commands,
        var_commands,
    )

    return {
        "train": train_commands.train,
        "predict": train_commands.predict,
        "gates": nn_commands.gates_command,
        "stream": stream_commands.stream,
        "evaluate": evaluate_commands.evaluate,
        "backtest": backtest_commands.backtest,
        "var": var_commands.var,
        "sweep": sweep_commands.sweep,
    }


#: Options of one meaning beyond the settings groups, declared once in gatecast.cli.options:
#: parameter -> (the option, the commands that take it).
ONE_OPTION = {
    "target": ("EVALUATION_TARGET", ("evaluate", "sweep")),
    "proxy": ("SCORED_PROXY", ("evaluate", "sweep")),
    "train_proxy": ("TRAIN_PROXY", ("train", "evaluate")),
    "calendar": ("MODEL_CALENDAR", ("predict", "stream")),
    "interval": ("INTERVAL", ("predict", "stream")),
    "quantiles": ("QUANTILES", ("predict", "stream")),
    "data": ("DATA_GIVEN", ("predict", "gates")),
    "features": ("FEATURES", ("train", "evaluate")),
}
#: Declared by one factory that takes the command's own sentence: parameter -> (the factory,
#: the commands that take it).
ONE_FACTORY = {
    "covariates": ("covariates_option", ("train", "evaluate", "backtest", "var", "sweep")),
    "calendar": ("calendar_option", ("train", "predict", "stream")),
    "panel": ("panel_option", ("train", "predict", "evaluate", "backtest", "var")),
}


@pytest.mark.parametrize("name", ONE_OPTION)
def test_an_option_of_one_meaning_is_one_object_in_every_command(name: str) -> None:
    """The same typer.Option object in each command's signature, hence one name, default and
    help text on every command's --help."""
    import inspect

    from gatecast.cli import options

    option, users = ONE_OPTION[name]
    callbacks = _callbacks()
    for command in users:
        default = inspect.signature(callbacks[command]).parameters[name].default
        assert default is getattr(options, option), (command, name)
    declared = {_declaration(p) for c in users for p in _commands()[c].params if p.name == name}
    assert len(declared) == 1, declared


@pytest.mark.parametrize("name", ONE_FACTORY)
def test_an_option_from_a_factory_has_one_name_default_and_stem(name: str) -> None:
    """An option whose help says what the command does with it: one name, one default, and
    the help text the factory writes around the command's own words."""
    import inspect
    import re

    from gatecast.cli import options

    factory, users = ONE_FACTORY[name]
    make = getattr(options, factory)
    words = ["\0"] * len(inspect.signature(make).parameters)  # each command's own words
    stem = make(*words).help.split("\0")  # what the factory writes around them
    params = [p for c in users for p in _commands()[c].params if p.name == name]
    assert len(params) == len(users)
    assert len({(tuple(p.opts), tuple(p.secondary_opts), p.default) for p in params}) == 1
    for param in params:
        pattern = "(.+)".join(re.escape(part) for part in stem)
        assert re.fullmatch(pattern, param.help, flags=re.S), param.help


@pytest.mark.parametrize("spelling", ["--epochs", "--recurrent-epochs"])
def test_one_setting_one_name_and_its_earlier_spelling(spelling: str) -> None:
    """`--epochs` in train, var and backtest was `--recurrent-epochs` in evaluate; both work
    on every walk-forward command now."""
    for name in ("evaluate", "backtest", "var"):
        command = _commands()[name]
        ctx = command.make_context(name, ["--out", "x", spelling, "3"], resilient_parsing=True)
        assert ctx.params["recurrent_epochs"] == 3


def test_the_window_option_reads_its_earlier_meaning_and_refuses_nonsense() -> None:
    from gatecast.cli.options import group_values

    command = _commands()["var"]
    ctx = command.make_context("var", ["--out", "x", "--window", "rolling"])
    assert group_values(ctx.params, WalkSettings, RecurrentSettings)["scheme"] == "rolling"
    with pytest.raises(Exception, match="give the input length in days") as err:
        command.make_context("var", ["--out", "x", "--window", "wide"])
    assert type(err.value).__name__ == "BadParameter"


def test_a_name_list_drops_blanks_and_reads_nothing_as_none() -> None:
    from gatecast.cli.options import name_list

    assert name_list(" log_return, ,rv5 ") == ("log_return", "rv5")
    assert name_list(" , ") == ()
    assert name_list("") is None
    assert name_list(None) is None


#: Every command that runs a walk-forward, with what it needs besides --out.
WALKS = {
    "evaluate": ["evaluate"],
    "evaluate-panel": ["evaluate", "--data", "sp500_stocks"],
    "backtest": ["backtest"],
    "backtest-panel": ["backtest", "--data", "sp500_stocks"],
    "var": ["var"],
    "sweep": ["sweep", "--grid", "window=3"],
}


@pytest.mark.parametrize("walk", WALKS)
@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            ["--executor", "serial", "--n-jobs", "2"],
            "--n-jobs 2 sets the workers of --executor pool or ray; serial runs the tasks one "
            "after another here",
        ),
        (["--ray-address", "auto"], "--ray-address joins a Ray cluster; add --executor ray"),
        (["--executor", "dask"], "Invalid value for '--executor'"),
    ],
)
def test_every_walk_refuses_an_executor_option_that_does_not_apply(
    walk: str, given: list[str], message: str, tmp_path: Any
) -> None:
    """Each refused the same way (one check, in the settings group), exit 2, before anything
    is read or written."""
    from typer.testing import CliRunner

    out = tmp_path / "run"
    res = CliRunner().invoke(app, [*WALKS[walk], "--out", str(out), *given])
    assert res.exit_code == 2, res.output
    assert message in " ".join(res.output.split())  # rich may wrap a long message
    assert not out.exists()


def test_the_walk_forward_commands_take_the_executor_options() -> None:
    for name in WALKS:
        params = {p.name for p in _commands()[WALKS[name][0]].params}
        assert {"executor", "n_jobs", "ray_address"} <= params, name
