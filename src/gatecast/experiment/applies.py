"""Which settings an evaluation uses: a setting given for a run that does not use it is refused
(never ignored), and the command line that repeats a run leaves it out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gatecast.experiment.registry import is_recurrent

_NET = "it sets the recurrent models, and --models has none (add lstm or gru)"
#: Settings of the recurrent models alone.
RECURRENT_SETTINGS = (
    "hidden",
    "window",
    "recurrent_epochs",
    "epochs",  # the same setting, as `var` and `backtest` name it on the command line
    "warm_epochs",
    "warm_start",
    "features",
    "seeds",
    "mode",
)


def unused_settings(cfg: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    """Of the settings ``names`` of the evaluation ``cfg`` (an ``EvaluationConfig`` as a dict),
    those it does not use, each with the reason a user is told.

    Examples
    --------
    >>> unused_settings({"target": "return", "models": ["ar1"], "scheme": "expanding"}, ["hidden"])
    {'hidden': 'it sets the recurrent models, and --models has none (add lstm or gru)'}
    """
    target = cfg.get("target")
    recurrent = any(is_recurrent(m) for m in cfg.get("models", ()))
    seeds = int(cfg.get("seeds") or 1)
    why: dict[str, Any] = {
        "proxy": target != "variance"
        and "--proxy is the variance proxy scored (--target variance)",
        "train_proxy": (target != "variance" or not recurrent)
        and "--train-proxy is what recurrent variance models train against",
        "interval_scale": (cfg.get("intervals") is None or target != "return")
        and "--interval-scale scales the return intervals of --intervals (--target return)",
        "train_size": cfg.get("scheme") != "rolling"
        and "--train-size is the length of a rolling training window (--scheme rolling)",
        "ensemble": (not recurrent or seeds < 2)
        and "--ensemble averages a recurrent model's seeds (--seeds 2 or more)",
    }
    for name in RECURRENT_SETTINGS:
        why[name] = not recurrent and _NET
    if recurrent and not cfg.get("warm_start", True):
        why["warm_epochs"] = (
            "--warm-epochs sets warm-started refits of recurrent models (--warm-start)"
        )
    return {n: str(why[n]) for n in names if why.get(n)}
