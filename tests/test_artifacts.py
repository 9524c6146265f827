"""Files on disk: atomic writes that survive a crash mid-save, JSON values, checksums, model folders
and stream states; each failure made on purpose."""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load as st_load

from gatecast.artifacts import (
    READABLE_VERSIONS,
    array_hash,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    decode_state,
    encode_state,
    load_model_folder,
    manifest_digest,
    save_model_folder,
    write_state,
)
from gatecast.errors import ConfigError, ModelFileError

TENSORS = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.array([0.5], np.float32)}
MANIFEST = {"format_version": 2, "kind": "test", "hidden": 3}


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
    assert manifest["manifest_sha256"] == manifest_digest(manifest)  # its own content, as written
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

    import gatecast.artifacts as artifacts

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


def test_manifest_digest_is_sha256_of_canonical_json_without_the_checksums() -> None:
    from gatecast.artifacts import manifest_digest

    m = {"b": 1, "a": [1.5, np.float32(2.0)], "when": dt.date(2020, 1, 2), "nan": float("nan")}
    m |= {"weights_sha256": "w", "manifest_sha256": "m"}
    canonical = '{"a":[1.5,2.0],"b":1,"nan":null,"when":"2020-01-02"}'
    want = hashlib.sha256(canonical.encode()).hexdigest()
    assert manifest_digest(m) == want
    assert manifest_digest(dict(reversed(m.items()))) == want  # key order does not matter
    assert manifest_digest(m | {"weights_sha256": "other"}) == want  # checksums left out
    assert manifest_digest(m | {"b": 2}) != want


def test_check_checksums_by_format_version() -> None:
    from gatecast.artifacts import check_checksums, manifest_digest

    with pytest.raises(
        ModelFileError, match=r"^m\.json has no weights checksum \(weights_sha256\)"
    ):
        check_checksums({"format_version": 2}, "m.json")
    for old in (1, 2):  # written before the manifest had a checksum of its own
        check_checksums({"format_version": old, "weights_sha256": "w"}, "m.json")
    new = {"format_version": 3, "weights_sha256": "w", "hidden": 4}
    with pytest.raises(ModelFileError, match=r"^m\.json has no manifest checksum"):
        check_checksums(new, "m.json")
    check_checksums(new | {"manifest_sha256": manifest_digest(new)}, "m.json")
    edited = new | {"manifest_sha256": manifest_digest(new), "hidden": 5}
    with pytest.raises(ModelFileError, match=r"^m\.json does not match its own checksum"):
        check_checksums(edited, "m.json")


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
