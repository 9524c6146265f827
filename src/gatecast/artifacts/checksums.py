"""Digests: of arrays (which data a model saw) and of a manifest's content, as canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from gatecast.artifacts.files import _json_default, _plain

#: The keys that a format-4 checksum and signature leave out: themselves.
UNSIGNED_KEYS = ("manifest_sha256", "signature")
#: The keys a format-3 manifest checksum left out (the weights' digest was checked on its own).
V3_CHECKSUM_KEYS = ("weights_sha256", "manifest_sha256")


def array_hash(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes (C order), used to record which data a model was trained on."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _canonical(content: Mapping[str, Any]) -> bytes:
    """A JSON object as canonical bytes (sorted keys, no spaces), so that neither key order nor
    indentation changes a checksum or a signature."""
    text = json.dumps(
        _plain(dict(content)),
        sort_keys=True,
        separators=(",", ":"),
        allow_nan=False,
        default=_json_default,
    )
    return text.encode("utf-8")


def signed_content(manifest: Mapping[str, Any]) -> bytes:
    """What a format-4 checksum and signature cover: the manifest without those two keys, as
    canonical JSON. The weights' digest (``weights_sha256``) is part of it, so the weights are."""
    return _canonical({k: v for k, v in manifest.items() if k not in UNSIGNED_KEYS})


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """The format-4 ``manifest_sha256``: SHA-256 of :func:`signed_content`. Any edit of a
    number, a name, a scaler or the weights' digest changes it."""
    return hashlib.sha256(signed_content(manifest)).hexdigest()


def _v3_digest(manifest: Mapping[str, Any]) -> str:
    """The format-3 ``manifest_sha256``: the weights' digest was left out (checked on its own)."""
    content = {k: v for k, v in manifest.items() if k not in V3_CHECKSUM_KEYS}
    return hashlib.sha256(_canonical(content)).hexdigest()
