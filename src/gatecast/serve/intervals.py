"""Streams that carry adaptive conformal intervals beside a point forecast: `IntervalStream` (a
point and a variance stream in step) and `Bands` (the intervals and quantiles of a model folder's
recorded calibration). The recursion is :mod:`gatecast.serve.conformal`, the one the batch
walk-forward (:mod:`gatecast.evaluation.intervals`) runs.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from gatecast.artifacts import decode_state, encode_state, write_state
from gatecast.errors import ConfigError, ModelFileError
from gatecast.inference.classical import recursion_from_dict
from gatecast.serve.conformal import CALIBRATION as CALIBRATION
from gatecast.serve.conformal import GAMMA as GAMMA
from gatecast.serve.conformal import AdaptiveConformal as AdaptiveConformal
from gatecast.serve.conformal import _json, _unjson
from gatecast.serve.conformal import conformal_quantile as conformal_quantile
from gatecast.serve.stream import Stream

STATE_FORMAT = "gatecast-interval-stream"
STATE_VERSION = 1


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


# -- the calibration a model folder records, restarted in a stream ---------------------------------
#: The manifest key of the calibration record ``gatecast train`` writes.
RECORD_KEY = "intervals"
RECORD_VERSION = 1


def read_record(info: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The calibration record of a model's manifest (``info``), checked; a clear error without
    one. A return model's record gets its GARCH(1,1) scale as ``recursion``."""
    rec = info.get(RECORD_KEY)
    if rec is None:
        raise ConfigError(
            f"{where} records no interval calibration (a model trained before gatecast kept one, "
            f"or one whose test part was too short); re-train it with `gatecast train` to use "
            f"--interval or --quantiles"
        )
    try:
        scores = np.asarray(rec["scores"], dtype=float)
        window, gamma = int(rec["window"]), float(rec["gamma"])
        ok = (
            rec.get("version") == RECORD_VERSION
            and scores.ndim == 1
            and np.isfinite(scores).all()
            and (scores >= 0).all()
            and 1 <= window <= len(scores)
            and 0 <= gamma < 1
        )
        if "garch" in rec:
            rec = {**rec, "recursion": recursion_from_dict(rec["garch"])}
        if "nu" in rec:
            ok = ok and math.isfinite(float(rec["nu"])) and float(rec["nu"]) > 2
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: its interval calibration is malformed ({exc})") from exc
    if not ok:
        raise ModelFileError(
            f"{where}: its interval calibration is malformed (version, scores >= 0, window, "
            f"gamma in [0, 1) or nu > 2); re-train the model"
        )
    return {**rec, "scores": scores, "window": window, "gamma": gamma}


def restarted(record: Mapping[str, Any], level: float) -> AdaptiveConformal:
    """ACI at ``level`` run over the recorded scores: the state ``predict`` and a stream start
    from (the first ``window`` scores fill the window, the rest move alpha_t)."""
    aci = AdaptiveConformal(1.0 - level, record["gamma"], record["window"])
    for s in record["scores"]:
        aci.issue()
        aci.observe(float(s))
    return aci


def band_levels(interval: float | None, quantiles: Sequence[float] | None) -> list[float]:
    """The conformal levels an interval and quantiles need (a quantile tau != 0.5 is a bound of
    the |1 - 2 tau| interval), each once, in the order first asked for."""
    levels = [] if interval is None else [interval]
    for tau in quantiles or ():
        if tau != 0.5 and abs(1.0 - 2.0 * tau) not in levels:
            levels.append(abs(1.0 - 2.0 * tau))
    return levels


def check_band_levels(interval: float | None, quantiles: Sequence[float] | None) -> None:
    """Refuse a level outside (0, 1) before anything is read."""
    if interval is not None and not 0 < interval < 1:
        raise ConfigError(f"--interval {interval}: an interval level is in (0, 1), e.g. 0.9")
    for tau in quantiles or ():
        if not 0 < tau < 1:
            raise ConfigError(
                f"--quantiles {tau}: a quantile level is in (0, 1), e.g. 0.05,0.5,0.95"
            )


def quantile_tag(tau: float) -> str:
    """The column of quantile ``tau``: ``q0.05``."""
    return f"q{tau:g}"


class Bands:
    """The intervals and quantiles ``predict --interval/--quantiles`` gives, one row at a time:
    adaptive conformal inference restarted from the calibration a model folder records, exactly
    as ``predict`` restarts it (:func:`restarted`), then run on over the rows a stream takes.

    ``update(price, forecast, at)`` takes a row's price, the model's forecast made at its close and
    its date; it scores the interval issued a row before (|log return - forecast| / scale), moves
    each level's alpha_t, and returns the columns of the next bar: ``lower``/``upper`` at
    ``interval``, ``q<tau>`` for each quantile, each also as ``price_*`` (the row's price moved by
    it). The scale is a return model's GARCH(1,1) of the record, run from the stream's first row
    as ``predict`` runs it from the data's first row, or a variance model's own forecast (around a
    zero mean). Rows dated on or before the calibration's last date get NaN (their scores are in
    the calibration); a row without a date gets its interval.

    Build one with :meth:`of_spec`; a :class:`Stream` carries it as ``stream.bands``.
    """

    def __init__(
        self,
        record: Mapping[str, Any],
        *,
        variance: bool,
        log: bool,
        interval: float | None = None,
        quantiles: Sequence[float] | None = None,
    ) -> None:
        check_band_levels(interval, quantiles)
        if interval is None and not quantiles:
            raise ConfigError("bands need an interval level or quantiles, e.g. interval=0.9")
        self.record, self.variance, self.log = record, variance, log
        self.interval, self.quantiles = interval, tuple(quantiles or ())
        self.levels = band_levels(interval, quantiles)
        self.garch = None if variance else record["recursion"]
        last = str(record["last"])
        self.after = pd.Timestamp(last) if _is_date(last) else None
        self.reset()

    @classmethod
    def of_spec(
        cls,
        spec: Any,
        where: str,
        interval: float | None = None,
        quantiles: Sequence[float] | None = None,
    ) -> Bands:
        """The bands of the model ``spec`` (a :class:`gatecast.inference.ModelSpec`); a clear
        error for a model that takes none (price, direction, a horizon > 1, no record)."""
        check_band_levels(interval, quantiles)
        variance = spec.kind == "recurrent_variance"
        target = spec.target
        if not variance and (getattr(target, "kind", None) != "return" or spec.horizon != 1):
            raise ConfigError(
                f"--interval/--quantiles put calibrated bands around a one-day return or a "
                f"variance forecast; {where} forecasts {getattr(target, 'kind', target)} "
                f"{spec.horizon} bar(s) ahead: train one with --target return (horizon 1) or "
                f"--target variance"
            )
        record = read_record(spec.info, where)
        log = True if variance else bool(getattr(target, "log", True))
        return cls(record, variance=variance, log=log, interval=interval, quantiles=quantiles)

    def reset(self) -> None:
        """Back to the state restarted from the record: no price, no pending interval."""
        self.acis = [restarted(self.record, level) for level in self.levels]
        self.price = math.nan
        self.pending = (math.nan, math.nan)  # (point, scale) of the interval issued last
        self.state_g = self.garch.start() if self.garch is not None else np.zeros(2)

    def columns(self) -> list[str]:
        """The columns :meth:`update` returns, in order."""
        names = ["lower", "upper"] if self.interval is not None else []
        names += [quantile_tag(t) for t in self.quantiles]
        return names + [f"price_{n}" for n in names]

    def update(self, price: float, forecast: float, at: Any = None) -> dict[str, float]:
        """The row at ``at`` with ``price`` and the model's ``forecast`` made at its close; the
        band columns of the next bar (NaN where none is issued)."""
        if math.isfinite(self.price) and math.isfinite(sum(self.pending)):
            r = math.log(price / self.price)  # the log return, as train scored the calibration
            f0, s0 = self.pending
            for aci in self.acis:
                aci.observe(abs(r - f0) / s0)
        if self.garch is not None:
            self.state_g, v = self.garch.step(self.state_g, (price, math.nan, math.nan, math.nan))
        else:
            v = forecast
        self.price = price
        scale = math.sqrt(v) / 100.0 if v > 0 else math.nan  # NaN > 0 is False
        point = 0.0 if self.variance else forecast
        dated = isinstance(at, pd.Timestamp) and self.after is not None
        issue = (at >= self.after if dated else True) and math.isfinite(point + scale)
        self.pending = (point, scale) if issue else (math.nan, math.nan)
        qs = [aci.issue() if issue else math.nan for aci in self.acis]
        out: dict[str, float] = {}
        if self.interval is not None:
            q = qs[0]
            out["lower"], out["upper"] = point - q * scale, point + q * scale
        for tau in self.quantiles:
            if tau == 0.5:
                out[quantile_tag(tau)] = point if issue else math.nan
            else:
                q = qs[self.levels.index(abs(1.0 - 2.0 * tau))]
                out[quantile_tag(tau)] = point + math.copysign(q * scale, tau - 0.5)
        for name, v in list(out.items()):
            out[f"price_{name}"] = price * (math.exp(v) if self.log else 1.0 + v)
        return out

    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and JSON metadata that :meth:`restore` takes back."""
        arrays: dict[str, np.ndarray] = {}
        metas = []
        for i, aci in enumerate(self.acis):
            a, m = aci.state()
            arrays[f"aci{i}.scores"] = a["scores"]
            metas.append(m)
        meta = {
            "interval": self.interval,
            "quantiles": list(self.quantiles),
            "levels": self.levels,
            "aci": metas,
            "price": _json(self.price),
            "pending": [_json(v) for v in self.pending],
            "garch": [_json(float(v)) for v in self.state_g],
        }
        return arrays, meta

    def restore(self, arrays: Mapping[str, np.ndarray], meta: Any, where: str) -> None:
        """Take back :meth:`state`; a state of other levels is refused, nothing changes on an
        error."""
        mine = {"interval": self.interval, "quantiles": list(self.quantiles)}
        theirs = {k: meta.get(k) for k in mine} if isinstance(meta, Mapping) else None
        if theirs != mine or meta.get("levels") != self.levels:
            raise ModelFileError(
                f"{where} was saved with intervals {theirs}, this stream has {mine}; resume it "
                f"with the --interval/--quantiles (interval=, quantiles=) that wrote it"
            )
        try:
            acis = [restarted(self.record, level) for level in self.levels]
            for i, aci in enumerate(acis):
                aci.restore({"scores": arrays[f"aci{i}.scores"]}, meta["aci"][i], where)
            price = _unjson(meta["price"])
            pending = tuple(_unjson(v) for v in meta["pending"])
            garch = np.array([_unjson(v) for v in meta["garch"]], dtype=float)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{where}: its interval state is malformed ({exc})") from exc
        if len(pending) != 2 or garch.shape != (2,):
            raise ModelFileError(f"{where}: its interval state is malformed (pending, garch)")
        if self.garch is not None and not self.garch.valid(garch):
            raise ModelFileError(f"{where}: its GARCH scale state {garch.tolist()} is impossible")
        self.acis, self.price, self.state_g = acis, price, garch
        self.pending = (pending[0], pending[1])


def _is_date(text: str) -> bool:
    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        return False
    return not text.lstrip("-").isdigit()
