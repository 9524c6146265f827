"""Sequence (stateful) mode: learns, sees only the past, fits scalers on train, round-trips to disk."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gatecast.data import TargetSpec, ar1_prices, make_target
from gatecast.errors import ConfigError, ModelFileError
from gatecast.evaluation.metrics import mse
from gatecast.models.baselines import NoChange
from gatecast.models.recurrent import RecurrentForecaster

SMALL = dict(hidden=8, layers=1, window=10, epochs=3, chunks=4, chunk_len=16, burn_in=5, quiet=True)


@pytest.fixture(scope="module")
def ar1():
    return ar1_prices(900, phi=0.9, sigma=0.01, seed=1)


@pytest.fixture(scope="module")
def fitted(ar1):
    return RecurrentForecaster(cell="gru", seed=3, mode="sequence", **SMALL).fit(ar1.iloc[:700])


def test_learns_ar1_far_below_no_change():
    df = ar1_prices(2000, phi=0.9, sigma=0.01, seed=0)
    hist = df.iloc[:1600]
    m = RecurrentForecaster(
        cell="gru",
        hidden=16,
        layers=1,
        window=10,
        epochs=25,
        lr=3e-3,
        seed=0,
        mode="sequence",
        chunks=8,
        chunk_len=32,
    ).fit(hist)
    fc = m.predict(df, start=df.index[1600])
    y = make_target(df, TargetSpec()).loc[fc.index]
    naive = NoChange().fit(hist).predict(df, start=df.index[1600]).loc[fc.index]
    assert len(fc) == 400
    assert mse(y, fc) < 0.4 * mse(y, naive)


def test_forecast_for_t_uses_inputs_up_to_t_minus_1_only(ar1, fitted):
    t = 750
    base = fitted.predict(ar1, start=ar1.index[t], end=ar1.index[t + 1])
    changed = ar1.copy()
    changed.iloc[t:, changed.columns.get_loc("close")] *= 1.5
    after = fitted.predict(changed, start=ar1.index[t], end=ar1.index[t + 1])
    assert base.index[0] == ar1.index[t]
    assert base.iloc[0] == after.iloc[0]  # the forecast for t is untouched by data at t ...
    assert base.iloc[1] != after.iloc[1]  # ... while the forecast for t+1 sees day t


def test_forecasts_carry_the_state_over_the_whole_history(ar1, fitted):
    full = fitted.predict(ar1)
    tail = fitted.predict(ar1, start=ar1.index[800])
    np.testing.assert_array_equal(tail.to_numpy(), full.loc[ar1.index[800] :].to_numpy())
    # a history cut short starts from a zero state, so early forecasts differ
    short = fitted.predict(ar1.iloc[796:], start=ar1.index[800])
    assert abs(short.iloc[0] - tail.iloc[0]) > 1e-9
    # sequence mode forecasts from the first usable row on: first return, then one step ahead
    assert full.index[0] == ar1.index[2]


def test_scalers_fit_on_the_training_range_only(ar1):
    hist = ar1.iloc[:700].copy()
    a = RecurrentForecaster(mode="sequence", seed=0, **SMALL | {"epochs": 1}).fit(hist)
    hist.iloc[-40:, hist.columns.get_loc("close")] *= np.linspace(1, 3, 40)  # inside the val tail
    b = RecurrentForecaster(mode="sequence", seed=0, **SMALL | {"epochs": 1}).fit(hist)
    assert a.feature_scaler_.to_dict() == b.feature_scaler_.to_dict()
    assert a.target_scaler_.to_dict() == b.target_scaler_.to_dict()
    # ... and the same feature rows and validation dates as window mode (the target scaler also
    # sees the first window's worth of targets, which sequence mode trains on)
    w = RecurrentForecaster(mode="window", seed=0, **SMALL | {"epochs": 1}).fit(ar1.iloc[:700])
    assert np.allclose(w.feature_scaler_.shift_, a.feature_scaler_.shift_)
    assert w.train_range_[1] == a.train_range_[1]


def test_early_stopping_on_the_validation_tail(ar1):
    m = RecurrentForecaster(
        mode="sequence", seed=0, **SMALL | {"epochs": 30, "patience": 2, "lr": 0.05}
    ).fit(ar1.iloc[:700])
    hist = m.result_.history
    assert len(hist["val_loss"]) == len(hist["train_loss"]) == m.result_.epochs_run
    assert m.result_.stopped_early and m.result_.epochs_run < 30
    assert m.result_.best_epoch == int(np.argmin(hist["val_loss"])) + 1


def test_same_seed_same_forecasts(ar1, fitted):
    again = RecurrentForecaster(cell="gru", seed=3, mode="sequence", **SMALL).fit(ar1.iloc[:700])
    np.testing.assert_array_equal(fitted.predict(ar1).to_numpy(), again.predict(ar1).to_numpy())


def test_save_load_round_trip(tmp_path, ar1, fitted):
    fitted.save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["mode"] == "sequence"
    assert {k: manifest["config"][k] for k in ("chunk_len", "chunks", "burn_in")} == {
        "chunk_len": 16,
        "chunks": 4,
        "burn_in": 5,
    }
    back = RecurrentForecaster.load(tmp_path / "m", device="cpu")
    assert back.mode == "sequence" and back.chunks == 4
    np.testing.assert_array_equal(back.predict(ar1).to_numpy(), fitted.predict(ar1).to_numpy())
    manifest["mode"] = "telepathy"
    (tmp_path / "m" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="telepathy"):
        RecurrentForecaster.load(tmp_path / "m")


def test_window_models_keep_loading_without_the_new_keys(tmp_path, ar1):
    m = RecurrentForecaster(seed=0, **SMALL | {"epochs": 1}).fit(ar1.iloc[:400])
    m.save(tmp_path / "w")
    manifest = json.loads((tmp_path / "w" / "manifest.json").read_text())
    assert manifest["mode"] == "window" and "sequence" not in manifest
    assert RecurrentForecaster.load(tmp_path / "w").mode == "window"


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(mode="stateful"), "mode 'stateful' is unknown; choose one of window, sequence"),
        (dict(chunk_len=0), "chunk_len=0, chunks=32, burn_in=10: chunk_len and chunks must be"),
        (dict(chunks=0), "chunks=0, burn_in=10: chunk_len and chunks must be >= 1"),
        (dict(burn_in=-1), "burn_in=-1: chunk_len and chunks must be >= 1, burn_in >= 0"),
    ],
)
def test_bad_parameters_are_refused(bad, message):
    with pytest.raises(ConfigError, match=message):
        RecurrentForecaster(**{"mode": "sequence"} | bad)


def test_fit_many_needs_sequence_mode(ar1):
    with pytest.raises(ConfigError, match="mode='sequence'"):
        RecurrentForecaster(**SMALL).fit_many({"a": ar1})
