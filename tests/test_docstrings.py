"""Every public callable with parameters documents each of them under ``Args:`` (issue 28):
the API site renders these sections, one entry per parameter."""

import importlib
import inspect
import re
import typing

import pytest

import flowkit as fk

PACKAGES = ["flowkit"] + [f"flowkit.{p}" for p in fk._SUBPACKAGES]

# An entry of an ``Args:`` section, as ``inspect.getdoc`` dedents it: "    name:" or
# "    name (type):"; a grouped entry ("    a, b:") matches neither a nor b.
_ENTRY = re.compile(r"^    (\*{0,2}\w+)(?: \([^)]*\))?:", re.M)
_ARGS = re.compile(r"^Args:\n((?:[ \t]+.*\n?|\n)*)", re.M)


def _documented(doc: str) -> set[str] | None:
    """The parameter names an ``Args:`` section lists, or None if ``doc`` has none."""
    section = _ARGS.search(doc)
    return None if section is None else {m.lstrip("*") for m in _ENTRY.findall(section[1])}


def _undocumented(package: str) -> list[str]:
    """``"name: problem"`` for each public callable of ``package`` whose ``Args:`` section is
    missing or does not list exactly its parameters."""
    module = importlib.import_module(package)
    problems = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        if typing.get_origin(obj) is typing.Literal:
            continue
        try:
            params = [p for p in inspect.signature(obj).parameters if p != "self"]
        except (TypeError, ValueError):
            continue
        if not params:
            continue
        documented = _documented(inspect.getdoc(obj) or "")
        if documented is None:
            problems.append(f"{name}: no Args: section")
            continue
        missing = [p for p in params if p not in documented]
        unknown = sorted(documented - set(params))
        if missing or unknown:
            problems.append(f"{name}: Args: lacks {missing}, lists unknown {unknown}")
    return problems


def test_documented_finds_each_entry_and_no_grouped_one():
    doc = "Summary.\n\nArgs:\n    x: one event.\n    a, b: two.\n    *rest (int): more\n"
    assert _documented(doc) == {"x", "rest"}
    assert _documented("Summary.\n\nReturns:\n    x.\n") is None


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_callable_documents_its_parameters(package):
    assert _undocumented(package) == []
