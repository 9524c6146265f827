"""The hybrids on a panel, one per instrument (``lstm_resid_local``...): each instrument's
forecasts are the single-series walk-forward of the same hybrid; the global form, covariates
and a return target are refused by name."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import PanelWalkPlan, panel_walk_forward
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, panel_factories
from gatecast.experiment.registry import HYBRIDS
from gatecast.models.recurrent.variance import RecurrentVariance


def test_each_hybrid_name_builds_the_single_series_hybrid() -> None:
    f = panel_factories(["lstm_garch_local", "lstm_resid_local", "lstm_hybrid_local"])
    for name, hybrid in (
        ("lstm_garch_local", "lstm_garch"),
        ("lstm_resid_local", "lstm_resid"),
        ("lstm_hybrid_local", "lstm_hybrid"),
    ):
        model = f[name]()
        assert isinstance(model, RecurrentVariance)
        assert not getattr(model, "pooled", False)  # per instrument
        params = model.get_params()
        for key, value in HYBRIDS[hybrid].items():
            assert params[key] == value, (name, key)


def test_lstm_resid_local_is_each_instruments_own_walk_forward(
    two_walks: Callable[[int], gc.Panel],
) -> None:
    """The same path as gc.walk_forward of the hybrid on the instrument alone (warm chain
    included), so the forecasts are equal to the last bit."""
    panel = two_walks(260)
    factory = panel_factories(
        ["lstm_resid_local"], hidden=4, epochs=1, warm_epochs=1, device="cpu"
    )["lstm_resid_local"]
    walk = panel_walk_forward(
        {"lstm_resid_local": factory},
        panel,
        PanelWalkPlan("2010-10-01", refit_every=40, min_train=150),
        warm_start={"lstm_resid_local": True},
    )
    own = functools.partial(
        RecurrentVariance,
        cell="lstm",
        residual="gjr_t",
        hidden=4,
        window=5,
        epochs=1,
        warm_epochs=1,
        warm_start=True,
        device="cpu",
    )
    for name in ("A", "B"):
        single = walk_forward(
            {"h": own},
            panel[name],
            WalkForwardPlan("2010-10-01", refit_every=40, min_train=150),
            warm_start=True,
        )
        got = walk.forecasts.xs(name, level="instrument")["lstm_resid_local"]
        assert len(got) == len(single.forecasts) > 40
        np.testing.assert_array_equal(got.to_numpy(), single.forecasts["h"].to_numpy())


def test_a_hybrid_runs_with_seeds_in_a_panel_evaluation(
    two_walks: Callable[[int], gc.Panel], tiny_panel_evaluation: dict[str, Any]
) -> None:
    res = gc.evaluate_panel(
        two_walks(260),
        test_start="2010-10-01",
        models="lstm_resid_local,gjr_t",
        seeds=2,
        warm_epochs=1,
        refit_every=40,
        **tiny_panel_evaluation,
    )
    assert list(res.walk.forecasts.columns) == [
        "lstm_resid_local[s0]",
        "lstm_resid_local[s1]",
        "gjr_t",
    ]
    assert res.seeds is not None and res.seeds.spread.loc["lstm_resid_local", "seeds"] == 2
    # warm refits along each instrument's chain, as lstm_local
    folds = res.walk.folds
    assert folds.loc[folds.model == "lstm_resid_local[s0]", "warm"].any()


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"models": ("lstm_resid", "gjr_t")}, "a hybrid runs per instrument there: use"),
        (
            {"models": ("lstm_resid_local+sp500", "gjr_t"), "covariates": ("sp500",)},
            "a hybrid on a panel reads no covariates yet",
        ),
        ({"models": ("combo", "gjr_t")}, "combinations are single-series only"),
        ({"models": ("lstm_resid_local", "no_change"), "target": "return"}, "lstm_resid_local"),
    ],
)
def test_refused_by_name(
    two_walks: Callable[[int], gc.Panel], settings: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        PanelEvaluationConfig(data=two_walks(260), **settings)  # type: ignore[arg-type]
