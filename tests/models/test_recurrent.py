"""RecurrentForecaster: learns a predictable series, is reproducible, round-trips through its folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gatecast.data import TargetSpec, ar1_prices, make_target
from gatecast.errors import ConfigError, ModelFileError, NotFittedError, TooFewRowsError
from gatecast.evaluation.metrics import mse
from gatecast.models.baselines import NoChange
from gatecast.models.recurrent import RecurrentForecaster

SMALL = dict(hidden=8, layers=1, window=10, epochs=3, batch_size=64, quiet=True)


@pytest.fixture(scope="module")
def ar1():
    return ar1_prices(1200, phi=0.9, sigma=0.01, seed=1)


@pytest.fixture(scope="module")
def fitted(ar1):
    return RecurrentForecaster(cell="gru", seed=3, **SMALL).fit(ar1.iloc[:900])


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_learns_ar1_far_below_no_change(cell):
    # r_t = 0.9 r_{t-1} + e_t: the best forecast has MSE sigma^2 while zero-return has
    # sigma^2 / (1 - 0.81) ~ 5.3 sigma^2, so a working model lands far below no-change.
    df = ar1_prices(2000, phi=0.9, sigma=0.01, seed=0)
    hist = df.iloc[:1600]
    m = RecurrentForecaster(
        cell=cell, hidden=16, layers=1, window=10, epochs=25, batch_size=32, lr=3e-3, seed=0
    ).fit(hist)
    fc = m.predict(df, start=df.index[1600])
    y = make_target(df, TargetSpec()).loc[fc.index]
    naive = NoChange().fit(hist).predict(df, start=df.index[1600]).loc[fc.index]
    assert len(fc) == 400
    assert mse(y, fc) < 0.4 * mse(y, naive)


def test_same_seed_same_forecasts_and_other_seed_differs(ar1, fitted):
    again = RecurrentForecaster(cell="gru", seed=3, **SMALL).fit(ar1.iloc[:900])
    other = RecurrentForecaster(cell="gru", seed=4, **SMALL).fit(ar1.iloc[:900])
    a, b, c = (m.predict(ar1, start=ar1.index[900]) for m in (fitted, again, other))
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    assert np.abs(a.to_numpy() - c.to_numpy()).max() > 1e-6


def test_forecast_for_t_ignores_data_at_t_and_later(ar1, fitted):
    base = fitted.predict(ar1, start=ar1.index[1000], end=ar1.index[1000])
    changed = ar1.copy()
    changed.iloc[1000:, changed.columns.get_loc("close")] *= 10
    after = fitted.predict(changed, start=ar1.index[1000], end=ar1.index[1000])
    assert base.index[0] == ar1.index[1000]
    assert base.iloc[0] == after.iloc[0]
    # ... while the forecast for t+1 does see day t
    nxt = fitted.predict(ar1, start=ar1.index[1001], end=ar1.index[1001])
    nxt_changed = fitted.predict(changed, start=ar1.index[1001], end=ar1.index[1001])
    assert nxt.iloc[0] != nxt_changed.iloc[0]


def test_save_load_round_trip_identical(tmp_path, ar1, fitted):
    fitted.save(tmp_path / "m")
    loaded = RecurrentForecaster.load(tmp_path / "m", device="cpu")
    a = fitted.predict(ar1, start=ar1.index[900])
    b = loaded.predict(ar1, start=ar1.index[900])
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["cell"] == "gru" and manifest["window"] == 10 and manifest["hidden"] == 8
    assert manifest["scalers"]["features"]["kind"] == "standard"
    assert manifest["train_range"][1] < str(ar1.index[900])
    assert len(manifest["data_hash"]) == 64
    assert manifest["versions"]["torch"] == torch.__version__
    assert not list((tmp_path / "m").glob("*.tmp"))  # atomic writes leave no temp files


def test_load_refuses_mismatch_and_corruption(tmp_path, fitted):
    folder = tmp_path / "m"
    fitted.save(folder)
    mpath = folder / "manifest.json"
    good = json.loads(mpath.read_text())

    bad = dict(good, hidden=9)
    mpath.write_text(json.dumps(bad))
    with pytest.raises(ModelFileError, match="does not match its manifest"):
        RecurrentForecaster.load(folder)

    mpath.write_text(json.dumps(dict(good, format_version=99)))
    with pytest.raises(ModelFileError, match="format_version"):
        RecurrentForecaster.load(folder)

    mpath.write_text(json.dumps(good))
    wpath = folder / "model.safetensors"
    wpath.write_bytes(wpath.read_bytes()[:-8])
    with pytest.raises(ModelFileError, match="checksum"):
        RecurrentForecaster.load(folder)

    mpath.write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        RecurrentForecaster.load(folder)

    with pytest.raises(ModelFileError, match="does not exist"):
        RecurrentForecaster.load(tmp_path / "nothing")


def test_direction_target_gives_probabilities(ar1):
    m = RecurrentForecaster(
        cell="lstm", target="direction", seed=0, **(SMALL | dict(epochs=15, lr=5e-3))
    ).fit(ar1.iloc[:900])
    p = m.predict(ar1, start=ar1.index[900])
    assert ((p > 0) & (p < 1)).all()
    # phi=0.9: the sign persists (P = 1/2 + asin(0.9)/pi ~ 0.86), so the model beats chance clearly
    y = make_target(ar1, TargetSpec("direction")).loc[p.index]
    assert np.mean((p > 0.5) == (y > 0.5)) > 0.6


def test_unfitted_and_bad_params_raise(ar1):
    with pytest.raises(NotFittedError, match="call fit"):
        RecurrentForecaster().predict(ar1)
    with pytest.raises(ConfigError, match="cell 'transformer' is unknown"):
        RecurrentForecaster(cell="transformer")
    with pytest.raises(ConfigError, match="window=0"):
        RecurrentForecaster(window=0)
    with pytest.raises(TooFewRowsError, match="need at least"):
        RecurrentForecaster(window=50).fit(ar1.iloc[:30])


def test_warm_start_refits_from_current_weights_for_warm_epochs(ar1):
    m = RecurrentForecaster(
        cell="gru", seed=3, warm_start=True, warm_epochs=1, **(SMALL | dict(patience=0))
    )
    m.fit(ar1.iloc[:800])
    first = {k: v.clone() for k, v in m.net_.state_dict().items()}
    assert m.result_.epochs_run == 3
    m.fit(ar1.iloc[:900])
    assert m.result_.epochs_run == 1  # a warm refit runs warm_epochs
    cold = RecurrentForecaster(
        cell="gru", seed=3, epochs=1, **{k: v for k, v in SMALL.items() if k != "epochs"}
    ).fit(ar1.iloc[:900])
    # the warm model moved from the first fit's weights, not from a fresh init
    warm_w = m.net_.state_dict()["head.weight"]
    assert not torch.equal(warm_w, cold.net_.state_dict()["head.weight"])
    assert (warm_w - first["head.weight"]).abs().max() < (
        cold.net_.state_dict()["head.weight"] - first["head.weight"]
    ).abs().max()


def test_a_warm_state_and_a_stream_keep_their_weights_when_the_model_is_refit(ar1):
    def model() -> RecurrentForecaster:
        warm = dict(warm_start=True, warm_epochs=1, patience=0)
        return RecurrentForecaster(cell="gru", seed=3, **(SMALL | warm)).fit(ar1.iloc[:800])

    m, twin = model(), model()  # the same seed: the same weights
    state, stream = m.warm_state(), m.stream(engine="numpy")
    kept = {k: v.copy() for k, v in state.items()}
    m.fit(ar1.iloc[:900])  # a warm refit moves the live weights
    assert not np.array_equal(m.warm_state()["head.weight"], kept["head.weight"])
    assert all(np.array_equal(state[k], kept[k]) for k in kept)  # taken before: as it was
    replay = twin.stream(engine="numpy")  # the stream of the model before its refit
    prices = ar1["close"].iloc[780:801].astype(float)
    assert [stream.update(p) for p in prices] == [replay.update(p) for p in prices]


def test_load_keeps_training_settings_and_rejects_malformed_manifest(tmp_path, ar1):
    m = RecurrentForecaster(
        cell="gru", seed=1, patience=4, clip=0.5, val_size=0.2, warm_epochs=2, **SMALL
    ).fit(ar1.iloc[:600])
    m.save(tmp_path / "m")
    back = RecurrentForecaster.load(tmp_path / "m")
    assert (back.patience, back.clip, back.val_size, back.warm_epochs) == (4, 0.5, 0.2, 2)
    mpath = tmp_path / "m" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    del manifest["scalers"]["features"]["kind"]
    mpath.write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="malformed"):
        RecurrentForecaster.load(tmp_path / "m")
