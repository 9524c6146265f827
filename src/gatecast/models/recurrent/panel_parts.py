"""Parts the global (panel) recurrent models share: the instrument one-hot input, folding an
instrument's embedding into the first layer's bias, and checks on a panel passed to ``fit``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import PanelError
from gatecast.serve import Stream, StreamSet


def check_panel(panel: Any, model: str, single: str) -> dict[str, pd.DataFrame]:
    """``panel`` as instrument -> frame; a :class:`PanelError` names what was passed instead."""
    if isinstance(panel, pd.DataFrame) or not isinstance(panel, Mapping) or not panel:
        raise PanelError(
            f"{model}.fit takes a panel (gatecast.load_panel, or a mapping instrument -> price "
            f"frame) with at least one instrument; for one series use {single}"
        )
    return {str(n): df for n, df in panel.items()}


def one_hot(instrument: np.ndarray, names: list[str], window: int) -> np.ndarray:
    """(n, window, len(names)): each window's instrument as a one-hot row at every step."""
    pos = {n: i for i, n in enumerate(names)}
    hot = np.zeros((len(instrument), len(names)))
    hot[np.arange(len(instrument)), [pos[str(n)] for n in instrument]] = 1.0
    return np.repeat(hot[:, None, :], window, axis=1)


def fold_embedding(state: dict[str, np.ndarray], n_features: int, k: int) -> None:
    """Turn the weights of a net with a one-hot instrument input into those of instrument
    ``k``'s single-series net, in place: the one-hot input k adds column k of the input weights
    to the first layer's pre-activations at every step, the same as adding it to its bias."""
    w = state["rnn.weight_ih_l0"]
    state["rnn.bias_ih_l0"] = state["rnn.bias_ih_l0"] + w[:, n_features + k]
    state["rnn.weight_ih_l0"] = np.ascontiguousarray(w[:, :n_features])


def global_stream_set(
    model: Any, engine: str, history: Mapping[str, pd.DataFrame] | None
) -> StreamSet:
    """A :class:`StreamSet` over a fitted global model's instruments, each streaming through
    its own ``model.for_instrument`` view; an instrument outside the fit streams only with
    ``history`` (its ``model.parts_name`` fit on those rows), any other is refused by name when it ticks."""
    histories = dict(history or {})
    for n, rows in histories.items():
        if n in model.scalers_:
            raise PanelError(
                f"instrument {n!r} was in the fit: its {model.parts_name} are the fit's; leave "
                f"it out of history"
            )
        model.for_instrument(n, rows)  # refused now (too short, embedding) if it cannot be

    def stream_for(key: str) -> Stream:
        if key not in model.scalers_ and key not in histories:
            raise PanelError(
                f"instrument {key!r} was not in the fit ({', '.join(model.instruments_)}) and "
                f"has no history: give stream_set(history={{{key!r}: rows}}) with at least "
                f"{model.min_history()} rows before its first streamed row"
            )
        stream: Stream = model.for_instrument(key, histories.get(key)).stream(engine)
        return stream

    first = model.instruments_[0]
    out = StreamSet(lambda: stream_for(first), stream_for=stream_for)
    out.covariate_groups = tuple(getattr(model, "covariate_groups_", ()))  # instrument:NAME's
    return out
