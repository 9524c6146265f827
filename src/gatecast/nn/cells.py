"""One time step of each recurrent cell, forward and backward side by side, as in min-char-rnn.

The affine map of every cell has an input half, ``gi = x_t W_ih^T + b_ih``, and a recurrent half,
``gh = h_{t-1} W_hh^T + b_hh``. The input half does not depend on the state, so the stack computes
it for all time steps in one matrix product and hands each step its slice ``gi``; the step does the
recurrent half and the nonlinearities. Each backward step returns the gradient with respect to
``gi`` and ``gh`` (from which the stack gets dW_ih, db_ih, dW_hh, db_hh and dx in bulk, after the
time loop) and with respect to the previous state.

Shapes: ``x_t`` (batch, input), ``h``/``c`` (batch, hidden), ``gi``/``gh`` (batch, G * hidden) with
G = 1 (RNN), 4 (LSTM, gates i, f, g, o) or 3 (GRU, gates r, z, n): PyTorch's layout and order.
"""

from __future__ import annotations

import numpy as np

Array = np.ndarray


def sigmoid(x: Array) -> Array:
    """Logistic function, written as (1 + tanh(x/2)) / 2: the same values, never overflowing."""
    s = np.tanh(0.5 * x)
    s += 1.0
    s *= 0.5
    return s


# --------------------------------------------------------------------------------------------------
# Vanilla RNN:  h = tanh(gi + W_hh h_prev + b_hh)
# --------------------------------------------------------------------------------------------------


def rnn_step(gi: Array, h_prev: Array, W_hh: Array, b_hh: Array) -> tuple[Array, tuple[Array, ...]]:
    """One tanh-RNN step; returns the new h and the cache for `rnn_step_backward`."""
    a = gi + h_prev @ W_hh.T + b_hh  # pre-activation
    h = np.tanh(a)
    return h, (a, h)


def rnn_step_backward(
    dh: Array, cache: tuple[Array, ...], W_hh: Array
) -> tuple[Array, Array, Array]:
    """Backward of `rnn_step`: (d gi, d gh, dh_prev) from dh, the gradient arriving at h."""
    _, h = cache
    da = dh * (1.0 - h * h)  # tanh' = 1 - tanh^2
    dh_prev = da @ W_hh  # the only path back in time: through W_hh, shrunk by tanh' at every step
    return da, da, dh_prev  # gi and gh enter the sum the same way, so they share the gradient


# --------------------------------------------------------------------------------------------------
# LSTM:  i, f, g, o = sigma, sigma, tanh, sigma (gi + W_hh h_prev + b_hh)
#        c = f * c_prev + i * g          h = o * tanh(c)
# --------------------------------------------------------------------------------------------------


def lstm_step(
    gi: Array, h_prev: Array, c_prev: Array, W_hh: Array, b_hh: Array
) -> tuple[Array, Array, tuple[Array, ...]]:
    """One LSTM step; returns the new h, the new c and the cache for `lstm_step_backward`."""
    H = h_prev.shape[1]
    a = gi + h_prev @ W_hh.T + b_hh  # (batch, 4H) pre-activations, in the order i, f, g, o
    s = sigmoid(a)  # one call for the three sigmoid gates (g's quarter of s goes unused)
    i = s[:, :H]  # input gate: how much of the candidate to write
    f = s[:, H : 2 * H]  # forget gate: how much of the old cell to keep
    g = np.tanh(a[:, 2 * H : 3 * H])  # candidate values
    o = s[:, 3 * H :]  # output gate: how much of the cell to show
    c = f * c_prev + i * g
    tc = np.tanh(c)
    h = o * tc
    return h, c, (c_prev, i, f, g, o, c, tc)


def lstm_step_backward(
    dh: Array, dc: Array, cache: tuple[Array, ...], W_hh: Array
) -> tuple[Array, Array, Array, Array]:
    """Backward of `lstm_step`: (d gi, d gh, dh_prev, dc_prev) from the gradients at h and c."""
    c_prev, i, f, g, o, _, tc = cache
    do = dh * tc
    dc = dc + dh * o * (1.0 - tc * tc)  # c reaches the loss directly and through h = o * tanh(c)
    di = dc * g
    df = dc * c_prev
    dg = dc * i
    dc_prev = dc * f  # dc flows back through the forget gate alone: the LSTM's gradient highway
    da = np.concatenate(
        [di * i * (1.0 - i), df * f * (1.0 - f), dg * (1.0 - g * g), do * o * (1.0 - o)], axis=1
    )
    dh_prev = da @ W_hh
    return da, da, dh_prev, dc_prev


# --------------------------------------------------------------------------------------------------
# GRU (PyTorch's convention: the reset gate scales W_hn h_prev + b_hn, bias included):
#        r = sigma(gi_r + gh_r)    z = sigma(gi_z + gh_z)    n = tanh(gi_n + r * gh_n)
#        h = (1 - z) * n + z * h_prev
# --------------------------------------------------------------------------------------------------


def gru_step(gi: Array, h_prev: Array, W_hh: Array, b_hh: Array) -> tuple[Array, tuple[Array, ...]]:
    """One GRU step; returns the new h and the cache for `gru_step_backward`."""
    H = h_prev.shape[1]
    gh = h_prev @ W_hh.T + b_hh  # (batch, 3H), in the order r, z, n
    rz = sigmoid(gi[:, : 2 * H] + gh[:, : 2 * H])
    r = rz[:, :H]  # reset gate: how much of the old state the candidate sees
    z = rz[:, H:]  # update gate: how much of the old state to keep
    ghn = gh[:, 2 * H :]
    n = np.tanh(gi[:, 2 * H :] + r * ghn)  # candidate state
    h = (1.0 - z) * n + z * h_prev
    return h, (h_prev, r, z, n, ghn, h)


def gru_step_backward(
    dh: Array, cache: tuple[Array, ...], W_hh: Array
) -> tuple[Array, Array, Array]:
    """Backward of `gru_step`: (d gi, d gh, dh_prev) from dh, the gradient arriving at h."""
    h_prev, r, z, n, ghn, _ = cache
    dn = dh * (1.0 - z)
    dz = dh * (h_prev - n)
    dan = dn * (1.0 - n * n)  # at the pre-activation of n
    dr = dan * ghn
    dar = dr * r * (1.0 - r)
    daz = dz * z * (1.0 - z)
    d_gi = np.concatenate([dar, daz, dan], axis=1)
    d_gh = np.concatenate([dar, daz, dan * r], axis=1)  # r scales the recurrent half of n only
    dh_prev = dh * z + d_gh @ W_hh  # h_prev reaches h directly (kept by z) and through W_hh
    return d_gi, d_gh, dh_prev
