"""Model folders and stream states on disk: safetensors plus JSON, written atomically, never pickled.

This package needs NumPy and safetensors only (no torch), so the NumPy engine can read what torch
wrote. It moves bytes and checks checksums; what a manifest *means* is `gatecast.inference.spec`'s job.
Its modules, one concept each: `files` (atomic writes and the path checks before them),
`checksums` (digests of arrays and manifests), `signing` (HMAC signatures of manifests),
`model_folder` (the weights and the sealed manifest), `state` (stream states) and `lock` (the
stream-state lock).
"""

from __future__ import annotations

from gatecast.artifacts.checksums import (
    UNSIGNED_KEYS,
    V3_CHECKSUM_KEYS,
    array_hash,
    manifest_digest,
    signed_content,
)
from gatecast.artifacts.files import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    current_umask,
    describe_path,
    file_mode,
    writable_file,
)
from gatecast.artifacts.lock import locked
from gatecast.artifacts.model_folder import (
    FORMAT_VERSION,
    LEGACY_VERSIONS,
    MANIFEST_FILE,
    READABLE_VERSIONS,
    WEIGHTS_FILE,
    check_checksums,
    load_model_folder,
    read_model_files,
    save_model_folder,
    seal_manifest,
)
from gatecast.artifacts.signing import (
    MIN_KEY_BYTES,
    REQUIRE_SIGNATURE_VARIABLE,
    SIGNATURE_ALGORITHM,
    SIGNING_KEY_VARIABLE,
    KeyLike,
    SigningKey,
    check_signature,
    resolve_signing_key,
    signature_required,
    verifying_key,
)
from gatecast.artifacts.state import decode_state, encode_state, write_state

__all__ = [
    "FORMAT_VERSION",
    "LEGACY_VERSIONS",
    "MANIFEST_FILE",
    "MIN_KEY_BYTES",
    "READABLE_VERSIONS",
    "REQUIRE_SIGNATURE_VARIABLE",
    "SIGNATURE_ALGORITHM",
    "SIGNING_KEY_VARIABLE",
    "UNSIGNED_KEYS",
    "V3_CHECKSUM_KEYS",
    "WEIGHTS_FILE",
    "KeyLike",
    "SigningKey",
    "array_hash",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_checksums",
    "check_signature",
    "current_umask",
    "decode_state",
    "describe_path",
    "encode_state",
    "file_mode",
    "load_model_folder",
    "locked",
    "manifest_digest",
    "read_model_files",
    "resolve_signing_key",
    "save_model_folder",
    "seal_manifest",
    "signature_required",
    "signed_content",
    "verifying_key",
    "writable_file",
    "write_state",
]
