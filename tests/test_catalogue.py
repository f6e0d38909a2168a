import pytest

import brainmass_eqx as bmx
from brainmass_eqx._models import ALL_MODELS, SEQUENCE_MODELS, AbstractNeuralMass


def _concrete_subclasses(cls):
    for sub in cls.__subclasses__():
        if not getattr(sub, "__abstractmethods__", None):
            yield sub
        yield from _concrete_subclasses(sub)


def test_catalogue_is_generated_from_every_concrete_model():
    # the discovered `SparseModel` is a model without fixed equations (they come from data),
    # so it is not in the catalogue
    shipped = {c for c in _concrete_subclasses(AbstractNeuralMass)
               if c.__module__.startswith("brainmass_eqx")
               and not c.__module__.startswith("brainmass_eqx.discovery")}
    assert shipped == set(ALL_MODELS)
    records = bmx.list_models()
    assert [r.name for r in records] == [c.__name__ for c in ALL_MODELS + SEQUENCE_MODELS]
    for r, cls in zip(records, ALL_MODELS + SEQUENCE_MODELS):
        assert r.n_states == r.n_state_vars == len(cls.state_names)
        assert r.category == cls.category and r.use_case == cls.use_case
        assert getattr(bmx, r.name) is cls


def test_filter_by_category_and_table():
    phen = bmx.list_models("phenomenological")
    assert {"Hopf", "Linear"} <= {r.name for r in phen}
    table = bmx.list_models.to_table()
    lines = table.splitlines()
    assert lines[0].split() == ["name", "category", "#states", "use_case"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == len(bmx.list_models()) + 2
    assert "| `Hopf` | phenomenological | 2 |" in bmx.list_models.to_markdown()
    with pytest.raises(ValueError, match="Unknown `category`"):
        bmx.list_models("astrological")


def test_docs_catalogue_table_is_generated_from_the_code():
    import pathlib

    page = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    table = page.split("<!-- catalogue:start -->\n")[1].split("\n<!-- catalogue:end -->")[0]
    assert table == bmx.list_models.to_markdown()
    params = page.split("<!-- parameters:start -->\n")[1].split("\n<!-- parameters:end -->")[0]
    assert params == bmx.list_models.parameters_markdown()


def test_parameter_tables_give_every_parameter_and_its_unit():
    tables = bmx.list_models.parameters_markdown()
    assert "| `a` | 0.25 | 1/ms | bifurcation parameter |" in tables  # Hopf
    assert "| `d_E` | 160 | ms | E curvature |" in tables  # WongWangExcInh, in ms
    assert "| `shift_sigmoid` | True | switch |" in tables
    for cls in ALL_MODELS:
        section = tables.split(f"### `{cls.__name__}`\n")[1].split("### ")[0]
        assert all(f"| `{name}` |" in section for name in cls.param_fields())
