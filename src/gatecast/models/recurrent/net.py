"""The torch network: a recurrent stack and a linear head, and the losses it is trained with."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from gatecast.errors import ConfigError
from gatecast.types import check_choice

TORCH_CELLS: dict[str, type[nn.Module]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentNet(nn.Module):
    """A stack of recurrent layers and a linear head on the last step: (batch, time, F) -> (batch, out).

    Parameter names follow PyTorch (``rnn.weight_ih_l0``, ..., ``head.weight``), the layout the
    NumPy engine reads.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden: int = 50,
        layers: int = 2,
        dropout: float = 0.0,
        out_features: int = 1,
    ) -> None:
        super().__init__()
        check_choice(cell, tuple(TORCH_CELLS), "cell")
        if hidden < 1 or layers < 1 or input_size < 1:
            raise ConfigError(
                f"hidden={hidden}, layers={layers}, input_size={input_size}: all must be >= 1"
            )
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout}: must be in [0, 1)")
        self.cell = cell
        self.rnn = TORCH_CELLS[cell](
            input_size,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, out_features)

    def forward(
        self, x: torch.Tensor, state: Any = None, *, all_steps: bool = False
    ) -> torch.Tensor:
        out, _ = self.rnn(x, state)
        if all_steps:
            return self.head(out)  # type: ignore[no-any-return]
        return self.head(out[:, -1, :])  # type: ignore[no-any-return]

    def forward_sequence(
        self, x: torch.Tensor, state: Any = None, *, lengths: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """Head outputs at every step (batch, time, out) and the final state.

        With ``lengths`` (one per sequence of the padded batch ``x``) the batch is packed
        (``pack_padded_sequence``, ``enforce_sorted=False``): each sequence's final state is the
        state at its last valid step, and outputs past its length are the head of a zero vector
        (mask them). ``state`` and the returned state are in the batch's order.
        """
        if lengths is None:
            out, new = self.rnn(x, state)
        else:
            lens = torch.as_tensor(lengths, dtype=torch.int64).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lens, batch_first=True, enforce_sorted=False
            )
            out_p, new = self.rnn(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(
                out_p, batch_first=True, total_length=x.shape[1]
            )
        return self.head(out), new


def weights_of(net: nn.Module) -> dict[str, np.ndarray]:
    """A network's weights as NumPy arrays under PyTorch's names (CPU copies)."""
    # .numpy() of a CPU tensor shares its memory: without the copy, a state or a stream taken
    # from a model would change under its holder when the model is refit (a warm start).
    return {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def with_weights(net: RecurrentNet, state: dict[str, np.ndarray]) -> RecurrentNet:
    """``net`` with the weights of :func:`weights_of` loaded."""
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return net


def point_loss(kind: str, reduction: str = "mean") -> nn.Module:
    """The loss of a return/price (MSE) or direction (BCE on the logit) target."""
    if kind == "direction":
        return nn.BCEWithLogitsLoss(reduction=reduction)
    return nn.MSELoss(reduction=reduction)


def qlike_logvar(
    log_var: torch.Tensor, proxy: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Mean QLIKE of a log-variance output h against a proxy p: p e^{-h} - log(p) + h - 1
    (``reduction="none"``: at every element)."""
    x = proxy * torch.exp(-log_var)
    each = x - torch.log(proxy) + log_var - 1.0
    return each if reduction == "none" else each.mean()


def gaussian_nll_logvar(
    log_var: torch.Tensor, r2: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Gaussian negative log-likelihood of a zero-mean return, up to constants: (h + r^2 e^{-h}) / 2
    (``reduction="none"``: at every element)."""
    each = 0.5 * (log_var + r2 * torch.exp(-log_var))
    return each if reduction == "none" else each.mean()
