"""Model folders on disk: safetensors weights plus a sealed JSON manifest, written and read back."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.artifacts.checksums import UNSIGNED_KEYS, _v3_digest, manifest_digest
from gatecast.artifacts.files import _json_default, _plain, atomic_write_bytes, atomic_write_json
from gatecast.artifacts.signing import (
    KeyLike,
    SigningKey,
    check_signature,
    resolve_signing_key,
    verifying_key,
)
from gatecast.errors import ConfigError, ModelFileError

#: Version 2 adds the family ``config`` and the feature ``units``; version 3 a checksum of the
#: manifest's content beside the weights' (``manifest_sha256`` without ``weights_sha256``);
#: version 4 one checksum over everything, the weights' digest included, and an optional
#: signature. Versions 1 and 2 have no manifest checksum and are refused (see LEGACY_VERSIONS).
FORMAT_VERSION = 4
READABLE_VERSIONS = (3, 4)
#: Versions written before manifests had a checksum: nothing shows whether they were edited, so
#: they load only after ``gatecast upgrade-model`` (the user vouching for them) adds one.
LEGACY_VERSIONS = (1, 2)
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"


def seal_manifest(manifest: Mapping[str, Any], key: SigningKey | None = None) -> dict[str, Any]:
    """The manifest with its checksum (and, with a key, its signature) computed afresh over its
    content as it is now; the content must already hold ``weights_sha256``."""
    meta = {k: v for k, v in manifest.items() if k not in UNSIGNED_KEYS}
    meta["manifest_sha256"] = manifest_digest(meta)
    if key is not None:
        meta["signature"] = key.sign(meta)
    return meta


def save_model_folder(
    folder: str | os.PathLike[str],
    tensors: Mapping[str, np.ndarray],
    manifest: Mapping[str, Any],
    *,
    signing_key: KeyLike = None,
) -> Path:
    """Write `model.safetensors` and `manifest.json` into `folder`, each atomically.

    The manifest (format 4) gets the weights' SHA-256 and one checksum over all of its content,
    that digest included; with a signing key (``signing_key``, else
    ``$GATECAST_SIGNING_KEY_FILE``) also an HMAC-SHA256 signature of the same content. The
    manifest is written last, so a folder with a manifest always has its weights.
    """
    from safetensors.numpy import save

    key = resolve_signing_key(signing_key)  # a bad key file is refused before anything is written
    version = manifest.get("format_version", FORMAT_VERSION)
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise ConfigError(
            f"the manifest says format_version {version!r}; this gatecast writes format "
            f"{FORMAT_VERSION} only"
        )
    folder = Path(folder)
    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    payload = save(arrays)
    meta = json.loads(json.dumps(_plain(dict(manifest)), default=_json_default))  # as read back
    meta["format_version"] = FORMAT_VERSION
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    meta = seal_manifest(meta, key)
    atomic_write_bytes(folder / WEIGHTS_FILE, payload)
    atomic_write_json(folder / MANIFEST_FILE, meta)
    return folder


def _not_a_number(name: str) -> Any:
    # gatecast writes null for NaN; a NaN literal would read as a different value with the same
    # checksum (canonical JSON writes NaN as null), so it is refused
    raise ValueError(f"{name} is not a JSON number")


def read_model_files(
    folder: str | os.PathLike[str], *, versions: tuple[int, ...] = READABLE_VERSIONS
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model folder's two files: (tensors, manifest). Checks that they are there and
    readable, the format version (one of ``versions``) and that the weights match
    ``weights_sha256`` where there is one, nothing more: :func:`load_model_folder` (or
    :func:`check_checksums` after it) checks the rest. Never unpickles anything."""
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
        manifest = json.loads(mpath.read_text(encoding="utf-8"), parse_constant=_not_a_number)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise ModelFileError(
            f"{mpath} is not valid JSON ({type(exc).__name__}: {exc}); re-train or restore the file"
        ) from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{mpath} must hold a JSON object")
    if "format_version" not in manifest:
        raise ModelFileError(f"{mpath} has no format_version; it was not written by gatecast")
    version = manifest["format_version"]
    whole = isinstance(version, int) and not isinstance(version, bool)  # not True, not 3.0
    if whole and version in LEGACY_VERSIONS and version not in versions:
        raise ModelFileError(
            f"{mpath} is format {version}, from before manifests had a checksum of their own: "
            f"nothing shows whether it was edited since it was written, so it is not loaded. If "
            f"you trust the folder as it is, run `gatecast upgrade-model {folder}` once to add "
            f"the checksum; otherwise re-train the model"
        )
    if not whole or version not in versions:
        raise ModelFileError(
            f"{mpath} has format_version {version!r}, this gatecast reads "
            f"{', '.join(map(str, versions))}; upgrade gatecast or re-train the model "
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


def load_model_folder(
    folder: str | os.PathLike[str],
    *,
    signing_key: KeyLike = None,
    require_signature: bool | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a model folder and check its format version, checksums and (with a key) signature;
    returns (tensors, manifest). Never unpickles anything.

    ``signing_key`` (else ``$GATECAST_SIGNING_KEY_FILE``) makes a signature by that key
    required; without one a signature is not checked. ``require_signature`` (else
    ``$GATECAST_REQUIRE_SIGNATURE``) refuses to load without a key.
    `gatecast.inference.spec.read_model_folder` also validates what the manifest means."""
    key = verifying_key(signing_key, require_signature)
    tensors, manifest = read_model_files(folder)
    check_checksums(manifest, f"{Path(folder) / MANIFEST_FILE}", key)
    return tensors, manifest


def check_checksums(manifest: Mapping[str, Any], where: str, key: SigningKey | None = None) -> None:
    """Refuse a manifest without its checksums, or whose content does not match them; with a
    key, one that is not signed by it. A hand-edited scaler, size or weights' digest would
    otherwise move every forecast.

    Format 4 has one checksum over everything but itself and the signature; format 3 had two,
    the manifest's (without the weights' digest) and the weights', both required. Nothing else
    is accepted (:func:`read_model_files` has already refused formats 1 and 2)."""
    if not isinstance(manifest.get("weights_sha256"), str):
        raise ModelFileError(
            f"{where} has no weights checksum (weights_sha256), so the weights cannot be "
            f"verified; it was edited or not written by gatecast: re-train or restore the folder"
        )
    if not isinstance(manifest.get("manifest_sha256"), str):
        raise ModelFileError(
            f"{where} has no manifest checksum (manifest_sha256); it was edited or not written "
            f"by gatecast: re-train or restore the folder"
        )
    v3 = manifest.get("format_version") == 3
    if (_v3_digest if v3 else manifest_digest)(manifest) != manifest["manifest_sha256"]:
        raise ModelFileError(
            f"{where} does not match its own checksum (manifest_sha256): its content (a scaler, "
            f"a size, a feature, the weights' checksum...) was edited after it was written; "
            f"re-train or restore the file"
        )
    if key is not None:
        check_signature(manifest, where, key)
