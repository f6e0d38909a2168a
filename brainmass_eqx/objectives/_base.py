"""The objective base class: `fn(prediction, target) -> scalar`."""

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractObjective(eqx.Module):
    """An objective `fn(prediction, target) -> scalar` (lower is better for losses).

    Objectives are pytrees: the target is always an *argument*, never a closed-over constant
    (a constant target is folded into the program at every compilation), and configuration
    is static. Add them with weights through
    [`brainmass_eqx.objectives.weighted_sum`][]. Subclass and implement `__call__` for your
    own.
    """

    @abc.abstractmethod
    def __call__(self, prediction: Array, target: Array) -> Float[Array, ""]:
        """The scalar objective."""


def same_shape(p: Array, t: Array) -> None:
    if jnp.shape(p) != jnp.shape(t):
        raise ValueError(f"`prediction` {jnp.shape(p)} and `target` {jnp.shape(t)} must have "
                         "the same shape.")
