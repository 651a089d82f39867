"""How a flow was built: factory functions record their name and arguments on the flow.

``@flow_factory`` wraps a function returning a :class:`Flow`; the flow it returns carries a
``recipe`` (a JSON string: the factory's name, its keyword arguments with defaults filled in,
and the PRNG key's raw data) in a static field. :func:`flowkit.save` stores it, and
:func:`flowkit.load` rebuilds the structure from it without user code, then restores the
saved parameters. Arguments that cannot be written as JSON (a lambda activation, an array)
leave a recipe that says so; such a flow loads with ``like=`` instead.
"""

import functools
import inspect
import json
from collections.abc import Callable
from typing import Any, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._flow import Flow

F = TypeVar("F", bound=Callable[..., Flow])

_FACTORIES: dict[str, Callable[..., Flow]] = {}
# Named callables a recipe may hold (activations); looked up by identity, restored by name.
_CALLABLE_MODULES = {"jax.nn": jax.nn, "jax.numpy": jnp}


class UnrecordableArgument(ValueError):
    """A factory argument that has no JSON form."""


def _short(value: Any) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _callable_name(fn: Callable) -> str:
    for prefix, module in _CALLABLE_MODULES.items():
        name = getattr(fn, "__name__", None)
        if name is not None and getattr(module, name, None) is fn:
            return f"{prefix}.{name}"
    modules = " or ".join(_CALLABLE_MODULES)
    raise UnrecordableArgument(f"{_short(fn)} is not a function of {modules}")


def _encode(value: Any) -> Any:
    """A JSON form of a factory argument; tagged dicts for callables and keys."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_encode(v) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"$dict": {k: _encode(v) for k, v in value.items()}}
    if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
        impl = str(jax.random.key_impl(value))
        try:
            with jax.ensure_compile_time_eval():  # a concrete key stays concrete in a trace
                data = np.asarray(jax.random.key_data(value)).tolist()
        except jax.errors.TracerArrayConversionError:
            # Built under jit: the structure cannot depend on the key's value, so any key
            # rebuilds it (the parameters come from the file).
            return {"$key": None}
        return {"$key": {"impl": impl, "data": data}}
    if callable(value):
        return {"$callable": _callable_name(value)}
    raise UnrecordableArgument(f"{_short(value)} ({type(value).__name__}) has no JSON form")


def _decode(value: Any) -> Any:
    """Invert :func:`_encode` (JSON lists come back as tuples)."""
    if isinstance(value, list):
        return tuple(_decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if "$dict" in value:
        return {k: _decode(v) for k, v in value["$dict"].items()}
    if "$key" in value:
        if value["$key"] is None:
            return jax.random.key(0)
        data = jnp.asarray(value["$key"]["data"], jnp.uint32)
        return jax.random.wrap_key_data(data, impl=value["$key"]["impl"])
    if "$callable" in value:
        prefix, _, name = value["$callable"].rpartition(".")
        if prefix not in _CALLABLE_MODULES or not hasattr(_CALLABLE_MODULES[prefix], name):
            raise ValueError(f"unknown function {value['$callable']!r} in the recipe")
        return getattr(_CALLABLE_MODULES[prefix], name)
    raise ValueError(f"unknown recipe entry {value!r}")


def _raw_key(key: Any) -> Any:
    """Legacy uint32 keys are recorded as typed threefry keys (same random stream)."""
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(key))
    return key


def make_recipe(name: str, arguments: dict[str, Any]) -> str:
    """The JSON recipe for ``name(**arguments)``; a flow-level note if some cannot be stored."""
    encoded, unrecordable = {}, {}
    for arg, value in arguments.items():
        try:
            encoded[arg] = _encode(_raw_key(value) if arg == "key" else value)
        except UnrecordableArgument as e:
            unrecordable[arg] = str(e)
    recipe: dict[str, Any] = {"factory": name, "kwargs": encoded}
    if unrecordable:
        recipe = {"factory": name, "unrecordable": unrecordable}
    return json.dumps(recipe, sort_keys=True, allow_nan=True)


def flow_factory(fn: F) -> F:
    """Register ``fn`` (keyword arguments -> :class:`Flow`) and record its calls on its flows.

    Every flow ``fn`` returns carries ``fn``'s name, its arguments (defaults filled in) and
    its key, so :func:`flowkit.load` can rebuild it. Arguments must be JSON values, tuples,
    keys or functions of ``jax.nn``/``jax.numpy``; others leave a recipe noting them.
    Your own factories can use this too; import them before loading their flows.
    """
    name = fn.__name__
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        flow = fn(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return Flow(flow.bijector, flow.frozen_base, recipe=make_recipe(name, bound.arguments))

    previous = _FACTORIES.get(name)
    if previous is not None and (previous.__module__, previous.__qualname__) != (
        fn.__module__,
        fn.__qualname__,
    ):
        raise ValueError(
            f"flow_factory: a factory named {name!r} is already registered "
            f"({previous.__module__}.{previous.__qualname__}); rename {fn.__qualname__}."
        )
    _FACTORIES[name] = wrapper
    return wrapper  # type: ignore[return-value]


def parse_recipe(recipe: str | None) -> dict[str, Any] | None:
    """The recipe as a dict (``factory``, ``kwargs`` or ``unrecordable``), or None."""
    return None if recipe is None else json.loads(recipe)


def rebuild(recipe: dict[str, Any]) -> Flow:
    """The recorded factory's flow structure: abstract arrays (``jax.ShapeDtypeStruct``) where
    the factory can run under ``eqx.filter_eval_shape`` (no initialisation cost), otherwise a
    concrete flow. Raises ValueError when the recipe cannot be followed."""
    name = recipe["factory"]
    if "unrecordable" in recipe:
        args = "; ".join(f"{k}={v}" for k, v in recipe["unrecordable"].items())
        raise ValueError(f"it was built by {name}() with arguments that cannot be stored ({args})")
    if name not in _FACTORIES:
        raise ValueError(
            f"it was built by the factory {name!r}, which is not registered in this process "
            f"(known: {', '.join(sorted(_FACTORIES))}); import the module that defines it"
        )
    kwargs = {k: _decode(v) for k, v in recipe["kwargs"].items()}
    factory = _FACTORIES[name]
    try:
        return eqx.filter_eval_shape(lambda: factory(**kwargs))
    except Exception:  # e.g. static structure computed from concrete values: build for real
        return factory(**kwargs)
