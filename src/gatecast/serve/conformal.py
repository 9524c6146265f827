"""Adaptive conformal inference (Gibbs and Candes 2021) one observation at a time: the recursion
that :mod:`gatecast.serve.intervals`' streams and the batch walk-forward
(:mod:`gatecast.evaluation.intervals`) both run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gatecast.errors import ConfigError, ModelFileError

#: Gibbs and Candes' step size for daily data: alpha_t moves by at most gamma a day.
GAMMA = 0.005
#: Scores in the calibration window (about a trading year).
CALIBRATION = 250


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal quantile of ``scores`` at miscoverage ``alpha``: the
    ceil((n + 1)(1 - alpha))-th smallest score.

    ``inf`` when that rank exceeds n (alpha < 1/(n + 1): the whole line), ``-inf`` when it is 0 or
    less (alpha >= 1: the empty set), as adaptive conformal inference needs for its guarantee.

    Examples
    --------
    >>> conformal_quantile(np.arange(1.0, 10.0), 0.2)  # rank ceil(10 x 0.8) = 8
    8.0
    >>> conformal_quantile(np.arange(1.0, 10.0), 0.05)
    inf
    """
    n = len(scores)
    # the small tolerance keeps (n + 1)(1 - alpha) = 9.000000000000002 at rank 9
    k = math.ceil((n + 1) * (1.0 - alpha) - 1e-9)
    if k > n:
        return math.inf
    if k <= 0:
        return -math.inf
    return float(np.partition(np.asarray(scores, dtype=float), k - 1)[k - 1])


class AdaptiveConformal:
    """Adaptive conformal inference (Gibbs and Candes 2021), one step per outcome.

    Each interval is the forecast +/- the conformal quantile, at level 1 - alpha_t, of the last
    ``calibration`` scores (times the scale of the day); after the outcome,
    alpha_{t+1} = alpha_t + gamma (alpha - err_t), with err_t = 1 when the outcome fell outside.
    ``gamma = 0`` keeps alpha fixed: rolling split conformal.

    Parameters
    ----------
    alpha
        Target miscoverage (0.1 for 90% intervals).
    gamma
        Step size of the alpha update.
    calibration
        Scores in the window; no interval is issued before it is full.
    alpha_start
        alpha_1 (default ``alpha``).

    Examples
    --------
    >>> aci = AdaptiveConformal(alpha=0.1, gamma=0.01, calibration=3)
    >>> for s in (1.0, 2.0, 3.0):
    ...     aci.observe(s)
    >>> aci.issue()  # rank ceil(4 x 0.9) = 4 > 3 scores: the whole line
    inf
    >>> aci.observe(5.0)  # covered: alpha_t = 0.1 + 0.01 x 0.1
    >>> round(aci.alpha_t, 6)
    0.101
    """

    def __init__(
        self,
        alpha: float = 0.1,
        gamma: float = GAMMA,
        calibration: int = CALIBRATION,
        alpha_start: float | None = None,
    ) -> None:
        if not 0 < alpha < 1:
            raise ConfigError(f"alpha={alpha}: the miscoverage must be in (0, 1), e.g. 0.1")
        if gamma < 0:
            raise ConfigError(f"gamma={gamma}: the step size must be >= 0, e.g. 0.005")
        if calibration < 1:
            raise ConfigError(f"calibration={calibration}: need at least 1 score, e.g. 250")
        self.alpha, self.gamma, self.calibration = alpha, gamma, calibration
        self.alpha_start = alpha if alpha_start is None else alpha_start
        self.reset()

    def reset(self) -> None:
        """Forget every score; alpha_t back to alpha_1."""
        self.alpha_t = float(self.alpha_start)
        self.scores = np.empty(0)
        self.issued = math.nan  # the quantile of the interval awaiting its outcome

    @property
    def ready(self) -> bool:
        """Whether the window is full, so :meth:`issue` gives an interval."""
        return len(self.scores) >= self.calibration

    def issue(self) -> float:
        """The quantile of the next interval (NaN until the window is full); its outcome's score
        goes to :meth:`observe`."""
        self.issued = conformal_quantile(self.scores, self.alpha_t) if self.ready else math.nan
        return self.issued

    def observe(self, score: float) -> None:
        """The score of an outcome: update alpha_t if an interval was issued for it, then add the
        score to the window (a NaN score is skipped, the interval forgotten)."""
        q, self.issued = self.issued, math.nan
        if math.isnan(score):
            return
        if not math.isnan(q):
            err = 0.0 if score <= q else 1.0
            self.alpha_t += self.gamma * (self.alpha - err)
        self.scores = np.append(self.scores, score)[-self.calibration :]

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata that :meth:`restore` takes back."""
        meta = {
            "alpha": self.alpha,
            "gamma": self.gamma,
            "calibration": self.calibration,
            "alpha_start": self.alpha_start,
            "alpha_t": self.alpha_t,
            "issued": _json(self.issued),
        }
        return {"scores": self.scores.astype(np.float64)}, meta

    def restore(self, arrays: dict[str, np.ndarray], meta: dict[str, Any], where: str) -> None:
        """Take back :meth:`state`; a state of other settings is refused."""
        mine = {k: getattr(self, k) for k in ("alpha", "gamma", "calibration", "alpha_start")}
        theirs = {k: meta.get(k) for k in mine}
        if theirs != mine:
            raise ModelFileError(
                f"{where} was saved with interval settings {theirs}, this stream has {mine}; "
                f"resume it with the settings that wrote it"
            )
        try:
            scores = np.asarray(arrays["scores"], dtype=float).ravel()
            alpha_t = float(meta["alpha_t"])
            issued = _unjson(meta.get("issued"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: its interval state is malformed ({exc})") from exc
        if len(scores) > self.calibration or not np.isfinite(scores).all() or (scores < 0).any():
            raise ModelFileError(
                f"{where}: its calibration window holds {len(scores)} scores (at most "
                f"{self.calibration}, finite, >= 0); it was edited or corrupted"
            )
        if not math.isfinite(alpha_t):
            raise ModelFileError(f"{where}: alpha_t={alpha_t} is not finite")
        self.scores, self.alpha_t, self.issued = scores.copy(), alpha_t, issued


def _json(x: float) -> float | str:
    return x if math.isfinite(x) else str(x)  # "nan", "inf", "-inf": JSON has no such numbers


def _unjson(x: Any) -> float:
    return float(x) if x is not None else math.nan
