"""Adaptive conformal intervals one observation at a time, and a stream that carries them beside a
point forecast; the batch walk-forward (:mod:`gatecast.evaluation.intervals`) runs the same recursion.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gatecast.artifacts import decode_state, encode_state, write_state
from gatecast.errors import ConfigError, ModelFileError
from gatecast.serve.stream import Stream

STATE_FORMAT = "gatecast-interval-stream"
STATE_VERSION = 1
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


def interval_scale(variance: float) -> float:
    """The scale of a return interval from a variance forecast in percent^2: its standard
    deviation as a fraction (the units of a log return)."""
    return math.sqrt(variance) / 100.0 if variance > 0 else math.nan


class Interval(NamedTuple):
    """One streamed forecast: the point forecast and the interval around it, and alpha_t."""

    forecast: float
    lower: float
    upper: float
    alpha: float


class IntervalStream:
    """A point stream and a variance stream in step, with adaptive conformal intervals around the
    point forecast of the next return.

    ``update(observation)`` feeds both streams, scores the interval issued a step before against
    the return just realised (|r - forecast| / scale, scale = the variance forecast's standard
    deviation, or 1 without a variance stream), updates alpha_t, and returns the next
    :class:`Interval`. It equals :func:`gatecast.evaluation.intervals.adaptive_conformal` over the
    same forecasts, and its state saves and resumes with both streams inside.

    Parameters
    ----------
    point
        A :class:`Stream` of a model of the one-step return, or None for the zero-return forecast.
    variance
        A :class:`Stream` of a variance model (percent^2), or None for unscaled scores.
    level, gamma, calibration
        Interval level (0.9), ACI step size and the scores in the calibration window.

    Examples
    --------
    >>> live = IntervalStream(point_stream, variance_stream, level=0.9)  # doctest: +SKIP
    >>> live.update({"adj_close": 2711.3, "high": 2720.1, "low": 2698.4})  # doctest: +SKIP
    Interval(forecast=0.0004, lower=-0.0121, upper=0.0129, alpha=0.1003)
    """

    def __init__(
        self,
        point: Stream | None,
        variance: Stream | None = None,
        *,
        level: float = 0.9,
        gamma: float = GAMMA,
        calibration: int = CALIBRATION,
    ) -> None:
        if point is None and variance is None:
            raise ConfigError("an interval stream needs a point stream, a variance stream or both")
        if not 0 < level < 1:
            raise ConfigError(f"level={level}: an interval level is in (0, 1), e.g. 0.9")
        if point is not None:
            target = point.spec.target
            if getattr(target, "kind", None) != "return" or point.spec.horizon != 1:
                raise ConfigError(
                    f"intervals in a stream cover one-day return forecasts; this model forecasts "
                    f"{target}: train it with --target return"
                )
        self.point, self.variance = point, variance
        self.level = level
        self.aci = AdaptiveConformal(1.0 - level, gamma, calibration)
        first = point if point is not None else variance
        assert first is not None
        self._reader = first.reader
        self._log = bool(getattr(point.spec.target, "log", True)) if point is not None else True
        if not self._reader.need_price:
            raise ConfigError("the point model reads no price, so no realised return can be scored")
        self.reset()

    def reset(self) -> None:
        """Reset both streams and the intervals."""
        for s in (self.point, self.variance):
            if s is not None:
                s.reset()
        self.aci.reset()
        self.price = math.nan  # the last price, for the next realised return
        self.pending = (
            math.nan,
            math.nan,
        )  # (forecast, scale) of the interval awaiting its outcome

    def update(self, observation: Any, at: Any = None) -> Interval:
        """Take the observation at t; the interval for the return at t + 1.

        A bad observation raises the streams' :class:`gatecast.errors.DataError` and leaves
        everything as it was.
        """
        price = self._reader.read(observation)[0]
        streams = [s for s in (self.variance, self.point) if s is not None]
        before = copy.deepcopy(streams[0]._state_parts()) if len(streams) == 2 else None
        out = [streams[0].update(observation, at)]
        if before is not None:
            try:
                out.append(streams[1].update(observation, at))
            except BaseException:
                streams[0]._restore(*before, "the state before this observation")
                raise
        forecast = out[-1] if self.point is not None else 0.0
        scale = interval_scale(out[0]) if self.variance is not None else 1.0
        if math.isfinite(self.price):
            r = math.log(price / self.price) if self._log else price / self.price - 1.0
            f0, s0 = self.pending
            self.aci.observe(abs(r - f0) / s0 if math.isfinite(f0 + s0) else math.nan)
        self.price = price
        self.pending = (forecast, scale)
        if not math.isfinite(forecast + scale):
            self.pending = (math.nan, math.nan)
            return Interval(forecast, math.nan, math.nan, self.aci.alpha_t)
        q = self.aci.issue()
        return Interval(forecast, forecast - q * scale, forecast + q * scale, self.aci.alpha_t)

    # -- saving and restoring ---------------------------------------------------------------------
    def state(self, format: str = "safetensors") -> bytes | str:
        """Both streams' states and the interval state: safetensors bytes or a JSON string."""
        arrays, aci_meta = self.aci.state()
        arrays = {f"aci.{k}": v for k, v in arrays.items()}
        meta: dict[str, Any] = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "level": self.level,
            "aci": aci_meta,
            "price": _json(self.price),
            "pending": [_json(v) for v in self.pending],
        }
        for name, s in (("point", self.point), ("variance", self.variance)):
            if s is not None:
                a, m = s._state_parts()
                arrays |= {f"{name}.{k}": v for k, v in a.items()}
                meta[name] = m
        return encode_state(arrays, meta, format)

    def save_state(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`state` to ``path`` atomically: JSON if it ends in ``.json``, else safetensors."""
        return write_state(path, self.state)

    def load_state(self, data: bytes | str | os.PathLike[str]) -> IntervalStream:
        """Restore :meth:`state` output (bytes, JSON text or a file); returns self."""
        arrays, meta, where = decode_state(data)
        if meta.get("format") != STATE_FORMAT or meta.get("version") != STATE_VERSION:
            raise ModelFileError(
                f"{where} is not an interval stream state (version {STATE_VERSION}); save one "
                f"with IntervalStream.state()"
            )
        for name, s in (("point", self.point), ("variance", self.variance)):
            if (s is None) != (name not in meta):
                raise ModelFileError(
                    f"{where} {'holds' if s is None else 'lacks'} a {name} stream; resume it "
                    f"with the streams that wrote it"
                )
        try:
            price = _unjson(meta["price"])
            f0, s0 = (_unjson(v) for v in meta["pending"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: its interval state is malformed ({exc})") from exc
        part = {k[4:]: v for k, v in arrays.items() if k.startswith("aci.")}
        self.aci.restore(part, meta["aci"], where)
        for name, s in (("point", self.point), ("variance", self.variance)):
            if s is not None:
                own = {k[len(name) + 1 :]: v for k, v in arrays.items() if k.startswith(name + ".")}
                s._restore(own, meta[name], f"{where} [{name}]")
        self.price, self.pending = price, (f0, s0)
        return self
