"""Griffe extension for the API pages: an Equinox module with no ``__init__`` of its own gets
the one Equinox generates from its fields, so its docstring's ``Args:`` match a signature.

Equinox makes every ``eqx.Module`` a dataclass through its metaclass, which griffe's static
analysis does not see (its dataclass support reads the ``@dataclass`` decorator only).
Without this, a module documenting its fields under ``Args:`` would warn under
``warn_unknown_params``. The signature is read from the imported class, so it is the one
Equinox really builds (fields with ``init=False`` left out, an inherited ``__init__`` kept).
"""

import importlib
import inspect
from typing import Any

import griffe

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: griffe.ParameterKind.positional_only,
    inspect.Parameter.POSITIONAL_OR_KEYWORD: griffe.ParameterKind.positional_or_keyword,
    inspect.Parameter.VAR_POSITIONAL: griffe.ParameterKind.var_positional,
    inspect.Parameter.KEYWORD_ONLY: griffe.ParameterKind.keyword_only,
    inspect.Parameter.VAR_KEYWORD: griffe.ParameterKind.var_keyword,
}


def _runtime_class(cls: griffe.Class) -> type | None:
    """The imported class ``cls`` describes, or None if it cannot be imported."""
    try:
        module = importlib.import_module(cls.module.path)
    except ImportError:
        return None
    obj: Any = module
    for part in cls.path[len(cls.module.path) + 1 :].split("."):
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _field_init(cls: griffe.Class, runtime: type) -> griffe.Function:
    """``__init__`` with the parameters of ``runtime``'s signature, typed by the fields'
    annotations as griffe read them."""
    parameters = [griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword)]
    for p in inspect.signature(runtime).parameters.values():
        field = cls.all_members.get(p.name)
        annotation = getattr(field, "annotation", None)
        if annotation is None and p.annotation is not inspect.Parameter.empty:
            annotation = inspect.formatannotation(p.annotation)
        default = None if p.default is inspect.Parameter.empty else repr(p.default)
        parameters.append(
            griffe.Parameter(p.name, annotation=annotation, kind=_KINDS[p.kind], default=default)
        )
    return griffe.Function(
        "__init__", parent=cls, parameters=griffe.Parameters(*parameters), returns="None"
    )


def _field_initialised(
    obj: griffe.Module | griffe.Class, equinox_module: type, seen: set[str]
) -> list[tuple[griffe.Class, type]]:
    """The Equinox modules under ``obj`` that neither define nor inherit an ``__init__`` in
    the source, each with its imported class."""
    if obj.path in seen:
        return []
    seen.add(obj.path)
    found = []
    if isinstance(obj, griffe.Class) and "__init__" not in obj.all_members:
        runtime = _runtime_class(obj)
        if runtime is not None and issubclass(runtime, equinox_module):
            found.append((obj, runtime))
    for member in obj.members.values():
        if not member.is_alias and (member.is_module or member.is_class):
            found += _field_initialised(member, equinox_module, seen)  # type: ignore[arg-type]
    return found


class EquinoxModuleInit(griffe.Extension):
    """Give field-initialised Equinox modules their generated ``__init__``."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Called by griffe once a package is loaded."""
        import equinox as eqx

        # All found before any is given one: a subclass must not see its parent's new one.
        for cls, runtime in _field_initialised(pkg, eqx.Module, set()):
            cls.set_member("__init__", _field_init(cls, runtime))
