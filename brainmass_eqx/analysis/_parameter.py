"""The one parameter a continuation varies: a field of the system selected as for
`eqx.tree_at`, or a constant input (`Drive`)."""

from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._models import AbstractSystem
from ._jacobian import constant_inputs


Setting = tuple[AbstractSystem, dict[str, Array]]


@final
class Drive(eqx.Module):
    """A constant input of the system as the continuation parameter, e.g.
    `analysis.Drive("E")` for Wilson-Cowan's external drive $P$ onto the excitatory
    population (the same value at every node)."""

    name: str = eqx.field(static=True)


def parametrise(system: AbstractSystem, where: Callable[[Any], Any] | Drive, inputs: Any,
                dtype: Any) -> Callable[[Any], Setting]:
    """`p -> (system, inputs)` with the selected parameter set to `p`: a scalar field is
    replaced, a per-region field is scaled as one (`p` multiplies its pattern, normalised by its
    first non-zero value), a `Drive` sets that input everywhere."""
    shape = tuple(system.node_shape)
    u = constant_inputs(system, inputs, shape, dtype)
    if isinstance(where, Drive):
        if where.name not in system.input_names:
            raise ValueError(f"`Drive({where.name!r})`: {type(system).__name__} has the inputs "
                             f"{system.input_names}.")

        def drive(p):
            return system, {**u, where.name: jnp.broadcast_to(jnp.asarray(p, dtype), shape)}

        return drive
    if not callable(where):
        raise ValueError("`where` must be a callable selecting one parameter, e.g. "
                         "`lambda m: m.a` or `lambda net: net.coupling.k`, or an "
                         "`analysis.Drive(name)` for a constant input.")
    base = jnp.asarray(where(system))

    def set_field(p):
        flat = jnp.ravel(base)
        value = p if base.ndim == 0 else base * (p / flat[jnp.argmax(flat != 0)])
        return eqx.tree_at(where, system, jnp.asarray(value, base.dtype)), u

    return set_field
