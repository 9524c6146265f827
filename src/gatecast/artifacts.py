"""Model folders on disk: safetensors weights plus a JSON manifest, written atomically, never pickled.

This module needs NumPy and safetensors only (no torch), so the NumPy engine can read what torch wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.errors import ModelFileError

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
REQUIRED_KEYS = (
    "format_version",
    "kind",
    "cell",
    "input_size",
    "hidden",
    "layers",
    "window",
    "features",
    "target",
    "scalers",
)


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Write `payload` to `path` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelFileError(
            f"manifest lacks {missing}; this is a bug in the caller of save_model_folder"
        )
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = dict(manifest)
    meta["weights_sha256"] = hashlib.sha256(save(arrays)).hexdigest()
    atomic_write_bytes(folder / WEIGHTS_FILE, save(arrays))
    atomic_write_json(folder / MANIFEST_FILE, meta)
    return folder


def load_model_folder(
    folder: str | os.PathLike[str], *, expect_kind: str | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read and validate a model folder; returns (tensors, manifest). Never unpickles anything."""
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
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(
            f"{mpath} is not valid JSON ({exc}); re-train or restore the file"
        ) from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{mpath} must hold a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise ModelFileError(f"{mpath} lacks the keys {missing}; it was not written by gatecast")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ModelFileError(
            f"{mpath} has format_version {manifest['format_version']!r}, this gatecast reads "
            f"{FORMAT_VERSION}; re-train the model with this version"
        )
    if expect_kind is not None and manifest["kind"] != expect_kind:
        raise ModelFileError(
            f"{folder} holds a {manifest['kind']!r} model, expected {expect_kind!r}"
        )
    payload = wpath.read_bytes()
    digest = manifest.get("weights_sha256")
    if digest is not None and hashlib.sha256(payload).hexdigest() != digest:
        raise ModelFileError(
            f"{wpath} does not match the checksum in {mpath}: the weights were changed or truncated"
        )
    try:
        tensors = load(payload)
    except (SafetensorError, Exception) as exc:
        raise ModelFileError(f"{wpath} is not a readable safetensors file ({exc})") from exc
    return dict(tensors), manifest
