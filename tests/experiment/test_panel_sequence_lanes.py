"""The lanes of sequence mode on a panel evaluation (``evaluate_panel(mode="sequence",
chunks=..., chunk_len=..., burn_in=...)``): they reach every sequence-mode model, a small panel
that the default 32 lanes cannot train runs with fewer, and they are refused in window mode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation import (
    PanelEvaluationConfig,
    panel_factories,
    run_panel_evaluation,
)
from gatecast.experiment.panel_returns import return_factories

#: the evaluation of the tests that run one (with the tiny settings of ``tiny_panel_evaluation``)
RUN: dict[str, Any] = {
    "test_start": "2010-10-01",
    "models": "lstm,har",
    "reference": "har",
    "refit_every": 200,
}


def _sequence_config(panel: gc.Panel, **settings: Any) -> PanelEvaluationConfig:
    """A sequence-mode evaluation of lstm against har from 2010-10-01, with ``settings``."""
    return PanelEvaluationConfig(
        data=panel,
        test_start="2010-10-01",
        models=("lstm", "har"),
        reference="har",
        mode="sequence",
        **settings,
    )


def test_a_small_panel_fails_with_the_default_lanes_and_runs_with_four(
    tiny_panel_evaluation: dict[str, Any],
    two_walks: Callable[[int], gc.Panel],
) -> None:
    # two instruments of about 190 training rows: 32 lanes of about 10 steps, none past the
    # default burn-in of 10
    panel = two_walks(260)
    with pytest.raises(ConfigError, match="no training step lies past the burn-in of 10"):
        gc.evaluate_panel(panel, mode="sequence", **RUN, **tiny_panel_evaluation)
    res = gc.evaluate_panel(panel, mode="sequence", chunks=4, **RUN, **tiny_panel_evaluation)
    assert list(res.summary.index) == ["lstm", "har"]
    assert res.summary.loc["lstm", "instruments"] == 2
    assert np.isfinite(res.table["qlike"]).all()
    # a shorter burn-in alone also leaves steps to train on
    short = gc.evaluate_panel(panel, mode="sequence", burn_in=2, **RUN, **tiny_panel_evaluation)
    assert not np.allclose(
        short.walk.forecasts["lstm"].to_numpy(), res.walk.forecasts["lstm"].to_numpy()
    )


def test_the_lanes_reach_every_sequence_mode_model(two_walks: Callable[[int], gc.Panel]) -> None:
    lanes = {"chunks": 4, "chunk_len": 8, "burn_in": 3}
    want = {"mode": "sequence", **lanes}
    cfg = _sequence_config(two_walks(260), **lanes)
    model = cfg.factories()["lstm"]()
    assert {k: model.get_params()[k] for k in want} == want
    f = return_factories(["lstm", "lstm_local", "ar1"], mode="sequence", **lanes)
    for m in ("lstm", "lstm_local"):
        assert {k: f[m]().get_params()[k] for k in want} == want
    gru = panel_factories(["gru", "har"], mode="sequence", chunk_len=5)["gru"]()
    assert (gru.get_params()["chunk_len"], gru.get_params()["chunks"]) == (5, 32)
    # none given: the model's own defaults, as before
    plain = panel_factories(["lstm"], mode="sequence")["lstm"]().get_params()
    assert (plain["chunks"], plain["chunk_len"], plain["burn_in"]) == (32, 16, 10)


@pytest.mark.parametrize(
    "lanes", [{"chunks": 4}, {"chunk_len": 8, "burn_in": 2}], ids=["chunks", "chunk_len+burn_in"]
)
def test_the_lanes_are_refused_in_window_mode_by_name(
    tiny_panel_evaluation: dict[str, Any],
    two_walks: Callable[[int], gc.Panel],
    lanes: dict[str, int],
) -> None:
    named = ", ".join(f"{k}={v}" for k, v in lanes.items())
    with pytest.raises(ConfigError, match=f"{named}: the lanes of sequence mode.*'window'"):
        gc.evaluate_panel(two_walks(260), **lanes, **RUN, **tiny_panel_evaluation)
    with pytest.raises(ConfigError, match=f"{named}: the lanes of sequence mode"):
        PanelEvaluationConfig(data=two_walks(260), test_start="2010-10-01", **lanes)  # type: ignore[arg-type]


def test_a_bad_lane_is_refused_before_any_fit(
    two_walks: Callable[[int], gc.Panel], tmp_path: Any
) -> None:
    cfg = _sequence_config(
        two_walks(260), chunks=0, min_train=150, device="cpu", out=tmp_path / "run"
    )
    with pytest.raises(ConfigError, match="chunks=0"):
        run_panel_evaluation(cfg)
    assert not (tmp_path / "run").exists()
