"""Regenerate the catalogue table in docs/models.md from the code:
`.venv/bin/python docs/update_catalogue.py` (tests/test_catalogue.py checks it is current)."""

import pathlib

import brainmass_eqx as bmx


page = pathlib.Path(__file__).with_name("models.md")
text = page.read_text()
head, rest = text.split("<!-- catalogue:start -->\n")
_, tail = rest.split("\n<!-- catalogue:end -->")
text = (f"{head}<!-- catalogue:start -->\n{bmx.list_models.to_markdown()}\n"
        f"<!-- catalogue:end -->{tail}")
head, rest = text.split("<!-- parameters:start -->\n")
_, tail = rest.split("\n<!-- parameters:end -->")
page.write_text(f"{head}<!-- parameters:start -->\n{bmx.list_models.parameters_markdown()}\n"
                f"<!-- parameters:end -->{tail}")
