"""A model's structure as JSON, so :func:`flowkit.load` can rebuild it without user code.

The structure is everything but the array values: Equinox modules by class path and fields,
containers, static values (shapes, masks, activation functions), and a placeholder
(shape, dtype) where each array leaf sits. Decoding builds the same model with
``jax.ShapeDtypeStruct`` placeholders, into which the saved arrays are read. Nothing is
stored in the model itself, so flows stay pure pytrees (one compile for many seeds).

Classes and functions are stored by import path and imported on load, as pickle does: load
only files you trust.
"""

import dataclasses
import enum
import functools
import importlib
import inspect
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..flows._frozen_base import FrozenBase

# Public homes tried first for functions, so files do not name private jax modules.
_PUBLIC_MODULES = ("jax.nn", "jax.numpy", "jax.lax", "jax.scipy.special")


class UnrecordableStructure(ValueError):
    """A part of a model that has no JSON form (a lambda, a local class, an open file...)."""


def _path_of(obj: Any) -> str:
    """``module:qualname`` of a class or function, checked to import back to ``obj``."""
    name = getattr(obj, "__name__", None)
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        if name is not None and getattr(module, name, None) is obj:
            return f"{module_name}:{name}"
    module_name, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if module_name is None or "<" in qualname:
        raise UnrecordableStructure(f"{obj!r} has no import path (a lambda or a local object)")
    try:
        found = _import(f"{module_name}:{qualname}")
    except (ImportError, AttributeError) as e:
        raise UnrecordableStructure(f"{module_name}.{qualname} does not import back: {e}") from e
    if found is not obj:
        raise UnrecordableStructure(f"{module_name}.{qualname} imports to a different object")
    return f"{module_name}:{qualname}"


def _import(path: str) -> Any:
    module_name, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _array(value: Any, numpy: bool) -> dict:
    dtype = value.dtype
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        raise UnrecordableStructure("a PRNG key array inside the model")
    return {"$array": {"shape": list(value.shape), "dtype": str(dtype), "numpy": numpy}}


def _encode(value: Any, where: str, static: bool) -> Any:
    """The JSON form of ``value``; ``static`` says it is pytree metadata (kept by value)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return {"$scalar": {"dtype": str(value.dtype), "value": value.item()}}
    if isinstance(value, (jax.Array, jax.ShapeDtypeStruct)) and not static:
        return _array(value, numpy=False)
    if isinstance(value, np.ndarray):
        if static:
            return {"$ndarray": {"dtype": str(value.dtype), "data": value.tolist()}}
        return _array(value, numpy=True)
    if isinstance(value, (tuple, list)):
        items = [_encode(v, f"{where}[{i}]", static) for i, v in enumerate(value)]
        return {"$tuple" if isinstance(value, tuple) else "$list": items}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UnrecordableStructure(f"{where}: a dict with non-string keys")
        return {"$dict": {k: _encode(v, f"{where}[{k!r}]", static) for k, v in value.items()}}
    if isinstance(value, FrozenBase):
        # The distribution, not its flattened treedef (which has no JSON form).
        distribution = jax.tree_util.tree_unflatten(value.treedef, list(value.leaves))
        return {"$frozen_base": _encode(distribution, f"{where}.distribution", static)}
    if isinstance(value, eqx.Module):
        fields = {
            f.name: _encode(
                getattr(value, f.name),
                f"{where}.{f.name}",
                bool(static or f.metadata.get("static")),
            )
            for f in dataclasses.fields(value)
            if f.name in vars(value)  # a class-level default is not part of the instance
        }
        return {"$module": _path_of(type(value)), "fields": fields}
    if isinstance(value, enum.Enum):
        return {"$enum": _path_of(type(value)), "name": value.name}
    if isinstance(value, functools.partial):
        return {
            "$partial": {
                "func": _encode(value.func, f"{where}.func", static),
                "args": _encode(value.args, f"{where}.args", static),
                "keywords": _encode(value.keywords, f"{where}.keywords", static),
            }
        }
    if isinstance(value, type) or inspect.isroutine(value) or hasattr(value, "__wrapped__"):
        return {"$callable": _path_of(value)}  # a class or a function (jit/custom_jvp too)
    if hasattr(value, "__dict__"):  # a plain object (e.g. a distrax distribution): its state
        state = {k: _encode(v, f"{where}.{k}", static) for k, v in vars(value).items()}
        return {"$object": _path_of(type(value)), "state": state}
    raise UnrecordableStructure(f"{where}: {type(value).__name__} has no JSON form")


def encode_structure(model: Any) -> dict:
    """The JSON structure of ``model``: classes, fields, static values and array shapes.

    Args:
        model: any Equinox model or pytree.

    Returns:
        ``{"structure": ...}``, JSON values only.

    Raises:
        UnrecordableStructure: naming the part (by its path in the model) that has no JSON
            form, e.g. a lambda or a local class.
    """
    return {"structure": _encode(model, "model", static=False)}


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "$array" in value:
        spec = value["$array"]
        shape, dtype = tuple(spec["shape"]), np.dtype(spec["dtype"])
        return np.zeros(shape, dtype) if spec["numpy"] else jax.ShapeDtypeStruct(shape, dtype)
    if "$scalar" in value:
        return np.dtype(value["$scalar"]["dtype"]).type(value["$scalar"]["value"])
    if "$ndarray" in value:
        return np.asarray(value["$ndarray"]["data"], value["$ndarray"]["dtype"])
    if "$tuple" in value:
        return tuple(_decode(v) for v in value["$tuple"])
    if "$list" in value:
        return [_decode(v) for v in value["$list"]]
    if "$dict" in value:
        return {k: _decode(v) for k, v in value["$dict"].items()}
    if "$frozen_base" in value:
        return FrozenBase(_decode(value["$frozen_base"]))
    if "$module" in value:
        cls = _import(value["$module"])
        module = object.__new__(cls)  # as Equinox's own unflatten: fields set, no __init__
        for name, field in value["fields"].items():
            object.__setattr__(module, name, _decode(field))
        return module
    if "$enum" in value:
        return _import(value["$enum"])[value["name"]]
    if "$partial" in value:
        spec = value["$partial"]
        return functools.partial(
            _decode(spec["func"]), *_decode(spec["args"]), **_decode(spec["keywords"])
        )
    if "$callable" in value:
        return _import(value["$callable"])
    if "$object" in value:
        cls = _import(value["$object"])
        obj = cls.__new__(cls)  # the class's own __new__ (distrax registers pytrees there)
        obj.__dict__.update({k: _decode(v) for k, v in value["state"].items()})
        return obj
    raise ValueError(f"unknown structure entry with keys {sorted(value)}")


def decode_structure(data: dict) -> Any:
    """The model :func:`encode_structure` described.

    Args:
        data: what :func:`encode_structure` returned.

    Returns:
        The model, with ``jax.ShapeDtypeStruct`` (or, for numpy leaves, zero numpy arrays)
        where its arrays go.

    Raises:
        ValueError: on an entry of unknown kind.
        ImportError: if a class or function it names cannot be imported.
    """
    return _decode(data["structure"])
