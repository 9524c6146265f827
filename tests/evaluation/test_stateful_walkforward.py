"""The stateful walk-forward: recurrent models in sequence mode, warm-started refit after refit, the
state carried day by day between refits; no look-ahead, resumable, and reachable from
`gatecast evaluate --mode sequence`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.experiment.evaluation import EvaluationConfig, model_factory
from gatecast.models.recurrent import RecurrentForecaster

PLAN = WalkForwardPlan("2015-03-02", "2015-05-29", refit_every=21)
PRICES = ["open", "high", "low", "close", "adj_close"]
SMALL = {
    "cell": "lstm",
    "hidden": 4,
    "layers": 1,
    "window": 10,
    "epochs": 2,
    "warm_epochs": 1,
    "warm_start": True,
    "device": "cpu",
    "mode": "sequence",
    "chunks": 8,
}


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2013":"2015-06"]


def stateful(**kw: object) -> dict[str, functools.partial[RecurrentForecaster]]:
    return {"seq": functools.partial(RecurrentForecaster, **(SMALL | kw))}


@pytest.fixture(scope="module")
def base(spx: pd.DataFrame) -> pd.Series:
    res = walk_forward(stateful(), spx, PLAN, warm_start=True, quiet=True)
    assert res.folds["warm"].tolist() == [False, True, True]
    return res.forecasts["seq"]


def test_forecasts_cover_every_test_day_from_the_carried_state(
    spx: pd.DataFrame, base: pd.Series
) -> None:
    # every test day has a forecast (no window to fill first), and each fold's forecasts are the
    # fold's model stepped over the history once: its stream, fed day by day, gives the same
    assert base.index.equals(spx.loc["2015-03-02":"2015-05-29"].index)
    first = PLAN.folds(spx.index)[0]
    model = RecurrentForecaster(**(SMALL | {"warm_start": False})).fit(
        spx.iloc[first.train_start : first.train_stop]
    )
    stream = model.stream(engine="numpy")
    ticks = [stream.update(float(p)) for p in spx["adj_close"].iloc[: first.test_stop - 1]]
    np.testing.assert_allclose(ticks[first.test_start - 1 :], base.iloc[:21], rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("day", ["2015-03-02", "2015-04-14", "2015-05-29"])
def test_forecast_for_t_ignores_day_t_and_after(
    spx: pd.DataFrame, base: pd.Series, day: str
) -> None:
    # a fold's first day, mid-fold (the carried state must not see later rows), the last day
    moved = spx.copy()
    moved.loc[day:, PRICES] *= 0.6
    got = walk_forward(stateful(), moved, PLAN, warm_start=True, quiet=True).forecasts["seq"]
    np.testing.assert_allclose(got.loc[:day], base.loc[:day], rtol=1e-6, atol=1e-12)
    if day != "2015-05-29":  # the next day's forecast reads the moved day
        nxt = got.index[got.index.get_loc(day) + 1]
        assert not np.isclose(got.loc[nxt], base.loc[nxt], rtol=1e-6, atol=1e-12)


def test_warm_chain_resumes_after_a_kill(
    spx: pd.DataFrame, base: pd.Series, tmp_path: Path
) -> None:
    full = walk_forward(stateful(), spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    pd.testing.assert_series_equal(full.forecasts["seq"], base)
    folder = tmp_path / "folds" / "seq"
    assert len(list(folder.glob("fold_*.safetensors"))) == 3  # the weights each refit starts from
    record = json.loads((tmp_path / "folds" / "plan.json").read_text())
    assert record["models"]["seq"]["params"]["mode"] == "sequence"
    for k in (1, 2):  # killed after fold 0: folds 1 and 2 never finished
        (folder / f"fold_{k:04d}.json").unlink()
    again = walk_forward(stateful(), spx, PLAN, warm_start=True, run_dir=tmp_path, quiet=True)
    assert again.folds["resumed"].tolist() == [True, False, False]
    pd.testing.assert_series_equal(again.forecasts["seq"], base)
    # a chain restarted cold at fold 1 would differ: the resume really continued fold 0's weights
    cold = walk_forward(stateful(), spx, PLAN, warm_start=False, quiet=True).forecasts["seq"]
    assert not np.allclose(cold.iloc[21:], base.iloc[21:])


def test_evaluation_config_runs_recurrent_models_in_sequence_mode() -> None:
    cfg = EvaluationConfig(target="return", models=("gru", "ar1"), mode="sequence")
    model = model_factory("gru", cfg)()
    assert model.get_params()["mode"] == "sequence" and model.get_params()["warm_start"]
    assert model_factory("gru", EvaluationConfig(target="return"))().get_params()["mode"] == (
        "window"
    )
    with pytest.raises(ConfigError, match="variance models have window mode only"):
        EvaluationConfig(target="variance", mode="sequence")
    with pytest.raises(ConfigError, match="mode 'stateful' is unknown"):
        EvaluationConfig(target="return", mode="stateful")  # type: ignore[arg-type]


def test_cli_evaluate_mode_sequence(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "run"
    tiny = ["--refit-every", "21", "--recurrent-epochs", "1", "--warm-epochs", "1"]
    tiny += ["--hidden", "4", "--n-jobs", "1", "--quiet", "--test-start", "2018-10-01"]
    args = ["evaluate", "--target", "return", "--models", "lstm,no_change", "--mode", "sequence"]
    res = runner.invoke(app, [*args, "--out", str(out), *tiny])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["mode"] == "sequence"
    record = json.loads((out / "folds" / "plan.json").read_text())
    assert record["models"]["lstm[s0]"]["params"]["mode"] == "sequence"
    fc = pd.read_parquet(out / "forecasts.parquet")
    assert fc["lstm"].notna().all() and fc.index[0] == pd.Timestamp("2018-10-01")
    res = runner.invoke(
        app, ["evaluate", "--mode", "sequence", "--out", str(tmp_path / "v"), *tiny]
    )
    assert res.exit_code == 2 and "window mode only" in res.output


def test_a_warm_sequence_refit_trains_on_the_newest_days_too(spx: pd.DataFrame) -> None:
    hist = spx.loc[:"2014"]
    moved = hist.copy()
    moved.loc["2014-12-01":, PRICES] *= np.linspace(1.0, 1.3, len(moved.loc["2014-12-01":]))[
        :, None
    ]

    def weights(model: RecurrentForecaster) -> np.ndarray:
        return np.concatenate([v.ravel() for v in model.warm_state().values()])

    cold = {"warm_start": False, "patience": 0}  # no early stop: the tail is only validation
    a = RecurrentForecaster(**(SMALL | cold)).fit(hist)
    b = RecurrentForecaster(**(SMALL | cold)).fit(moved)
    np.testing.assert_array_equal(weights(a), weights(b))  # a cold fit never trains on the tail
    assert a.series_ is not None and next(iter(a.series_.values()))["val_rows"] > 0
    # a warm refit (as in a walk-forward) trains its warm_epochs on every row, tail included
    warm = [RecurrentForecaster(**SMALL).fit(hist) for _ in range(2)]
    warm[0].fit(hist)
    warm[1].fit(moved)
    assert not np.allclose(weights(warm[0]), weights(warm[1]))
    assert warm[0].series_ is not None and next(iter(warm[0].series_.values()))["val_rows"] == 0
    assert warm[0].result_ is not None and warm[0].result_.epochs_run == SMALL["warm_epochs"]
