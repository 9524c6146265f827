"""gc.evaluate_panel: names to models (a cell is the global model), the reference, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.experiment.panel_evaluation import panel_factories
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance


def _panel() -> gc.Panel:
    days = pd.bdate_range("2010-01-01", periods=260, name="date")
    rng = np.random.default_rng(0)
    frames = {
        n: pd.DataFrame(
            {"close": 100 * np.exp(np.cumsum(v * 0.01 * rng.standard_normal(260)))}, index=days
        )
        for n, v in (("A", 1.0), ("B", 2.0))
    }
    return gc.load_panel(frames)


def test_evaluate_panel_runs_the_global_model_and_scores_per_instrument() -> None:
    res = gc.evaluate_panel(
        _panel(),
        test_start="2010-10-01",
        models="lstm,har",
        reference="har",
        hidden=4,
        epochs=1,
        refit_every=40,
        min_train=150,
        device="cpu",
        mcs_reps=100,
    )
    assert set(res.table.instrument) == {"A", "B"}
    assert list(res.summary.index) == ["lstm", "har"]
    assert (res.table.loc[res.table.model == "har", "ratio"] == 1.0).all()
    # one global fit per refit date; HAR refit per instrument at the same dates
    folds = res.walk.folds
    assert (folds.loc[folds.model == "lstm", "instrument"] == "*").all()
    assert len(folds[folds.model == "har"]) == 2 * len(folds[folds.model == "lstm"])


def test_names_map_to_global_and_per_instrument_models() -> None:
    f = panel_factories(["gru", "har"])
    assert isinstance(f["gru"](), GlobalRecurrentVariance) and f["gru"]().cell == "gru"
    assert isinstance(f["har"](), HARForecaster)
    with pytest.raises(ConfigError, match="'lstm_resid' does not run on a panel yet"):
        panel_factories(["lstm_resid"])


def test_refusals_before_any_fit() -> None:
    with pytest.raises(
        ConfigError, match=r"reference 'gjr_t' is not among the models \(lstm, har\)"
    ):
        gc.evaluate_panel(_panel(), test_start="2010-10-01", models="lstm,har")
    with pytest.raises(TooFewRowsError, match=r"instrument 'A' has 195 rows before the refit"):
        gc.evaluate_panel(_panel(), test_start="2010-10-01", models="har", reference="har")
