"""Suite-wide settings: one torch thread (the nets here are tiny; on a shared 2-core machine extra
intra-op threads only oversubscribe the CPU and slow every test down)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
