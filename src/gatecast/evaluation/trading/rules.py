"""Trading rules: how a forecast becomes a position (sign, long/flat, threshold, vol target)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from gatecast.errors import ConfigError
from gatecast.types import check_choice

RuleName = Literal["sign", "long_flat", "threshold", "vol_target"]
RULES: tuple[RuleName, ...] = get_args(RuleName)
PERIODS_PER_YEAR = 252
# A daily variance in percent^2 is about 1 for an index; in fractions^2 about 1e-4.
_FRACTION_VARIANCE = 1e-2

#: The rule that trades a target's forecasts when none is named (every trial of a sweep).
RULE_OF_TARGET: dict[str, RuleName] = {
    "return": "sign",
    "direction": "threshold",
    "variance": "vol_target",
}


@dataclass(frozen=True)
class Rule:
    """How a forecast becomes a position.

    ``sign``: w = sign(return forecast) (long or short). ``long_flat``: w = 1 if the return
    forecast is > 0, else 0. ``threshold``: for up-probabilities, w = 1 above ``upper``, -1 below
    ``lower``, 0 between (``lower=0`` never shorts). ``vol_target``: for variance forecasts in
    percent^2 (gatecast's variance units), a long position w = min(cap, target_vol /
    sqrt(variance x periods_per_year)) with ``target_vol`` the annualised volatility aimed at, in
    percent.
    """

    name: RuleName = "sign"
    upper: float = 0.55
    lower: float = 0.45
    target_vol: float = 10.0
    cap: float = 1.0
    periods_per_year: float = PERIODS_PER_YEAR

    def __post_init__(self) -> None:
        check_choice(self.name, RULES, "rule")
        if not 0.0 <= self.lower <= self.upper <= 1.0:
            raise ConfigError(
                f"thresholds lower={self.lower}, upper={self.upper}: need 0 <= lower <= upper <= 1 "
                f"(probabilities of an up day), e.g. lower=0.45, upper=0.55"
            )
        if not (self.target_vol > 0 and self.cap > 0):
            raise ConfigError(
                f"target_vol={self.target_vol}, cap={self.cap}: both must be > 0 "
                f"(target_vol in annualised percent, e.g. 10; cap 1 = never leveraged)"
            )
        if self.periods_per_year < 1:
            raise ConfigError(f"periods_per_year={self.periods_per_year}: must be >= 1")


def _positions(f: np.ndarray, rule: Rule, names: list[str]) -> np.ndarray:
    """Position per forecast (same shape); the caller puts it on the next day's return."""
    w: np.ndarray
    if rule.name == "sign":
        w = np.sign(f)
        return w
    if rule.name == "long_flat":
        w = (f > 0).astype(float)
        return w
    if rule.name == "threshold":
        w = np.where(f > rule.upper, 1.0, np.where(f < rule.lower, -1.0, 0.0))
        return w
    bad = ~(f > 0)
    if bad.any():
        col = names[int(np.nonzero(bad.any(axis=0))[0][0])]
        raise ConfigError(
            f"rule 'vol_target' needs positive variance forecasts; column {col!r} holds "
            f"{f[bad][0]!r}: use a variance model's forecasts (percent^2)"
        )
    med = float(np.median(f))
    if med < _FRACTION_VARIANCE:
        raise ConfigError(
            f"variance forecasts look like fractions^2 (median {med:.3g}); rule 'vol_target' takes "
            f"percent^2 as gatecast's variance models give: multiply them by 1e4"
        )
    vol = np.sqrt(f * rule.periods_per_year)
    w = np.minimum(rule.cap, rule.target_vol / vol)
    return w
