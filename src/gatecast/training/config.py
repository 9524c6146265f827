"""Training settings and results: plain dataclasses, torch-free (a config maps onto them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gatecast.types import check_number


@dataclass
class TrainConfig:
    """Training settings; plain values so a config file maps one-to-one onto them.

    ``batch_size=0`` means full batch (the course notebook's loop). ``patience=0`` disables early
    stopping; otherwise training stops after ``patience`` epochs without a better validation loss
    and the best weights are restored. ``clip`` is the max gradient norm (0 disables clipping).
    """

    epochs: int = 50
    batch_size: int = 32
    lr: float = 1e-3
    patience: int = 10
    clip: float = 1.0
    seed: int = 0
    device: str = "auto"
    quiet: bool = True
    shuffle: bool = True
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_number(self.epochs, "epochs", at_least=1, integer=True)
        check_number(self.batch_size, "batch_size", at_least=0, integer=True, hint="0 = full batch")
        # a learning rate of 1e6 or more diverges at once; refused here, not after an epoch
        check_number(self.lr, "lr", above=0, below=1e6, hint="the learning rate, e.g. 1e-3")
        check_number(self.patience, "patience", at_least=0, integer=True, hint="0 disables it")
        check_number(self.clip, "clip", at_least=0, hint="the max gradient norm; 0 disables it")
        check_number(self.seed, "seed", at_least=0, integer=True)
        check_number(self.weight_decay, "weight_decay", at_least=0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainResult:
    """What a training run leaves behind besides the weights."""

    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
