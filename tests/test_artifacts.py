"""Files on disk: atomic writes that survive a crash mid-save, JSON values, checksums, model folders
and stream states; each failure made on purpose."""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import hmac
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save

from gatecast.artifacts import (
    FORMAT_VERSION,
    READABLE_VERSIONS,
    SigningKey,
    array_hash,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    decode_state,
    encode_state,
    load_model_folder,
    manifest_digest,
    save_model_folder,
    seal_manifest,
    write_state,
)
from gatecast.errors import ConfigError, ModelFileError

TENSORS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.5], np.float32)}
MANIFEST = {"format_version": FORMAT_VERSION, "kind": "test", "hidden": 3}
SECRET = b"0123456789abcdef0123456789abcdef"  # 32 bytes, as `openssl rand -hex 16` prints


def _sha(content: dict) -> str:
    """SHA-256 of canonical JSON, computed here apart from the code under test."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class DiskFull(OSError):
    """The error a dying writer raises here."""


@pytest.fixture
def dies_mid_write(monkeypatch: pytest.MonkeyPatch):
    """Every file opened for writing from now on takes the first half of what is written to it,
    then fails: a crash in the middle of a save, whichever way the file is opened."""
    real_open = io.open

    class HalfWriter:
        def __init__(self, fh) -> None:
            self.fh = fh

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise DiskFull("no space left on device")

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def dying_open(file, mode="r", *args, **kwargs):
        fh = real_open(file, mode, *args, **kwargs)
        return HalfWriter(fh) if any(c in mode for c in "wax+") else fh

    monkeypatch.setattr(io, "open", dying_open)
    monkeypatch.setattr(builtins, "open", dying_open)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- atomic writes ---------------------------------------------------------------------------------
def test_atomic_write_creates_the_folder_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a" / "b" / "x.bin"
    renames: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def recorded(src, dst):
        renames.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recorded)
    atomic_write_bytes(path, b"payload")
    # written beside the target (same file system: the rename is atomic), hidden, then renamed
    ((src, dst),) = renames
    assert dst == path and src.parent == path.parent
    assert src.name.startswith(".x.bin.") and src.name.endswith(".tmp")
    assert path.read_bytes() == b"payload" and leftovers(path.parent) == []
    atomic_write_text(path, "grüße")
    assert path.read_bytes() == "grüße".encode()


@pytest.mark.parametrize("writer", ["bytes", "text", "json"])
def test_a_writer_that_dies_mid_save_leaves_the_previous_file_intact(
    tmp_path: Path, request: pytest.FixtureRequest, writer: str
) -> None:
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"qlike": 1.696})
    before = path.read_bytes()
    request.getfixturevalue("dies_mid_write")
    new = {"qlike": 9.999, "pad": "x" * 10_000}
    with pytest.raises(DiskFull, match="no space left"):
        if writer == "bytes":
            atomic_write_bytes(path, json.dumps(new).encode())
        elif writer == "text":
            atomic_write_text(path, json.dumps(new))
        else:
            atomic_write_json(path, new)
    assert path.read_bytes() == before  # the old file, whole
    assert leftovers(tmp_path) == []  # and the half-written temporary file is gone


def test_a_failed_rename_leaves_the_previous_file_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "x.bin"
    atomic_write_bytes(path, b"old")

    def refuse(src, dst):
        raise PermissionError(f"cannot rename {src}")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(PermissionError, match="cannot rename"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_json_values_nan_numpy_dates_and_refusals(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    atomic_write_json(
        path,
        {
            1: np.float64(np.nan),
            "inf": float("-inf"),
            "i": np.int64(3),
            "f": np.float32(0.5),
            "arr": np.array([[1.0, np.nan]]),
            "tuple": (1, np.inf),
            "date": dt.date(2018, 1, 2),
            "deep": [{"x": np.bool_(True)}],
        },
    )
    text = path.read_text()
    expected = {
        "1": None,
        "inf": None,
        "i": 3,
        "f": 0.5,
        "arr": [[1.0, None]],
        "tuple": [1, None],
        "date": "2018-01-02",
        "deep": [{"x": True}],
    }
    assert text == json.dumps(expected, indent=2) + "\n"  # indented by 2, one trailing newline
    with pytest.raises(TypeError, match="cannot write object to JSON"):
        atomic_write_json(path, {"x": object()})
    assert json.loads(path.read_text())["i"] == 3  # the failed write changed nothing


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_gets_the_mode_open_would_give_it(tmp_path: Path, umask, mode) -> None:
    before = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "x", b"1")
        assert os.umask(umask) == umask  # the umask is left as it was
    finally:
        os.umask(before)
    assert (tmp_path / "x").stat().st_mode & 0o777 == mode


def test_array_hash_is_sha256_of_dtype_shape_and_bytes() -> None:
    a = np.arange(6.0).reshape(2, 3)
    h = hashlib.sha256()
    for part in (b"float64", b"(2, 3)", a.tobytes()):
        h.update(part)
    assert array_hash(a) == h.hexdigest()
    assert array_hash(a.T) == array_hash(np.ascontiguousarray(a.T))  # C order, whatever the view
    assert array_hash(a) != array_hash(a.astype(np.float32))
    assert array_hash(a) != array_hash(a.reshape(3, 2))
    assert array_hash(a, a) != array_hash(a)


# -- model folders ---------------------------------------------------------------------------------
def test_model_folder_round_trip_with_the_weights_checksum(tmp_path: Path) -> None:
    extra = {"trained": dt.date(2020, 1, 2), "loss": np.float32(0.5), "sizes": (1, 2)}
    _, read = load_model_folder(save_model_folder(tmp_path / "dated", TENSORS, MANIFEST | extra))
    assert {k: read[k] for k in extra} == {"trained": "2020-01-02", "loss": 0.5, "sizes": [1, 2]}
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST)
    payload = (folder / "model.safetensors").read_bytes()
    tensors, manifest = load_model_folder(folder)
    assert manifest["weights_sha256"] == hashlib.sha256(payload).hexdigest()
    # one checksum over everything but itself: the weights' digest and the version included
    content = {k: v for k, v in manifest.items() if k != "manifest_sha256"}
    assert set(content) == {*MANIFEST, "weights_sha256"}
    assert manifest["manifest_sha256"] == _sha(content) == manifest_digest(manifest)
    assert manifest["format_version"] == 4 and "signature" not in manifest
    assert {k: manifest[k] for k in MANIFEST} == MANIFEST
    assert set(tensors) == {"w", "b"}
    np.testing.assert_array_equal(tensors["w"], TENSORS["w"])
    assert leftovers(folder) == []


def test_a_save_that_dies_leaves_the_previous_model_loadable(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    request.getfixturevalue("dies_mid_write")
    bigger = {k: v * 2 for k, v in TENSORS.items()} | {"extra": np.ones(1000, np.float32)}
    with pytest.raises(DiskFull, match="no space left"):
        save_model_folder(folder, bigger, MANIFEST | {"hidden": 4})
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_new_weights_without_their_manifest_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The manifest is written last: a crash between the two files leaves a manifest whose
    checksum names the old weights, and the folder is refused instead of served."""
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST)
    real = atomic_write_json

    def crash_before_manifest(path, obj):
        raise DiskFull(f"killed before {Path(path).name}")

    import gatecast.artifacts.model_folder as artifacts

    monkeypatch.setattr(artifacts, "atomic_write_json", crash_before_manifest)
    with pytest.raises(DiskFull, match=r"killed before manifest\.json"):
        save_model_folder(folder, {k: v + 1 for k, v in TENSORS.items()}, MANIFEST)
    monkeypatch.setattr(artifacts, "atomic_write_json", real)
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        load_model_folder(folder)


def _edited(tmp_path: Path, edit) -> Path:
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST)
    edit(folder)
    return folder


def _manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    m = json.loads(path.read_text())
    change(m)
    path.write_text(json.dumps(m))


FAULTS = [
    ("no folder", lambda f: [p.unlink() for p in f.iterdir()] and f.rmdir(), "does not exist"),
    ("no weights", lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    ("no manifest", lambda f: (f / "manifest.json").unlink(), "manifest.json is missing"),
    (
        "bad json",
        lambda f: (f / "manifest.json").write_text("{oops"),
        r"not valid JSON \(JSONDecode",
    ),
    ("not a dict", lambda f: (f / "manifest.json").write_text("[1]"), "must hold a JSON object"),
    (
        "NaN for null",  # the same checksum (canonical JSON writes NaN as null): refused
        lambda f: (f / "manifest.json").write_text('{"format_version": 4, "x": NaN}'),
        r"manifest\.json is not valid JSON \(ValueError: NaN is not a JSON number\)",
    ),
    ("no version", lambda f: _manifest(f, lambda m: m.pop("format_version")), "no format_version"),
    (
        "version",
        lambda f: _manifest(f, lambda m: m.update(format_version=99)),
        "format_version 99, this gatecast reads " + ", ".join(map(str, READABLE_VERSIONS)) + ";",
    ),
    (
        "tampered",
        lambda f: (f / "model.safetensors").write_bytes(
            (f / "model.safetensors").read_bytes()[:-4] + b"\0\0\0\0"
        ),
        "does not match the checksum",
    ),
    (
        "unreadable",
        lambda f: (
            (f / "model.safetensors").write_bytes(b"garbage"),
            _manifest(f, lambda m: m.update(weights_sha256=hashlib.sha256(b"garbage").hexdigest())),
        ),
        "is not a readable safetensors file",
    ),
    # the review's bypass: an older format, the manifest checksum deleted, the content edited
    (
        "format 2 without its checksum",
        lambda f: _manifest(
            f, lambda m: (m.update(format_version=2, hidden=9), m.pop("manifest_sha256"))
        ),
        r"is format 2, from before manifests had a checksum of their own: nothing shows whether "
        r"it was edited since it was written, so it is not loaded\. If you trust the folder as "
        r"it is, run `gatecast upgrade-model .*/m` once",
    ),
    (
        "format 1 without its checksum",
        lambda f: _manifest(f, lambda m: (m.update(format_version=1), m.pop("manifest_sha256"))),
        "is format 1, from before manifests had a checksum",
    ),
    (
        "format 4.0",
        lambda f: _manifest(f, lambda m: m.update(format_version=4.0)),
        "format_version 4.0,",
    ),
    # the weights replaced and their checksum recomputed: the manifest's checksum covers it
    (
        "weights and their checksum replaced",
        lambda f: (
            (f / "model.safetensors").write_bytes(st_save({"w": np.ones((2, 3), np.float32)})),
            _manifest(
                f,
                lambda m: m.update(
                    weights_sha256=hashlib.sha256(
                        (f / "model.safetensors").read_bytes()
                    ).hexdigest()
                ),
            ),
        ),
        r"manifest\.json does not match its own checksum \(manifest_sha256\)",
    ),
    # a format-4 folder relabelled format 3: the format-3 checksum left the weights' out
    (
        "relabelled format 3",
        lambda f: _manifest(f, lambda m: m.update(format_version=3)),
        "does not match its own checksum",
    ),
    (
        "checksum deleted",
        lambda f: _manifest(f, lambda m: m.pop("manifest_sha256")),
        "no manifest checksum",
    ),
]


@pytest.mark.parametrize("edit, message", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_each_damaged_folder_is_refused_with_its_own_message(tmp_path, edit, message) -> None:
    folder = _edited(tmp_path, edit)
    with pytest.raises(ModelFileError, match=message):
        load_model_folder(folder)


# -- stream states -----------------------------------------------------------------------------
STATE = {"h": np.array([[0.1, -0.2]]), "history": np.array([[np.nan, 2.0], [3.0, 4.0]])}
META = {"format": "gatecast-stream", "version": 2, "ticks": 7}


@pytest.mark.parametrize("fmt", ["safetensors", "json"])
def test_state_round_trips_in_memory_and_through_files(tmp_path: Path, fmt: str) -> None:
    blob = encode_state(STATE, META, fmt)
    assert isinstance(blob, bytes if fmt == "safetensors" else str)
    arrays, meta, where = decode_state(blob)
    assert meta == META and where == "the state"
    for k, v in STATE.items():
        np.testing.assert_array_equal(arrays[k], v)  # NaN survives (JSON writes null)
    path = tmp_path / ("s.json" if fmt == "json" else "s.safetensors")
    atomic_write_bytes(path, blob.encode() if isinstance(blob, str) else blob)
    arrays, meta, where = decode_state(path)
    assert meta == META and where == str(path)
    np.testing.assert_array_equal(arrays["history"], STATE["history"])
    arrays, _, _ = decode_state(str(path))
    np.testing.assert_array_equal(arrays["h"], STATE["h"])
    if fmt == "json":
        assert json.loads(blob)["arrays"]["history"] == {
            "shape": [2, 2],
            "data": [None, 2.0, 3.0, 4.0],
        }
    else:
        assert set(st_load(blob)) == set(STATE)


def test_state_faults_are_refused_with_their_own_message(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="state format 'pickle' is unknown"):
        encode_state(STATE, META, "pickle")
    with pytest.raises(ModelFileError, match="does not exist"):
        decode_state(tmp_path / "missing.safetensors")
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe{")
    with pytest.raises(ModelFileError, match="is not UTF-8 text"):
        decode_state(tmp_path / "bad.json")
    with pytest.raises(ModelFileError, match="is not a valid JSON stream state"):
        decode_state('{"format": "gatecast-stream"}')  # no arrays
    (tmp_path / "bad.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ModelFileError, match=r"bad.safetensors is not a readable safetensors"):
        decode_state(tmp_path / "bad.safetensors")


def test_state_edge_forms_default_format_whitespace_integers_no_metadata(tmp_path: Path) -> None:
    from safetensors.numpy import save as st_save

    assert isinstance(encode_state(STATE, META), bytes)  # safetensors by default
    text = encode_state({"n": np.array([1.0, 2.0])}, META, "json")
    arrays, meta, _ = decode_state("  \n" + text)  # JSON text may start with whitespace
    assert meta == META and arrays["n"].dtype == np.float64
    ints = json.dumps({"arrays": {"n": {"shape": [2], "data": [1, 2]}}, "format": "x"})
    assert decode_state(ints)[0]["n"].dtype == np.float64
    bare = st_save({"h": np.zeros(2)})  # a safetensors file without gatecast's metadata
    arrays, meta, _ = decode_state(bare)
    assert meta == {} and set(arrays) == {"h"}
    path = tmp_path / "s.JSON"  # the suffix in any case
    path.write_text(text)
    assert decode_state(path)[1] == META


def test_manifest_digest_is_sha256_of_canonical_json_with_the_weights_digest() -> None:
    m = {"b": 1, "a": [1.5, np.float32(2.0)], "when": dt.date(2020, 1, 2), "nan": float("nan")}
    m |= {"weights_sha256": "w", "manifest_sha256": "m", "signature": {"value": "s"}}
    canonical = '{"a":[1.5,2.0],"b":1,"nan":null,"weights_sha256":"w","when":"2020-01-02"}'
    want = hashlib.sha256(canonical.encode()).hexdigest()
    assert manifest_digest(m) == want
    assert manifest_digest(dict(reversed(m.items()))) == want  # key order does not matter
    assert manifest_digest(m | {"manifest_sha256": "x", "signature": None}) == want  # left out
    assert manifest_digest(m | {"weights_sha256": "other"}) != want  # covered
    assert manifest_digest(m | {"b": 2}) != want


def test_check_checksums_by_format_version() -> None:
    from gatecast.artifacts import check_checksums

    with pytest.raises(
        ModelFileError, match=r"^m\.json has no weights checksum \(weights_sha256\)"
    ):
        check_checksums({"format_version": 4}, "m.json")
    for old in (1, 2):  # no checksum of their own: refused here too, whatever the loader did
        with pytest.raises(ModelFileError, match=r"^m\.json has no manifest checksum"):
            check_checksums({"format_version": old, "weights_sha256": "w"}, "m.json")
    new = {"format_version": 4, "weights_sha256": "w", "hidden": 4}
    with pytest.raises(ModelFileError, match=r"^m\.json has no manifest checksum"):
        check_checksums(new, "m.json")
    check_checksums(new | {"manifest_sha256": _sha(new)}, "m.json")
    for edit in ({"hidden": 5}, {"weights_sha256": "v"}, {"format_version": 3}):
        with pytest.raises(ModelFileError, match=r"^m\.json does not match its own checksum"):
            check_checksums(new | {"manifest_sha256": _sha(new)} | edit, "m.json")
    # format 3 (the last release): two checksums, both required; the manifest's without the
    # weights' digest, which the loader checks against the file on its own
    v3 = {"format_version": 3, "hidden": 4}
    check_checksums(v3 | {"weights_sha256": "w", "manifest_sha256": _sha(v3)}, "m.json")
    with pytest.raises(ModelFileError, match="no weights checksum"):
        check_checksums(v3 | {"manifest_sha256": _sha(v3)}, "m.json")
    with pytest.raises(ModelFileError, match="does not match its own checksum"):
        check_checksums(
            v3 | {"weights_sha256": "w", "manifest_sha256": _sha(v3), "hidden": 5}, "m.json"
        )


def test_a_format_3_folder_as_the_last_release_wrote_it_loads(tmp_path: Path) -> None:
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST)
    m = json.loads((folder / "manifest.json").read_text())
    m["format_version"] = 3
    v3 = {k: v for k, v in m.items() if k not in ("weights_sha256", "manifest_sha256")}
    m["manifest_sha256"] = _sha(v3)
    (folder / "manifest.json").write_text(json.dumps(m))
    tensors, read = load_model_folder(folder)
    assert read == m
    np.testing.assert_array_equal(tensors["w"], TENSORS["w"])
    (folder / "model.safetensors").write_bytes(st_save({"w": np.ones(1, np.float32)}))
    with pytest.raises(ModelFileError, match="does not match the checksum"):
        load_model_folder(folder)  # its weights' digest is still checked against the file


def test_a_manifest_of_another_format_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match="the manifest says format_version 3; this gatecast writes format 4 only"
    ):
        save_model_folder(tmp_path / "m", TENSORS, MANIFEST | {"format_version": 3})
    assert not (tmp_path / "m").exists()
    folder = save_model_folder(tmp_path / "n", TENSORS, {"kind": "test"})  # no version: the current
    assert load_model_folder(folder)[1]["format_version"] == FORMAT_VERSION


# -- signatures ------------------------------------------------------------------------------------
@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_bytes(SECRET + b"\n")  # the line end an editor adds is not part of the key
    return path


def _hmac(content: dict, secret: bytes = SECRET) -> str:
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    msg = b"gatecast model manifest\n" + text.encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()


def test_a_signed_folder_round_trips_and_loads_without_a_key(
    tmp_path: Path, key_file: Path
) -> None:
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST, signing_key=key_file)
    m = json.loads((folder / "manifest.json").read_text())
    content = {k: v for k, v in m.items() if k not in ("manifest_sha256", "signature")}
    key_id = hmac.new(SECRET, b"gatecast key id", hashlib.sha256).hexdigest()[:16]
    # HMAC-SHA256 of what the checksum covers, the weights' digest included
    assert m["signature"] == {"algorithm": "hmac-sha256", "key_id": key_id, "value": _hmac(content)}
    assert m["manifest_sha256"] == _sha(content)
    for key in (key_file, str(key_file), SigningKey(SECRET)):
        tensors, read = load_model_folder(folder, signing_key=key)
        assert read == m
        np.testing.assert_array_equal(tensors["b"], TENSORS["b"])
    assert load_model_folder(folder)[1] == m  # no key configured: the signature is not checked


def _signed(tmp_path: Path, edit=None, secret: bytes = SECRET) -> Path:
    folder = save_model_folder(tmp_path / "m", TENSORS, MANIFEST, signing_key=SigningKey(secret))
    if edit is not None:
        _manifest(folder, edit)
    return folder


def _resealed(change):
    """An edit that recomputes the unkeyed checksum, as anyone can."""

    def apply(m: dict) -> None:
        change(m)
        m["manifest_sha256"] = manifest_digest(m)

    return apply


SIGNATURE_FAULTS = [
    (
        "wrong key",
        None,
        b"another key of thirty-two bytes!",
        r"m/manifest\.json was signed with another key \(key id [0-9a-f]{16}\), not the one "
        r"configured \(signing key file .*key, key id [0-9a-f]{16}\); give the key it was signed with",
    ),
    (
        "not signed",
        lambda m: m.pop("signature"),
        SECRET,
        r"m/manifest\.json is not signed, and a signing key is configured \(signing key file "
        r".*key\), so only folders signed with it load; if you trust this folder as it is, sign "
        r"it with `gatecast upgrade-model .*/m --signing-key FILE`",
    ),
    (
        "content edited, checksum recomputed",
        _resealed(lambda m: m.update(hidden=9)),
        SECRET,
        r"m/manifest\.json does not match its signature \(key id [0-9a-f]{16}\): its content was "
        r"changed after it was signed, or the signature was; do not use it",
    ),
    (
        "weights' digest edited, checksum recomputed",
        _resealed(lambda m: m.update(weights_sha256="0" * 64)),
        SECRET,
        "does not match the checksum",  # the file is checked against it first
    ),
    (
        "signature value edited",
        lambda m: m["signature"].update(value="0" * 64),
        SECRET,
        "does not match its signature",
    ),
    (
        "signature malformed",
        lambda m: m.update(signature="yes"),
        SECRET,
        "has a malformed signature",
    ),
    (
        "another algorithm",
        lambda m: m["signature"].update(algorithm="none"),
        SECRET,
        "is signed with 'none'; this gatecast verifies hmac-sha256 signatures only",
    ),
]


@pytest.mark.parametrize(
    "edit, secret, message", [f[1:] for f in SIGNATURE_FAULTS], ids=[f[0] for f in SIGNATURE_FAULTS]
)
def test_a_signature_fault_is_refused_with_a_key(tmp_path, key_file, edit, secret, message) -> None:
    folder = _signed(tmp_path / "f", edit, secret)
    with pytest.raises(ModelFileError, match=message):
        load_model_folder(folder, signing_key=key_file)


def test_an_edit_with_the_checksum_recomputed_passes_without_a_key(tmp_path: Path) -> None:
    """What an unkeyed checksum cannot do: anyone can recompute it. The signature is what
    refuses this folder (above); without a key configured it loads."""
    folder = _signed(tmp_path, _resealed(lambda m: m.update(hidden=9)))
    assert load_model_folder(folder)[1]["hidden"] == 9


def test_signing_keys_from_files_and_the_environment(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert SigningKey.from_file(key_file).secret == SECRET  # the line end stripped
    assert "0123" not in repr(SigningKey(SECRET))  # the secret is never shown
    short = tmp_path / "short"
    short.write_text("hunter2\n")
    with pytest.raises(
        ConfigError,
        match=r"signing key file .*short holds 7 byte\(s\); a signing key needs at least 16: make one with `openssl rand -hex 32 > FILE`",
    ):
        save_model_folder(tmp_path / "m", TENSORS, MANIFEST, signing_key=short)
    assert not (tmp_path / "m").exists()  # refused before anything is written
    with pytest.raises(
        ConfigError, match=r"signing key file .*nowhere does not exist or is not a file"
    ):
        load_model_folder(tmp_path / "m", signing_key=tmp_path / "nowhere")
    # the environment: a key file signs every save and is required on every load
    unsigned = save_model_folder(tmp_path / "u", TENSORS, MANIFEST)
    monkeypatch.setenv("GATECAST_SIGNING_KEY_FILE", str(key_file))
    signed = save_model_folder(tmp_path / "s", TENSORS, MANIFEST)
    assert (
        json.loads((signed / "manifest.json").read_text())["signature"]["key_id"]
        == SigningKey(SECRET).key_id
    )
    load_model_folder(signed)
    with pytest.raises(
        ModelFileError,
        match=r"is not signed, and a signing key is configured \(signing key file .*key \(from \$GATECAST_SIGNING_KEY_FILE\)\)",
    ):
        load_model_folder(unsigned)
    monkeypatch.setenv("GATECAST_SIGNING_KEY_FILE", str(tmp_path / "gone"))
    with pytest.raises(
        ConfigError, match=r"gone \(from \$GATECAST_SIGNING_KEY_FILE\) does not exist"
    ):
        load_model_folder(signed)


def test_requiring_signatures_without_a_key_is_refused_before_reading(
    tmp_path: Path, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _signed(tmp_path)
    message = r"signatures are required \(--require-signature or \$GATECAST_REQUIRE_SIGNATURE\) but no signing key is configured: give --signing-key FILE or set \$GATECAST_SIGNING_KEY_FILE"
    with pytest.raises(ConfigError, match=message):
        load_model_folder(folder, require_signature=True)
    with pytest.raises(ConfigError, match=message):
        load_model_folder(tmp_path / "nowhere", require_signature=True)  # before the folder
    load_model_folder(folder, signing_key=key_file, require_signature=True)
    monkeypatch.setenv("GATECAST_REQUIRE_SIGNATURE", "yes")
    with pytest.raises(ConfigError, match=message):
        load_model_folder(folder)
    load_model_folder(folder, require_signature=False)  # the argument overrides the environment
    monkeypatch.setenv("GATECAST_REQUIRE_SIGNATURE", "maybe")
    with pytest.raises(
        ConfigError, match=r"\$GATECAST_REQUIRE_SIGNATURE='maybe' is neither yes nor no"
    ):
        load_model_folder(folder)


def test_sealing_recomputes_the_checksum_and_the_signature() -> None:
    m = {"format_version": 4, "weights_sha256": "w", "hidden": 4, "manifest_sha256": "stale"}
    sealed = seal_manifest(m | {"signature": {"value": "stale"}})
    assert sealed == {k: v for k, v in m.items() if k != "manifest_sha256"} | {
        "manifest_sha256": _sha({k: v for k, v in m.items() if k != "manifest_sha256"})
    }
    signed = seal_manifest(m, SigningKey(SECRET))
    assert signed["signature"]["value"] == _hmac(
        {k: v for k, v in m.items() if k != "manifest_sha256"}
    )


def test_a_safetensors_state_whose_metadata_is_not_an_object_is_refused() -> None:
    from safetensors.numpy import save as st_save

    blob = st_save({"h": np.zeros(2)}, metadata={"gatecast": "[1, 2]"})
    with pytest.raises(ModelFileError, match=r"^the state holds no stream state metadata"):
        decode_state(blob)


def test_write_state_picks_the_format_by_the_file_name(tmp_path: Path) -> None:
    arrays, meta = {"h": np.array([[0.25, -1.0]])}, {"format": "test", "n": 1}
    asked: list[str] = []

    def state(fmt: str) -> bytes | str:
        asked.append(fmt)
        return encode_state(arrays, meta, fmt)

    for name, fmt in (
        ("s.JSON", "json"),
        ("s.safetensors", "safetensors"),
        ("s.state", "safetensors"),
    ):
        path = write_state(tmp_path / name, state)
        assert path == tmp_path / name and asked[-1] == fmt
        got, got_meta, _ = decode_state(path)
        np.testing.assert_array_equal(got["h"], arrays["h"])
        assert got_meta["n"] == 1
    assert json.loads((tmp_path / "s.JSON").read_text())["format"] == "test"
    assert list(tmp_path.iterdir()) and not list(tmp_path.glob("*.tmp*"))


def test_the_docs_check_of_a_folder_without_gatecast_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/model-folder.md's last snippet recomputes both checksums by hand: it passes on a
    folder as written and fails on an edited one."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "model-folder.md").read_text()
    snippet = doc.split("```python\n")[-1].split("```")[0]
    assert 'folder = Path("models/spx")' in snippet
    monkeypatch.chdir(tmp_path)
    save_model_folder(Path("models/spx"), TENSORS, MANIFEST, signing_key=SigningKey(SECRET))
    exec(compile(snippet, "model-folder.md", "exec"), {})
    _manifest(Path("models/spx"), lambda m: m.update(hidden=4))
    with pytest.raises(AssertionError, match="edited"):
        exec(compile(snippet, "model-folder.md", "exec"), {})
