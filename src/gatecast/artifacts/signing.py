"""HMAC-SHA256 signatures of model manifests: the key, where it comes from, and the check."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatecast.artifacts.checksums import signed_content
from gatecast.errors import ConfigError, ModelFileError

#: The environment variables that configure signing when no key is passed.
SIGNING_KEY_VARIABLE = "GATECAST_SIGNING_KEY_FILE"
REQUIRE_SIGNATURE_VARIABLE = "GATECAST_REQUIRE_SIGNATURE"
SIGNATURE_ALGORITHM = "hmac-sha256"
#: Shortest key accepted (bytes): 128 bits, what `openssl rand -hex 32` gives four times over.
MIN_KEY_BYTES = 16
# prefixed to what a key signs, so a signature made for a manifest means nothing elsewhere
_SIGNED_PREFIX = b"gatecast model manifest\n"


@dataclass(frozen=True)
class SigningKey:
    """A secret the user holds, for HMAC-SHA256 signatures of model folders.

    Parameters
    ----------
    secret : bytes
        At least 16 bytes, e.g. the text ``openssl rand -hex 32`` prints. Never shown.
    source : str
        Where the key came from, for messages (a file name, never the secret).

    Examples
    --------
    >>> key = SigningKey(b"0123456789abcdef0123456789abcdef", "a test key")
    >>> key.key_id
    '0d4292d6b994281e'
    """

    secret: bytes = field(repr=False)
    source: str = "the signing key given"

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes):
            raise ConfigError(f"{self.source}: a signing key is bytes, not {type(self.secret)}")
        if len(self.secret) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{self.source} holds {len(self.secret)} byte(s); a signing key needs at least "
                f"{MIN_KEY_BYTES}: make one with `openssl rand -hex 32 > FILE` and keep it private"
            )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], source: str | None = None) -> SigningKey:
        """The key in a file: its bytes, without the blank space or line ends around them (which
        an editor adds or drops)."""
        where = source or f"signing key file {os.fspath(path)}"
        path = Path(path)
        if not path.is_file():
            raise ConfigError(
                f"{where} does not exist or is not a file; give the file that holds your key "
                f"(make one with `openssl rand -hex 32 > FILE`)"
            )
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{where} cannot be read ({exc.strerror}); check its permissions"
            ) from exc
        return cls(raw.strip(), where)

    @property
    def key_id(self) -> str:
        """A name for the key that gives nothing of it away (the start of an HMAC of a fixed
        text), so a message can say *which* key signed a folder."""
        return hmac.new(self.secret, b"gatecast key id", hashlib.sha256).hexdigest()[:16]

    def sign(self, manifest: Mapping[str, Any]) -> dict[str, str]:
        """The ``signature`` entry for a manifest: HMAC-SHA256 of :func:`signed_content`."""
        mac = hmac.new(self.secret, _SIGNED_PREFIX + signed_content(manifest), hashlib.sha256)
        return {"algorithm": SIGNATURE_ALGORITHM, "key_id": self.key_id, "value": mac.hexdigest()}


#: A signing key, or the path of a file that holds one; None: ``$GATECAST_SIGNING_KEY_FILE``.
KeyLike = SigningKey | str | os.PathLike[str] | None


def resolve_signing_key(key: KeyLike = None) -> SigningKey | None:
    """The key to sign or verify with: ``key`` (a :class:`SigningKey` or a key file's path),
    else the file named by ``$GATECAST_SIGNING_KEY_FILE``, else None (no signing)."""
    if isinstance(key, SigningKey):
        return key
    if key is not None:
        return SigningKey.from_file(key)
    path = os.environ.get(SIGNING_KEY_VARIABLE, "")
    if not path:
        return None
    return SigningKey.from_file(path, f"signing key file {path} (from ${SIGNING_KEY_VARIABLE})")


def signature_required(require: bool | None = None) -> bool:
    """Whether loading refuses to go on without a key: ``require``, else
    ``$GATECAST_REQUIRE_SIGNATURE`` (1/true/yes or 0/false/no; unset: no)."""
    if require is not None:
        return bool(require)
    raw = os.environ.get(REQUIRE_SIGNATURE_VARIABLE, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(
        f"${REQUIRE_SIGNATURE_VARIABLE}={raw!r} is neither yes nor no; set it to 1 or 0"
    )


def verifying_key(
    signing_key: KeyLike = None, require_signature: bool | None = None
) -> SigningKey | None:
    """The key that loads verify with, settled before any folder is read. Asking for signatures
    without a key is refused: nothing could be verified."""
    key = resolve_signing_key(signing_key)
    if key is None and signature_required(require_signature):
        raise ConfigError(
            f"signatures are required (--require-signature or ${REQUIRE_SIGNATURE_VARIABLE}) "
            f"but no signing key is configured: give --signing-key FILE or set "
            f"${SIGNING_KEY_VARIABLE}"
        )
    return key


def check_signature(manifest: Mapping[str, Any], where: str, key: SigningKey) -> None:
    """Refuse a manifest that ``key`` did not sign as it is now (the checksum is checked first)."""
    folder = os.path.dirname(where) or "."
    sig = manifest.get("signature")
    if sig is None:
        raise ModelFileError(
            f"{where} is not signed, and a signing key is configured ({key.source}), so only "
            f"folders signed with it load; if you trust this folder as it is, sign it with "
            f"`gatecast upgrade-model {folder} --signing-key FILE`, or re-train with --signing-key"
        )
    if not (
        isinstance(sig, dict)
        and all(isinstance(sig.get(k), str) for k in ("algorithm", "key_id", "value"))
    ):
        raise ModelFileError(
            f"{where} has a malformed signature (an object of algorithm, key_id and value "
            f"strings is expected); it was edited: restore the folder from a copy you trust"
        )
    if sig["algorithm"] != SIGNATURE_ALGORITHM:
        raise ModelFileError(
            f"{where} is signed with {sig['algorithm']!r}; this gatecast verifies "
            f"{SIGNATURE_ALGORITHM} signatures only"
        )
    if sig["key_id"] != key.key_id:
        raise ModelFileError(
            f"{where} was signed with another key (key id {sig['key_id']}), not the one "
            f"configured ({key.source}, key id {key.key_id}); give the key it was signed with"
        )
    if not hmac.compare_digest(key.sign(manifest)["value"], sig["value"]):
        raise ModelFileError(
            f"{where} does not match its signature (key id {key.key_id}): its content was "
            f"changed after it was signed, or the signature was; do not use it: restore the "
            f"folder from a copy you trust, or re-train"
        )
