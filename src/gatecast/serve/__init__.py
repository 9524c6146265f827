"""Serving: live streams (one instrument or a whole market per tick), interval streams, and model
folders served with NumPy alone, on the inference core (:mod:`gatecast.inference`), whose names
are re-exported here as before. Imports no torch."""

from gatecast.inference import (
    ModelSpec,
    NumpyEngine,
    TorchEngine,
    feature_frame,
    model_inputs,
    predict_series,
    read_model_folder,
    to_target_units,
    weights_fingerprint,
)
from gatecast.serve.global_numpy import GlobalNumpyModel, load_global_numpy
from gatecast.serve.numpy_model import NumpyModel, WindowGates, load_numpy
from gatecast.serve.stream import Stream
from gatecast.serve.streamset import StreamSet

__all__ = [
    "GlobalNumpyModel",
    "ModelSpec",
    "NumpyEngine",
    "NumpyModel",
    "Stream",
    "StreamSet",
    "TorchEngine",
    "WindowGates",
    "feature_frame",
    "load_global_numpy",
    "load_numpy",
    "model_inputs",
    "predict_series",
    "read_model_folder",
    "to_target_units",
    "weights_fingerprint",
]
