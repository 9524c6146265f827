"""Data layer: sources (bundled, files, synthetic), panels of many instruments, targets and features, windows, scalers, splits.

Imports nothing of gatecast's beyond `gatecast.errors`, and never torch.
"""

from gatecast.data.features import TargetSpec, build_features, make_target, price_series, returns
from gatecast.data.panel import Panel, load_panel
from gatecast.data.per_instrument import (
    PanelWindows,
    asof_join,
    fit_panel_scalers,
    panel_windows,
    split_panel,
)
from gatecast.data.scalers import fit_scaler, make_scaler, scaler_from_dict
from gatecast.data.sources import BUNDLED, datasets, load, resolve_column
from gatecast.data.splits import Split, chronological_split
from gatecast.data.synthetic import ar1_prices, garch11, gbm, noisy_sine, ou, random_walk
from gatecast.data.windows import Windows, make_windows, sliding_windows

__all__ = [
    "BUNDLED",
    "Panel",
    "PanelWindows",
    "Split",
    "TargetSpec",
    "Windows",
    "ar1_prices",
    "asof_join",
    "build_features",
    "chronological_split",
    "datasets",
    "fit_panel_scalers",
    "fit_scaler",
    "garch11",
    "gbm",
    "load",
    "load_panel",
    "make_scaler",
    "make_target",
    "make_windows",
    "noisy_sine",
    "ou",
    "panel_windows",
    "price_series",
    "random_walk",
    "resolve_column",
    "returns",
    "scaler_from_dict",
    "sliding_windows",
    "split_panel",
]
