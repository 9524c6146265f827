"""What the two targets of a panel evaluation share about their models: the settings their
factories take (:class:`PanelModelSettings`, one default each) and the check of a list of model
names (:func:`checked_panel_names`). The variance target's models are those of
:mod:`gatecast.experiment.panel_evaluation_config`, the return target's those of
:mod:`gatecast.experiment.panel_returns`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from gatecast.errors import ConfigError
from gatecast.types import MODES, check_choice

__all__ = ["LANES", "PanelModelSettings", "checked_panel_names", "recurrent_settings"]


class PanelModelSettings(TypedDict, total=False):
    """The settings a panel's model factories take, each optional: the price ``column`` (None:
    adj_close, else close), the recurrent models' ``hidden`` (16), ``window`` (the target's:
    5 for variance, 22 for return), ``epochs`` (30), ``warm_epochs`` (5), ``warm_start`` (True),
    ``seed`` (0) and ``device`` (``auto``), the global model's ``embedding`` (False: no
    learned vector per instrument), and ``mode`` (``window``; ``sequence``: the global model
    and the local return models train and forecast in sequence mode, the local variance models
    have none and are refused) with its lanes, ``chunks``, ``chunk_len`` and ``burn_in``
    (None: the model's own, 32, 16 and 10; given without ``mode="sequence"``: refused)."""

    column: str | None
    hidden: int
    window: int
    epochs: int
    warm_epochs: int
    warm_start: bool
    seed: int
    embedding: bool
    device: str
    mode: str
    chunks: int | None
    chunk_len: int | None
    burn_in: int | None


#: The lanes of sequence mode a panel's sequence-mode models take (``None``: the model's own).
LANES = ("chunks", "chunk_len", "burn_in")
#: The defaults of :class:`PanelModelSettings` but ``window`` (the target's own).
DEFAULTS: dict[str, Any] = {
    "column": None,
    "hidden": 16,
    "epochs": 30,
    "warm_epochs": 5,
    "warm_start": True,
    "seed": 0,
    "embedding": False,
    "device": "auto",
    "mode": "window",
}


def recurrent_settings(settings: PanelModelSettings, *, window: int, target: str) -> dict[str, Any]:
    """The keywords every recurrent model of the panel takes, the global and the local ones:
    ``settings`` but ``embedding`` (the global model's own), ``mode`` and its lanes (not every
    model takes them: :func:`mode_setting`), with their defaults (``window`` the target's), and
    the ``target`` they forecast."""
    given: dict[str, Any] = {**DEFAULTS, "window": window, **settings, "target": target}
    for name in ("embedding", "mode", *LANES):
        given.pop(name, None)
    return given


def mode_setting(settings: PanelModelSettings) -> dict[str, Any]:
    """``{"mode": "sequence"}`` and the lanes given (``chunks``...) for a sequence-mode panel,
    else nothing (window mode is every model's default, and a model that has no ``mode`` keeps
    it); an unknown mode, and a lane given without sequence mode, are refused by name."""
    mode = settings.get("mode", "window")
    check_choice(mode, MODES, "mode")
    lanes = {k: settings.get(k) for k in LANES if settings.get(k) is not None}
    if lanes and mode != "sequence":
        given = ", ".join(f"{k}={v}" for k, v in lanes.items())
        raise ConfigError(
            f"{given}: the lanes of sequence mode (truncated BPTT), and the mode is {mode!r}; "
            f"add mode='sequence' (--mode sequence) or leave them out"
        )
    return {"mode": "sequence", **lanes} if mode == "sequence" else {}


def checked_panel_names(
    given: tuple[str, ...],
    local: Callable[[str], bool],
    canonical: Callable[[tuple[str, ...]], tuple[str, ...]],
    *,
    also: str,
    example: str,
) -> tuple[str, ...]:
    """The model names ``given``, in order: those ``local`` accepts as they are, the others
    through ``canonical`` (the registry's names; its :class:`ConfigError` gains the panel's own
    models, ``also``); a :class:`ConfigError` when none is left (``example``: a list to give)
    or one is given twice."""
    try:
        point = iter(canonical(tuple(m for m in given if not local(m))))
    except ConfigError as exc:
        raise ConfigError(f"{exc} (on a panel also: {also})") from None
    out = tuple(m if local(m) else next(point) for m in given)
    if not out:
        raise ConfigError(f"no models to evaluate; give at least one, e.g. {example}")
    if len(set(out)) != len(out):
        raise ConfigError(f"models {', '.join(out)} list a model twice")
    return out
