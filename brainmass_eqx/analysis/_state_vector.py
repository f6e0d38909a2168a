"""A system's state dict as one vector (state-major: every node of the first state, then the
next), and back: what root finding, Jacobians and spectra work on."""

from typing import final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core._types import State
from .._models import AbstractSystem


@final
class StateLayout(eqx.Module):
    """How a state dict of `system` maps to a vector: `names` in order, each of `shape`."""

    names: tuple[str, ...] = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)

    @staticmethod
    def of(system: AbstractSystem, shape: tuple[int, ...] | None = None) -> "StateLayout":
        return StateLayout(tuple(system.state_names),
                           tuple(system.node_shape if shape is None else shape))

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n * len(self.names)

    def flatten(self, y: State) -> Float[Array, " d"]:
        return jnp.concatenate([jnp.broadcast_to(y[k], self.shape).ravel() for k in self.names])

    def unflatten(self, v: Float[Array, " d"]) -> State:
        n = self.size // len(self.names)
        return {k: v[i * n:(i + 1) * n].reshape(self.shape) for i, k in enumerate(self.names)}


def complex_dtype(dtype) -> jnp.dtype:
    """The complex dtype of a real one's precision (no implicit promotion is needed)."""
    return jnp.dtype(jnp.complex128 if jnp.dtype(dtype) == jnp.float64 else jnp.complex64)
