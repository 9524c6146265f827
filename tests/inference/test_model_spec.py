"""The model spec is the one reader of manifests: format 1 folders load once upgraded, and each
fault in a manifest is refused with its own message, the same way by the torch and the NumPy
loaders."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from gatecast.artifacts import SigningKey
from gatecast.data import ar1_prices
from gatecast.errors import ConfigError, ModelFileError
from gatecast.inference import ModelSpec
from gatecast.inference.upgrade import upgrade_model_folder
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.serve import load_numpy

SMALL = dict(hidden=5, layers=2, window=6, epochs=2, batch_size=64, device="cpu", seed=2)


@pytest.fixture(scope="module")
def prices():
    return ar1_prices(220, seed=5)


@pytest.fixture(scope="module")
def folder(prices, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spec") / "m"
    RecurrentForecaster(cell="gru", mode="sequence", chunks=4, **SMALL).fit(prices.iloc[:160]).save(
        out
    )
    return out


def _v1(manifest: dict) -> dict:
    """The same model as gatecast wrote it before the redesign (format 1)."""
    left_out = ("config", "units", "training", "manifest_sha256")  # format 1 had no checksum
    m = {k: v for k, v in manifest.items() if k not in left_out}
    cfg = manifest["config"]
    m["format_version"] = 1
    m["training"] = {
        k: cfg[k] for k in ("epochs", "batch_size", "lr", "patience", "clip", "seed", "device")
    } | {"quiet": True, "val_size": cfg["val_size"], "warm_epochs": cfg["warm_epochs"]}
    m["sequence"] = {k: cfg[k] for k in ("chunk_len", "chunks", "burn_in")}
    return m


def _copy_with(folder: Path, dest: Path, edit) -> Path:
    shutil.copytree(folder, dest)
    path = dest / "manifest.json"
    m = json.loads(path.read_text())
    edit(m)
    path.write_text(json.dumps(m))
    return dest


def test_a_format_1_folder_loads_in_both_engines_once_upgraded(folder, prices, tmp_path) -> None:
    """Format 1 has no manifest checksum: refused by both loaders until upgrade_model_folder
    vouches for it, which adds the checksum and leaves the content (and the forecasts) alone."""
    ref = RecurrentForecaster.load(folder).predict(prices)

    def to_v1(m: dict) -> None:
        v1 = _v1(m)
        m.clear()
        m.update(v1)

    old = _copy_with(folder, tmp_path / "v1", to_v1)
    written = json.loads((old / "manifest.json").read_text())
    assert written["format_version"] == 1 and "config" not in written and "units" not in written
    for load in (RecurrentForecaster.load, load_numpy):
        with pytest.raises(ModelFileError, match=r"is format 1, .* `gatecast upgrade-model "):
            load(old)
    done = upgrade_model_folder(old)
    assert done.trusted and done.written and done.from_version == 1 and done.key_id is None
    upgraded = json.loads((old / "manifest.json").read_text())
    assert upgraded.pop("format_version") == 4 and upgraded.pop("manifest_sha256")
    assert upgraded == {k: v for k, v in written.items() if k != "format_version"}
    model = RecurrentForecaster.load(old)
    assert model.config().chunks == 4 and model.config().mode == "sequence"
    np.testing.assert_array_equal(model.predict(prices), ref)
    np.testing.assert_allclose(load_numpy(old).predict(prices), ref, rtol=1e-5, atol=1e-7)


def test_a_signed_folder_through_the_python_api(folder, prices, tmp_path) -> None:
    """save/load take the key (a SigningKey or a key file) in both engines."""
    secret = SigningKey(b"k" * 32, "a test key")
    model = RecurrentForecaster.load(folder)
    model.save(tmp_path / "s", signing_key=secret)
    (tmp_path / "key").write_bytes(b"k" * 32)
    ref = model.predict(prices)
    for key in (secret, tmp_path / "key"):
        np.testing.assert_array_equal(
            RecurrentForecaster.load(tmp_path / "s", signing_key=key).predict(prices), ref
        )
        np.testing.assert_allclose(
            load_numpy(tmp_path / "s", signing_key=key).predict(prices), ref, rtol=1e-5, atol=1e-7
        )
    other = SigningKey(b"o" * 32, "another key")
    with pytest.raises(ModelFileError, match=r"was signed with another key .*another key"):
        load_numpy(tmp_path / "s", signing_key=other)
    with pytest.raises(ModelFileError, match="is not signed, and a signing key is configured"):
        RecurrentForecaster.load(folder, signing_key=secret)
    with pytest.raises(ConfigError, match="signatures are required"):
        load_numpy(tmp_path / "s", require_signature=True)


FAULTS = [
    ("cell", lambda m: m.update(cell="transformer"), "unknown cell 'transformer'"),
    ("mode", lambda m: m.update(mode="batch"), "mode 'batch' is unknown"),
    ("kind", lambda m: m.update(kind="arima"), "holds a 'arima' model"),
    ("input_size", lambda m: m.update(input_size=3), "input_size=3 but lists 1"),
    ("feature", lambda m: m.update(features=["vibes"]), r"feature\(s\) \['vibes'\] are unknown"),
    ("missing", lambda m: m.pop("scalers"), r"lacks the keys \['scalers'\]"),
    ("hidden", lambda m: m.update(hidden="five"), "is malformed"),
    ("scaler", lambda m: m["scalers"]["target"].update(scale=[0.0]), "target scaler has a zero"),
    ("nan", lambda m: m["scalers"]["features"].update(shift=[None]), "scaler holds NaN"),
    ("version", lambda m: m.update(format_version=9), "format_version 9"),
    ("shape", lambda m: m.update(hidden=7), "does not match its manifest"),
    # a manifest without its weights checksum cannot vouch for the weights: refused
    (
        "no checksum",
        lambda m: m.pop("weights_sha256"),
        r"has no weights checksum \(weights_sha256\)",
    ),
]


@pytest.mark.parametrize("edit, message", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_fault_is_refused_by_name_by_both_loaders(folder, tmp_path, edit, message) -> None:
    bad = _copy_with(folder, tmp_path / "bad", edit)
    with pytest.raises(ModelFileError, match=message):
        RecurrentForecaster.load(bad)
    with pytest.raises(ModelFileError, match=message):
        load_numpy(bad)


def test_non_finite_weights_are_refused(folder, tmp_path) -> None:
    shutil.copytree(folder, tmp_path / "m")
    wpath, mpath = tmp_path / "m" / "model.safetensors", tmp_path / "m" / "manifest.json"
    tensors = st_load(wpath.read_bytes())
    tensors["head.bias"] = np.array([np.nan], dtype=tensors["head.bias"].dtype)
    payload = st_save(tensors)
    wpath.write_bytes(payload)
    m = json.loads(mpath.read_text())
    m["weights_sha256"] = hashlib.sha256(payload).hexdigest()  # a consistent, poisoned folder
    mpath.write_text(json.dumps(m))
    with pytest.raises(ModelFileError, match=r"NaN/inf weights in \['head.bias'\]"):
        load_numpy(tmp_path / "m")


def test_spec_round_trips_through_its_manifest(folder) -> None:
    m = json.loads((folder / "manifest.json").read_text())
    spec = ModelSpec.from_manifest(m)
    again = ModelSpec.from_manifest(spec.to_manifest())
    assert again.to_manifest() == spec.to_manifest()
    assert spec.expected_shapes()["rnn.weight_ih_l0"] == (15, 1)  # GRU: 3 gates x hidden 5
    assert spec.expected_shapes()["rnn.weight_ih_l1"] == (15, 5)
