"""Weighted sums of objectives."""

from collections.abc import Sequence
from typing import final

import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractObjective


@final
class WeightedSum(AbstractObjective):
    """A weighted sum of objectives (see `weighted_sum`)."""

    objectives: tuple[AbstractObjective, ...]
    weights: Float[Array, " terms"]

    def __call__(self, prediction, target):
        values = jnp.stack([jnp.asarray(o(prediction, target)) for o in self.objectives])
        return jnp.sum(self.weights.astype(values.dtype) * values)

    def terms(self, prediction: Array, target: Array) -> dict[str, Array]:
        """Each weighted term, keyed by position and objective name (for logging)."""
        return {f"{i}:{type(o).__name__.strip('_')}": w * o(prediction, target)
                for i, (w, o) in enumerate(zip(self.weights, self.objectives))}


def weighted_sum(*terms: tuple[float, AbstractObjective]) -> AbstractObjective:
    r"""$\sum_k w_k\,\mathrm{obj}_k(p, t)$ from `(weight, objective)` pairs. The weights are a
    traced array (changing them does not recompile)."""
    if not terms:
        raise ValueError("`weighted_sum` needs at least one (weight, objective) pair.")
    for t in terms:
        if not (isinstance(t, Sequence) and len(t) == 2 and isinstance(t[1], AbstractObjective)):
            raise ValueError(f"each term must be a (weight, objective) pair, got {t!r}.")
    weights = jnp.asarray([float(w) for w, _ in terms])
    return WeightedSum(objectives=tuple(o for _, o in terms), weights=weights)
