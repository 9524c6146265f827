"""A training run: leak-free split, files in the run folder, metrics beside the baselines."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from gatecast.data import ar1_prices
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob, run_training

FAST = dict(cell="gru", hidden=8, layers=1, window=10, epochs=2, batch_size=64, seed=0)


@pytest.fixture(scope="module")
def csv_pair(tmp_path_factory):
    """The same prices twice, the second with every test-period price multiplied by 10."""
    d = tmp_path_factory.mktemp("data")
    df = ar1_prices(600, phi=0.5, seed=2)[["close"]]
    df.index.name = "Date"
    clean, scaled = d / "clean.csv", d / "scaled.csv"
    df.to_csv(clean)
    df2 = df.copy()
    df2.loc[df2.index >= "2002-01-01", "close"] *= 10
    df2.to_csv(scaled)
    return clean, scaled


def test_test_period_never_reaches_scaler_windows_or_weights(csv_pair):
    runs = [run_training(TrainJob(data=str(p), test_start="2002-01-01", **FAST)) for p in csv_pair]
    a, b = (r.model for r in runs)
    assert a.feature_scaler_.to_dict() == b.feature_scaler_.to_dict()
    assert a.target_scaler_.to_dict() == b.target_scaler_.to_dict()
    assert a.data_hash_ == b.data_hash_  # identical training windows and targets
    for (ka, va), (kb, vb) in zip(
        a.net_.state_dict().items(), b.net_.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb)
    # the test part did change, so its forecasts and actuals differ
    assert not np.allclose(runs[0].forecasts["actual"], runs[1].forecasts["actual"])


def test_run_folder_files_and_metrics(tmp_path, csv_pair):
    out = tmp_path / "run"
    run = run_training(TrainJob(data=str(csv_pair[0]), test_size=0.2, **FAST), out)
    for name in (
        "model.safetensors",
        "manifest.json",
        "forecasts.csv",
        "metrics.json",
        "loss.png",
        "forecast.png",
        "loss.json",
        "config.json",
    ):
        assert (out / name).is_file(), name
    fc = pd.read_csv(out / "forecasts.csv")
    assert list(fc.columns) == ["date", "actual", "forecast", "in_sample"]
    assert not fc["in_sample"].any()  # the test part: never trained on
    assert len(fc) == 120  # 20% of 600 rows
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["target"] == "return"
    assert set(metrics["models"]) == {"gru", "no_change", "historical_mean"}
    a, f = fc["actual"].to_numpy(), fc["forecast"].to_numpy()
    # the baselines recomputed from the data: no change forecasts a zero return, the historical
    # mean the mean log return of the 480 training rows
    close = pd.read_csv(csv_pair[0], index_col=0)["close"].to_numpy()
    np.testing.assert_allclose(a, np.diff(np.log(close))[-120:], rtol=1e-9)
    mu = np.mean(np.diff(np.log(close[:480])))
    nc, hm = metrics["models"]["no_change"], metrics["models"]["historical_mean"]
    assert nc["mse"] == pytest.approx(np.mean(a**2), rel=1e-9)
    assert hm["mse"] == pytest.approx(np.mean((a - mu) ** 2), rel=1e-9)
    assert hm["theil_u"] == pytest.approx(np.sqrt(np.sum((a - mu) ** 2) / np.sum(a**2)), rel=1e-9)
    assert metrics["models"]["gru"]["oos_r2"] == pytest.approx(
        1 - np.sum((a - f) ** 2) / np.sum((a - mu) ** 2), rel=1e-6
    )
    assert metrics["models"]["gru"]["mse"] == pytest.approx(np.mean((a - f) ** 2), rel=1e-6)
    assert metrics["models"]["gru"]["theil_u"] == pytest.approx(
        np.sqrt(np.sum((a - f) ** 2) / np.sum(a**2)), rel=1e-6
    )
    assert run.metrics["gru"]["n"] == 120
    assert str(run) == run.summary() and run.dropped_rows == metrics["dropped_rows"] == 0
    assert json.loads((out / "config.json").read_text()) == run.job.to_dict()
    assert run.job.to_dict()["features"] == ["return"]  # the model's settings as used


def test_predict_from_saved_model_matches_training_forecasts(tmp_path, csv_pair):
    out = tmp_path / "run"
    run = run_training(TrainJob(data=str(csv_pair[0]), test_size=0.2, **FAST), out, plots=False)
    frame = run_prediction(
        out, str(csv_pair[0]), tmp_path / "p.csv", start=str(run.forecasts.index[0])
    ).frame
    known = frame.iloc[:-1]  # the last row is the forecast for the day after the data
    np.testing.assert_allclose(
        known["forecast"].to_numpy(), run.forecasts["gru"].to_numpy(), rtol=1e-6
    )
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns) == ["date", "actual", "forecast", "in_sample", "as_of"]
    assert len(written) == len(frame) and np.isnan(written["actual"].iloc[-1])
    # each forecast used the data up to the row before the date it is for (horizon 1); the
    # last, for the business day after the data, used the last row
    data = pd.read_csv(csv_pair[0])["Date"].tolist()
    rows = {d: k for k, d in enumerate(data)}
    known_as_of = written["as_of"].iloc[:-1].tolist()
    assert known_as_of == [data[rows[d] - 1] for d in written["date"].iloc[:-1]]
    assert written["as_of"].iloc[-1] == data[-1]


def test_the_job_builds_the_model_it_describes() -> None:
    from gatecast.data.features import TargetSpec
    from gatecast.errors import ConfigError

    job = TrainJob(target="direction", log=False, horizon=2, hidden=7, mode="sequence", chunks=4)
    params = job.forecaster().get_params()
    assert (params["hidden"], params["mode"], params["chunks"]) == (7, "sequence", 4)
    assert params["target"] == TargetSpec("direction", False, 2)
    with pytest.raises(ConfigError, match="dropout"):
        TrainJob(dropout=1.5).forecaster()


def test_train_drops_rows_for_the_column_it_reads_and_no_other(tmp_path) -> None:
    """The price column is read and checked once, as every job reads its data: with
    ``--column close --dropna``, a NaN in adj_close (a column the model does not read) drops no
    row, and a NaN in close drops exactly its row."""
    prices = ar1_prices(400, seed=2)
    frame = pd.DataFrame({"close": prices["close"], "adj_close": prices["close"]})
    frame.iloc[[50, 60], 1] = np.nan  # adj_close only
    frame.iloc[70, 0] = np.nan  # close
    path = tmp_path / "p.csv"
    frame.rename_axis("date").to_csv(path)
    job = TrainJob(data=str(path), column="close", dropna=True, quiet=True, **FAST)
    run = run_training(job)
    assert run.dropped_rows == 1
    assert len(run.forecasts) == 80  # the last 20% of the 399 rows kept


def test_train_is_a_walk_forward_of_one_fold(csv_pair):
    """`train` fits and forecasts through the walk-forward's own fold step: its test forecasts
    are those of a walk-forward of the same model with one refit (the same path: exact)."""
    import functools

    from gatecast.data import load
    from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward

    job = TrainJob(data=str(csv_pair[0]), test_start="2002-01-01", gap=3, **FAST)
    run = run_training(job)
    df = load(str(csv_pair[0]))
    plan = WalkForwardPlan("2002-01-01", refit_every=10**6, gap=3, min_train=1)
    walk = walk_forward({"m": functools.partial(job.forecaster)}, df, plan)
    assert len(walk.folds) == 1
    fc = walk.forecasts["m"].dropna()
    assert fc.index.equals(run.forecasts.index)
    assert np.array_equal(fc.to_numpy(), run.forecasts[run.model.name].to_numpy())


def test_one_fold_refuses_a_split_without_training_rows() -> None:
    from gatecast.errors import ConfigError
    from gatecast.evaluation.walkforward import Fold, one_fold

    index = pd.bdate_range("2020-01-01", periods=10)
    assert one_fold(index, 4, index[6]) == Fold(0, 0, 4, 6, 10)  # rows 4 and 5: the gap
    with pytest.raises(ConfigError, match="training rows before its test start"):
        one_fold(index, 7, index[6])
    with pytest.raises(ConfigError, match="training rows before its test start"):
        one_fold(index, 4, pd.Timestamp("2020-01-11"))  # a Saturday: not a row
