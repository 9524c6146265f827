"""Model folders and stream states on disk: safetensors plus JSON, written atomically, never pickled.

This module needs NumPy and safetensors only (no torch), so the NumPy engine can read what torch
wrote. It moves bytes and checks checksums; what a manifest *means* is `gatecast.serve.spec`'s job.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.errors import ConfigError, ModelFileError, StateInUseError

#: Version 2 adds the family ``config`` and the feature ``units``; version 3 a checksum of the
#: manifest's own content (``manifest_sha256``). Version 1 and 2 folders still load.
FORMAT_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
#: The manifest keys that hold checksums (left out of the manifest's own checksum).
CHECKSUM_KEYS = ("weights_sha256", "manifest_sha256")


def current_umask() -> int:
    """The process umask (it can only be read by setting it, so it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the current umask (0o644 under 022)."""
    return 0o666 & ~current_umask()


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Write `payload` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, file_mode())  # mkstemp makes 0600; a written file honours the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text (UTF-8) atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write an object as indented JSON atomically; NaN and infinities become null (JSON has no
    NaN), NumPy scalars and arrays become plain numbers and lists."""
    text = json.dumps(_plain(obj), indent=2, allow_nan=False, default=_json_default)
    atomic_write_text(path, text + "\n")


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """SHA-256 of a manifest's content as canonical JSON (sorted keys, no spaces), checksum keys
    left out: any edit of a number, a name or a scaler changes it."""
    content = {k: v for k, v in manifest.items() if k not in CHECKSUM_KEYS}
    text = json.dumps(
        _plain(content),
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
        default=_json_default,
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def array_hash(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes (C order), used to record which data a model was trained on."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_model_folder(
    folder: str | os.PathLike[str], tensors: Mapping[str, np.ndarray], manifest: Mapping[str, Any]
) -> Path:
    """Write `model.safetensors` and `manifest.json` into `folder`, each atomically.

    The manifest is written last, so a folder with a manifest always has its weights.
    """
    from safetensors.numpy import save

    folder = Path(folder)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    payload = save(arrays)
    meta = json.loads(json.dumps(_plain(dict(manifest)), default=_json_default))  # as read back
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    meta["manifest_sha256"] = manifest_digest(meta)
    atomic_write_bytes(folder / WEIGHTS_FILE, payload)
    atomic_write_json(folder / MANIFEST_FILE, meta)
    return folder


def load_model_folder(
    folder: str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model folder and check its format version and weights checksum; returns (tensors,
    manifest). Never unpickles anything. `gatecast.serve.spec.ModelSpec` validates the content,
    then :func:`check_checksums` that no checksum is missing and the manifest is as written."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    folder = Path(folder)
    mpath, wpath = folder / MANIFEST_FILE, folder / WEIGHTS_FILE
    if not folder.is_dir():
        raise ModelFileError(
            f"model folder {folder} does not exist; pass the --out folder of `gatecast train`"
        )
    for p in (mpath, wpath):
        if not p.is_file():
            raise ModelFileError(
                f"{p} is missing; a model folder holds {WEIGHTS_FILE} and {MANIFEST_FILE}"
            )
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ModelFileError(
            f"{mpath} is not valid JSON ({type(exc).__name__}: {exc}); re-train or restore the file"
        ) from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{mpath} must hold a JSON object")
    if "format_version" not in manifest:
        raise ModelFileError(f"{mpath} has no format_version; it was not written by gatecast")
    if (
        isinstance(manifest["format_version"], bool)
        or manifest["format_version"] not in READABLE_VERSIONS
    ):
        raise ModelFileError(
            f"{mpath} has format_version {manifest['format_version']!r}, this gatecast reads "
            f"{', '.join(map(str, READABLE_VERSIONS))}; upgrade gatecast or re-train the model "
            f"with this version"
        )
    payload = wpath.read_bytes()
    digest = manifest.get("weights_sha256")
    if digest is not None and hashlib.sha256(payload).hexdigest() != str(digest):
        raise ModelFileError(
            f"{wpath} does not match the checksum in {mpath}: the weights were changed or truncated"
        )
    try:
        tensors = load(payload)
    except (SafetensorError, Exception) as exc:
        raise ModelFileError(f"{wpath} is not a readable safetensors file ({exc})") from exc
    return dict(tensors), manifest


def check_checksums(manifest: Mapping[str, Any], where: str) -> None:
    """Refuse a manifest without its weights checksum, or (format 3 on) whose content does not
    match its own checksum: a hand-edited scaler or size would otherwise move every forecast."""
    if not isinstance(manifest.get("weights_sha256"), str):
        raise ModelFileError(
            f"{where} has no weights checksum (weights_sha256), so the weights cannot be "
            f"verified; it was edited or not written by gatecast: re-train or restore the folder"
        )
    if manifest.get("format_version") in (1, 2):
        return  # written before the manifest had a checksum of its own
    if not isinstance(manifest.get("manifest_sha256"), str):
        raise ModelFileError(
            f"{where} has no manifest checksum (manifest_sha256); it was edited or not written "
            f"by gatecast: re-train or restore the folder"
        )
    if manifest_digest(manifest) != manifest["manifest_sha256"]:
        raise ModelFileError(
            f"{where} does not match its own checksum (manifest_sha256): its content (a scaler, "
            f"a size, a feature...) was edited after it was written; re-train or restore the file"
        )


# -- stream states: a few arrays plus JSON metadata, as safetensors bytes or one JSON document ----


def encode_state(
    arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any], fmt: str = "safetensors"
) -> bytes | str:
    """Arrays plus metadata as safetensors bytes (metadata in its header) or a JSON string."""
    if fmt == "safetensors":
        from safetensors.numpy import save

        return save(
            {k: np.ascontiguousarray(v) for k, v in arrays.items()},
            metadata={"gatecast": json.dumps(meta)},
        )
    if fmt == "json":
        doc = dict(meta)
        doc["arrays"] = {
            k: {"shape": list(v.shape), "data": [_json_float(x) for x in v.ravel()]}
            for k, v in arrays.items()
        }
        return json.dumps(doc)
    raise ConfigError(f"state format {fmt!r} is unknown; use 'safetensors' or 'json'")


def write_state(path: str | os.PathLike[str], state: Callable[[str], bytes | str]) -> Path:
    """Write ``state(fmt)`` to ``path`` atomically: JSON if the name ends in ``.json``, else
    safetensors (what every stream's ``save_state`` does)."""
    path = Path(path)
    payload = state("json" if path.suffix.lower() == ".json" else "safetensors")
    atomic_write_bytes(path, payload.encode() if isinstance(payload, str) else payload)
    return path


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None  # NaN (e.g. no previous price yet) -> null


def decode_state(
    data: bytes | str | os.PathLike[str],
) -> tuple[dict[str, np.ndarray], dict[str, Any], str]:
    """Read what :func:`encode_state` wrote (bytes, JSON text, or a file of either); returns
    (arrays, metadata, where) with ``where`` naming the file for messages."""
    where = "the state"
    if isinstance(data, (str, os.PathLike)) and not (
        isinstance(data, str) and data.lstrip().startswith("{")
    ):
        path = Path(data)
        if not path.is_file():
            raise ModelFileError(f"stream state file {path} does not exist")
        where, raw = str(path), path.read_bytes()
        if path.suffix.lower() == ".json":
            try:
                data = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ModelFileError(
                    f"{where} is not UTF-8 text, so not a JSON stream state"
                ) from exc
        else:
            data = raw
    if isinstance(data, str):
        try:
            doc = json.loads(data)
            arrays = {
                k: np.array(
                    [math.nan if x is None else x for x in v["data"]], dtype=np.float64
                ).reshape(v["shape"])
                for k, v in doc.pop("arrays").items()
            }
        except (
            json.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            AttributeError,
            RecursionError,
        ) as exc:
            raise ModelFileError(f"{where} is not a valid JSON stream state ({exc})") from exc
        return arrays, doc, where
    from safetensors.numpy import load

    try:
        blob = bytes(data)
        arrays = dict(load(blob))
        # the metadata sits in the JSON header after its 8-byte little-endian length
        n = int.from_bytes(blob[:8], "little")
        meta = json.loads(json.loads(blob[8 : 8 + n]).get("__metadata__", {}).get("gatecast", "{}"))
    except Exception as exc:
        raise ModelFileError(f"{where} is not a readable safetensors stream state ({exc})") from exc
    if not isinstance(meta, dict):
        raise ModelFileError(f"{where} holds no stream state metadata (a JSON object)")
    return arrays, meta, where


@contextmanager
def locked(
    path: str | os.PathLike[str],
    what: str = "file",
    *,
    wait: float = 0.0,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``<path>.lock``, beside the file a symlink
    points to) for the ``with`` block. The holder writes who it is into the lock file (pid,
    host, since when); another process that finds the lock held raises
    :class:`StateInUseError` naming them, at once or after waiting up to ``wait`` seconds
    (``on_wait`` is told whom it waits for when it starts waiting). POSIX only; elsewhere
    nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    if not (math.isfinite(wait) and wait >= 0):
        raise ConfigError(f"wait={wait}: a number of seconds >= 0")
    lock = Path(f"{os.path.realpath(path)}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                holder = _lock_holder(lock)
                if time.monotonic() >= deadline:
                    waited = f" after waiting {wait:g} s" if wait > 0 else ""
                    raise StateInUseError(
                        f"{what} {os.fspath(path)} is in use by another process{waited}: "
                        f"{holder} (lock file {lock}); stop that process, wait for it (--wait "
                        f"SECONDS), or give this one its own file"
                    ) from None
                if on_wait is not None and not told:
                    on_wait(f"{what} {os.fspath(path)} is in use: {holder}")
                    told = True
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        _write_holder(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _write_holder(fd: int) -> None:
    """Who holds the lock, for the next process that finds it held."""
    since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    doc = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(doc) + "\n").encode(), 0)


def _lock_holder(lock: Path) -> str:
    """ "held by pid 123 on host h since ..." from a lock file, or what can be said without it."""
    for _ in range(5):  # the holder may be writing it this very moment
        try:
            with lock.open("rb") as fh:
                doc = json.loads(fh.read(4096))
            return f"held by pid {doc['pid']} on host {doc['host']} since {doc['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            time.sleep(0.01)
    return "held by a process that did not say who it is"
