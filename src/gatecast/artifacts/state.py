"""Stream states: a few arrays plus JSON metadata, as safetensors bytes or one JSON document."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gatecast.artifacts.files import atomic_write_bytes
from gatecast.errors import ConfigError, ModelFileError


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
