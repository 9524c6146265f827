"""PyTorch autograd as the reference for the NumPy engine's tests (float64 unless told otherwise)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from gatecast.nn import RecurrentStack, to_torch


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread: tensors are tiny, and threads only contend on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_forward_backward(
    stack: RecurrentStack,
    x: np.ndarray,
    state: Any,
    d_output: np.ndarray,
    d_state: Any,
    lengths: np.ndarray | None = None,
) -> dict[str, Any]:
    """Outputs, final state and the gradients of sum(d_output * y) + sum(d_state * final state)."""
    with one_thread():
        return _forward_backward(stack, x, state, d_output, d_state, lengths)


def _forward_backward(
    stack: RecurrentStack,
    x: np.ndarray,
    state: Any,
    d_output: np.ndarray,
    d_state: Any,
    lengths: np.ndarray | None,
) -> dict[str, Any]:
    module = to_torch(stack)
    xt = torch.tensor(x, requires_grad=True)
    parts = [
        torch.tensor(s, requires_grad=True)
        for s in (state if isinstance(state, tuple) else (state,))
    ]
    st = tuple(parts) if stack.has_cell_state else parts[0]
    T = x.shape[1]
    if lengths is None:
        y, final = module(xt, st)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False
        )
        yp, final = module(packed, st)
        y, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=True, total_length=T)
    finals = final if isinstance(final, tuple) else (final,)
    d_states = d_state if isinstance(d_state, tuple) else (d_state,)
    loss = (y * torch.tensor(d_output)).sum()
    for f, d in zip(finals, d_states, strict=True):
        loss = loss + (f * torch.tensor(d)).sum()
    loss.backward()
    return {
        "output": y.detach().numpy(),
        "state": [f.detach().numpy() for f in finals],
        "params": {k: p.grad.numpy() for k, p in module.named_parameters()},
        "x": xt.grad.numpy(),
        "d_state": [p.grad.numpy() for p in parts],
    }
