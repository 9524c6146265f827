"""The recurrent estimators' parameters are declared once (the parameter classes of
gatecast.models.config): typed constructors whose names and defaults are the configs' fields,
stored as given."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from gatecast.models.baselines import AlwaysUp, HistoricalMean, NoChange
from gatecast.models.config import LANE_SETTINGS, ForecasterConfig, VarianceConfig
from gatecast.models.har import HARForecaster, HARXForecaster
from gatecast.models.recurrent import RecurrentForecaster, RecurrentVariance
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

#: Each estimator, its config, and the config fields it does not take (a global model takes
#: no hybrid settings).
CASES = [
    (RecurrentForecaster, ForecasterConfig, set()),
    (RecurrentVariance, VarianceConfig, set()),
    (GlobalRecurrentReturn, ForecasterConfig, set()),
    (GlobalRecurrentVariance, VarianceConfig, {"classical_inputs", "residual", "train_rows"}),
]


@pytest.mark.parametrize(
    ("cls", "config", "left_out"), CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_the_parameters_are_the_configs_fields_keyword_only_and_typed(
    cls, config, left_out
) -> None:
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    names = [p.name for p in params]
    expected = [f.name for f in dataclasses.fields(config) if f.name not in left_out]
    if cls in (GlobalRecurrentReturn, GlobalRecurrentVariance):
        expected.append("embedding")
    if cls is GlobalRecurrentVariance:  # its sequence mode's own (the variance model has none)
        expected += ["mode", "chunk_len", "chunks", "burn_in"]
    assert names == expected
    # the first five by position too (as they always could be), the rest by keyword only
    kinds = [p.kind for p in params]
    assert kinds[:5] == [inspect.Parameter.POSITIONAL_OR_KEYWORD] * 5
    assert set(kinds[5:]) == {inspect.Parameter.KEYWORD_ONLY}
    assert all(p.annotation is not inspect.Parameter.empty for p in params)
    model = cls("gru", 8, 1, 0.0, 5)
    assert [model.cell, model.hidden, model.layers, model.dropout, model.window] == [
        "gru",
        8,
        1,
        0.0,
        5,
    ]
    with pytest.raises(TypeError):
        cls("gru", 8, 1, 0.0, 5, ("return",))


@pytest.mark.parametrize(
    ("cls", "config", "left_out"), CASES, ids=lambda c: getattr(c, "__name__", "")
)
def test_the_defaults_are_the_configs(cls, config, left_out) -> None:
    params = cls().get_params()
    params.pop("embedding", None)
    if cls is GlobalRecurrentVariance:  # its own sequence settings: the return model's defaults
        lanes = {k: params.pop(k) for k in LANE_SETTINGS}
        assert lanes == {k: getattr(ForecasterConfig(), k) for k in LANE_SETTINGS}
    assert config(**params) == config()
    # what a walk-forward records of a default model: the target as its spec object, except
    # for the global return model, whose default was always written "return"
    target = "return" if cls is GlobalRecurrentReturn else config().target
    assert params["target"] == target


def test_parameters_are_stored_as_given_and_changed_by_set_params_only() -> None:
    features = ["return", "abs_return"]
    model = RecurrentForecaster(features=features, covariates=["vix_log"], epochs=3)
    assert model.features is features and model.covariates == ["vix_log"]
    assert model.config().features == ("return", "abs_return")  # the config converts
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.epochs = 4  # type: ignore[misc]
    assert model.set_params(epochs=4).epochs == 4 and model.net_ is None


@pytest.mark.parametrize(
    ("model", "params"),
    [
        (HARForecaster((1,), name="har_daily"), {"lags": (1,), "name": "har_daily"}),
        (HARForecaster(), {"lags": (1, 5, 22), "name": "har", "measure": "auto"}),
        (HARXForecaster(covariates=("vix_log",)), {"name": "har_x", "covariates": ("vix_log",)}),
        (NoChange(), {"target": "return", "column": None}),
        (HistoricalMean(column="close"), {"target": "return", "column": "close"}),
        (AlwaysUp(), {"target": "direction", "column": None}),
    ],
)
def test_classical_and_baseline_parameters_keep_their_defaults(model, params) -> None:
    got = model.get_params()
    assert {k: got[k] for k in params} == params
    assert type(model)(**got).get_params() == got
