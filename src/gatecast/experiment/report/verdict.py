"""One sentence that says whether a model beats the forecast of doing nothing, with its test."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.evaluation.losses import qlike_loss, squared_error
from gatecast.evaluation.significance import diebold_mariano

#: Significance level of the verdict's Diebold-Mariano test.
LEVEL = 0.05
#: What "doing nothing" is called for each target in the sentence.
REFERENCE_WORDS = {
    "return": "the zero-return forecast",
    "price": "yesterday's price (no change)",
    "direction": "the historical up-rate",
    "variance": "the 22-day historical variance",
}


@dataclass(frozen=True)
class Comparison:
    """A Diebold-Mariano test (HLN) of ``model`` against ``baseline`` on per-date ``loss``."""

    model: str
    baseline: str
    loss: str
    model_loss: float
    baseline_loss: float
    statistic: float
    p_value: float
    n: int

    @property
    def beats(self) -> bool:
        """Lower mean loss and significant at :data:`LEVEL`."""
        return self.model_loss < self.baseline_loss and self.p_value < LEVEL

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"beats": self.beats}


def per_date_loss(kind: str, actual: pd.Series, forecast: pd.Series) -> tuple[str, np.ndarray]:
    """The loss the verdict compares on: QLIKE for variance, squared error otherwise (the Brier
    score for a direction probability)."""
    if kind == "variance":
        return "qlike", qlike_loss(actual.to_numpy(), forecast.to_numpy())
    name = "brier" if kind == "direction" else "squared_error"
    return name, squared_error(actual.to_numpy(), forecast.to_numpy())


def compare(
    kind: str, actual: pd.Series, forecasts: pd.DataFrame, model: str, baseline: str
) -> Comparison:
    """Test ``model`` against ``baseline`` (columns of ``forecasts``) on the dates both forecast."""
    frame = pd.concat({"a": actual, "m": forecasts[model], "b": forecasts[baseline]}, axis=1)
    frame = frame.dropna()
    loss, lm = per_date_loss(kind, frame["a"], frame["m"])
    _, lb = per_date_loss(kind, frame["a"], frame["b"])
    test = diebold_mariano(lm, lb)
    return Comparison(
        model,
        baseline,
        loss,
        float(lm.mean()),
        float(lb.mean()),
        test.statistic,
        test.pvalue,
        len(frame),
    )


def sentence(kind: str, model: str, versus: Comparison, metrics: dict[str, float]) -> str:
    """E.g. "LSTM does not beat the zero-return forecast: Theil U 0.9992, DM p = 0.71"."""
    who, ref = model.upper(), REFERENCE_WORDS[kind]
    if kind in ("return", "price"):
        stat = f"Theil U {metrics.get('theil_u', float('nan')):.4f}"
    elif kind == "direction":
        stat = f"Brier {versus.model_loss:.4f} vs {versus.baseline_loss:.4f}"
    else:
        stat = f"QLIKE {versus.model_loss:.4f} vs {versus.baseline_loss:.4f}"
    p = f"DM p = {versus.p_value:.2g}" if versus.p_value < 0.01 else f"DM p = {versus.p_value:.2f}"
    if versus.beats:
        return f"{who} beats {ref}: {stat}, {p}."
    if versus.model_loss < versus.baseline_loss:
        return f"{who} does not beat {ref} significantly: {stat}, {p}."
    return f"{who} does not beat {ref}: {stat}, {p}."
