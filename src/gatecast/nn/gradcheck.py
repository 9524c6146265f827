"""Finite-difference checks of the analytic gradients of `gatecast.nn` stacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.recurrent import RecurrentStack, State

Array = np.ndarray


def numerical_gradient(f: Callable[[], float], x: Array, eps: float = 1e-6) -> Array:
    """Central differences (f(x + eps) - f(x - eps)) / 2 eps for every element of `x`.

    Parameters
    ----------
    f : callable
        Takes no arguments and reads `x` (which it sees perturbed in place, one element at a time).
    x : ndarray
        Float64 array; restored to its values on return.
    eps : float, default 1e-6

    Returns
    -------
    ndarray
        df/dx, shaped like `x`.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for j in range(flat.size):
        old = flat[j]
        flat[j] = old + eps
        up = f()
        flat[j] = old - eps
        down = f()
        flat[j] = old
        gflat[j] = (up - down) / (2 * eps)
    return grad


def relative_error(a: Array, b: Array) -> float:
    """max |a - b| relative to the largest entry of either array (0 when both are zero)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return float(np.max(np.abs(a - b), initial=0.0)) / scale if scale > 0 else 0.0


def gradcheck(
    stack: RecurrentStack,
    x: Array,
    state: State | None = None,
    *,
    lengths: Any = None,
    eps: float = 1e-6,
    seed: int = 0,
) -> dict[str, float]:
    """Compare `stack.backward` with finite differences, on a random linear loss of the outputs.

    The loss is sum(R_y * output) + sum(R_h * h_T) (+ sum(R_c * c_T)) with fixed random R's, so
    every output and state element contributes. The stack must be float64 (float32 differences are
    too coarse).

    Parameters
    ----------
    stack : RNN, LSTM or GRU
    x : ndarray, shape (batch, time, input_size)
    state : ndarray or (ndarray, ndarray), optional
        Initial state; zeros if omitted (its gradient is checked too).
    lengths : array_like of int, optional
    eps : float, default 1e-6
    seed : int, default 0
        Draws the R's.

    Returns
    -------
    dict of str to float
        Per parameter, for "x" and for "h0" (and "c0"): the largest difference between the two
        gradients relative to the largest gradient entry. Around 1e-7 or below means the backward is
        right; a wrong formula gives errors of order 1.

    Examples
    --------
    >>> from gatecast.nn import GRU
    >>> errors = gradcheck(GRU(2, 3, seed=0), np.ones((2, 4, 2)))
    >>> max(errors.values()) < 1e-6
    True
    """
    if stack.dtype != np.float64:
        raise ConfigError(
            f"gradcheck needs a float64 stack, got {stack.dtype}; build it with dtype=np.float64"
        )
    x = np.array(x, dtype=np.float64)
    B = x.shape[0]
    init = [
        np.array(s, dtype=np.float64)
        for s in _unpack(stack.zero_state(B) if state is None else state)
    ]
    out = stack.forward(x, _pack(stack, init), lengths=lengths)
    rng = np.random.default_rng(seed)
    r_y = rng.normal(size=out.output.shape)
    r_s = [rng.normal(size=s.shape) for s in _unpack(out.state)]

    def loss() -> float:
        o = stack.forward(x, _pack(stack, init), lengths=lengths)
        return float(
            np.sum(r_y * o.output)
            + sum(np.sum(r * s) for r, s in zip(r_s, _unpack(o.state), strict=True))
        )

    g = stack.backward(out.cache, r_y, _pack(stack, r_s))
    errors = {
        name: relative_error(g.params[name], numerical_gradient(loss, p, eps))
        for name, p in stack.params.items()
    }
    errors["x"] = relative_error(g.x, numerical_gradient(loss, x, eps))
    for name, s, ds in zip(("h0", "c0")[: len(init)], init, _unpack(g.state), strict=True):
        errors[name] = relative_error(ds, numerical_gradient(loss, s, eps))
    return errors


def _unpack(state: State) -> list[Array]:
    return list(state) if isinstance(state, (tuple, list)) else [state]


def _pack(stack: RecurrentStack, parts: list[Array]) -> State:
    return (parts[0], parts[1]) if stack.has_cell_state else parts[0]
