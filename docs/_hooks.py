"""MkDocs hook: links from a docs page to repository files outside docs/ (``../benchmarks/...``,
``../README.md``) name the file instead, so ``mkdocs build --strict`` accepts them and the
pages still read well on GitHub, where the relative links work."""

import re

_OUTSIDE = re.compile(r"(?<!!)\[([^\]]+)\]\(\.\./([^)#\s]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, **kwargs) -> str:
    """``[text](../path)`` -> ``text (`path` in the repository)``."""
    return _OUTSIDE.sub(r"\1 (`\2` in the repository)", markdown)
