"""Model folders and stream states on disk: safetensors plus JSON, written atomically, never pickled.

This module needs NumPy and safetensors only (no torch), so the NumPy engine can read what torch
wrote. It moves bytes and checks checksums; what a manifest *means* is `gatecast.serve.spec`'s job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.errors import ConfigError, ModelFileError, StateInUseError

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
#: The keys that a format-4 checksum and signature leave out: themselves.
UNSIGNED_KEYS = ("manifest_sha256", "signature")
#: The keys a format-3 manifest checksum left out (the weights' digest was checked on its own).
V3_CHECKSUM_KEYS = ("weights_sha256", "manifest_sha256")
#: The environment variables that configure signing when no key is passed.
SIGNING_KEY_VARIABLE = "GATECAST_SIGNING_KEY_FILE"
REQUIRE_SIGNATURE_VARIABLE = "GATECAST_REQUIRE_SIGNATURE"
SIGNATURE_ALGORITHM = "hmac-sha256"
#: Shortest key accepted (bytes): 128 bits, what `openssl rand -hex 32` gives four times over.
MIN_KEY_BYTES = 16
# prefixed to what a key signs, so a signature made for a manifest means nothing elsewhere
_SIGNED_PREFIX = b"gatecast model manifest\n"


def current_umask() -> int:
    """The process umask (it can only be read by setting it, so it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from ``open()`` under the current umask (0o644 under 022)."""
    return 0o666 & ~current_umask()


def describe_path(path: Path) -> str:
    """What ``path`` is, in words: "a folder", "a regular file", "a character device"..."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "missing"
    for test, words in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "neither a regular file nor a folder"


def writable_file(path: str | os.PathLike[str]) -> Path:
    """The file an atomic write of ``path`` replaces: ``path`` itself, or the file a symbolic
    link points to; a :class:`ConfigError` where that exists and is not a regular file (a device
    such as /dev/null, a FIFO, a folder): the rename would replace it with a regular file."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))  # write through the link, never over it
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"{path} is {describe_path(path)}, not a regular file; gatecast writes a file by "
            f"renaming a finished copy over it, which would replace it: give the path of a "
            f"regular file"
        )
    return path


def atomic_write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    """Write `payload` to `path` through a temporary file in the same folder and a rename (a
    path that is a device, a FIFO or a folder is refused, never replaced)."""
    path = writable_file(path)
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


def array_hash(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' bytes (C order), used to record which data a model was trained on."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


# -- model folders: one checksum over the manifest and the weights' digest, an optional signature --


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
    `gatecast.serve.spec.read_model_folder` also validates what the manifest means."""
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
