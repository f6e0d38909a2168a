"""The model catalogue, generated from the models' class metadata (never hand-kept)."""

import dataclasses
from typing import NamedTuple, final

import numpy as np

from .._core._units import unit_label
from ._base import AbstractNeuralMass
from ._epileptor import Epileptor
from ._hopf import Hopf
from ._horn import (
    HORNCell,
    HORNSeqLayer,
    HORNSeqNetwork,
)
from ._kuramoto import Kuramoto
from ._larter_breakspear import LarterBreakspear
from ._linear import Linear
from ._mean_field import (
    CoombesByrne,
    JansenRit,
    MontbrioPazoRoxin,
)
from ._oscillators import (
    FitzHughNagumo,
    FitzHughNagumoGeneral,
    Generic2dOscillator,
    Lorenz,
    StuartLandau,
    ThresholdLinear,
    VanDerPol,
)
from ._wilson_cowan import (
    WilsonCowan,
    WilsonCowanAdaptive,
    WilsonCowanDivisive,
    WilsonCowanThreePopulation,
)
from ._wong_wang import WongWang, WongWangExcInh


#: Every concrete model shipped with the package, in catalogue order.
ALL_MODELS: tuple[type[AbstractNeuralMass], ...] = (
    Hopf,
    StuartLandau,
    VanDerPol,
    FitzHughNagumo,
    FitzHughNagumoGeneral,
    ThresholdLinear,
    Generic2dOscillator,
    Lorenz,
    Linear,
    WilsonCowan,
    WilsonCowanAdaptive,
    WilsonCowanThreePopulation,
    WilsonCowanDivisive,
    JansenRit,
    WongWang,
    WongWangExcInh,
    MontbrioPazoRoxin,
    CoombesByrne,
    LarterBreakspear,
    Epileptor,
    Kuramoto,
    HORNCell,
)

#: Sequence models (equinox modules mapping an input sequence to outputs), in the catalogue too.
SEQUENCE_MODELS: tuple[type, ...] = (HORNSeqLayer, HORNSeqNetwork)


@final
class ModelInfo(NamedTuple):
    """One catalogue record."""

    name: str
    category: str
    n_states: int
    use_case: str

    @property
    def n_state_vars(self) -> int:
        """Alias of `n_states` (the brainmass field name)."""
        return self.n_states


def model_info(cls: type[AbstractNeuralMass] | type) -> ModelInfo:
    """The catalogue record of one model class."""
    return ModelInfo(cls.__name__, cls.category, len(cls.state_names), cls.use_case)


@final
class _ListModels:
    """`list_models()` returns one [`brainmass_eqx.ModelInfo`][] per shipped model;
    `list_models.to_table()` formats them as a plain-text table.

    !!! example

        ```python
        import brainmass_eqx as bmx
        [m.name for m in bmx.list_models() if m.category == "physiological"]
        print(bmx.list_models.to_table())
        ```
    """

    def __call__(self, category: str | None = None) -> list[ModelInfo]:
        """All models, optionally only those of one `category`."""
        records = [model_info(cls) for cls in ALL_MODELS + SEQUENCE_MODELS]
        if category is None:
            return records
        categories = sorted({r.category for r in records})
        if category not in categories:
            raise ValueError(f"Unknown `category` {category!r}; choose one of {categories}.")
        return [r for r in records if r.category == category]

    def to_table(self, category: str | None = None) -> str:
        """The catalogue as an aligned plain-text table (`name, category, #states, use_case`)."""
        rows = [("name", "category", "#states", "use_case")]
        rows += [(r.name, r.category, str(r.n_states), r.use_case) for r in self(category)]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_markdown(self, category: str | None = None) -> str:
        """The catalogue as a Markdown table (used by the docs)."""
        lines = ["| name | category | #states | use case |", "|---|---|---|---|"]
        lines += [f"| `{r.name}` | {r.category} | {r.n_states} | {r.use_case} |"
                  for r in self(category)]
        return "\n".join(lines)

    def parameters_markdown(self) -> str:
        """Every model's parameters as Markdown tables (name, default, unit, meaning), read from
        the `param` fields (used by the docs: the units are the canonical ms/mV/Hz/mm system, in
        which a plain number is read; a `unxt.Quantity` of any compatible unit converts)."""
        sections = []
        for cls in ALL_MODELS:
            lines = [f"### `{cls.__name__}`", "", "| parameter | default | unit | meaning |",
                     "|---|---|---|---|"]
            defaults = cls()
            for name, meta in cls.param_fields().items():
                value = np.asarray(getattr(defaults, name))
                lines.append(f"| `{name}` | {float(value):.6g} | "
                             f"{unit_label(meta['unit']) or 'dimensionless'} | {meta['doc']} |")
            flags = [f for f in dataclasses.fields(cls) if f.metadata.get("flag")]
            lines += [f"| `{f.name}` | {f.default} | switch | {f.metadata['doc']} |"
                      for f in flags]
            sections.append("\n".join(lines))
        return "\n\n".join(sections)

    def __repr__(self) -> str:
        return "<function list_models>"


list_models = _ListModels()
