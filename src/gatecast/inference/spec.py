"""The model spec: everything needed to turn data into a model's inputs and its outputs into
forecasts, read from and written to a model folder's manifest in this one place (torch-free)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np

from gatecast.artifacts import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    WEIGHTS_FILE,
    KeyLike,
    check_checksums,
    read_model_files,
    verifying_key,
)
from gatecast.data.calendar import Calendar
from gatecast.data.features import FEATURES, TargetSpec, Units
from gatecast.data.scalers import Scaler, scaler_from_dict
from gatecast.data.sources import parse_date
from gatecast.data.volatility import VarianceTarget
from gatecast.errors import ConfigError, ModelFileError, refused_as
from gatecast.inference.classical import Recursion, recursion_from_dict
from gatecast.types import CELLS, MODES

#: What reading a malformed manifest raises: a key missing or of the wrong type, or a value out
#: of range (ConfigError is one).
MALFORMED = (KeyError, TypeError, ValueError, AttributeError, IndexError)
#: The model families a folder can hold, by manifest ``kind``.
KINDS = ("recurrent", "recurrent_variance")
#: What the fit left that a manifest keeps (``outliers``: absurd prices kept by
#: ``allow_outliers``, as ``[date, value]`` pairs; ``calendar``: the trading calendar of the
#: training data, :meth:`gatecast.data.calendar.Calendar.to_dict`, optional; ``intervals``: the
#: conformal calibration of the test part, :mod:`gatecast.experiment.forecast_intervals`;
#: ``covariate_groups``: the groups whose columns ``covariates`` are, which predict joins).
INFO_KEYS = (
    "train_range",
    "data_hash",
    "seed",
    "history",
    "series",
    "versions",
    "outliers",
    "calendar",
    "intervals",
    "covariate_groups",
)
#: Gate blocks per cell in PyTorch's layout (LSTM i,f,g,o; GRU r,z,n).
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def weights_fingerprint(tensors: Mapping[str, Any]) -> str:
    """SHA-256 of the weights as float32 with their names: ties a saved stream state to its model."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(np.asarray(tensors[name], dtype=np.float32)).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ModelSpec:
    """A fitted recurrent model's shape, inputs, scalers and target: what every engine serves.

    ``output`` says what the head gives: ``value`` (the scaled target), ``logit`` (direction),
    ``anchored_price`` (the scaled return from the price ``horizon`` rows before) or
    ``log_variance`` (variance models). ``config`` holds the family's settings (see
    ``gatecast.models.config``) and ``info`` what the fit left (train range, data
    hash, loss history, per-series ranges), both as plain JSON values.

    A hybrid variance model also reads ``classical``: frozen classical recursions
    (:mod:`gatecast.inference.classical`) whose log one-step forecasts follow ``features`` as
    inputs (the feature scaler covers both), and may scale its output by the forecast of its
    ``residual`` recursion.

    A variance or return model may read ``covariates``: columns of the data (another series
    joined on, such as the log VIX) that follow ``features`` as inputs, before the classical
    forecasts.
    """

    kind: str
    cell: str
    hidden: int
    layers: int
    window: int
    mode: str
    features: tuple[str, ...]
    units: Units
    column: str | None
    target: TargetSpec | VarianceTarget
    feature_scaler: Scaler
    target_scaler: Scaler
    dropout: float = 0.0
    dtype: str = "float32"
    config: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    classical: tuple[Recursion, ...] = ()
    residual: Recursion | None = None
    covariates: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "classical", tuple(self.classical))
        object.__setattr__(self, "covariates", tuple(str(c) for c in self.covariates))
        if self.kind not in KINDS:
            raise ConfigError(f"model kind {self.kind!r} is unknown; one of {', '.join(KINDS)}")
        if self.cell not in CELLS:
            raise ConfigError(f"cell {self.cell!r} is unknown; choose one of {', '.join(CELLS)}")
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ConfigError(f"feature(s) {unknown} are unknown; known: {', '.join(FEATURES)}")
        n_shift = np.size(np.asarray(self.feature_scaler.shift_))
        if n_shift != self.input_size:
            raise ConfigError(
                f"the feature scaler has {n_shift} columns for {self.input_size} inputs"
            )
        if (self.kind == "recurrent_variance") != isinstance(self.target, VarianceTarget):
            raise ConfigError(f"a {self.kind!r} model cannot have the target {self.target}")
        if self.hybrid and self.kind != "recurrent_variance":
            raise ConfigError(f"a {self.kind!r} model cannot read classical forecasts")
        if self.covariates and self.kind not in ("recurrent_variance", "recurrent"):
            raise ConfigError(f"a {self.kind!r} model cannot read covariates")
        if len(set(self.covariates)) != len(self.covariates):
            raise ConfigError(f"covariates {list(self.covariates)} list a column twice")
        names = [r.name for r in self.classical]
        if len(set(names)) != len(names):
            raise ConfigError(f"classical inputs {names} list a model twice")
        for name, most in (
            ("hidden", 10**5),
            ("layers", 10**3),
            ("window", 10**6),
            ("horizon", 10**6),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, Integral)
                or not 1 <= int(value) <= most
            ):
                raise ConfigError(f"{name}={value!r}: must be a whole number in [1, {most}]")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype {self.dtype!r} is unknown; float32 or float64")
        if self.column is not None and not isinstance(self.column, str):
            raise ConfigError(f"column {self.column!r} is not a column name")
        for name, scaler, n in (
            ("feature", self.feature_scaler, self.input_size),
            ("target", self.target_scaler, 1),
        ):
            for part in (np.asarray(scaler.shift_), np.asarray(scaler.scale_)):
                if part.ndim != 1 or part.size != n:
                    raise ConfigError(
                        f"the {name} scaler has {part.size} columns in {part.ndim} "
                        f"dimension(s); it needs {n} in one"
                    )

    def check_config(self, where: str = "the manifest") -> None:
        """Raise ModelFileError unless the family settings describe the same net as the spec
        (the torch engine builds its net from them)."""
        try:
            self._check_config()
        except ConfigError as exc:
            raise ModelFileError(f"{where}: {exc}; it was edited: re-train or restore it") from None

    def _check_config(self) -> None:
        if not isinstance(self.config, Mapping):
            raise ConfigError(f"config {self.config!r} is not a JSON object")
        missing = [
            k for k in ("cell", "hidden", "layers", "window", "target") if k not in self.config
        ]
        if missing:
            raise ConfigError(f"config lacks {missing}")
        for name in ("cell", "hidden", "layers", "window", "mode", "dropout"):
            if name not in self.config:
                continue
            value = self.config[name]
            if isinstance(value, bool) or value != getattr(self, name):
                raise ConfigError(
                    f"config says {name}={value!r} but the model has {getattr(self, name)!r}"
                )
        target = self.config["target"]
        if not (
            isinstance(target, Mapping)
            and "kind" in target
            and target.get("horizon", 1) == self.horizon
        ):
            raise ConfigError(
                f"config target {target!r} does not match the model's horizon {self.horizon}"
            )
        inputs = [r.name for r in self.classical]
        residual = self.residual.name if self.residual is not None else None
        if (
            list(self.config.get("classical_inputs") or []) != inputs
            or self.config.get("residual") != residual
        ):
            raise ConfigError(
                f"config says classical_inputs={self.config.get('classical_inputs')}, "
                f"residual={self.config.get('residual')!r} but the model reads {inputs}, "
                f"residual {residual!r}"
            )
        if list(self.config.get("covariates") or []) != list(self.covariates):
            raise ConfigError(
                f"config says covariates={self.config.get('covariates')} but the model reads "
                f"{list(self.covariates)}"
            )

    @property
    def calendar(self) -> Calendar | None:
        """The trading calendar the model was trained on (None for folders written before it
        was recorded)."""
        doc = self.info.get("calendar")
        return calendar_from(doc) if doc is not None else None

    @property
    def input_size(self) -> int:
        """The network's inputs: the registry features, the covariates, then the classical
        forecasts."""
        return len(self.features) + len(self.covariates) + len(self.classical)

    @property
    def hybrid(self) -> bool:
        """Whether the model reads classical forecasts (as inputs or as its residual base)."""
        return bool(self.classical) or self.residual is not None

    @property
    def input_names(self) -> tuple[str, ...]:
        """Every input column: the features, the covariates, then ``log_<name>_forecast`` per
        classical input."""
        return (
            *self.features,
            *self.covariates,
            *(f"log_{r.name}_forecast" for r in self.classical),
        )

    @property
    def horizon(self) -> int:
        return int(self.target.horizon)

    @property
    def output(self) -> str:
        if isinstance(self.target, VarianceTarget):
            return "log_variance"
        if self.target.kind == "price" and self.target.anchored:
            return "anchored_price"
        return "logit" if self.target.kind == "direction" else "value"

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor names and shapes of the weights, in PyTorch's layout (``rnn.*``, ``head.*``)."""
        G, H = GATES[self.cell] * self.hidden, self.hidden
        shapes: dict[str, tuple[int, ...]] = {}
        for k in range(self.layers):
            shapes[f"rnn.weight_ih_l{k}"] = (G, self.input_size if k == 0 else H)
            shapes[f"rnn.weight_hh_l{k}"] = (G, H)
            shapes[f"rnn.bias_ih_l{k}"] = (G,)
            shapes[f"rnn.bias_hh_l{k}"] = (G,)
        shapes["head.weight"] = (1, H)
        shapes["head.bias"] = (1,)
        return shapes

    def check_tensors(self, tensors: Mapping[str, Any], where: str = "the weights") -> None:
        """Raise ModelFileError unless ``tensors`` have exactly the expected names, shapes and
        finite values."""
        expected = self.expected_shapes()
        found = {k: tuple(np.shape(v)) for k, v in tensors.items()}
        if expected != found:
            raise ModelFileError(
                f"{where} does not match its manifest ({self.cell}, hidden {self.hidden}, layers "
                f"{self.layers}, {self.input_size} features): expected tensors {expected}, "
                f"found {found}"
            )
        bad = [k for k, v in tensors.items() if not np.isfinite(np.asarray(v)).all()]
        if bad:
            raise ModelFileError(f"{where} holds NaN/inf weights in {bad}: re-train the model")

    # -- the manifest ---------------------------------------------------------------------------

    def to_manifest(self) -> dict[str, Any]:
        """The manifest.json content (its checksums are added by ``save_model_folder``)."""
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "cell": self.cell,
            "input_size": self.input_size,
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "window": self.window,
            "horizon": self.horizon,
            "mode": self.mode,
            "features": list(self.features),
            "units": {"log": self.units.log, "percent": self.units.percent},
            "target": self.target.to_dict(),
            "column": self.column,
            "scalers": {
                "features": self.feature_scaler.to_dict(),
                "target": self.target_scaler.to_dict(),
            },
            "dtype": self.dtype,
            "config": dict(self.config),
            **({"classical": self._classical_doc()} if self.hybrid else {}),
            **({"covariates": list(self.covariates)} if self.covariates else {}),
            **dict(self.info),
        }

    def _classical_doc(self) -> dict[str, Any]:
        return {
            "inputs": [r.to_dict() for r in self.classical],
            "residual": self.residual.to_dict() if self.residual is not None else None,
        }

    @classmethod
    def from_manifest(cls, m: Mapping[str, Any], where: str = MANIFEST_FILE) -> ModelSpec:
        """Validate a manifest's content (any format, 1 to 4) once; one ModelFileError per fault.
        Its checksums are ``check_checksums``' job."""
        if not isinstance(m, Mapping):
            raise ModelFileError(f"{where} must hold a JSON object")
        needed = ("kind", "cell", "input_size", "hidden", "layers", "window", "features")
        missing = [k for k in (*needed, "target", "scalers") if k not in m]
        if missing:
            raise ModelFileError(
                f"{where} lacks the keys {missing}; it was not written by gatecast"
            )
        if m["kind"] in ("global_variance", "global_return"):  # a panel's: its own loader
            loader = "Variance" if m["kind"] == "global_variance" else "Return"
            raise ModelFileError(
                f"{where} holds a global model over a panel ({m['kind']!r}): load it with "
                f"GlobalRecurrent{loader}.load(folder)"
            )
        if m["kind"] not in KINDS:
            raise ModelFileError(
                f"{where} holds a {m['kind']!r} model; this gatecast serves {', '.join(KINDS)}: "
                f"upgrade gatecast or re-train"
            )
        if m["cell"] not in CELLS:
            raise ModelFileError(f"{where}: unknown cell {m['cell']!r}; one of {', '.join(CELLS)}")
        mode = m.get("mode", "window")
        if mode not in MODES:
            raise ModelFileError(
                f"{where}: mode {mode!r} is unknown to this gatecast ({', '.join(MODES)}); "
                "upgrade gatecast or re-train"
            )
        with refused_as(
            ModelFileError,
            MALFORMED,
            lambda exc: (
                f"{where} is malformed ({type(exc).__name__}: {exc}); it was edited or not "
                f"written by gatecast: re-train or restore the file"
            ),
        ):
            features = tuple(str(f) for f in m["features"])
            classical, residual = _classical_from(m.get("classical"))
            covariates = tuple(str(c) for c in m.get("covariates", []))
            if int(m["input_size"]) != len(features) + len(covariates) + len(classical):
                covs = f", {len(covariates)} covariates" if covariates else ""
                raise ModelFileError(
                    f"{where} says input_size={m['input_size']} but lists {len(features)} "
                    f"features{covs} and {len(classical)} classical inputs; the file was "
                    f"edited or corrupted"
                )
            variance = m["kind"] == "recurrent_variance"
            target: TargetSpec | VarianceTarget = (
                VarianceTarget(**m["target"]) if variance else TargetSpec.from_dict(m["target"])
            )
            units = m.get("units", {"log": getattr(target, "log", True), "percent": False})
            fs = scaler_from_dict(m["scalers"]["features"])
            ts = scaler_from_dict(m["scalers"]["target"])
            for name, sc in (("features", fs), ("target", ts)):
                if not (np.isfinite(sc.shift_).all() and np.isfinite(sc.scale_).all()):  # type: ignore[arg-type]
                    raise ModelFileError(f"{where}: the {name} scaler holds NaN/inf: re-train")
                if (np.asarray(sc.scale_) == 0).any():
                    raise ModelFileError(f"{where}: the {name} scaler has a zero scale: re-train")
            info = {k: m[k] for k in INFO_KEYS if k in m}
            if "train_range" in info:
                _check_range(info["train_range"])
            if "calendar" in info:
                Calendar.from_dict(info["calendar"])  # a ConfigError (a ValueError) if malformed
            return cls(
                kind=str(m["kind"]),
                cell=str(m["cell"]),
                hidden=int(m["hidden"]),
                layers=int(m["layers"]),
                window=int(m["window"]),
                mode=str(mode),
                features=features,
                units=Units(log=bool(units["log"]), percent=bool(units["percent"])),
                column=m.get("column"),
                target=target,
                feature_scaler=fs,
                target_scaler=ts,
                dropout=float(m.get("dropout", 0.0)),
                dtype=str(m.get("dtype", "float32")),
                config=m["config"] if "config" in m else _config_v1(m),
                info=info,
                classical=classical,
                residual=residual,
                covariates=covariates,
            )


def _classical_from(doc: Any) -> tuple[tuple[Recursion, ...], Recursion | None]:
    """The classical inputs and residual base of a manifest (none for a model without)."""
    if doc is None:
        return (), None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("inputs"), list):
        raise ValueError(f"classical {doc!r} is not {{'inputs': [...], 'residual': ...}}")
    inputs = tuple(recursion_from_dict(d) for d in doc["inputs"])
    residual = doc.get("residual")
    return inputs, recursion_from_dict(residual) if residual is not None else None


def calendar_from(doc: Mapping[str, Any]) -> Calendar:
    """A manifest's calendar, parsed once per distinct document (a StreamSet makes a stream per
    instrument from one spec)."""
    return _calendar(json.dumps(doc, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _calendar(text: str) -> Calendar:
    return Calendar.from_dict(json.loads(text))


def _check_range(value: Any) -> None:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise ValueError(f"train_range {value!r} is not a pair of dates")
    for v in value:
        parse_date(v, "train_range")


def _config_v1(m: Mapping[str, Any]) -> dict[str, Any]:
    """The forecaster settings of a format-1 manifest (written before the family configs)."""
    training = m.get("training", {})
    seq = m.get("sequence", {})
    config = {
        "cell": m["cell"],
        "hidden": int(m["hidden"]),
        "layers": int(m["layers"]),
        "dropout": float(m.get("dropout", 0.0)),
        "window": int(m["window"]),
        "target": m["target"],
        "features": list(m["features"]),
        "column": m.get("column"),
        "scaler": m["scalers"]["features"]["kind"],
        "seed": int(m.get("seed", 0)),
        "mode": m.get("mode", "window"),
        "warm_epochs": training.get("warm_epochs"),
    }
    for key in ("epochs", "batch_size", "lr", "patience", "clip", "val_size"):
        if key in training:
            config[key] = training[key]
    for key in ("chunk_len", "chunks", "burn_in"):
        if key in seq:
            config[key] = seq[key]
    return config


def read_model_folder(
    folder: str | os.PathLike[str],
    *,
    kind: str | None = None,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> tuple[ModelSpec, dict[str, np.ndarray]]:
    """A model folder's validated spec and weights (refused with one message per fault).

    Parameters
    ----------
    folder : path
        Written by ``gatecast train`` or a model's ``save``.
    kind : str, optional
        The model family expected (refused if the folder holds another).
    signing_key : SigningKey or path, optional
        Verify the folder's signature with this key (a key file's path), refusing an unsigned
        folder or one signed otherwise; default ``$GATECAST_SIGNING_KEY_FILE``, and without
        either a signature is not checked.
    require_signature : bool, optional
        Refuse to load without a key (default ``$GATECAST_REQUIRE_SIGNATURE``).
    """
    key = verifying_key(signing_key, require_signature)  # before the folder is read
    tensors, manifest = read_model_files(folder)
    where = f"{folder}/{MANIFEST_FILE}"
    spec = ModelSpec.from_manifest(manifest, where)
    if kind is not None and spec.kind != kind:
        raise ModelFileError(f"{folder} holds a {spec.kind!r} model, expected {kind!r}")
    spec.check_tensors(tensors, f"{folder}/{WEIGHTS_FILE}")
    check_checksums(manifest, where, key)
    spec.check_config(where)
    return spec, tensors
