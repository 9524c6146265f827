"""A panel walk-forward in sequence mode: gc.evaluate_panel(mode="sequence") walks the global
model in sequence mode (its forecasts are those of a sequence-mode model fit on the same rows),
the local return models take the mode and the local variance ones are refused, and a
window-mode global model's run-folder record is what it was before sequence mode came."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import model_identity
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, panel_factories
from gatecast.experiment.panel_returns import return_factories
from gatecast.models.config import LANE_SETTINGS
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance


def test_the_walk_runs_the_global_model_in_sequence_mode(
    tiny_panel_evaluation: dict[str, Any],
    two_walks: Callable[[int], gc.Panel],
) -> None:
    # long enough for lanes past the default burn-in: 32 lanes of about 20 training rows
    panel = two_walks(460)
    start = "2011-07-01"
    run: dict[str, Any] = {
        "test_start": start,
        "models": "lstm,har",
        "reference": "har",
        "refit_every": 200,
        **tiny_panel_evaluation,
    }
    res = gc.evaluate_panel(panel, **run)
    seq = gc.evaluate_panel(panel, mode="sequence", **run)
    # one refit: its forecasts are those of a sequence-mode global model fit on the rows
    # before the test start (same settings as the walk's) and run over each history
    assert seq.walk.folds.loc[seq.walk.folds.model == "lstm", "fold"].nunique() == 1
    model = GlobalRecurrentVariance(
        hidden=4, epochs=1, device="cpu", warm_start=True, mode="sequence"
    )
    model.fit({n: df.loc[df.index < start] for n, df in panel.items()})
    for n, df in panel.items():
        got = seq.walk.forecasts["lstm"].xs(n, level="instrument")
        want = model.predict_instrument(n, df, start)
        pd.testing.assert_series_equal(got, want.astype(float), check_names=False)
        window = res.walk.forecasts["lstm"].xs(n, level="instrument")
        assert not np.allclose(got, window)  # the mode took effect
    # the classical model is untouched by the mode
    pd.testing.assert_series_equal(seq.walk.forecasts["har"], res.walk.forecasts["har"])


def test_the_mode_reaches_the_global_and_local_return_models_and_refuses_local_variance(
    two_walks: Callable[[int], gc.Panel],
) -> None:
    f = return_factories(["lstm", "lstm_local", "no_change"], mode="sequence")
    assert isinstance(f["lstm"](), GlobalRecurrentReturn) and f["lstm"]().mode == "sequence"
    assert f["lstm_local"]().mode == "sequence"
    assert panel_factories(["gru", "har"], mode="sequence")["gru"]().mode == "sequence"
    with pytest.raises(ConfigError, match=r"'lstm_local' is a RecurrentVariance per instrument"):
        panel_factories(["lstm", "lstm_local", "gjr_t"], mode="sequence")
    with pytest.raises(ConfigError, match="mode"):
        panel_factories(["lstm"], mode="lanes")  # type: ignore[typeddict-item]
    cfg = PanelEvaluationConfig(data=two_walks(460), test_start="2011-07-01", mode="sequence")
    assert cfg.factories()["lstm"]().mode == "sequence"


def test_a_window_mode_global_models_record_leaves_out_the_sequence_settings() -> None:
    # what a run folder binds its folds to: unchanged for a window-mode model (its folders
    # recorded before sequence mode came still resume), the settings in for sequence mode
    for cls in (GlobalRecurrentVariance, GlobalRecurrentReturn):
        window = model_identity(functools.partial(cls, hidden=4))["params"]
        assert not set(LANE_SETTINGS) & set(window)
        seq = model_identity(functools.partial(cls, hidden=4, mode="sequence"))["params"]
        assert {k: seq[k] for k in LANE_SETTINGS} == {
            "mode": "sequence",
            "chunk_len": 16,
            "chunks": 32,
            "burn_in": 10,
        }
        assert {k: v for k, v in seq.items() if k not in LANE_SETTINGS} == window
