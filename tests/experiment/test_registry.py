"""The model registry: one identifier per model, earlier spellings accepted, every entry buildable."""

from __future__ import annotations

import json

import pytest

from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import model_identity
from gatecast.experiment.evaluation import EvaluationConfig, model_factory
from gatecast.experiment.registry import LABELS, REGISTRY, label, model_names


def test_earlier_spellings_are_stored_as_the_identifier() -> None:
    cfg = EvaluationConfig(models=("no-change", "gjr-t", "egarch-t", "mean"))
    assert cfg.models == ("no_change", "gjr_t", "egarch_t", "historical_mean")
    cfg = EvaluationConfig(target="direction", models=("always-up", "no-change"))
    assert cfg.models == ("always_up", "no_change")
    assert EvaluationConfig().models[-2:] == ("no_change", "historical_mean")


def test_ar1_is_only_the_return_model_and_the_variance_one_is_har_daily() -> None:
    assert "ar1" in model_names("return") and "ar1" not in model_names("variance")
    with pytest.raises(ConfigError, match="har_daily"):
        EvaluationConfig(models=("garch", "ar1"))
    spec = REGISTRY["variance", "har_daily"]
    assert spec.params["lags"] == (1,)
    with pytest.raises(ConfigError, match="list a model twice"):
        EvaluationConfig(models=("no_change", "no-change"))


def test_every_name_has_one_label() -> None:
    assert {name for _, name in REGISTRY} == set(LABELS)
    assert label("no_change") == "no change" and label("unknown") == "unknown"


@pytest.mark.parametrize(("target", "name"), sorted(REGISTRY))
def test_every_entry_builds_a_model_recorded_as_json(target: str, name: str) -> None:
    # HAR-X is HAR with covariates: it is built for a run that names some
    covariates = ("vix",) if name == "har_x" else ()
    cfg = EvaluationConfig(
        target=target, models=(name,), hidden=4, window=10, covariates=covariates
    )
    model = model_factory(name, cfg, seed=3)()
    identity = model_identity(lambda: model)
    assert json.loads(json.dumps(identity)) == identity
    params = identity["params"]
    assert params["column"] is None
    if REGISTRY[target, name].recurrent:
        assert (params["seed"], params["hidden"], params["window"]) == (3, 4, 10)
