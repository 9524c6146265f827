"""Whole sequences for stateful training: (input row, target) pairs, lanes, padding and masks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError


@dataclass(frozen=True)
class SequencePairs:
    """Feature rows ``X`` (T, F) and targets ``y`` (T,): ``y[k]`` is the target ``horizon`` rows after
    input row ``k``, and ``index[k]`` the date it is *for*. Running a recurrent net over ``X`` in
    order gives at step ``k`` the forecast for ``index[k]`` from rows up to ``index[k] - horizon``."""

    X: np.ndarray
    y: np.ndarray
    index: pd.Index

    def __len__(self) -> int:
        return len(self.index)


def sequence_pairs(
    features: pd.DataFrame,
    target: pd.Series | None,
    horizon: int = 1,
    *,
    values: np.ndarray | None = None,
) -> SequencePairs:
    """Pair every valid feature row with the target ``horizon`` rows later.

    The same checks as :func:`gatecast.data.windows.make_windows` (leading NaN rows skipped, later
    NaN/inf named by date): these are its windows of length 1.
    """
    win = make_windows(features, target, 1, horizon, values=values)
    return SequencePairs(np.ascontiguousarray(win.X[:, 0, :]), win.y, win.index)


def split_lanes(n: int, lanes: int) -> list[tuple[int, int]]:
    """Cut ``range(n)`` into at most ``lanes`` contiguous, nearly equal ``(start, stop)`` pieces."""
    if lanes < 1:
        raise ConfigError(f"chunks={lanes}: must be >= 1")
    if n < 1:
        return []
    size = math.ceil(n / min(lanes, n))
    return [(s, min(s + size, n)) for s in range(0, n, size)]


def pad_sequences(seqs: Sequence[np.ndarray], value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Stack sequences of shape (T_i, ...) into (batch, max T_i, ...) padded with ``value``.

    Returns the padded array and the lengths (int64), the layout
    ``torch.nn.utils.rnn.pack_padded_sequence(..., batch_first=True)`` and ``gatecast.nn``'s
    ``lengths`` argument expect.

    Examples
    --------
    >>> x, lengths = pad_sequences([np.ones((3, 1)), np.ones((1, 1))])
    >>> x.shape, lengths.tolist()
    ((2, 3, 1), [3, 1])
    """
    if not seqs:
        raise ConfigError("pad_sequences needs at least one sequence")
    arrs = [np.asarray(s) for s in seqs]
    lengths = np.array([len(a) for a in arrs], dtype=np.int64)
    if (lengths < 1).any():
        raise ConfigError(f"every sequence needs at least one step; lengths are {lengths.tolist()}")
    tail = arrs[0].shape[1:]
    if any(a.shape[1:] != tail for a in arrs):
        raise ConfigError(f"sequences differ beyond their length: {[a.shape for a in arrs]}")
    out = np.full((len(arrs), int(lengths.max()), *tail), value, dtype=np.result_type(*arrs))
    for i, a in enumerate(arrs):
        out[i, : len(a)] = a
    return out, lengths


def length_mask(lengths: np.ndarray, steps: int) -> np.ndarray:
    """(batch, steps) boolean mask, True on the valid (unpadded) steps."""
    return np.arange(steps)[None, :] < np.asarray(lengths)[:, None]
