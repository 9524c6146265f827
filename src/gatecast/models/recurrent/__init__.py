"""Recurrent models (RNN, LSTM, GRU) in torch: the net (`net`), the settings of each family
(`config`), one shared estimator base (`base`), the return/price/direction forecaster
(`forecaster`) with its sequence-mode strategy (`sequence`), and the variance model (`variance`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from gatecast.artifacts import KeyLike
from gatecast.inference.spec import read_model_folder
from gatecast.models.config import ForecasterConfig, VarianceConfig
from gatecast.models.recurrent.base import RecurrentEstimator
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.net import RecurrentNet, weights_of, with_weights
from gatecast.models.recurrent.variance import RecurrentVariance
from gatecast.serve import Stream, load_numpy
from gatecast.serve.intervals import Bands, check_band_levels
from gatecast.types import ENGINES, check_choice

#: The estimator class of each manifest kind.
FAMILIES: dict[str, type[RecurrentEstimator]] = {
    RecurrentForecaster.kind: RecurrentForecaster,
    RecurrentVariance.kind: RecurrentVariance,
}


def load_model(
    folder: str | os.PathLike[str],
    *,
    device: str = "auto",
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> RecurrentEstimator:
    """A saved recurrent model of either family, rebuilt in torch (see ``load_numpy`` for NumPy);
    ``signing_key`` and ``require_signature`` as in ``gatecast.inference.read_model_folder``."""
    spec, tensors = read_model_folder(
        folder, signing_key=signing_key, require_signature=require_signature
    )
    cls = FAMILIES[spec.kind]
    return cls.from_spec(spec, tensors, device=device, where=f"{folder}/manifest.json")  # type: ignore[no-any-return]


def open_stream(
    folder: str | os.PathLike[str],
    engine: str = "numpy",
    *,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
    interval: float | None = None,
    quantiles: Sequence[float] | None = None,
) -> Stream:
    """A live stream over a model folder; ``engine="numpy"`` never imports torch's models.
    ``signing_key`` and ``require_signature`` as in ``gatecast.inference.read_model_folder``.

    ``interval`` (e.g. 0.9) and ``quantiles`` (e.g. (0.05, 0.95)) carry calibrated intervals
    beside the forecasts, restarted from the calibration ``train`` recorded in the folder as
    ``predict --interval`` restarts it: after each ``update``, ``stream.band`` holds
    ``lower``/``upper``, ``q<tau>`` and their ``price_*`` columns
    (:class:`gatecast.serve.intervals.Bands`), and the stream's state keeps them."""
    check_choice(engine, ENGINES, "engine")
    check_band_levels(interval, quantiles)
    if engine == "numpy":
        live = load_numpy(
            folder, signing_key=signing_key, require_signature=require_signature
        ).stream()
    else:
        live = load_model(
            folder, device="cpu", signing_key=signing_key, require_signature=require_signature
        ).stream()
    if interval is not None or quantiles:
        where = f"{folder}/manifest.json"
        live.bands = Bands.of_spec(live.spec, where, interval, quantiles)
    return live


__all__ = [
    "FAMILIES",
    "ForecasterConfig",
    "RecurrentEstimator",
    "RecurrentForecaster",
    "RecurrentNet",
    "RecurrentVariance",
    "VarianceConfig",
    "load_model",
    "open_stream",
    "weights_of",
    "with_weights",
]
