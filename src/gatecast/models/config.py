"""The settings of each recurrent model family, written once: constructors, manifests, jobs and the
CLI all read their defaults from these frozen dataclasses (nanoGPT's ``GPTConfig``)."""

from __future__ import annotations

from dataclasses import KW_ONLY, asdict, dataclass, fields
from typing import Any

from gatecast.data.features import TargetSpec, as_target
from gatecast.data.scalers import make_scaler
from gatecast.data.volatility import VarianceTarget, as_variance_target
from gatecast.errors import ConfigError
from gatecast.training.config import TrainConfig
from gatecast.types import CELLS, MODES, PROXIES, VARIANCE_LOSSES, check_choice

#: The default targets as the spec objects the configs turn them into (the value an
#: estimator's ``get_params()`` reports, and a walk-forward's run folder records).
RETURN_TARGET: TargetSpec = as_target("return")
SQUARED_TARGET: VarianceTarget = as_variance_target("squared")
#: The trainer's defaults, which a model's training settings take.
_TRAIN = TrainConfig()
#: The training settings a model hands the trainer as they are (``epochs`` apart: a warm refit
#: trains ``warm_epochs`` of them).
TRAIN_SETTINGS = ("batch_size", "lr", "patience", "clip", "seed", "device", "quiet")

# -- the parameters, declared once --------------------------------------------------------------
# Each recurrent estimator inherits its parameter class below as its constructor (typed, read
# by ``inspect.signature`` as scikit-learn's ``get_params`` reads it; the values are stored as
# given; ``cell, hidden, layers, dropout, window`` may come by position, as they always could,
# the rest by keyword only), and each config inherits the same class as its fields (validated
# and converted in its ``__post_init__``). ``eq=False, repr=False``: an estimator compares by
# identity and prints as it chooses; a config adds the field-wise methods itself.


@dataclass(frozen=True, eq=False, repr=False)
class NetParams:
    """What every recurrent model takes: the net, its input window and the training settings
    (whose defaults are the trainer's, :class:`~gatecast.training.config.TrainConfig`'s)."""

    cell: str = "lstm"
    hidden: int = 50
    layers: int = 2
    dropout: float = 0.0
    window: int = 20
    _: KW_ONLY  # the rest by keyword only (the order of a model's parameters varied)
    features: tuple[str, ...] | list[str] | None = ("return",)
    column: str | None = None
    epochs: int = _TRAIN.epochs
    warm_epochs: int | None = None
    batch_size: int = _TRAIN.batch_size
    lr: float = _TRAIN.lr
    patience: int = _TRAIN.patience
    clip: float = _TRAIN.clip
    val_size: float = 0.1
    seed: int = _TRAIN.seed
    device: str = _TRAIN.device
    warm_start: bool = False
    quiet: bool = _TRAIN.quiet

    def __post_init__(self) -> None:
        """Run by the constructor: a config validates its values here, an estimator sets its
        unfitted state."""


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ReturnNetParams(NetParams):
    """What every recurrent return model takes (:class:`RecurrentForecaster` and the global
    return model)."""

    target: TargetSpec | str = RETURN_TARGET
    scaler: str = "standard"


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class ForecasterParams(ReturnNetParams):
    """The parameters of :class:`RecurrentForecaster`."""

    mode: str = "window"
    chunk_len: int = 16
    chunks: int = 32
    burn_in: int = 10
    #: Columns of the data that join the inputs as they are, after the features (as
    #: :class:`VarianceConfig`'s): row t must hold what is known at t's close.
    covariates: tuple[str, ...] | list[str] = ()


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class GlobalReturnParams(ReturnNetParams):
    """The parameters of the global return model: the return model's, and the instrument
    embedding."""

    target: TargetSpec | str = "return"  # its default as written (a run folder records it)
    # sequence mode (:mod:`gatecast.models.recurrent.global_sequence`), as the return model's
    mode: str = "window"
    chunk_len: int = 16
    chunks: int = 32
    burn_in: int = 10
    covariates: tuple[str, ...] | list[str] = ()
    embedding: bool = False


#: The sequence-mode settings of a global model (those of :class:`ForecasterParams`).
LANE_SETTINGS = ("mode", "chunk_len", "chunks", "burn_in")


def check_lanes(mode: str, chunk_len: int, chunks: int, burn_in: int) -> None:
    """Refuse a mode or a sequence-mode setting out of range (a :class:`ConfigError`)."""
    check_choice(mode, MODES, "mode")
    if chunk_len < 1 or chunks < 1 or burn_in < 0:
        raise ConfigError(
            f"chunk_len={chunk_len}, chunks={chunks}, burn_in={burn_in}: "
            f"chunk_len and chunks must be >= 1, burn_in >= 0"
        )


@dataclass(frozen=True)
class NetSettings(NetParams):
    """What both families share: the net, its input window and the training settings."""

    def __post_init__(self) -> None:
        if self.features is not None:  # None: chosen from the data at fit (variance models)
            object.__setattr__(self, "features", tuple(self.features))
        check_choice(self.cell, CELLS, "cell")
        if self.hidden < 1 or self.layers < 1:
            raise ConfigError(f"hidden={self.hidden}, layers={self.layers}: both must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout}: must be in [0, 1)")
        if self.window < 1:
            raise ConfigError(f"window={self.window}: must be >= 1")
        if self.features is not None and not self.features:
            raise ConfigError("features is empty; give at least one, e.g. ('return',)")
        if not 0 <= self.val_size < 1:
            raise ConfigError(f"val_size={self.val_size}: must be in [0, 1)")
        if self.warm_epochs is not None and self.warm_epochs < 1:
            raise ConfigError(f"warm_epochs={self.warm_epochs}: must be >= 1 (or None)")
        self.train_config()

    def train_config(self, *, warm: bool = False) -> TrainConfig:
        """The training settings (``warm``: a refit from the current weights, ``warm_epochs``)."""
        epochs = self.warm_epochs if warm and self.warm_epochs else self.epochs
        return TrainConfig(epochs=epochs, **{k: getattr(self, k) for k in TRAIN_SETTINGS})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values: the target as its dict, the tuples (of features, of columns or
        of models) as lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any], **override: Any) -> Any:
        """The config written by :meth:`to_dict`; unknown keys are refused by name."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown} for {cls.__name__}")
        return cls(**(dict(d) | override))


@dataclass(frozen=True)
class ForecasterConfig(ForecasterParams, NetSettings):
    """Settings of :class:`RecurrentForecaster` (return, price or direction targets)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", as_target(self.target))
        object.__setattr__(self, "covariates", checked_covariates(self.covariates))
        super().__post_init__()
        if self.features is None:
            raise ConfigError("features is None; give at least one, e.g. ('return',)")
        make_scaler(self.scaler)
        check_lanes(self.mode, self.chunk_len, self.chunks, self.burn_in)

    @property
    def target_spec(self) -> TargetSpec:
        assert isinstance(self.target, TargetSpec)
        return self.target


#: The variance model's inputs when the data has High/Low, and when it has closes only.
RANGE_FEATURES = ("return", "squared_return", "log_parkinson")
CLOSE_FEATURES = ("return", "squared_return", "abs_return", "log_rv5", "log_rv22")
#: Classical models whose one-step forecasts a hybrid variance model may read (see
#: :class:`VarianceConfig`): GARCH(1,1), GJR-GARCH(1,1)-t, EGARCH(1,1)-t, HAR (1, 5, 22) on the
#: log range with High/Low and on absolute returns without (``har``), and HAR on absolute
#: returns whatever the data has (``har_abs``).
CLASSICAL_MODELS = ("garch", "gjr_t", "egarch_t", "har", "har_abs")
#: What a recurrent variance model may train against (``train_proxy``): the squared return, the
#: Parkinson range (needs High/Low), or ``shrunk``: the squared return shrunk halfway toward the
#: residual base's forecast of it made the day before
#: (:func:`gatecast.data.volatility.shrunk_proxy`; a model with a residual base only).
TRAIN_PROXIES = (*PROXIES, "shrunk")


def default_train_proxy(ranges: bool, residual: str | None, loss: str, target: str) -> str:
    """What ``train_proxy=None`` becomes on a fit: the Parkinson range when the data has
    High/Low; on closes only, ``shrunk`` for a model with a residual base trained on QLIKE
    against the squared return (selected on 2001-2004, docs/close-only.md), else ``target``."""
    if ranges:
        return "parkinson"
    if residual is not None and loss == "qlike" and target == "squared":
        return "shrunk"
    return target


def describe_train_proxy(proxy: str, residual: str | None) -> str:
    """The training proxy in words, for notes under a leaderboard."""
    if proxy == "shrunk":
        return f"the squared return shrunk halfway toward {residual}'s forecast of it"
    return "the Parkinson range" if proxy == "parkinson" else "the squared return"


@dataclass(frozen=True, eq=False, repr=False)
class VarianceNetParams(NetParams):
    """What every recurrent variance model takes (:class:`RecurrentVariance` and the global
    variance model): its own defaults (see :class:`VarianceConfig`), its target and loss."""

    hidden: int = 16
    layers: int = 1
    window: int = 5
    _: KW_ONLY
    features: tuple[str, ...] | list[str] | None = None
    epochs: int = 30
    warm_epochs: int | None = 5
    batch_size: int = 128
    lr: float = 2e-3
    patience: int = 5
    val_size: float = 0.15
    target: VarianceTarget | str = SQUARED_TARGET
    loss: str = "qlike"
    train_proxy: str | None = None


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class VarianceParams(VarianceNetParams):
    """The parameters of :class:`RecurrentVariance`: with the hybrids' and a rolling window's."""

    classical_inputs: tuple[str, ...] | list[str] = ()
    residual: str | None = None
    train_rows: int | None = None
    covariates: tuple[str, ...] | list[str] = ()


@dataclass(frozen=True, kw_only=True, eq=False, repr=False)
class GlobalVarianceParams(VarianceNetParams):
    """The parameters of the global variance model: the variance model's but the hybrid ones
    and ``train_rows``, and the instrument embedding."""

    covariates: tuple[str, ...] | list[str] = ()
    embedding: bool = False
    # sequence mode (:mod:`gatecast.models.recurrent.global_sequence`); the single-series
    # variance model has window mode only, so these settings are the global model's own
    mode: str = "window"
    chunk_len: int = 16
    chunks: int = 32
    burn_in: int = 10


@dataclass(frozen=True)
class VarianceConfig(VarianceParams, NetSettings):
    """Settings of :class:`RecurrentVariance` (one-day variance, log-variance head).

    ``window=5`` and ``lr=2e-3`` were selected by ``gatecast sweep`` (nested selection) on an
    S&P 500 walk-forward over 2011-2014 only, before any test period: windows 5, 22, 63 and 126
    x lr 5e-4 and 2e-3, 3 seeds each; window 5 / lr 2e-3 had the lowest mean QLIKE (1.506, sd
    0.0003; the former default window 22 / lr 5e-4, screened on 2015-2018, was 6th at 1.525).

    ``features=None`` and ``train_proxy=None`` are chosen from the data at fit: with High/Low
    columns the inputs are :data:`RANGE_FEATURES` and the model trains against the Parkinson
    range (less noisy than the squared return it is scored on); on close-only data the inputs
    are :data:`CLOSE_FEATURES` and it trains against the squared return, shrunk halfway toward
    the residual base's forecast when it has one (``shrunk``, :func:`default_train_proxy`).

    Hybrids (Kim and Won 2018): ``classical_inputs`` names :data:`CLASSICAL_MODELS` whose log
    one-step forecasts join the inputs; ``residual`` names one whose forecast the head scales,
    so the net predicts log(variance / that forecast) and falls back to it when it has nothing
    to add. Both are fit inside every ``fit``, on its training rows only. ``har`` is the HAR on
    the log range when the data has High/Low and on absolute returns when it has closes only;
    ``har_abs`` is the latter always. ``train_rows``: fit
    on the last ``train_rows`` rows of the history only (a rolling window; None: all of it).

    ``covariates``: columns of the data that join the inputs as they are (after the features,
    before the classical forecasts), scaled with them on the training rows; the row of day t
    must hold what is known at t's close (:func:`gatecast.data.covariates.join_covariates`
    joins VIX or another index so).
    """

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", as_variance_target(self.target))
        object.__setattr__(self, "classical_inputs", tuple(self.classical_inputs))
        object.__setattr__(self, "covariates", checked_covariates(self.covariates))
        super().__post_init__()
        check_choice(self.loss, VARIANCE_LOSSES, "loss")
        if self.train_proxy is not None:
            check_choice(self.train_proxy, TRAIN_PROXIES, "train_proxy")
        if self.train_proxy == "shrunk" and (self.residual is None or self.loss != "qlike"):
            raise ConfigError(
                f"train_proxy 'shrunk' shrinks the squared return toward the residual base's "
                f"forecast and is a QLIKE target: it needs residual= (e.g. 'gjr_t') and "
                f"loss='qlike' (got residual={self.residual!r}, loss={self.loss!r})"
            )
        for name in self.classical_inputs:
            check_choice(name, CLASSICAL_MODELS, "classical_inputs")
        if len(set(self.classical_inputs)) != len(self.classical_inputs):
            raise ConfigError(f"classical_inputs={self.classical_inputs} lists a model twice")
        if self.residual is not None:
            check_choice(self.residual, CLASSICAL_MODELS, "residual")
        if self.train_rows is not None and self.train_rows < 250:
            raise ConfigError(
                f"train_rows={self.train_rows}: a rolling training window needs at least 250 rows "
                f"(about a trading year), or None for all of the history"
            )

    @property
    def hybrid(self) -> bool:
        """Whether the model reads classical forecasts (as inputs or as its residual base)."""
        return bool(self.classical_inputs) or self.residual is not None

    @property
    def target_spec(self) -> VarianceTarget:
        assert isinstance(self.target, VarianceTarget)
        return self.target


def checked_covariates(covariates: Any) -> tuple[str, ...]:
    """``covariates`` (column names) as a tuple; a :class:`ConfigError` for a bare string, a
    name that is not a non-empty string, or a column listed twice."""
    if isinstance(covariates, str) or not all(isinstance(c, str) and c for c in covariates):
        raise ConfigError(f"covariates={covariates!r}: give column names, e.g. ('vix_log',)")
    out = tuple(covariates)
    if len(set(out)) != len(out):
        raise ConfigError(f"covariates={out} lists a column twice")
    return out


def params_of(obj: Any, config: type[NetSettings]) -> dict[str, Any]:
    """The constructor parameters of an estimator whose settings are ``config``'s fields."""
    return {f.name: getattr(obj, f.name) for f in fields(config)}
