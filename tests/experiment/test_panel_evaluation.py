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


@pytest.fixture
def panel(small_panel) -> gc.Panel:
    """Two instruments on the same 260 business days."""
    return gc.load_panel(small_panel({"A": 1.0, "B": 2.0}, 260))


def test_evaluate_panel_runs_the_global_model_and_scores_per_instrument(panel) -> None:
    res = gc.evaluate_panel(
        panel,
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


def test_refusals_before_any_fit(panel) -> None:
    with pytest.raises(
        ConfigError, match=r"reference 'gjr_t' is not among the models \(lstm, har\)"
    ):
        gc.evaluate_panel(panel, test_start="2010-10-01", models="lstm,har")
    with pytest.raises(TooFewRowsError, match=r"instrument 'A' has 195 rows before the refit"):
        gc.evaluate_panel(panel, test_start="2010-10-01", models="har", reference="har")


def test_lstm_local_is_each_instruments_own_walk_forward_of_recurrent_variance(panel) -> None:
    """lstm_local runs the single-series runner per instrument at the panel's refit dates
    (aligned calendars here, so they are each instrument's own): the same path as
    gc.walk_forward of a RecurrentVariance, warm chain included, so the forecasts are equal."""
    import functools

    from gatecast.evaluation.panel_walk import PanelWalkPlan, panel_walk_forward
    from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
    from gatecast.models.recurrent.variance import RecurrentVariance

    factory = panel_factories(["lstm_local"], hidden=4, epochs=1, warm_epochs=1, device="cpu")[
        "lstm_local"
    ]
    assert isinstance(factory(), RecurrentVariance) and factory().cell == "lstm"
    walk = panel_walk_forward(
        {"lstm_local": factory},
        panel,
        PanelWalkPlan("2010-10-01", refit_every=40, min_train=150),
        warm_start={"lstm_local": True},
    )
    own = functools.partial(
        RecurrentVariance,
        cell="lstm",
        hidden=4,
        window=5,
        epochs=1,
        warm_epochs=1,
        warm_start=True,
        device="cpu",
    )
    for name in ("A", "B"):
        single = walk_forward(
            {"lstm_local": own},
            panel[name],
            WalkForwardPlan("2010-10-01", refit_every=40, min_train=150),
            warm_start=True,
        )
        got = walk.forecasts.xs(name, level="instrument")["lstm_local"]
        assert len(got) == len(single.forecasts) > 40
        assert got.index.equals(single.forecasts.index)
        np.testing.assert_array_equal(got.to_numpy(), single.forecasts["lstm_local"].to_numpy())


def test_the_per_instrument_figure_has_one_row_per_instrument() -> None:
    from gatecast.plots.panel import plot_panel_ratios

    names = ["ZZZ", "AAA", "MMM"]
    table = pd.DataFrame(
        [
            {"instrument": n, "model": m, "ratio": r, "in_mcs": r < 1.05}
            for n, base in zip(names, (0.9, 1.0, 1.1), strict=True)
            for m, r in (("lstm", base), ("har", base + 0.02), ("gjr_t", 1.0))
        ]
    )
    fig = plot_panel_ratios(table, "gjr_t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == names  # the table's order, kept
    # one marker per instrument for each model other than the reference, at its ratio
    xs = sorted(x for c in ax.collections for x, _ in c.get_offsets())
    assert xs == pytest.approx(sorted(table.loc[table.model != "gjr_t", "ratio"]))
    assert len(xs) == 2 * len(names)


def test_short_history_keeps_the_last_years_before_the_test_and_the_test_whole(panel) -> None:
    from gatecast.experiment.panel_evaluation import short_history

    short = short_history(panel, "2010-10-01", years=0.5)
    for name in panel:
        df, cut = panel[name], short[name]
        assert cut.index[0] >= pd.Timestamp("2010-10-01") - pd.DateOffset(days=183)
        assert cut.index[0] - pd.Timedelta(days=4) <= pd.Timestamp("2010-04-01")
        assert cut.equals(df.loc[cut.index[0] :])  # nothing else changed, the test kept whole
