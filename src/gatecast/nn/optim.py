"""Optimisers (SGD, Adam) and gradient-norm clipping on dicts of arrays, with PyTorch's rules.

Parameters and gradients are dicts with the same keys; optimisers update the parameter arrays in
place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from gatecast.errors import ConfigError, GatecastError

Array = np.ndarray


def _check_params(params: Mapping[str, Array]) -> dict[str, Array]:
    if not params:
        raise ConfigError("the optimiser got no parameters; pass a model's `params` dict")
    return dict(params)


class SGD:
    """Stochastic gradient descent with optional momentum, like ``torch.optim.SGD``.

    Parameters
    ----------
    params : dict of str to ndarray
        Updated in place by `step`.
    lr : float
        Learning rate.
    momentum, dampening, weight_decay : float, default 0
        As in torch: the velocity starts as the first gradient, then v = momentum v + (1 -
        dampening) g.
    nesterov : bool, default False
        Use g + momentum v instead of v.
    """

    def __init__(
        self,
        params: Mapping[str, Array],
        lr: float = 1e-2,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if lr <= 0 or momentum < 0 or weight_decay < 0:
            raise ConfigError(
                f"SGD needs lr > 0, momentum >= 0, weight_decay >= 0; got lr={lr}, "
                f"momentum={momentum}, weight_decay={weight_decay}"
            )
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ConfigError("Nesterov momentum needs momentum > 0 and dampening = 0")
        self.params = _check_params(params)
        self.lr, self.momentum, self.dampening = lr, momentum, dampening
        self.weight_decay, self.nesterov = weight_decay, nesterov
        self.velocity: dict[str, Array] = {}

    def step(self, grads: Mapping[str, Array]) -> None:
        """Apply one update from `grads` (same keys as the parameters)."""
        for name, p in self.params.items():
            d = grads[name]
            if self.weight_decay:
                d = d + self.weight_decay * p
            if self.momentum:
                v = self.velocity.get(name)
                if v is None:
                    v = self.velocity[name] = np.array(d, dtype=p.dtype)
                else:
                    v *= self.momentum
                    v += (1.0 - self.dampening) * d
                d = d + self.momentum * v if self.nesterov else v
            p -= self.lr * d


class Adam:
    """Adam, with exactly ``torch.optim.Adam``'s update (bias correction, eps added after the sqrt).

    Parameters
    ----------
    params : dict of str to ndarray
        Updated in place by `step`.
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decay rates of the first and second moment estimates.
    eps : float, default 1e-8
        Added to sqrt(v_hat), not to v_hat, as torch does.
    weight_decay : float, default 0
        L2 penalty added to the gradient (Adam, not AdamW).

    Examples
    --------
    >>> params = {"w": np.array([1.0])}
    >>> opt = Adam(params, lr=0.1)
    >>> opt.step({"w": np.array([2.0])})
    >>> params["w"]
    array([0.9])
    """

    def __init__(
        self,
        params: Mapping[str, Array],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        if lr <= 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ConfigError(
                f"Adam needs lr > 0, eps >= 0, weight_decay >= 0 and betas in [0, 1); got "
                f"lr={lr}, eps={eps}, weight_decay={weight_decay}, betas={betas}"
            )
        self.params = _check_params(params)
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0
        self.m = {k: np.zeros_like(p) for k, p in self.params.items()}
        self.v = {k: np.zeros_like(p) for k, p in self.params.items()}

    def step(self, grads: Mapping[str, Array]) -> None:
        """Apply one update from `grads` (same keys as the parameters)."""
        b1, b2 = self.betas
        self.t += 1
        step_size = self.lr / (1.0 - b1**self.t)  # bias correction of m, folded into the step
        bc2_sqrt = math.sqrt(1.0 - b2**self.t)
        for name, p in self.params.items():
            g = grads[name]
            if self.weight_decay:
                g = g + self.weight_decay * p
            m, v = self.m[name], self.v[name]
            m += (1.0 - b1) * (g - m)  # m = b1 m + (1 - b1) g, written as torch's lerp
            v *= b2
            v += (1.0 - b2) * g * g
            denom = np.sqrt(v) / bc2_sqrt + self.eps
            p -= step_size * (m / denom)


def clip_grad_norm(
    grads: Mapping[str, Array],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients in place so that their joint norm is at most `max_norm`.

    Like ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all gradients as one vector;
    they are multiplied by min(1, max_norm / (norm + 1e-6)).

    Parameters
    ----------
    grads : dict of str to ndarray
        Modified in place.
    max_norm : float
    norm_type : float, default 2
        p of the p-norm; ``inf`` for the largest absolute value.
    error_if_nonfinite : bool, default False
        Raise if the norm is NaN or infinite instead of scaling by it.

    Returns
    -------
    float
        The norm before clipping.
    """
    if max_norm < 0:
        raise ConfigError(f"max_norm must be >= 0, got {max_norm}")
    arrays = list(grads.values())
    if not arrays:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in arrays)
    else:
        norms = [np.linalg.norm(g.ravel(), ord=norm_type) for g in arrays]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise GatecastError(
            f"the gradient norm is {total}; the loss diverged (lower the learning rate)"
        )
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in arrays:
        g *= coef
    return total
