"""Tampered, truncated and hand-edited model folders: `predict` and `stream` refuse each one the
same way (one validation path), by name, before writing anything."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from gatecast.artifacts import manifest_digest

from .corpus import invoke, refused

Edit = Callable[[Path], None]


def _manifest(edit: Callable[[dict[str, Any]], None], *, reseal: bool = False) -> Edit:
    """Edit manifest.json; ``reseal`` recomputes its checksum (a forger who knows the format),
    which only a legacy format-2 folder is allowed to lack."""

    def apply(folder: Path) -> None:
        path = folder / "manifest.json"
        m = json.loads(path.read_text())
        edit(m)
        if reseal:
            m["manifest_sha256"] = manifest_digest(m)
        path.write_text(json.dumps(m))

    return apply


def _legacy(edit: Callable[[dict[str, Any]], None]) -> Edit:
    """The edit on a format-2 manifest (written before manifests had their own checksum)."""

    def both(m: dict[str, Any]) -> None:
        m["format_version"] = 2
        m.pop("manifest_sha256")
        edit(m)

    return _manifest(both)


def _weights(edit: Callable[[dict[str, np.ndarray]], None]) -> Edit:
    """Edit the weights and record their new checksum, as a careful forger would."""

    def apply(folder: Path) -> None:
        tensors = dict(st_load((folder / "model.safetensors").read_bytes()))
        edit(tensors)
        payload = st_save(tensors)
        (folder / "model.safetensors").write_bytes(payload)
        _manifest(lambda m: m.update(weights_sha256=hashlib.sha256(payload).hexdigest()))(folder)

    return apply


def _nan_head(t: dict[str, np.ndarray]) -> None:
    t["head.bias"] = np.array([np.nan], dtype=np.float32)


def _write(name: str, data: bytes) -> Edit:
    return lambda folder: (folder / name).write_bytes(data)


def _set(**kv: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.update(kv)


def _scaler(which: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda m: m["scalers"][which].update({key: value})


# name, edit of a good folder, phrases of the message
FAULTS: list[tuple[str, Edit, list[str]]] = [
    (
        "weights checksum deleted",
        _manifest(lambda m: m.pop("weights_sha256")),
        ["no weights checksum (weights_sha256)"],
    ),
    (
        "weights checksum deleted and NaN weights",
        lambda f: (_weights(_nan_head)(f), _manifest(lambda m: m.pop("weights_sha256"))(f)),
        ["NaN/inf weights in ['head.bias']"],
    ),
    (
        "NaN weights with a matching checksum",
        _weights(_nan_head),
        ["NaN/inf weights in ['head.bias']"],
    ),
    (
        "manifest checksum deleted",
        _manifest(lambda m: m.pop("manifest_sha256")),
        ["no manifest checksum (manifest_sha256)"],
    ),
    (
        "a scaler shift edited",
        _manifest(_scaler("features", "shift", [0.5])),
        ["does not match its own checksum", "was edited"],
    ),
    (
        "the target scale edited",
        _manifest(_scaler("target", "scale", [9.0])),
        ["does not match its own checksum"],
    ),
    ("the window edited", _manifest(_set(window=7)), ["does not match its own checksum"]),
    ("the column edited", _manifest(_set(column="open")), ["does not match its own checksum"]),
    ("a version key added", _manifest(_set(note="hi")), ["does not match its own checksum"]),
    (
        "the weights truncated",
        lambda f: (f / "model.safetensors").write_bytes(
            (f / "model.safetensors").read_bytes()[:-8]
        ),
        ["does not match the checksum"],
    ),
    (
        "weights that are not safetensors",
        lambda f: (
            _write("model.safetensors", b"not a tensor file")(f),
            _manifest(
                lambda m: m.update(weights_sha256=hashlib.sha256(b"not a tensor file").hexdigest())
            )(f),
        ),
        ["is not a readable safetensors file"],
    ),
    ("the weights file deleted", lambda f: (f / "model.safetensors").unlink(), ["is missing"]),
    ("manifest not JSON", _write("manifest.json", b"{not json"), ["is not valid JSON"]),
    ("manifest not UTF-8", _write("manifest.json", b'{"a": "\xff"}'), ["is not valid JSON"]),
    (
        "manifest nested a million deep",
        _write("manifest.json", b"[" * 1_000_000 + b"]" * 1_000_000),
        ["is not valid JSON"],
    ),
    ("manifest a list", _write("manifest.json", b"[1, 2]"), ["must hold a JSON object"]),
    ("format_version true", _manifest(_set(format_version=True)), ["format_version True"]),
    ("format_version 99", _manifest(_set(format_version=99)), ["format_version 99"]),
    (
        "legacy: window 0",
        _legacy(_set(window=0)),
        ["window=0: must be a whole number in [1, 1000000]"],
    ),
    (
        "legacy: a target scaler of two columns",
        _legacy(lambda m: m["scalers"]["target"].update(shift=[0.0, 1.0], scale=[1.0, 1.0])),
        ["the target scaler has 2 columns"],
    ),
    ("legacy: dtype float16", _legacy(_set(dtype="float16")), ["dtype 'float16' is unknown"]),
    ("legacy: a numeric column", _legacy(_set(column=5)), ["column 5 is not a column name"]),
    ("legacy: dropout 2", _legacy(_set(dropout=2.0)), ["dropout=2.0: must be in [0, 1)"]),
    ("legacy: hidden as text", _legacy(_set(hidden="four")), ["is malformed"]),
    (
        "legacy: a window the settings disagree with",
        _legacy(_set(window=7)),
        ["config says window=5 but the model has 7"],
    ),
    (
        "legacy: settings that are not an object",
        _legacy(_set(config=[1, 2])),
        ["config [1, 2] is not a JSON object"],
    ),
    (
        "legacy: a scalar scaler",
        _legacy(_scaler("features", "scale", 2.0)),
        ["the feature scaler has 1 columns in 0 dimension(s)"],
    ),
    (
        "legacy: a training range that is not dates",
        _legacy(_set(train_range=["2019-01-01", "soon"])),
        ["train_range 'soon' is not a date"],
    ),
    (
        "legacy: a zero scale",
        _legacy(_scaler("target", "scale", [0.0])),
        ["the target scaler has a zero scale"],
    ),
    (
        "legacy: features edited",
        _legacy(_set(features=["return", "volume_change"])),
        ["input_size=1 but lists 2 features"],
    ),
]


@pytest.fixture
def bad_folder(model_dir: Path, tmp_path: Path) -> Callable[[Edit], Path]:
    def make(edit: Edit) -> Path:
        folder = tmp_path / "m"
        shutil.copytree(model_dir, folder)
        edit(folder)
        return folder

    return make


@pytest.mark.parametrize("edit, phrases", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_predict_refuses_the_folder(bad_folder, good_csv, tmp_path, edit, phrases) -> None:
    folder = bad_folder(edit)
    out = tmp_path / "out" / "forecasts.csv"
    result = invoke(["predict", "--model", folder, "--data", good_csv, "--out", out])
    refused(result, *phrases, out=out.parent)


@pytest.mark.parametrize("edit, phrases", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_stream_refuses_the_folder_the_same_way(bad_folder, edit, phrases) -> None:
    folder = bad_folder(edit)
    refused(invoke(["stream", "--model", folder], input="100\n101\n"), *phrases)


def test_a_model_folder_that_is_a_file_is_refused(tmp_path: Path, good_csv: Path) -> None:
    (tmp_path / "m").write_text("x")
    refused(invoke(["stream", "--model", tmp_path / "m"], input="1\n"), "does not exist")


def test_an_untouched_legacy_folder_still_serves(bad_folder, good_csv, tmp_path) -> None:
    folder = bad_folder(_legacy(lambda m: None))  # format 2, as the last release wrote it
    out = tmp_path / "p.csv"
    result = invoke(["predict", "--model", folder, "--data", good_csv, "--out", out])
    assert result.exit_code == 0, result.output
