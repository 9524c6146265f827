"""Training: the loop, early stopping, clipping and seeding (torch)."""

from gatecast.train.loop import (
    TrainConfig,
    TrainResult,
    resolve_device,
    seed_everything,
    train_loop,
)

__all__ = ["TrainConfig", "TrainResult", "resolve_device", "seed_everything", "train_loop"]
