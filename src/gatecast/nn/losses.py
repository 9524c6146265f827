"""Losses as (value, gradient) pairs: mean squared error and binary cross-entropy on logits."""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def mse_loss(pred: Array, target: Array) -> tuple[float, Array]:
    """Mean squared error over all elements, like ``torch.nn.functional.mse_loss``.

    Parameters
    ----------
    pred, target : ndarray
        Same shape.

    Returns
    -------
    loss : float
    d_pred : ndarray
        dloss/dpred, shaped like `pred`.
    """
    pred = np.asarray(pred)
    diff = pred - np.asarray(target, dtype=pred.dtype)
    n = diff.size
    return float(np.mean(diff * diff)), (2.0 / n) * diff


def bce_with_logits_loss(logits: Array, target: Array) -> tuple[float, Array]:
    """Binary cross-entropy on logits, averaged, like torch's ``binary_cross_entropy_with_logits``.

    Parameters
    ----------
    logits : ndarray
        Raw scores x; the predicted probability is sigmoid(x).
    target : ndarray
        Labels in [0, 1], same shape.

    Returns
    -------
    loss : float
    d_logits : ndarray
        (sigmoid(x) - y) / n, shaped like `logits`.
    """
    x = np.asarray(logits)
    y = np.asarray(target, dtype=x.dtype)
    # -y log s(x) - (1-y) log(1-s(x)) = max(x, 0) - x y + log(1 + exp(-|x|)), which never overflows
    loss = np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x)))
    p = 0.5 * (1.0 + np.tanh(0.5 * x))
    return float(np.mean(loss)), (p - y) / x.size
