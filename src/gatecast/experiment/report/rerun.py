"""The command line that repeats a run, written from the settings its folder records."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from gatecast.experiment.applies import unused_settings
from gatecast.experiment.settings import ExecutorSettings, group_fields

#: The ``--out`` of the command line that reruns a run (a new folder, not the old one).
RERUN_OUT = "runs/rerun"
#: Where a run was written and computed, not what it is: never repeated nor listed as a setting.
NOT_SETTINGS = ("out", "quiet", *group_fields(ExecutorSettings))


def train_command(config: Mapping[str, Any], out: str = RERUN_OUT) -> list[str]:
    """The ``gatecast train`` command line that repeats a run, from its ``config.json``: every
    setting that shapes the result spelled out (defaults included, so that a later change of a
    default does not change the rerun)."""
    args = ["gatecast", "train"]
    variance = config.get("target") == "variance"
    for key, value in config.items():
        if value is None or key == "quiet":
            continue
        if key in ("proxy", "train_proxy") and not variance:
            continue
        if key in ("chunks", "chunk_len", "burn_in") and config.get("mode") != "sequence":
            continue  # sequence mode's lanes: a window model has none
        if key == "log":
            args += [] if value else ["--simple"]
        elif key == "anchored":
            if config.get("target") == "price":
                args.append("--anchored" if value else "--no-anchored")
        elif isinstance(value, bool):
            args += [_option(key)] if value else []
        else:
            args += [_option(key), plain(value)]
    return [*args, "--out", out]


def evaluate_command(cfg: Mapping[str, Any], out: str = RERUN_OUT) -> str:
    """The ``gatecast evaluate`` command line of an evaluation's config (``metrics.json``'s
    ``config``); settings that only the Python API takes make it the Python call instead."""
    python_only = {"mcs_size": 0.10, "mcs_block_size": 10, "mcs_reps": 1000, "extra": {}}
    changed = {k: cfg[k] for k, v in python_only.items() if k in cfg and cfg[k] != v}
    skip = {*NOT_SETTINGS, *python_only}
    if changed:
        kept = {k: v for k, v in cfg.items() if k not in NOT_SETTINGS}
        call = ", ".join(f"{k}={_py(v)}" for k, v in kept.items())
        return (
            "from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models\n"
            f"evaluate_models(EvaluationConfig({call}, out={out!r}))"
        )
    args = ["gatecast", "evaluate"]
    skip |= set(unused_settings(cfg, cfg))  # what the run did not use is not repeated
    skip |= {"overwrite", "resume"}
    for key, value in cfg.items():
        if key in skip or value is None:
            continue
        if key == "warm_start":
            args.append("--warm-start" if value else "--no-warm-start")
        elif isinstance(value, bool):
            args += [_option(key)] if value else []
        else:
            args += [_option(key), plain(value)]
    return shell([*args, "--out", out])


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def plain(value: Any) -> str:
    """A setting's value as an option takes it (a list as ``a,b``)."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _py(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def shell(args: Sequence[str]) -> str:
    """``args`` as a shell command, wrapped before each option once a line is long."""
    lines, line = [], ""
    for i, arg in enumerate(args):
        word = shlex.quote(arg)
        starts_option = arg.startswith("--") and i > 0
        if starts_option and len(line) + len(word) > 80:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


#: What the page says of a run made from Python: ``run.json`` records no command line for it.
FROM_PYTHON = "made from Python (the API records no command line); run.json: command null"


def recorded_command(record: Mapping[str, Any]) -> tuple[str, str]:
    """The command line ``run.json`` records as typed (shell-quoted), and the same command
    writing to :data:`RERUN_OUT` (no ``--overwrite`` or ``--resume``: a new folder) to repeat
    the run; ``("", "")`` where the record predates the field, and :data:`FROM_PYTHON` and ""
    for a run made from Python."""
    if "command" not in record:
        return "", ""
    argv = record["command"]
    if not isinstance(argv, list):
        return FROM_PYTHON, ""
    return shell([str(a) for a in argv]), shell(rerun_args([str(a) for a in argv]))


def rerun_args(argv: Sequence[str], out: str = RERUN_OUT) -> list[str]:
    """``argv`` with its ``--out`` (``--out X`` or ``--out=X``) set to ``out`` and without
    ``--overwrite`` or ``--resume``, which only said what to do with the old folder."""
    args: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            args.append(out)
        elif arg == "--out":
            skip = True
            args.append(arg)
        elif arg.startswith("--out="):
            args.append(f"--out={out}")
        elif arg not in ("--overwrite", "--resume"):
            args.append(arg)
    return args
