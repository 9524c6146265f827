"""gatecast.nn: RNN, LSTM and GRU from scratch in NumPy, forward and backward, in PyTorch's layout.

Read `gatecast.nn.cells` first: one step of each cell, forward and backward side by side. The rest
builds on it: stacks over time and layers (`recurrent`), a linear head (`linear`, `network`),
losses, optimisers, finite-difference checks, single-sample streaming (`stream`), weight transfer to
and from PyTorch (`torch_bridge`, which alone imports torch, and only when called). It imports nothing of
gatecast's but `gatecast.errors`; serving a saved model folder with NumPy alone is
`gatecast.serve.load_numpy`.
"""

from __future__ import annotations

from gatecast.nn.gradcheck import gradcheck, numerical_gradient
from gatecast.nn.linear import Linear
from gatecast.nn.losses import bce_with_logits_loss, mse_loss
from gatecast.nn.network import RecurrentNet
from gatecast.nn.optim import SGD, Adam, clip_grad_norm
from gatecast.nn.recurrent import (
    GRU,
    LSTM,
    RNN,
    Forward,
    GateRecord,
    Gradients,
    RecurrentStack,
    make_stack,
)
from gatecast.nn.stream import Stepper, StreamState
from gatecast.nn.torch_bridge import from_torch, to_torch

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "Adam",
    "Forward",
    "GateRecord",
    "Gradients",
    "Linear",
    "RecurrentNet",
    "RecurrentStack",
    "Stepper",
    "StreamState",
    "bce_with_logits_loss",
    "clip_grad_norm",
    "from_torch",
    "gradcheck",
    "make_stack",
    "mse_loss",
    "numerical_gradient",
    "to_torch",
]
