"""A fully connected layer, y = x W^T + b, with PyTorch's names, shapes and initialisation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.recurrent import as_dtype, check_size

Array = np.ndarray


class Linear:
    """Affine map of the last axis, like ``torch.nn.Linear``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and output's last axis.
    seed : int or numpy.random.Generator, default 0
        Weight and bias are drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), as PyTorch
        does.
    dtype : float32 or float64, default float64
        Dtype of the parameters.

    Attributes
    ----------
    params : dict of str to ndarray
        ``weight`` (out_features, in_features) and ``bias`` (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        seed: int | np.random.Generator = 0,
        dtype: Any = np.float64,
    ) -> None:
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.dtype = as_dtype(dtype)
        rng = np.random.default_rng(seed)
        k = 1.0 / np.sqrt(self.in_features)
        self.params: dict[str, Array] = {
            "weight": rng.uniform(-k, k, (self.out_features, self.in_features)).astype(self.dtype),
            "bias": rng.uniform(-k, k, (self.out_features,)).astype(self.dtype),
        }

    def __repr__(self) -> str:
        return f"Linear(in_features={self.in_features}, out_features={self.out_features})"

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def forward(self, x: Array) -> Array:
        """y = x W^T + b for x of shape (..., in_features)."""
        x = np.asarray(x, self.dtype)
        if x.shape[-1:] != (self.in_features,):
            raise ConfigError(
                f"Linear expects inputs of shape (..., {self.in_features}), got {x.shape}"
            )
        y: Array = x @ self.params["weight"].T + self.params["bias"]
        return y

    def backward(self, dy: Array, x: Array) -> tuple[dict[str, Array], Array]:
        """Gradients ({"weight", "bias"}, dx) from dy = dL/dy and the input x of `forward`."""
        dy2 = np.asarray(dy, self.dtype).reshape(-1, self.out_features)
        x2 = np.asarray(x, self.dtype).reshape(-1, self.in_features)
        grads = {"weight": dy2.T @ x2, "bias": dy2.sum(axis=0)}
        dx = (dy2 @ self.params["weight"]).reshape(np.shape(x))
        return grads, dx

    def load_params(self, params: Mapping[str, Array]) -> Linear:
        """Copy ``weight`` and ``bias`` in (in place; shapes must match); returns self."""
        for name, old in self.params.items():
            if name not in params or np.shape(params[name]) != old.shape:
                got = np.shape(params[name]) if name in params else "missing"
                raise ConfigError(
                    f"Linear parameter {name!r}: expected shape {old.shape}, got {got}"
                )
            old[...] = params[name]
        return self
