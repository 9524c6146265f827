"""Copy weights between gatecast.nn and PyTorch modules, both ways (torch is imported only in here).

The two engines share one parameter layout, so a copy is a rename-free transfer of arrays; a torch
module with features the NumPy engine lacks (projections, bidirectional layers, no bias, relu) is
refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gatecast.errors import ConfigError
from gatecast.nn.linear import Linear
from gatecast.nn.network import RecurrentNet
from gatecast.nn.recurrent import GRU, LSTM, RNN, RecurrentStack


def _torch() -> Any:
    try:
        import torch
    except (
        ImportError
    ) as exc:  # pragma: no cover - torch is a dependency, but NumPy-only installs exist
        raise ConfigError(
            "copying weights to or from PyTorch needs torch; install it with pip"
        ) from exc
    return torch


def _numpy(t: Any) -> np.ndarray:
    return np.array(t.detach().cpu().numpy(), copy=True)


def from_torch(module: Any) -> RecurrentStack | Linear | RecurrentNet:
    """A NumPy copy of a torch RNN/LSTM/GRU, Linear, or a module with ``rnn`` and ``head``.

    Parameters
    ----------
    module : torch.nn.Module
        Unidirectional, with biases, tanh nonlinearity (RNN), no projection (LSTM). The dtype of its
        parameters (float32 or float64) becomes the NumPy dtype.

    Returns
    -------
    RNN, LSTM, GRU, Linear or RecurrentNet
        With the same weights (copied, not shared).
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(module, nn.Linear):
        lin = Linear(module.in_features, module.out_features, dtype=_dtype_of(module))
        return lin.load_params({k: _numpy(v) for k, v in module.named_parameters()})
    if isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        if module.bidirectional or not module.bias or getattr(module, "proj_size", 0):
            raise ConfigError(
                f"{module} uses bidirectional, bias=False or proj_size, which gatecast.nn "
                "does not implement; use a plain unidirectional module with biases"
            )
        if getattr(module, "nonlinearity", "tanh") != "tanh":
            raise ConfigError(
                f"{module} uses nonlinearity={module.nonlinearity!r}; gatecast.nn's RNN is tanh"
            )
        cls = LSTM if isinstance(module, nn.LSTM) else GRU if isinstance(module, nn.GRU) else RNN
        stack = cls(
            module.input_size, module.hidden_size, module.num_layers, dtype=_dtype_of(module)
        )
        return stack.load_params({k: _numpy(v) for k, v in module.named_parameters()})
    if hasattr(module, "rnn") and hasattr(module, "head"):
        rnn, head = from_torch(module.rnn), from_torch(module.head)
        if not isinstance(rnn, RecurrentStack) or not isinstance(head, Linear):
            raise ConfigError(
                f"{type(module).__name__}.rnn must be an RNN/LSTM/GRU and .head a Linear"
            )
        net = RecurrentNet(
            rnn.cell,
            rnn.input_size,
            rnn.hidden_size,
            rnn.num_layers,
            head.out_features,
            dtype=rnn.dtype,
        )
        net.rnn.load_params(rnn.params)
        net.head.load_params(head.params)
        return net
    raise ConfigError(
        f"cannot copy a {type(module).__name__}; from_torch takes nn.RNN, nn.LSTM, nn.GRU, "
        "nn.Linear or a module with .rnn and .head"
    )


def _dtype_of(module: Any) -> np.dtype:
    dtypes = {p.dtype for p in module.parameters()}
    if len(dtypes) != 1:
        raise ConfigError(
            f"{type(module).__name__} mixes parameter dtypes {dtypes}; cast it with .double()"
        )
    name = str(dtypes.pop()).removeprefix("torch.")
    if name not in ("float32", "float64"):
        raise ConfigError(
            f"parameters of dtype {name} are not supported; cast the module with .float() or "
            ".double()"
        )
    return np.dtype(name)


def to_torch(obj: RecurrentStack | Linear | RecurrentNet) -> Any:
    """A torch module with the weights of a NumPy `RNN`, `LSTM`, `GRU`, `Linear` or `RecurrentNet`.

    Stacks become ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with ``batch_first=True``; a `RecurrentNet`
    becomes a module with ``.rnn`` and ``.head`` whose ``forward(x)`` returns
    ``head(rnn(x)[0][:, -1])``. Parameters have the NumPy dtype.
    """
    torch = _torch()
    nn = torch.nn
    if isinstance(obj, RecurrentNet):
        return _torch_net_class()(to_torch(obj.rnn), to_torch(obj.head))
    dtype = getattr(torch, obj.dtype.name)
    module: Any
    if isinstance(obj, Linear):
        module = nn.Linear(obj.in_features, obj.out_features, dtype=dtype)
    elif isinstance(obj, RecurrentStack):
        cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[obj.cell]
        module = cls(obj.input_size, obj.hidden_size, obj.num_layers, batch_first=True, dtype=dtype)
    else:
        raise ConfigError(
            f"cannot convert a {type(obj).__name__}; to_torch takes RNN, LSTM, GRU, Linear "
            "or RecurrentNet"
        )
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(torch.from_numpy(np.ascontiguousarray(obj.params[name])))
    return module


def _torch_net_class() -> Any:
    torch = _torch()

    class TorchRecurrentNet(torch.nn.Module):  # type: ignore[misc, name-defined]
        """Recurrent stack + linear head on the last step; the torch twin of `RecurrentNet`."""

        def __init__(self, rnn: Any, head: Any) -> None:
            super().__init__()
            self.rnn, self.head = rnn, head

        def forward(self, x: Any) -> Any:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    return TorchRecurrentNet
