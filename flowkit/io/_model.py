"""``save`` / ``load`` a flow (or any Equinox model) with what is needed to rebuild it."""

import importlib.metadata
import io
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ._format import FORMAT_VERSION, ModelFileError, read_model_file, write_model_file
from ._structure import UnrecordableStructure, decode_structure, encode_structure


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _is_stored(leaf: Any) -> bool:
    """The leaves ``eqx.tree_serialise_leaves`` writes (arrays of any dtype, Python scalars)."""
    return isinstance(leaf, jax.ShapeDtypeStruct) or eqx.is_array_like(leaf)


def manifest(model: Any) -> list[dict[str, Any]]:
    """Path, shape and dtype of every stored leaf of ``model``, in storage order.

    Args:
        model: any pytree (an Equinox model, or its ``eqx.filter_eval_shape``).

    Returns:
        One ``{"path", "shape", "dtype"}`` dict per array or Python scalar leaf.
    """
    entries = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(model):
        if not _is_stored(leaf):
            continue
        if isinstance(leaf, (bool, int, float, complex)):
            shape, dtype = [], f"python {type(leaf).__name__}"
        else:
            dtype = leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype
            shape, dtype = list(np.shape(leaf)), str(dtype)
        entries.append({"path": jax.tree_util.keystr(path), "shape": shape, "dtype": dtype})
    return entries


def _structure(model: Any) -> tuple[dict | None, str | None]:
    """(the model's JSON structure, None), or (None, why it cannot be written)."""
    try:
        return encode_structure(model), None
    except UnrecordableStructure as e:
        return None, str(e)


def save(path: str | os.PathLike, model: Any, *, metadata: dict | None = None) -> Path:
    """Write ``model``'s parameters and its structure (classes, fields, shapes), so
    :func:`load` rebuilds it without code.

    Any Equinox model whose classes and functions import by name (every flowkit bijector,
    flow and conditioner; your own module-level classes) is rebuilt; a lambda or a local
    class cannot be named, and such a model loads with ``like=``. One file, written
    atomically.

    Args:
        path: the file to write; its folder must exist.
        model: the model (any Equinox module or pytree of arrays).
        metadata: JSON values (epoch, validation loss, ...) stored beside it and read back by
            :func:`model_info`.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: if the file cannot be written; the message names it and the cause.
    """
    payload = io.BytesIO()
    eqx.tree_serialise_leaves(payload, model)
    structure, unrecordable = _structure(model)
    header = {
        "format": "flowkit model",
        "format_version": FORMAT_VERSION,
        "flowkit_version": _version("flowkit"),
        "jax_version": jax.__version__,
        "equinox_version": eqx.__version__,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "structure": structure,
        "unrecordable": unrecordable,
        "arrays": manifest(model),
        "metadata": metadata or {},
    }
    return write_model_file(path, header, payload.getvalue())


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The header of a model file (versions, structure, array manifest, metadata), checked.

    Reads the header only, not the parameters.

    Args:
        path: a model file, or a run directory whose ``best.flowkit`` is read.

    Returns:
        The header: ``format_version``, ``flowkit_version``, ``jax_version``,
        ``equinox_version``, ``model_class``, ``structure``, ``arrays`` (the manifest),
        ``metadata`` and the payload's size and SHA-256.

    Raises:
        ModelFileError: if the file is not a flowkit model file, is truncated or damaged, or
            was written by a newer format version.
    """
    return read_model_file(path, payload=False)[0]


def _check_fits(path, saved: list[dict], like: Any, source: str):
    wanted = manifest(like)
    if len(saved) != len(wanted):
        raise ModelFileError(
            path,
            f"the file holds {len(saved)} arrays but {source} has {len(wanted)}; "
            "build the same structure the model was saved with.",
        )
    for s, w in zip(saved, wanted, strict=True):
        if (s["shape"], s["dtype"]) != (w["shape"], w["dtype"]):
            hint = ""
            if {s["dtype"], w["dtype"]} == {"float64", "float32"}:
                hint = " (float64 needs jax.config.update('jax_enable_x64', True))"
            raise ModelFileError(
                path,
                f"array {s['path']} has shape {tuple(s['shape'])} and dtype {s['dtype']} "
                f"in the file, but {source} has {w['path']} with shape {tuple(w['shape'])} "
                f"and dtype {w['dtype']}{hint}; build the same structure the model was saved "
                "with.",
            )


def load(path: str | os.PathLike, like: Any = None) -> Any:
    """Read a model written by :func:`save`; bit-for-bit the parameters that were saved.

    ``path`` is a model file, or a run directory (``flowkit.fit(run_dir=...)``, ``flowkit
    train``), whose ``best.flowkit`` is read; pass ``run / "last.flowkit"`` for the last.

    The model is rebuilt from the structure stored in the file.

    Args:
        path: a model file, or a run directory.
        like: for a model whose structure could not be stored (it holds a lambda or a local
            class), or to load into a model of your own: a model of the same structure (any
            parameter values, or ``eqx.filter_eval_shape`` of its constructor) whose leaves
            are replaced. ``None`` rebuilds from the file.

    Returns:
        The model, with the saved parameters (same shapes and dtypes).

    Raises:
        ModelFileError: naming the file and the problem: not a model file, truncated or
            damaged, too new, no stored structure and no ``like``, or arrays that do not
            match ``like``.
    """
    header, payload = read_model_file(path)
    source = "the skeleton passed as like="
    if like is None:
        structure = header.get("structure")
        if structure is None:
            why = header.get("unrecordable") or "the file records no structure"
            raise ModelFileError(
                path,
                f"holds a {header.get('model_class')} whose structure could not be stored "
                f"({why}); build the same model in code and pass it: "
                "flowkit.load(path, like=skeleton).",
            )
        try:
            like = decode_structure(structure)
        except (ValueError, TypeError, ImportError, AttributeError, KeyError) as e:
            raise ModelFileError(
                path,
                f"cannot rebuild the model from its stored structure ({type(e).__name__}: "
                f"{e}); import the code that defines its classes, or build it and pass it: "
                "flowkit.load(path, like=skeleton).",
            ) from e
        source = f"the {header.get('model_class')} rebuilt from the file's structure"
    _check_fits(path, header["arrays"], like, source)
    return eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
