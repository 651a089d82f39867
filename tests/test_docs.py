"""The docs' code runs as written: each page's ```python blocks, in order, in one namespace,
in a temporary folder. A block preceded by a ``<!-- skip -->`` line is left out (only where
it needs data or time the tests do not have); every page is in the site's navigation."""

import re
from pathlib import Path

import pytest

from ._markdown import code_blocks

DOCS = Path(__file__).resolve().parents[1] / "docs"

NOT_RUN_YET = {
    "data.md": "its first block downloads Fashion-MNIST, which the tests cannot reach",
}
"""Pages whose blocks cannot run here, and why."""


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_docs_page_code_runs(page, tmp_path, monkeypatch):
    if page in NOT_RUN_YET:
        pytest.skip(NOT_RUN_YET[page])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for code in code_blocks(DOCS / page, "python", skipped=False):
        exec(compile(code, str(DOCS / page), "exec"), namespace)  # noqa: S102


def test_every_docs_page_is_in_the_site_navigation():
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    listed = set(re.findall(r"^\s*-\s*(?:[^:\n]+:\s*)?([\w/]+\.md)\s*$", nav, flags=re.M))
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert not pages - listed, f"docs pages missing from mkdocs.yml's nav: {pages - listed}"
    assert not listed - pages, f"mkdocs.yml's nav names missing pages: {listed - pages}"
