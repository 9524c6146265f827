"""Tampered, truncated and hand-edited model folders: `predict` and `stream` refuse each one the
same way (one validation path), by name, before writing anything; older formats, `upgrade-model`
and signed folders."""

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

from .corpus import TINY, accepted, invoke, refused

Edit = Callable[[Path], None]


def _manifest(edit: Callable[[dict[str, Any]], None], *, reseal: bool = False) -> Edit:
    """Edit manifest.json; ``reseal`` recomputes its checksum, as anyone who knows the format
    can: then the checks of what the manifest says are what stand."""

    def apply(folder: Path) -> None:
        path = folder / "manifest.json"
        m = json.loads(path.read_text())
        edit(m)
        if reseal:
            m["manifest_sha256"] = manifest_digest(m)
        path.write_text(json.dumps(m))

    return apply


def _resealed(edit: Callable[[dict[str, Any]], None]) -> Edit:
    return _manifest(edit, reseal=True)


def _downgraded(version: int, edit: Callable[[dict[str, Any]], None] = lambda m: None) -> Edit:
    """The review's bypass: an older format_version, the manifest checksum deleted, an edit."""

    def apply(m: dict[str, Any]) -> None:
        m["format_version"] = version
        m.pop("manifest_sha256")
        edit(m)

    return _manifest(apply)


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
    ("format_version 4.0", _manifest(_set(format_version=4.0)), ["format_version 4.0,"]),
    # the bypass of the review: an older format and no manifest checksum, untouched or edited
    (
        "format 2 without a manifest checksum",
        _downgraded(2),
        ["is format 2, from before manifests had a checksum", "gatecast upgrade-model"],
    ),
    (
        "format 2 without a manifest checksum and a scaler edited",
        _downgraded(2, _scaler("features", "shift", [0.5])),
        ["is format 2, from before manifests had a checksum", "it is not loaded"],
    ),
    ("format 1 without a manifest checksum", _downgraded(1), ["is format 1, from before"]),
    # the weights' checksum is inside the manifest's: replacing both weights and their digest
    # leaves the manifest's checksum wrong
    (
        "weights replaced and their checksum recomputed",
        _weights(lambda t: t.update({"head.bias": t["head.bias"] + 1})),
        [
            "manifest.json does not match its own checksum (manifest_sha256)",
            "the weights' checksum",
        ],
    ),
    (
        "relabelled format 3",
        _manifest(_set(format_version=3)),
        ["does not match its own checksum"],
    ),
    # what a forger who recomputes the unkeyed checksum meets: the checks of what it says
    (
        "resealed: window 0",
        _resealed(_set(window=0)),
        ["window=0: must be a whole number in [1, 1000000]"],
    ),
    (
        "resealed: a target scaler of two columns",
        _resealed(lambda m: m["scalers"]["target"].update(shift=[0.0, 1.0], scale=[1.0, 1.0])),
        ["the target scaler has 2 columns"],
    ),
    ("resealed: dtype float16", _resealed(_set(dtype="float16")), ["dtype 'float16' is unknown"]),
    ("resealed: a numeric column", _resealed(_set(column=5)), ["column 5 is not a column name"]),
    ("resealed: dropout 2", _resealed(_set(dropout=2.0)), ["dropout=2.0: must be in [0, 1)"]),
    ("resealed: hidden as text", _resealed(_set(hidden="four")), ["is malformed"]),
    (
        "resealed: a window the settings disagree with",
        _resealed(_set(window=7)),
        ["config says window=5 but the model has 7"],
    ),
    (
        "resealed: settings that are not an object",
        _resealed(_set(config=[1, 2])),
        ["config [1, 2] is not a JSON object"],
    ),
    (
        "resealed: a scalar scaler",
        _resealed(_scaler("features", "scale", 2.0)),
        ["the feature scaler has 1 columns in 0 dimension(s)"],
    ),
    (
        "resealed: a training range that is not dates",
        _resealed(_set(train_range=["2019-01-01", "soon"])),
        ["train_range 'soon' is not a date"],
    ),
    (
        "resealed: a zero scale",
        _resealed(_scaler("target", "scale", [0.0])),
        ["the target scaler has a zero scale"],
    ),
    (
        "resealed: features edited",
        _resealed(_set(features=["return", "volume_change"])),
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


def _forecasts(folder: Path, csv: Path, out: Path, *extra: Any) -> str:
    accepted(invoke(["predict", "--model", folder, "--data", csv, "--out", out, *extra]))
    return out.read_text()


def test_a_legacy_folder_serves_after_upgrade_model_the_same_forecasts(
    bad_folder, model_dir, good_csv, tmp_path
) -> None:
    """Format 2, as the release before last wrote it: refused until the user runs
    `upgrade-model`, which says what it trusts; then the same forecasts as the original."""
    want = _forecasts(model_dir, good_csv, tmp_path / "want.csv")
    folder = bad_folder(_downgraded(2))
    refused(
        invoke(["predict", "--model", folder, "--data", good_csv, "--out", tmp_path / "p.csv"]),
        f"run `gatecast upgrade-model {folder}` once to add the checksum",
    )
    weights = (folder / "model.safetensors").read_bytes()
    result = invoke(["upgrade-model", folder])
    accepted(result)
    said = " ".join(result.stdout.split())
    assert "was format 2, which has no manifest checksum" in said
    assert "its content as it is now is trusted from here on, on your word" in said
    assert f"wrote {folder}/manifest.json in format 4" in said and "not signed" in said
    m = json.loads((folder / "manifest.json").read_text())
    assert m["format_version"] == 4 and m["manifest_sha256"] == manifest_digest(m)
    assert (folder / "model.safetensors").read_bytes() == weights  # the weights untouched
    assert _forecasts(folder, good_csv, tmp_path / "got.csv") == want


def test_upgrade_model_seals_no_damaged_folder(bad_folder, tmp_path) -> None:
    """It vouches for a legacy folder's content only: weights that do not match their recorded
    checksum, an invalid model, or a format-3/4 folder that fails its checksum are refused, and
    the manifest is left as it was."""
    cases = [
        (
            lambda f: (_downgraded(2)(f), _write("model.safetensors", b"\0" * 64)(f)),
            "does not match the checksum",
        ),
        (_downgraded(2, _set(window=0)), "window=0: must be a whole number"),
        (_downgraded(2, lambda m: m.pop("weights_sha256")), "no weights checksum"),
        (_manifest(_set(hidden=5)), "does not match its manifest"),
        (_manifest(_set(column="open")), "does not match its own checksum"),
        (_manifest(_set(format_version=99)), "this gatecast reads 1, 2, 3, 4"),
    ]
    for i, (edit, phrase) in enumerate(cases):
        shutil.rmtree(tmp_path / "m", ignore_errors=True)
        folder = bad_folder(edit)
        before = (folder / "manifest.json").read_bytes()
        refused(invoke(["upgrade-model", folder]), phrase)
        assert (folder / "manifest.json").read_bytes() == before, i


def test_a_format_3_folder_as_the_last_release_wrote_it_serves(
    bad_folder, model_dir, good_csv, tmp_path
) -> None:
    """Format 3 had two checksums, both required: still served, and `upgrade-model` turns it into
    format 4 without a word of trust (its checksums were checked)."""

    def to_v3(m: dict[str, Any]) -> None:
        m["format_version"] = 3
        content = {k: v for k, v in m.items() if k not in ("weights_sha256", "manifest_sha256")}
        text = json.dumps(content, sort_keys=True, separators=(",", ":"))
        m["manifest_sha256"] = hashlib.sha256(text.encode()).hexdigest()

    want = _forecasts(model_dir, good_csv, tmp_path / "want.csv")
    folder = bad_folder(_manifest(to_v3))
    assert _forecasts(folder, good_csv, tmp_path / "v3.csv") == want
    result = invoke(["upgrade-model", folder])
    accepted(result)
    assert "(format 3) matches its checksums" in result.stdout and "trusted" not in result.stdout
    assert json.loads((folder / "manifest.json").read_text())["format_version"] == 4
    assert _forecasts(folder, good_csv, tmp_path / "v4.csv") == want
    again = invoke(["upgrade-model", folder])
    accepted(again)
    assert "nothing to do: it is format 4 already (not signed" in " ".join(again.stdout.split())


# -- signed folders --------------------------------------------------------------------------------
@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    mine, other = tmp_path / "my.key", tmp_path / "other.key"
    mine.write_text("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n")
    other.write_text("60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752\n")
    return mine, other


@pytest.fixture
def signed_folder(bad_folder, keys) -> Path:
    """The corpus model, signed after the fact with `upgrade-model --signing-key`."""
    folder = bad_folder(lambda f: None)
    result = invoke(["upgrade-model", folder, "--signing-key", keys[0]])
    accepted(result)
    assert "signed with key id" in result.stdout
    return folder


def test_a_signed_folder_is_verified_by_predict_and_stream(
    signed_folder, model_dir, keys, good_csv, tmp_path
) -> None:
    mine, other = keys
    want = _forecasts(model_dir, good_csv, tmp_path / "want.csv")
    assert _forecasts(signed_folder, good_csv, tmp_path / "k.csv", "--signing-key", mine) == want
    # without a key it still loads: nothing is verified (docs/model-folder.md says so)
    assert _forecasts(signed_folder, good_csv, tmp_path / "n.csv") == want
    out = tmp_path / "out" / "p.csv"
    for args, phrases in (
        (["--signing-key", other], ["was signed with another key", "give the key it was signed"]),
        (["--require-signature"], ["signatures are required", "no signing key is configured"]),
    ):
        refused(
            invoke(["predict", "--model", signed_folder, "--data", good_csv, "--out", out, *args]),
            *phrases,
            out=out.parent,
        )
        refused(invoke(["stream", "--model", signed_folder, *args], input="100\n"), *phrases)
    streamed = invoke(
        ["stream", "--model", signed_folder, "--signing-key", mine], input="100\n101\n"
    )
    accepted(streamed)


@pytest.mark.parametrize(
    "edit, phrases",
    [
        (_resealed(_scaler("target", "scale", [9.0])), ["does not match its signature"]),
        (_resealed(_set(window=7)), ["does not match its signature"]),
        (
            _manifest(lambda m: m.pop("signature")),
            ["is not signed, and a signing key is configured"],
        ),
        (_weights(lambda t: t.update({"head.bias": t["head.bias"] + 1})), ["own checksum"]),
    ],
    ids=["scale resealed", "window resealed", "signature deleted", "weights replaced"],
)
def test_a_tampered_signed_folder_is_refused_with_the_key(
    signed_folder, keys, good_csv, tmp_path, edit, phrases
) -> None:
    edit(signed_folder)
    out = tmp_path / "out" / "p.csv"
    args = ["--model", signed_folder, "--signing-key", keys[0]]
    refused(invoke(["predict", *args, "--data", good_csv, "--out", out]), *phrases, out=out.parent)
    refused(invoke(["stream", *args], input="100\n"), *phrases)


def test_an_unsigned_folder_is_refused_with_a_key_from_the_environment(
    model_dir, keys, good_csv, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("GATECAST_SIGNING_KEY_FILE", str(keys[0]))
    out = tmp_path / "out" / "p.csv"
    refused(
        invoke(["predict", "--model", model_dir, "--data", good_csv, "--out", out]),
        "is not signed, and a signing key is configured",
        "(from $GATECAST_SIGNING_KEY_FILE)",
        f"gatecast upgrade-model {model_dir} --signing-key FILE",
        out=out.parent,
    )


def test_train_signs_with_a_key_checked_before_the_fit(good_csv, keys, tmp_path) -> None:
    short = tmp_path / "short.key"
    short.write_text("secret\n")
    out = tmp_path / "model"
    args = ["train", "--data", good_csv, "--test-size", "0.25", *TINY]
    refused(
        invoke([*args, "--out", out, "--signing-key", short]),
        "holds 6 byte(s); a signing key needs at least 16",
        out=out,
    )
    accepted(invoke([*args, "--out", out, "--signing-key", keys[0]]))
    m = json.loads((out / "manifest.json").read_text())
    assert m["signature"]["algorithm"] == "hmac-sha256"
    _forecasts(out, good_csv, tmp_path / "p.csv", "--signing-key", keys[0], "--require-signature")
    refused(
        invoke(
            [
                "predict",
                "--model",
                out,
                "--data",
                good_csv,
                "--out",
                tmp_path / "q.csv",
                "--signing-key",
                keys[1],
            ]
        ),
        "was signed with another key",
    )
