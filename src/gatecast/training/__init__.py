"""Training: the settings (`config`, torch-free), and the loops with early stopping, clipping and
seeding (`loop`, `sequence`: torch). Import the loops from their modules."""

from gatecast.training.config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult"]
