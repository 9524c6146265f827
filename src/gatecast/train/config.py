"""Training settings and results: plain dataclasses, torch-free (a config maps onto them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gatecast.errors import ConfigError


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
        if self.epochs < 1:
            raise ConfigError(f"epochs={self.epochs}: must be >= 1")
        if self.batch_size < 0:
            raise ConfigError(f"batch_size={self.batch_size}: must be >= 0 (0 = full batch)")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr}: the learning rate must be > 0")
        if self.patience < 0 or self.clip < 0:
            raise ConfigError("patience and clip must be >= 0 (0 disables them)")

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
