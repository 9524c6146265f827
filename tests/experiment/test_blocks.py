"""`--blocks`: consecutive, disjoint test blocks, each trained on data before its test days only,
scored on its own and pooled (the pooled loss is the date-weighted mean of the block losses; the
pooled DM test is recomputed here from the forecasts each block wrote)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.volatility import QLIKE_FLOOR
from gatecast.errors import ConfigError
from gatecast.evaluation.significance import diebold_mariano
from gatecast.experiment.blocks import block_plan, evaluate_blocks, parse_block_length
from gatecast.experiment.evaluation import EvaluationConfig

MODELS = ("ewma", "no_change", "historical_mean")


def test_sp500_blocks_from_2005_are_the_four_stated_ones() -> None:
    index = load("sp500").index
    blocks = block_plan(index, "2005-01-01", 4)
    assert [b.label for b in blocks] == ["2005-2008", "2009-2012", "2013-2016", "2017-2018"]
    assert blocks[-1].last_date == index[-1] and blocks[-1].n_rows < blocks[0].n_rows  # short
    for a, b in itertools.pairwise(blocks):
        assert a.end + pd.Timedelta(days=1) == b.start  # contiguous in calendar time
        assert a.last_date < b.first_date  # and no trading day in two blocks
    covered = index[(index >= blocks[0].start) & (index <= blocks[-1].end)]
    assert sum(b.n_rows for b in blocks) == len(covered)


def test_block_settings_are_checked() -> None:
    assert parse_block_length("4y") == parse_block_length(" 4 years") == parse_block_length(4) == 4
    with pytest.raises(ConfigError, match=r"block length in years, e\.g\. 4y"):
        parse_block_length("6m")
    with pytest.raises(ConfigError, match="needs dated rows"):
        block_plan(pd.RangeIndex(100), "2005-01-01", 4)
    with pytest.raises(ConfigError, match="no dates from test_start 2030-01-01"):
        block_plan(load("sp500").index, "2030-01-01", 4)
    with pytest.raises(ConfigError, match="run --intervals without it"):
        evaluate_blocks(EvaluationConfig(models=MODELS, intervals=0.9), "1y")


def qlike(proxy: np.ndarray, fc: np.ndarray) -> np.ndarray:
    ratio = np.maximum(proxy, QLIKE_FLOOR) / fc
    return ratio - np.log(ratio) - 1.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("blocks") / "run"
    cfg = EvaluationConfig(
        test_start="2017-01-01",
        test_end="2018-03-30",
        models=MODELS,
        refit_every=63,
        n_jobs=1,
        quiet=True,
        mcs_reps=200,
        out=str(out),
    )
    return evaluate_blocks(cfg, "1y"), out


@pytest.mark.slow
def test_every_block_trains_on_data_before_its_test_days(run) -> None:
    res, _ = run
    assert [b.label for b in res.blocks] == ["2017", "2018"]
    seen: set[pd.Timestamp] = set()
    for b, r in zip(res.blocks, res.results, strict=True):
        dates = set(r.forecasts.index)
        assert not dates & seen  # no test day scored twice
        seen |= dates
        assert min(dates) == b.first_date and max(dates) == b.last_date
        folds = r.walk.folds
        assert (pd.to_datetime(folds["train_end"]) < pd.to_datetime(folds["test_start"])).all()
        assert pd.to_datetime(folds["train_end"]).min() < b.first_date
        first = folds[folds["fold"] == 0]
        assert (pd.to_datetime(first["train_end"]) < b.first_date).all()
        assert (pd.to_datetime(folds["test_start"]) >= b.first_date).all()
        assert (pd.to_datetime(folds["test_end"]) <= b.last_date).all()
    assert len(seen) == len(res.losses) == res.table.loc[("pooled", "ewma"), "n_dates"]


@pytest.mark.slow
def test_the_pooled_loss_is_the_date_weighted_mean_of_the_block_losses(run) -> None:
    res, _ = run
    t = res.table
    for m in MODELS:
        n = np.array([t.loc[(b.label, m), "n_dates"] for b in res.blocks], dtype=float)
        loss = np.array([t.loc[(b.label, m), "qlike"] for b in res.blocks])
        assert t.loc[("pooled", m), "qlike"] == pytest.approx(float(n @ loss / n.sum()), rel=1e-12)


@pytest.mark.slow
def test_pooled_dm_and_per_block_mcs_from_the_files(run) -> None:
    res, out = run
    frames = [pd.read_parquet(out / f"block-{b.label}" / "forecasts.parquet") for b in res.blocks]
    fc = pd.concat(frames)
    losses = {m: qlike(fc["actual"].to_numpy(), fc[m].to_numpy()) for m in MODELS}
    ref = res.reference
    assert ref == "no_change"  # the reference without GARCH
    for m in ("ewma", "historical_mean"):
        dm = diebold_mariano(losses[m], losses[ref])
        assert res.table.loc[("pooled", m), "p_ref"] == pytest.approx(dm.pvalue, rel=1e-9)
        assert res.table.loc[("pooled", m), "qlike"] == pytest.approx(losses[m].mean(), rel=1e-9)
    for b in res.blocks:
        board = pd.read_csv(out / f"block-{b.label}" / "leaderboard.csv", index_col="model")
        for m in MODELS:
            assert bool(board.loc[m, "in_mcs"]) == bool(res.table.loc[(b.label, m), "in_mcs"])
    meta = json.loads((out / "blocks.json").read_text())
    assert [b["label"] for b in meta["blocks"]] == ["2017", "2018"]
    assert meta["blocks"][1]["last_date"] == "2018-03-29"  # the last block is short
    assert "fixed before the first block" in meta["protocol"]
    wide = pd.read_csv(out / "blocks_wide.csv", index_col="model")
    assert list(wide.columns[:3]) == ["2017", "2018", "pooled"]
    assert "pooled" in res.summary() and "2017" in res.summary()
