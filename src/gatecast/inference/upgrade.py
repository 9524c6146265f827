"""Upgrading a model folder you trust: its manifest rewritten in the current format, with its one
checksum and, with a key, a signature (``gatecast upgrade-model``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gatecast.artifacts import (
    FORMAT_VERSION,
    LEGACY_VERSIONS,
    MANIFEST_FILE,
    READABLE_VERSIONS,
    WEIGHTS_FILE,
    KeyLike,
    atomic_write_json,
    check_checksums,
    read_model_files,
    resolve_signing_key,
    seal_manifest,
)
from gatecast.inference.spec import ModelSpec


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade_model_folder` found and did."""

    folder: Path
    from_version: int
    checksum: str
    written: bool
    key_id: str | None = None
    replaced_key_id: str | None = None

    @property
    def trusted(self) -> bool:
        """Whether nothing could check the content first (a format 1 or 2 folder)."""
        return self.from_version in LEGACY_VERSIONS

    def summary(self) -> str:
        """What was checked, what is now trusted and what was written, in sentences."""
        if self.trusted:
            lines = [
                f"{self.folder} was format {self.from_version}, which has no manifest checksum: "
                f"nothing can show whether it was edited since it was written. Its weights match "
                f"their recorded checksum and its manifest describes a valid model; its content "
                f"as it is now is trusted from here on, on your word."
            ]
        else:
            lines = [f"{self.folder} (format {self.from_version}) matches its checksums."]
        signed = f"signed with key id {self.key_id}" if self.key_id else "not signed"
        if not self.written:
            lines.append(
                f"nothing to do: it is format {FORMAT_VERSION} already ({signed}; give "
                f"--signing-key to sign it)"
            )
            return "\n".join(lines)
        lines.append(
            f"wrote {self.folder / MANIFEST_FILE} in format {FORMAT_VERSION}: checksum "
            f"{self.checksum[:16]}..., {signed}"
        )
        if self.replaced_key_id:
            lines.append(f"(it replaces the signature of key id {self.replaced_key_id})")
        return "\n".join(lines)


def upgrade_model_folder(folder: str | os.PathLike[str], *, signing_key: KeyLike = None) -> Upgrade:
    """Rewrite a model folder's manifest in the current format, with its one checksum and, with a
    key, a signature; the weights and the content of the manifest are left as they are.

    A format 1 or 2 folder has no manifest checksum, so this **trusts its content as it is
    now**: run it only on a folder you know is the one gatecast wrote. It must still be a valid
    model (every check of :func:`read_model_folder` but the missing checksum) whose weights match
    their recorded checksum. A format 3 or 4 folder must match its checksums first, so a damaged
    folder is never sealed as good; one already signed with the key given must match its
    signature. With a key (``signing_key``, else ``$GATECAST_SIGNING_KEY_FILE``) the folder is
    signed: this is how a folder you trust is signed after the fact.
    """
    key = resolve_signing_key(signing_key)
    folder = Path(folder)
    tensors, manifest = read_model_files(folder, versions=(*LEGACY_VERSIONS, *READABLE_VERSIONS))
    where = f"{folder}/{MANIFEST_FILE}"
    spec = ModelSpec.from_manifest(manifest, where)
    spec.check_tensors(tensors, f"{folder}/{WEIGHTS_FILE}")
    spec.check_config(where)
    version = int(manifest["format_version"])
    old = manifest.get("signature")
    old_id = str(old["key_id"]) if isinstance(old, dict) and "key_id" in old else None
    if version in LEGACY_VERSIONS:
        if not isinstance(manifest.get("weights_sha256"), str):
            check_checksums(manifest, where)  # refused: there is no weights checksum to keep
    else:
        # a signature by the key given must hold; one by another key is replaced (said so)
        check_checksums(manifest, where, key if key is not None and old_id == key.key_id else None)
    if version == FORMAT_VERSION and (key is None or old_id == key.key_id):
        # current already, and a signature it has still holds
        return Upgrade(folder, version, str(manifest["manifest_sha256"]), False, old_id)
    sealed = seal_manifest({**manifest, "format_version": FORMAT_VERSION}, key)
    atomic_write_json(folder / MANIFEST_FILE, sealed)
    return Upgrade(
        folder,
        version,
        str(sealed["manifest_sha256"]),
        True,
        key.key_id if key is not None else None,
        old_id if key is not None and old_id not in (None, key.key_id) else None,
    )
