"""Construction, checks with clear errors, weight transfer with torch, torch not imported."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from gatecast.errors import ConfigError, GatecastError
from gatecast.nn import GRU, LSTM, RNN, Linear, RecurrentNet, from_torch, make_stack, to_torch


def test_parameters_have_torch_names_shapes_and_init_range() -> None:
    lstm = LSTM(3, 8, num_layers=2, seed=0)
    ref = torch.nn.LSTM(3, 8, num_layers=2)
    assert list(lstm.params) == [k for k, _ in ref.named_parameters()]
    for k, p in ref.named_parameters():
        assert lstm.params[k].shape == tuple(p.shape)
        assert np.abs(lstm.params[k]).max() <= 1 / np.sqrt(8)
    assert not np.array_equal(
        LSTM(3, 8, seed=1).params["weight_hh_l0"], lstm.params["weight_hh_l0"]
    )
    np.testing.assert_array_equal(
        LSTM(3, 8, num_layers=2, seed=0).params["bias_hh_l1"], lstm.params["bias_hh_l1"]
    )


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_round_trip_through_torch(cls) -> None:
    stack = cls(2, 5, num_layers=2, seed=3, dtype=np.float32)
    module = to_torch(stack)
    assert module.batch_first and module.weight_hh_l1.dtype == torch.float32
    back = from_torch(module)
    assert type(back) is cls and back.dtype == np.float32
    for k, v in stack.params.items():
        np.testing.assert_array_equal(back.params[k], v)


def test_from_torch_reads_a_forecaster_like_module_and_linear() -> None:
    net = RecurrentNet("gru", input_size=2, hidden_size=4, num_layers=2, seed=0)
    module = to_torch(net)
    x = np.random.default_rng(0).normal(size=(3, 5, 2))
    np.testing.assert_allclose(module(torch.tensor(x)).detach().numpy(), net(x), rtol=1e-12)
    back = from_torch(module)
    assert isinstance(back, RecurrentNet)
    np.testing.assert_array_equal(back(x), net(x))
    lin = from_torch(torch.nn.Linear(3, 2))
    assert isinstance(lin, Linear) and lin.params["weight"].shape == (2, 3)


UNSUPPORTED = "uses bidirectional, bias=False or proj_size, which gatecast.nn does not implement"


@pytest.mark.parametrize(
    "module, message",
    [
        (torch.nn.LSTM(2, 3, bidirectional=True), UNSUPPORTED),
        (torch.nn.LSTM(2, 3, bias=False), UNSUPPORTED),
        (torch.nn.LSTM(2, 4, proj_size=2), UNSUPPORTED),
        (
            torch.nn.RNN(2, 3, nonlinearity="relu"),
            "uses nonlinearity='relu'; gatecast.nn's RNN is tanh",
        ),
        (torch.nn.Conv1d(2, 3, 1), "cannot copy a Conv1d; from_torch takes nn.RNN, nn.LSTM"),
    ],
)
def test_from_torch_refuses_what_it_cannot_copy(module, message) -> None:
    with pytest.raises(ConfigError, match=message):
        from_torch(module)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: LSTM(0, 3), "input_size must be an integer >= 1"),
        (lambda: GRU(2, 3, num_layers=1.5), "num_layers"),
        (lambda: make_stack("transformer", 1, 2), "unknown cell"),
        (lambda: RNN(2, 3, dtype=np.float16), "float32 or float64"),
        (lambda: LSTM(2, 3).forward(np.ones((4, 2))), r"expects \(batch, time, 2\)"),
        (lambda: LSTM(2, 3).forward(np.ones((1, 4, 2)), np.zeros((1, 1, 3))), r"must be \(h, c\)"),
        (
            lambda: GRU(2, 3).forward(np.ones((2, 4, 2)), np.zeros((1, 1, 3))),
            "expected .layers, batch, hidden.",
        ),
        (lambda: GRU(2, 3).forward(np.ones((2, 4, 2)), lengths=[5, 1]), r"lie in 1\.\.4"),
        (lambda: GRU(2, 3).forward(np.ones((2, 4, 2)), lengths=[1.0, 2.0]), "integers"),
        (
            lambda: RecurrentNet("lstm", 1, 2).loss_and_grads(np.ones((1, 2, 1)), [0.0], "mae"),
            "unknown loss",
        ),
    ],
)
def test_bad_arguments_raise_config_errors(call, match) -> None:
    with pytest.raises(ConfigError, match=match):
        call()
    assert issubclass(ConfigError, GatecastError)


def test_importing_gatecast_nn_does_not_import_torch() -> None:
    code = (
        "import sys, gatecast.nn; gatecast.nn.LSTM(1, 2)(__import__('numpy').ones((1, 3, 1))); "
        "sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_dtype_follows_the_parameters() -> None:
    net = RecurrentNet("lstm", 1, 3, dtype=np.float32)
    loss, grads = net.loss_and_grads(np.ones((2, 4, 1)), np.zeros((2, 1)))
    assert np.isfinite(loss)
    assert net(np.ones((2, 4, 1))).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_each_rows_own_first_layer_bias_is_that_of_a_net_with_it(cell: str) -> None:
    """bias_ih0 (a global model's instruments: one net, each its own input bias) gives each row
    what a copy of the net with that row's bias_ih_l0 gives it; layer 1 keeps its own bias."""
    stack = make_stack(cell, 2, 3, 2, seed=1)
    x = np.random.default_rng(0).standard_normal((4, 5, 2))
    bias = np.random.default_rng(1).standard_normal((4, stack.gates * 3))
    got = stack.forward(x, bias_ih0=bias).output
    for b in range(4):
        own = make_stack(cell, 2, 3, 2, seed=1)
        own.params["bias_ih_l0"][...] = bias[b]
        np.testing.assert_allclose(got[b], own.forward(x[b : b + 1]).output[0], rtol=1e-13)
    with pytest.raises(ConfigError, match=r"bias_ih0 has shape \(4, 2\)"):
        stack.forward(x, bias_ih0=np.zeros((4, 2)))
