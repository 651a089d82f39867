"""Code blocks of markdown files, for the tests that run the README's and the docs' code."""

import re
import textwrap
from pathlib import Path

SKIP = "<!-- skip -->"
"""A line right before a code block that opts it out of the docs tests (tests/test_docs.py)."""


def code_blocks(path: Path, language: str, *, skipped: bool = True) -> list[str]:
    """The ```language blocks of the markdown file at ``path``, in order.

    Args:
        path: the markdown file.
        language: the fence's language tag, e.g. ``"python"`` or ``"bash"``.
        skipped: whether to include blocks preceded by a ``<!-- skip -->`` line.

    Returns:
        The blocks' code, without the fences, dedented.
    """
    found = re.findall(
        rf"({re.escape(SKIP)}[ \t]*\n[ \t]*)?```{language}\n(.*?)```", path.read_text(), flags=re.S
    )
    # a block inside a list item is indented with it
    return [textwrap.dedent(code) for marker, code in found if skipped or not marker]
