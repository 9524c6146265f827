"""The training loop: a plain loop over in-memory mini-batches, with early stopping and clipping.

Read it top to bottom like nanoGPT's train.py: no framework in between.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from gatecast.errors import ConfigError, TrainingDivergedError
from gatecast.training.config import TrainConfig, TrainResult

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(
            f"device {device!r} is not a torch device; use auto, cpu or cuda"
        ) from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no CUDA GPU is available; use --device auto"
        )
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch and NumPy's global generators; returns a CPU generator for batch order."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - user code may draw from the global generator
    return torch.Generator().manual_seed(seed)


def _progress(quiet: bool, total: int) -> Any:
    if quiet or not sys.stderr.isatty():
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("training"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("{task.fields[info]}"),
        TimeRemainingColumn(),
        transient=True,
    )
    prog.start()
    prog.add_task("train", total=total, info="")
    return prog


class EpochMonitor:
    """The end-of-epoch bookkeeping every training loop shares: the loss history, a clear error
    when the loss diverges, early stopping with restore of the best weights, the progress bar.

    Use as a context manager; call :meth:`end_epoch` once per epoch and stop when it says so::

        with EpochMonitor(net, cfg, validating=val is not None) as monitor:
            for epoch in range(cfg.epochs):
                ...  # one pass over the training data
                if monitor.end_epoch(train_loss, val_loss):
                    break
        return monitor.result
    """

    def __init__(self, net: nn.Module, cfg: TrainConfig, *, validating: bool) -> None:
        self.net, self.cfg = net, cfg
        self.early_stopping = validating and cfg.patience > 0
        self.result = TrainResult(history={"train_loss": [], "val_loss": []})
        self.best, self.since_best = math.inf, 0
        self.best_state: dict[str, Any] | None = None
        self.bar: Any = None
        self.t0 = 0.0

    def __enter__(self) -> EpochMonitor:
        self.t0 = time.perf_counter()
        self.bar = _progress(self.cfg.quiet, self.cfg.epochs)
        return self

    def end_epoch(self, train_loss: float, val_loss: float | None) -> bool:
        """Record one epoch; True when early stopping says to stop."""
        epoch = self.result.epochs_run + 1
        self.result.history["train_loss"].append(train_loss)
        if not math.isfinite(train_loss):
            raise TrainingDivergedError(
                f"the training loss became {train_loss} at epoch {epoch}; lower --lr, "
                f"keep gradient clipping on, or scale the inputs"
            )
        if val_loss is not None:
            self.result.history["val_loss"].append(val_loss)
        watched = train_loss if val_loss is None else val_loss
        self.result.epochs_run = epoch
        if watched < self.best:
            self.best, self.since_best, self.result.best_epoch = watched, 0, epoch
            if self.early_stopping:
                self.best_state = copy.deepcopy(self.net.state_dict())
        else:
            self.since_best += 1
        if self.bar is not None:
            self.bar.update(self.bar.task_ids[0], advance=1, info=f"loss {train_loss:.4g}")
        if self.early_stopping and self.since_best >= self.cfg.patience:
            self.result.stopped_early = True
            return True
        return False

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
        if exc[0] is None and self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        self.net.eval()
        self.result.seconds = time.perf_counter() - self.t0


def train_loop(
    net: nn.Module,
    train: tuple[torch.Tensor, torch.Tensor],
    val: tuple[torch.Tensor, torch.Tensor] | None,
    cfg: TrainConfig,
    loss: LossFn,
    *,
    generator: torch.Generator | None = None,
) -> TrainResult:
    """Train ``net`` in place with Adam on in-memory tensors and return the loss history.

    ``train`` and ``val`` are (inputs, targets) already on the training device. Batches are slices
    of a shuffled index (no DataLoader: the data is in memory). With a validation set and
    ``patience > 0``, the weights of the best validation epoch are restored at the end.
    """
    X, y = train
    n = X.shape[0]
    if n == 0:
        raise ConfigError("no training windows; use more data or a shorter window")
    gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
    bs = n if cfg.batch_size == 0 else min(cfg.batch_size, n)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    validating = val is not None and len(val[0]) > 0
    with EpochMonitor(net, cfg, validating=validating) as monitor:
        for _ in range(cfg.epochs):
            net.train()
            order = torch.randperm(n, generator=gen).to(X.device) if cfg.shuffle else None
            total = torch.zeros((), device=X.device)
            for start in range(0, n, bs):
                idx = order[start : start + bs] if order is not None else slice(start, start + bs)
                xb, yb = X[idx], y[idx]
                opt.zero_grad(set_to_none=True)
                batch_loss = loss(net(xb), yb)
                batch_loss.backward()
                if cfg.clip > 0:
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
                opt.step()
                total += batch_loss.detach() * xb.shape[0]
            val_loss = None
            if validating:
                assert val is not None
                net.eval()
                with torch.no_grad():
                    val_loss = float(loss(net(val[0]), val[1]))
            if monitor.end_epoch(float(total) / n, val_loss):
                break
    return monitor.result
