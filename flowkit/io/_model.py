"""``save`` / ``load`` a flow (or any Equinox model) with what is needed to rebuild it."""

import importlib.metadata
import io
import os
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import numpy as np

from ..flows._recipe import parse_recipe, rebuild
from ._format import FORMAT_VERSION, ModelFileError, read_model_file, write_model_file


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _is_stored(leaf: Any) -> bool:
    """The leaves ``eqx.tree_serialise_leaves`` writes (arrays of any dtype, Python scalars)."""
    return isinstance(leaf, jax.ShapeDtypeStruct) or eqx.is_array_like(leaf)


def manifest(model: Any) -> list[dict[str, Any]]:
    """Path, shape and dtype of every stored leaf of ``model``, in storage order."""
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


def save(path: str | os.PathLike, model: Any, *, metadata: dict | None = None) -> Path:
    """Write ``model``'s parameters and, for factory-built flows, how to rebuild it.

    One file, written atomically. ``metadata`` (JSON values: epoch, validation loss, ...)
    is stored beside it and read back by :func:`model_info`. Returns the path.
    """
    payload = io.BytesIO()
    eqx.tree_serialise_leaves(payload, model)
    header = {
        "format": "flowkit model",
        "format_version": FORMAT_VERSION,
        "flowkit_version": _version("flowkit"),
        "jax_version": jax.__version__,
        "equinox_version": eqx.__version__,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "recipe": parse_recipe(getattr(model, "recipe", None)),
        "arrays": manifest(model),
        "metadata": metadata or {},
    }
    return write_model_file(path, header, payload.getvalue())


def model_info(path: str | os.PathLike) -> dict[str, Any]:
    """The header of a model file (versions, recipe, array manifest, metadata), checked."""
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

    A flow built by a flowkit factory is rebuilt from its recorded recipe. For a
    hand-composed model pass ``like=``: a model of the same structure (any parameter values,
    or ``eqx.filter_eval_shape`` of its constructor) whose leaves are replaced.
    Raises :class:`ModelFileError` naming the file and the problem.
    """
    header, payload = read_model_file(path)
    source = "the skeleton passed as like="
    if like is None:
        recipe = header.get("recipe")
        if recipe is None:
            raise ModelFileError(
                path,
                f"holds a hand-composed model ({header.get('model_class')}) with no "
                "recorded factory, so its structure cannot be rebuilt from the file; build "
                "the same model in code and pass it: flowkit.load(path, like=skeleton).",
            )
        try:
            like = rebuild(recipe)
        except (ValueError, TypeError) as e:
            raise ModelFileError(
                path,
                f"cannot rebuild the model: {e}; build it in code and pass it: "
                "flowkit.load(path, like=skeleton).",
            ) from e
        source = f"{recipe['factory']}() rebuilt from the recorded arguments"
    _check_fits(path, header["arrays"], like, source)
    return eqx.tree_deserialise_leaves(io.BytesIO(payload), like)
