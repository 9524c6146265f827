"""Every model shows itself in a notebook (``_repr_html_``): its class, whether it is fitted and
its parameters; and so do a panel and a panel walk-forward's result. (The jobs' results are
checked beside their jobs: tests/test_public_face.py, tests/experiment/test_sweep.py.)"""

from __future__ import annotations

from html import escape

import pytest

import gatecast as gc
from gatecast.data import ar1_prices
from gatecast.models.baselines import AlwaysUp
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
from gatecast.models.volatility import HistoricalVariance

MODELS = [
    gc.NoChange,
    gc.HistoricalMean,
    gc.AR1,
    AlwaysUp,
    HARForecaster,
    HistoricalVariance,
    lambda: ArchForecaster("GARCH"),
    lambda: gc.RecurrentForecaster(hidden=4),
    lambda: gc.RecurrentVariance(hidden=4),
    lambda: GlobalRecurrentVariance(hidden=4),
]


@pytest.mark.parametrize("make", MODELS)
def test_a_model_shows_its_class_state_and_parameters(make) -> None:
    model = make()
    html = model._repr_html_()
    assert f"<b>{type(model).__name__}</b> (not fitted)" in html
    for name, value in model.get_params().items():
        assert f"<tr><th>{name}</th><td>{escape(repr(value))}</td></tr>" in html
    assert html.count("<tr>") == len(model.get_params())


def test_a_fitted_model_says_so() -> None:
    prices = ar1_prices(300, seed=1)
    model = gc.AR1().fit(prices)
    assert "<b>AR1</b> (fitted)" in model._repr_html_()


def test_a_panel_shows_one_row_per_instrument() -> None:
    frames = {
        name: ar1_prices(n, seed=i).iloc[:n] for i, (name, n) in enumerate((("a", 80), ("b", 60)))
    }
    panel = gc.load_panel(frames)
    html = panel._repr_html_()
    assert "Panel of 2 instruments" in html
    assert html.count("<th>a</th>") == 1 and html.count("<th>b</th>") == 1
