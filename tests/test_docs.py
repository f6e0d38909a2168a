"""The code in the README and the docs pages runs (so the documentation cannot rot)."""

import pathlib
import re

import pytest


ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_python_examples_run(page):
    namespace: dict = {}
    for block in _python_blocks(page.read_text()):
        exec(compile(block, str(page), "exec"), namespace)
