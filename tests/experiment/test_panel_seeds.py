"""Seeds on a panel (gatecast.experiment.panel_seeds): each seed's walk is the single-seed
evaluate_panel with that seed, the headline scores each recurrent model on the mean of its
seeds' losses, the per-seed table and the spread recomputed from the per-seed runs, K=1 is
unchanged, resume, refusals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import gatecast as gc
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.panel_return_scores import panel_returns
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig, run_panel_evaluation


def _panel(small_panel: Callable[..., dict[str, pd.DataFrame]], n: int = 3) -> gc.Panel:
    """The first ``n`` of A, B and C (1, 2 and 0.7 percent a day), 260 business days, seed 0."""
    return gc.load_panel(small_panel(dict((("A", 1.0), ("B", 2.0), ("C", 0.7))[:n]), 260))


@pytest.fixture(scope="module")
def seeded(small_panel, tiny_panel_walk) -> tuple[gc.Panel, Any, dict[int, Any]]:
    """A 3-seed run (seeds 1, 2, 3) of the global and the local LSTM beside HAR, and each
    seed's own single-seed run."""
    panel, tiny = _panel(small_panel), tiny_panel_walk
    models = "lstm,lstm_local,har"
    res = gc.evaluate_panel(panel, models=models, reference="har", seed=1, seeds=3, **tiny)
    alone = {
        s: gc.evaluate_panel(panel, models=models, reference="har", seed=s, **tiny)
        for s in (1, 2, 3)
    }
    return panel, res, alone


def test_each_seeds_forecasts_are_the_single_seed_run_with_that_seed(
    seeded: tuple[gc.Panel, Any, dict[int, Any]],
) -> None:
    _, res, alone = seeded
    fc = res.walk.forecasts
    assert list(fc.columns) == [
        "lstm[s1]",
        "lstm[s2]",
        "lstm[s3]",
        "lstm_local[s1]",
        "lstm_local[s2]",
        "lstm_local[s3]",
        "har",
    ]
    for s, one in alone.items():
        for m in ("lstm", "lstm_local"):  # the same path, seed s: equal to the last bit
            pd.testing.assert_series_equal(
                fc[f"{m}[s{s}]"], one.walk.forecasts[m], check_names=False
            )
        pd.testing.assert_series_equal(fc["har"], one.walk.forecasts["har"])
    # the seeds differ (else the spread would say nothing)
    assert not np.allclose(fc["lstm[s1]"], fc["lstm[s2]"])


def test_headline_scores_the_mean_of_the_seeds_losses(
    seeded: tuple[gc.Panel, Any, dict[int, Any]],
) -> None:
    """The one-series rule (evaluate --seeds): a recurrent model's QLIKE per date is the mean
    of its seeds' QLIKEs; recomputed here from the forecasts and the squared-return proxy."""
    panel, res, _ = seeded
    fc = res.walk.forecasts
    table = res.table.set_index(["instrument", "model"])
    for name in ("A", "B", "C"):
        own = fc.xs(name, level="instrument").dropna()
        r = 100 * np.log(panel[name]["close"]).diff()
        proxy = (r**2).reindex(own.index).to_numpy()
        seeds = [qlike_loss(proxy, own[f"lstm[s{s}]"].to_numpy()).mean() for s in (1, 2, 3)]
        har = qlike_loss(proxy, own["har"].to_numpy()).mean()
        assert table.loc[(name, "lstm"), "qlike"] == pytest.approx(np.mean(seeds), rel=1e-12)
        assert table.loc[(name, "lstm"), "ratio"] == pytest.approx(np.mean(seeds) / har, rel=1e-12)
    assert list(res.summary.index) == ["lstm", "lstm_local", "har"]


def test_per_seed_rows_are_each_seeds_own_run_and_the_spread_is_theirs(
    seeded: tuple[gc.Panel, Any, dict[int, Any]],
) -> None:
    _, res, alone = seeded
    per_seed, spread = res.seeds.per_seed, res.seeds.spread
    assert "seed spread of the median ratio" in str(res) and "ratio_sd" in str(res)
    assert list(per_seed.index) == [(m, s) for m in ("lstm", "lstm_local") for s in (1, 2, 3)]
    for s, one in alone.items():
        for m in ("lstm", "lstm_local"):
            row, own = per_seed.loc[(m, s)], one.summary.loc[m]
            assert row["median_ratio"] == own["median_ratio"]  # the same numbers, same path
            assert (row["wins"], row["losses"]) == (own["wins"], own["losses"])
            assert row["instruments"] == 3
    # the MCS bootstrap is the run's (seed 1): that seed's run holds the same sets
    for m in ("lstm", "lstm_local"):
        assert per_seed.loc[(m, 1), "in_mcs"] == alone[1].summary.loc[m, "in_mcs"]
    for m in ("lstm", "lstm_local"):
        ratios = [alone[s].summary.loc[m, "median_ratio"] for s in (1, 2, 3)]
        row = spread.loc[m]
        assert row["seeds"] == 3
        assert row["ratio_min"] == min(ratios) and row["ratio_max"] == max(ratios)
        assert row["ratio_median"] == sorted(ratios)[1]
        mean = sum(ratios) / 3
        sd = (sum((r - mean) ** 2 for r in ratios) / 2) ** 0.5
        assert row["ratio_sd"] == pytest.approx(sd, rel=1e-12)


def test_one_seed_is_todays_run(small_panel, tiny_panel_walk) -> None:
    """seeds=1 keeps the model names, the walk and the scores of a run without it."""
    panel, tiny = _panel(small_panel, 2), tiny_panel_walk
    one = gc.evaluate_panel(panel, models="lstm,har", reference="har", seeds=1, **tiny)
    plain = gc.evaluate_panel(panel, models="lstm,har", reference="har", **tiny)
    assert one.seeds is None and list(one.walk.forecasts.columns) == ["lstm", "har"]
    pd.testing.assert_frame_equal(one.walk.forecasts, plain.walk.forecasts)
    pd.testing.assert_frame_equal(one.table, plain.table)


def test_return_target_seeds_mean_losses_and_run_folder_resumes(tmp_path: Any, small_panel) -> None:
    """A return target through PanelEvaluationConfig: seeds 0 and 1 of the global LSTM, MSE
    the mean of the seeds' squared errors; the run folder holds seeds.csv, seed_spread.csv
    and the seed-mean forecast, is read by Run.open, and a resume reads every fit back with
    the same numbers."""
    panel = _panel(small_panel, 2)
    kw: dict[str, Any] = {
        "data": panel,
        "target": "return",
        "models": ("lstm", "no_change"),
        "test_start": "2010-10-01",
        "refit_every": 40,
        "min_train": 150,
        "hidden": 4,
        "recurrent_epochs": 1,
        "warm_epochs": 1,
        "window": 5,
        "device": "cpu",
        "mcs_reps": 100,
        "n_jobs": 1,
        "seeds": 2,
    }
    out = tmp_path / "run"
    res = run_panel_evaluation(PanelEvaluationConfig(**kw, out=str(out)))
    fc = res.walk.forecasts
    assert list(fc.columns) == ["lstm[s0]", "lstm[s1]", "no_change"]
    table = res.table.set_index(["instrument", "model"])
    for name in ("A", "B"):
        own = fc.xs(name, level="instrument").dropna()
        r = panel_returns(panel[name]).reindex(own.index).to_numpy()
        mse = np.mean([np.mean((r - own[f"lstm[s{s}]"].to_numpy()) ** 2) for s in (0, 1)])
        assert table.loc[(name, "lstm"), "mse"] == pytest.approx(mse, rel=1e-12)
        mean_fc = own[["lstm[s0]", "lstm[s1]"]].mean(axis=1).to_numpy()
        assert table.loc[(name, "lstm"), "mae"] == pytest.approx(np.mean(np.abs(r - mean_fc)))

    run = gc.Run.open(out)
    pd.testing.assert_frame_equal(run.table("seeds"), res.seeds.per_seed, check_dtype=False)
    assert run.table("seed_spread").loc["lstm", "seeds"] == 2
    long = run.table("forecasts")
    assert long["lstm"].to_numpy() == pytest.approx(
        long[["lstm[s0]", "lstm[s1]"]].mean(axis=1).to_numpy()
    )
    assert run.json("metrics.json")["seeds"] == 2
    # a panel backtest trades one forecast per model: a seeded run is refused before trading
    with pytest.raises(ConfigError, match="was made with --seeds 2; a panel backtest trades"):
        gc.backtest_panel(panel, from_run=out)

    again = run_panel_evaluation(PanelEvaluationConfig(**kw, out=str(out), resume=True))
    assert again.walk.folds["resumed"].all()
    pd.testing.assert_frame_equal(again.walk.forecasts, fc)
    pd.testing.assert_frame_equal(again.seeds.per_seed, res.seeds.per_seed)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"seeds": 0}, "seeds=0"),
        ({"seeds": 1.5}, "seeds"),
        ({"seeds": 2, "models": ("har", "gjr_t")}, r"--seeds 2 runs each recurrent model"),
    ],
)
def test_refused_before_any_fit(
    small_panel, tiny_panel_walk, settings: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        PanelEvaluationConfig(data=_panel(small_panel, 2), **settings)
    kwargs = {k: v for k, v in settings.items() if k != "models"}
    models = ",".join(settings.get("models", ("lstm", "har")))
    with pytest.raises(ConfigError, match=match):
        gc.evaluate_panel(
            _panel(small_panel, 2),
            models=models,
            reference="har" if "har" in models else None,
            **{**tiny_panel_walk, **kwargs},
        )


def test_backtest_and_var_on_a_panel_still_refuse_seeds(small_panel) -> None:
    from gatecast.experiment.panel_backtest import PanelBacktestConfig
    from gatecast.experiment.panel_var_config import PanelVarConfig

    with pytest.raises(ConfigError, match="--seeds does not apply to a panel: a panel backtest"):
        PanelBacktestConfig(data=_panel(small_panel, 2), seeds=2)
    with pytest.raises(ConfigError, match="--seeds does not apply to a panel: the panel VaR"):
        PanelVarConfig(data=_panel(small_panel, 2), seeds=2)
