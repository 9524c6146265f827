"""The cross-sectional long/short rule against a hand computation (weights, turnover, costs),
and the refusal of a forecast whose information date is not before the traded day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.trading.cross_section import (
    CrossSectionRule,
    cross_section_weights,
    trade_cross_section,
)

DAYS = pd.bdate_range("2020-01-06", periods=4)  # Mon..Thu


def _prices() -> dict[str, pd.Series]:
    return {
        "A": pd.Series([100.0, 101.0, 99.0, 100.0], index=DAYS),
        "B": pd.Series([50.0, 50.0, 51.0, 52.0], index=DAYS),
        "C": pd.Series([10.0, 9.0, 9.0, 9.9], index=DAYS),
        "D": pd.Series([20.0, 21.0, 22.0], index=DAYS[[0, 1, 3]]),  # no row on Wednesday
    }


def _forecasts() -> pd.DataFrame:
    rows = []
    table = {  # day -> forecasts of A, B, C, D (None: no forecast)
        DAYS[1]: (0.3, 0.1, -0.2, 0.0),
        DAYS[2]: (0.3, -0.5, 0.2, None),
        DAYS[3]: (0.0, 0.1, 0.2, 0.4),
    }
    for day, values in table.items():
        for n, v in zip("ABCD", values, strict=True):
            if v is not None:
                prev = _prices()[n].index[_prices()[n].index < day][-1]
                rows.append({"instrument": n, "date": day, "as_of": prev, "m": v})
    return pd.DataFrame(rows)


def test_top_bottom_weights_turnover_and_costs_by_hand() -> None:
    rule = CrossSectionRule("top_bottom", fraction=0.25)
    res = trade_cross_section(_forecasts(), _prices(), rule, cost_bps=10)
    w = res.weights["m"]
    # Tue: 4 instruments, k = 1: long A (0.3), short C (-0.2)
    # Wed: D has no row: A, B, C, k = max(1, floor(0.75)) = 1: long A, short B
    # Thu: long D (0.4), short A (0.0)
    want = pd.DataFrame(
        [[0.5, 0, -0.5, 0], [0.5, -0.5, 0, 0], [-0.5, 0, 0, 0.5]],
        index=DAYS[1:],
        columns=list("ABCD"),
    )
    np.testing.assert_allclose(w.to_numpy(), want.to_numpy())
    r = {
        "A": [0.01, 99 / 101 - 1, 100 / 99 - 1],
        "B": [0.0, 0.02, 52 / 51 - 1],
        "C": [-0.1, 0.0, 0.1],
        "D": [0.05, 0.0, 22 / 21 - 1],  # Thu: from its own previous row (Tue)
    }
    gross = [
        0.5 * r["A"][0] - 0.5 * r["C"][0],
        0.5 * r["A"][1] - 0.5 * r["B"][1],
        -0.5 * r["A"][2] + 0.5 * r["D"][2],
    ]
    np.testing.assert_allclose(res.gross["m"].to_numpy(), gross)
    turnover = [1.0, 0.5 + 0.5, 1.0 + 0.5 + 0.5]  # entering; C -> B; A flips, B out, D in
    np.testing.assert_allclose(res.turnover["m"].to_numpy(), turnover)
    np.testing.assert_allclose(res.net["m"].to_numpy(), np.array(gross) - 1e-3 * np.array(turnover))
    s = res.summary().loc["m"]
    assert s["turnover"] == pytest.approx(np.mean(turnover))
    net = np.array(gross) - 1e-3 * np.array(turnover)
    assert s["sharpe"] == pytest.approx(net.mean() / net.std(ddof=1) * np.sqrt(252))


def test_rank_weights_by_hand_and_flat_days() -> None:
    f = pd.DataFrame(
        {
            "A": [0.3, 0.0, 1.0],
            "B": [0.1, 0.0, np.nan],
            "C": [-0.2, 0.0, 2.0],
            "D": [0.0, 0.0, np.nan],
        },
        index=DAYS[:3],
    )
    w = cross_section_weights(f, CrossSectionRule("rank"))
    # ranks C=1, D=2, B=3, A=4: centred -1.5, -0.5, 0.5, 1.5 over a sum of 4
    np.testing.assert_allclose(w.iloc[0].to_numpy(), [1.5 / 4, 0.5 / 4, -1.5 / 4, -0.5 / 4])
    assert (w.iloc[1] == 0).all()  # all forecasts equal (no change): flat
    np.testing.assert_allclose(w.iloc[2].to_numpy(), [-0.5, 0, 0.5, 0])
    assert np.allclose(w.sum(axis=1), 0) and np.allclose(w.abs().sum(axis=1), [1, 0, 1])
    with pytest.raises(ConfigError, match="fraction"):
        CrossSectionRule(fraction=0.7)


@pytest.mark.parametrize("late", ["same day", "missing", "after its previous row"])
def test_a_forecast_not_made_before_the_traded_day_is_refused(late: str) -> None:
    fc = _forecasts()
    k = int(np.flatnonzero((fc.instrument == "D") & (fc.date == DAYS[3]))[0])
    fc["as_of"] = fc["as_of"].astype(object)
    # D's previous row before Thursday is Tuesday: Wednesday is after it, Thursday is the day
    fc.loc[k, "as_of"] = {
        "same day": DAYS[3],
        "missing": None,
        "after its previous row": DAYS[2],
    }[late]
    with pytest.raises(AlignmentError, match=r"instrument 'D': the forecast for 2020-01-09"):
        trade_cross_section(fc, _prices())


def test_a_row_without_every_models_forecast_is_left_out_for_all() -> None:
    fc = _forecasts().assign(other=1.0)
    fc.loc[(fc.instrument == "A") & (fc.date == DAYS[1]), "other"] = np.nan
    res = trade_cross_section(fc, _prices(), CrossSectionRule("top_bottom", 0.25))
    # Tuesday without A: B (0.1) is the top, C (-0.2) the bottom
    np.testing.assert_allclose(res.weights["m"].iloc[0].to_numpy(), [0, 0.5, -0.5, 0])
