"""Griffe extension for the API pages: ``from ._x import Name as Name`` in a module without
``__all__`` marks ``Name`` as public (the re-export convention flowkit's packages use).

A module with ``__all__`` is left to it: ``__all__`` decides.
"""

import ast
from typing import Any

import griffe


class RedundantAliasIsPublic(griffe.Extension):
    """Mark redundant aliases (``import a as a``) public where no ``__all__`` says otherwise."""

    def on_alias_instance(self, *, node: Any, alias: griffe.Alias, **kwargs: Any) -> None:
        """Called by griffe for each alias it creates while visiting a module."""
        if not isinstance(node, ast.ImportFrom) or alias.name.startswith("_"):
            return
        for name in node.names:
            if name.asname == alias.name and name.name == alias.name:
                alias.public = True
