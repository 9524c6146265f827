"""The settings of one training job (`TrainJob`): the data, the model and the run, each checked
before anything is fitted, and what a run folder records of them."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from gatecast.data.covariates import checked_groups, covariate_columns
from gatecast.data.features import TargetSpec
from gatecast.errors import ConfigError
from gatecast.experiment.run_folder import settings_record
from gatecast.experiment.settings import (
    CovariateSettings,
    DataSettings,
    InputSettings,
    LaneSettings,
)
from gatecast.models.config import (
    ForecasterConfig,
    NetSettings,
    VarianceConfig,
    params_of,
)
from gatecast.types import (
    PROXIES,
    TRAIN_TARGETS,
    Cell,
    Mode,
    Proxy,
    ScalerKind,
    TrainTarget,
    check_choice,
)

if TYPE_CHECKING:  # torch loads only when a model is built, so `gatecast --help` stays fast
    from gatecast.models.recurrent import RecurrentEstimator


#: Model settings that only the return/price/direction family has.
POINT_ONLY = ("mode", "chunks", "chunk_len", "burn_in", "scaler")


@dataclass(kw_only=True)
class TrainJob(DataSettings, InputSettings, CovariateSettings, LaneSettings):
    """Everything ``gatecast train`` needs; plain values (maps one-to-one onto the CLI options).

    The data settings are :class:`~gatecast.experiment.settings.DataSettings`; the split and
    run settings are TrainJob's own. The model settings (``cell`` ...
    ``quiet``) are the fields of the family's config of the same name; ``None`` takes the
    family's default (:class:`~gatecast.models.config.ForecasterConfig` for ``price``,
    ``return`` and ``direction``, :class:`~gatecast.models.config.VarianceConfig` for
    ``variance``), so no default is written twice. ``target``, ``log``, ``horizon`` and
    ``anchored`` make up a point target (``log`` None: log returns; ``anchored`` None: anchored,
    for a price target only); ``proxy`` (None: squared) and ``train_proxy`` a variance target.
    A setting given for a target that does not use it is refused, never ignored.
    ``test_size`` is a fraction in (0, 1) or a count of rows. ``covariates`` names covariate
    groups (``sp500``, ``vix``) joined onto the data as of each date by
    :func:`gatecast.data.covariates.join_covariates` (on a panel, onto each instrument's own
    dates) and read by the model after its features; the model folder records them, so
    ``predict`` joins the same ones.
    """

    target: TrainTarget = "return"
    log: bool | None = None
    horizon: int = 1
    anchored: bool | None = None
    proxy: Proxy | None = None
    cell: Cell | None = None
    mode: Mode | None = None
    window: int | None = None
    hidden: int | None = None
    layers: int | None = None
    dropout: float | None = None
    scaler: ScalerKind | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    patience: int | None = None
    clip: float | None = None
    val_size: float | None = None
    seed: int | None = None
    device: str | None = None
    quiet: bool | None = None
    test_start: str | None = None
    test_size: float | None = None
    gap: int = 0
    #: The trading calendar the data follows, recorded in the model: an exchange code (XNYS,
    #: XLON, ...) or ``data``; None: XNYS for the bundled US series, else the data's own.
    calendar: str | None = None
    #: Variance target: a hybrid's classical forecasts as inputs and its residual base (see
    #: :class:`~gatecast.models.config.VarianceConfig`); ``lstm_hybrid`` is
    #: ``("garch", "gjr_t", "har")`` with residual ``gjr_t``.
    classical_inputs: tuple[str, ...] | None = None
    residual: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self.target, TRAIN_TARGETS, "target")
        if self.proxy is not None:
            check_choice(self.proxy, PROXIES, "proxy")
        unused = {
            "log (--simple)": self.variance and self.log is not None,
            "anchored (--anchored/--no-anchored)": self.target != "price"
            and self.anchored is not None,
            "proxy (--proxy)": not self.variance and self.proxy is not None,
            "train_proxy (--train-proxy)": not self.variance and self.train_proxy is not None,
            "classical_inputs (--classical-inputs)": not self.variance
            and self.classical_inputs is not None,
            "residual (--residual)": not self.variance and self.residual is not None,
        }
        self.covariates = checked_groups(self.covariates)
        sequence_only = [
            name
            for name in ("chunks", "chunk_len", "burn_in")
            if getattr(self, name) is not None and not self.variance
        ]
        if sequence_only and (self.mode or ForecasterConfig.mode) != "sequence":
            raise ConfigError(
                f"{', '.join(sequence_only)} set(s) the lanes of sequence mode (truncated BPTT); "
                f"add --mode sequence, or leave {'them' if len(sequence_only) > 1 else 'it'} out"
            )
        wrong = [name for name, given in unused.items() if given]
        if wrong:
            why = (
                "a variance model forecasts the next day's variance of log returns"
                if self.variance
                else "--proxy and --train-proxy are for --target variance; --anchored for "
                "--target price; --classical-inputs and --residual for --target variance"
            )
            raise ConfigError(
                f"{', '.join(wrong)} does not apply to target {self.target!r} ({why}); leave it out"
            )

    @property
    def variance(self) -> bool:
        return self.target == "variance"

    @property
    def variance_proxy(self) -> Proxy:
        """The proxy a variance model is scored against (``proxy``, default squared)."""
        return self.proxy or "squared"

    def target_spec(self) -> TargetSpec:
        """What a point model forecasts."""
        if self.variance:
            raise ConfigError("a variance job has no point target; see proxy")
        return TargetSpec(
            kind=self.target,
            log=self.log is not False,
            horizon=self.horizon,
            anchored=self.anchored is not False,
        )

    def model_config(self) -> NetSettings:
        """The model settings of this job, validated by the family's config."""
        config_class: type[NetSettings] = VarianceConfig if self.variance else ForecasterConfig
        # the groups' columns are what the model reads (the groups: the data's join)
        columns = {"covariates": covariate_columns(self.covariates)}
        names = {f.name for f in fields(config_class)}
        given = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name in names and getattr(self, f.name) is not None
        }
        if self.variance:
            wrong = [k for k in POINT_ONLY if getattr(self, k) is not None]
            if wrong or self.horizon != 1:
                raise ConfigError(
                    f"{', '.join(wrong) or 'horizon'} is for return, price and direction "
                    "models; a variance model forecasts one day ahead from a window"
                )
            return VarianceConfig(**(given | {"target": self.variance_proxy} | columns))
        return ForecasterConfig(**(given | {"target": self.target_spec()} | columns))

    def forecaster(self) -> RecurrentEstimator:
        """A fresh, unfitted model with this job's settings."""
        from gatecast.models.recurrent import RecurrentForecaster, RecurrentVariance

        cfg = self.model_config()
        if isinstance(cfg, VarianceConfig):
            return RecurrentVariance(**params_of(cfg, VarianceConfig))
        return RecurrentForecaster(**params_of(cfg, ForecasterConfig))

    def to_dict(self) -> dict[str, Any]:
        """Plain values (what ``config.json`` holds), the model settings as used."""
        cfg = self.model_config().to_dict()
        own = settings_record(self)
        resolved = {k: cfg[k] for k in own if k in cfg and own[k] is None}
        if self.variance:
            resolved["proxy"] = self.variance_proxy
        else:
            spec = self.target_spec()
            resolved["log"] = spec.log
            if self.target == "price":
                resolved["anchored"] = spec.anchored
        return own | resolved
