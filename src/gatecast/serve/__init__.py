"""Serving: the model spec and prediction pipeline every engine shares, the NumPy and torch
engines, live streams, and model folders served with NumPy alone. Imports no torch."""

from gatecast.serve.engines import NumpyEngine, TorchEngine
from gatecast.serve.numpy_model import NumpyModel, WindowGates, load_numpy
from gatecast.serve.pipeline import feature_frame, model_inputs, predict_series, to_target_units
from gatecast.serve.spec import ModelSpec, read_model_folder, weights_fingerprint
from gatecast.serve.stream import Stream
from gatecast.serve.streamset import StreamSet

__all__ = [
    "ModelSpec",
    "NumpyEngine",
    "NumpyModel",
    "Stream",
    "StreamSet",
    "TorchEngine",
    "WindowGates",
    "feature_frame",
    "load_numpy",
    "model_inputs",
    "predict_series",
    "read_model_folder",
    "to_target_units",
    "weights_fingerprint",
]
