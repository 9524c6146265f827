"""One torch thread for these tests: the CI box is small and shared, and two spinning OpenMP threads
per test process under load cost far more than they give."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
