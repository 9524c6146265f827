"""The inference core: the model spec and model-folder reader, the one prediction pipeline, the
NumPy and torch engines, and the frozen classical recursions; the models, training and the streams
all build on it. Imports no torch."""

from gatecast.inference.classical import (
    EgarchRecursion,
    GarchRecursion,
    HarRecursion,
    Recursion,
    recursion_from_dict,
)
from gatecast.inference.engines import Engine, NumpyEngine, TorchEngine
from gatecast.inference.pipeline import (
    feature_frame,
    model_inputs,
    predict_series,
    to_target_units,
)
from gatecast.inference.spec import ModelSpec, read_model_folder, weights_fingerprint
from gatecast.inference.upgrade import Upgrade, upgrade_model_folder

__all__ = [
    "EgarchRecursion",
    "Engine",
    "GarchRecursion",
    "HarRecursion",
    "ModelSpec",
    "NumpyEngine",
    "Recursion",
    "TorchEngine",
    "Upgrade",
    "feature_frame",
    "model_inputs",
    "predict_series",
    "read_model_folder",
    "recursion_from_dict",
    "to_target_units",
    "upgrade_model_folder",
    "weights_fingerprint",
]
