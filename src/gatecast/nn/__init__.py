"""gatecast.nn: RNN, LSTM and GRU from scratch in NumPy, forward and backward, in PyTorch's layout.

Read `gatecast.nn.cells` first: one step of each cell, forward and backward side by side. The rest
builds on it: stacks over time and layers (`recurrent`), a linear head (`linear`, `network`),
losses, optimisers, finite-difference checks, single-sample streaming (`stream`), weight transfer to
and from PyTorch (`torch_bridge`, which alone imports torch, and only when called) and `load`, which
serves a saved model folder with NumPy alone (`inference`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from gatecast.nn.inference import NumpyModel


def load(model_dir: str | os.PathLike[str], *, dtype: Any = None) -> NumpyModel:
    """Load a gatecast model folder for NumPy-only inference (torch is never imported).

    See `gatecast.nn.inference.load`; pandas and `gatecast.data` are imported on first use only.
    """
    from gatecast.nn.inference import load as load_folder

    return load_folder(model_dir, dtype=dtype)


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
    "load",
    "make_stack",
    "mse_loss",
    "numerical_gradient",
    "to_torch",
]
