"""A global model's folder as the NumPy loader reads it: the shared net and each instrument's
part (:func:`gatecast.serve.global_numpy.read_global_folder` makes one)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from gatecast.data.scalers import Scaler
from gatecast.inference.spec import ModelSpec

__all__ = ["GlobalFolder"]


@dataclass(frozen=True)
class GlobalFolder:
    """A global model's folder, read and validated: the shared net and each instrument's part.

    Attributes
    ----------
    kind : str
        ``global_variance`` or ``global_return``.
    spec : ModelSpec
        The shared net's spec (single-series kind; its scalers are the first instrument's).
    tensors : dict
        The shared weights (PyTorch names), the embedding left out.
    embedding : ndarray or None
        (instruments, G*hidden): each instrument's learned first-layer input vector.
    instruments : tuple of str
        Those the model was fit on, in the fit's order.
    scalers, target_scalers, levels, columns, train_ranges : dict
        Per instrument: its feature scaler; its target scaler (return models), its variance
        level (variance models); its price column (return models); its training range.
    """

    kind: str
    spec: ModelSpec
    tensors: dict[str, np.ndarray]
    embedding: np.ndarray | None
    instruments: tuple[str, ...]
    scalers: dict[str, Scaler]
    target_scalers: dict[str, Scaler]
    levels: dict[str, float]
    columns: dict[str, str]
    train_ranges: dict[str, tuple[str, str]]

    def instrument_spec(self, name: str) -> ModelSpec:
        """Instrument ``name``'s single-series spec: the shared one with its scalers, column and
        training range."""
        spec = self.spec
        return replace(
            spec,
            feature_scaler=self.scalers[name],
            target_scaler=self.target_scalers.get(name, spec.target_scaler),
            column=self.columns.get(name, spec.column),
            info={**spec.info, "train_range": list(self.train_ranges[name])},
        )

    def instrument_tensors(self, name: str) -> dict[str, np.ndarray]:
        """Instrument ``name``'s single-series weights, in float32 as the torch view folds
        them: its embedding added to the first layer's input bias (the one-hot input k adds
        row k at every step), the log of its level to the head's bias."""
        out = {k: np.array(v) for k, v in self.tensors.items()}
        k = self.instruments.index(name)
        if self.embedding is not None:
            out["rnn.bias_ih_l0"] = out["rnn.bias_ih_l0"] + self.embedding[k]
        if name in self.levels:  # the net predicts log(variance / level)
            out["head.bias"] = out["head.bias"] + np.float32(np.log(self.levels[name]))
        return out
