"""Parts the global (panel) recurrent models share: the instrument one-hot input, folding an
instrument's embedding into the first layer's bias, and checks on a panel passed to ``fit``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import PanelError


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
