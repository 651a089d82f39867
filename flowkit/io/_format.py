"""The flowkit model file: a signature, a JSON header, then the parameters.

Layout (version 2)::

    b"\\x93FLOWKIT\\n"                 9-byte signature
    header length                     8 bytes, unsigned little-endian
    header                            UTF-8 JSON (format version, versions, structure,
                                      array manifest, payload size and SHA-256, metadata)
    payload                           the array leaves in tree order, as
                                      ``equinox.tree_serialise_leaves`` writes them (.npy each)

The payload size and checksum in the header make a truncated or damaged file an error, not a
silently wrong model. Readers refuse versions newer than :data:`FORMAT_VERSION`.
"""

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

from ._write import atomic_write_bytes

SIGNATURE = b"\x93FLOWKIT\n"
BEST, LAST = "best.flowkit", "last.flowkit"  # the models of a run directory
FORMAT_VERSION = 2
_LENGTH = struct.Struct("<Q")


class ModelFileError(ValueError):
    """A model file that cannot be read: not flowkit's, truncated, damaged, too new, or not
    matching the structure it is loaded into. The message, ``"{path}: {problem}"``, names the
    file and the problem.

    Args:
        path: the model file; kept as ``str`` in ``self.path``.
        problem: what is wrong with it and how to fix it; kept in ``self.problem``.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def write_model_file(path: str | os.PathLike, header: dict[str, Any], payload: bytes) -> Path:
    """Write a model file atomically (:func:`atomic_write_bytes`).

    Args:
        path: the file to write.
        header: JSON values; the payload's size and SHA-256 are added.
        payload: the serialised parameters.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: if the file cannot be written; the message names it and the cause.
    """
    header = {
        **header,
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
    }
    head = json.dumps(header, sort_keys=True).encode()
    return atomic_write_bytes(path, SIGNATURE + _LENGTH.pack(len(head)) + head + payload)


def _truncated(path, what: str) -> ModelFileError:
    return ModelFileError(
        path,
        f"the file is truncated ({what}); it was cut short while being written or "
        "copied. Save or copy it again.",
    )


def _is_train_checkpoint_dir(path: Path) -> bool:
    """Step folders holding a ``meta`` item: flowkit.train's orbax checkpoints."""
    return any(p.name.isdigit() and (p / "meta").exists() for p in path.iterdir() if p.is_dir())


def read_model_file(path: str | os.PathLike, *, payload: bool = True) -> tuple[dict, bytes]:
    """``(header, payload)`` of a model file (or of a run directory's ``best.flowkit``), checked.

    Args:
        path: a model file, or a run directory.
        payload: ``False`` reads the header only (and returns ``b""`` for the payload).

    Returns:
        ``(header, payload)``: the header as a dict and the parameters' bytes.

    Raises:
        ModelFileError: if the file is not a flowkit model file, is truncated or damaged, or
            was written by a newer format version, or a directory holds no model file.
    """
    path = Path(path)
    if path.is_dir():
        if _is_train_checkpoint_dir(path):
            raise ModelFileError(
                path,
                "is a flowkit.train checkpoint directory (orbax: model, optimiser and "
                "data state, for resuming training), not a model file; restore it with "
                "flowkit.train.Checkpointer(path).restore(model=..., opt_state=...), or load "
                f"the run's exported {BEST} / {LAST}.",
            )
        if not (path / BEST).is_file():
            raise ModelFileError(
                path,
                f"is a directory without a {BEST}; pass a model file written by "
                "flowkit.save, or a run directory written by flowkit.fit(run_dir=...) or "
                "flowkit train.",
            )
        path = path / BEST
    with open(path, "rb") as f:
        data = f.read() if payload else f.read(len(SIGNATURE) + _LENGTH.size)
        if not data:
            raise ModelFileError(path, "the file is empty (0 bytes); save the model again.")
        if not data.startswith(SIGNATURE[: len(data)]):
            raise ModelFileError(
                path,
                "not a flowkit model file (it does not start with the flowkit signature); "
                "write models with flowkit.save.",
            )
        if len(data) < len(SIGNATURE) + _LENGTH.size:
            raise _truncated(path, f"{len(data)} bytes, less than the fixed preamble")
        (head_len,) = _LENGTH.unpack_from(data, len(SIGNATURE))
        start = len(SIGNATURE) + _LENGTH.size
        if not payload:
            data += f.read(head_len)
    if len(data) < start + head_len:
        raise _truncated(path, f"header of {head_len} bytes, {len(data) - start} present")
    try:
        header = json.loads(data[start : start + head_len])
        version = int(header["format_version"])
    except (ValueError, KeyError, TypeError) as e:
        raise ModelFileError(path, f"the header is damaged ({e}); save the model again.") from e
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"written in model format version {version} (by flowkit "
            f"{header.get('flowkit_version', '?')}); this flowkit reads versions up to "
            f"{FORMAT_VERSION}. Upgrade flowkit to load it.",
        )
    if not payload:
        return header, b""
    body = data[start + head_len :]
    expected = int(header["payload_bytes"])
    if len(body) < expected:
        raise _truncated(path, f"{len(body)} of {expected} parameter bytes present")
    if len(body) > expected or hashlib.sha256(body).hexdigest() != header["payload_sha256"]:
        raise ModelFileError(
            path,
            "the parameters are damaged (size or SHA-256 checksum differs from the "
            "header); save or copy the model again.",
        )
    return header, body
