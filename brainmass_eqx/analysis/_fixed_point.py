r"""Equilibria: $f(y^*) = 0$ by optimistix root finding (Newton, falling back to
Levenberg-Marquardt least squares), differentiable by implicit differentiation."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Float

from .._core._types import State
from .._models import AbstractSystem
from .._network import Network
from ._jacobian import constant_inputs
from ._state_vector import StateLayout


@final
class FixedPoint(eqx.Module):
    """An equilibrium: the `state` (the system's state dict), whether the solve `converged`,
    and the `residual` $\\max_k |f_k(y^*)|$ (per ms)."""

    state: State
    converged: Bool[Array, ""]
    residual: Float[Array, ""]


def _residual_fn(layout: StateLayout):
    def fn(v, args):
        system, u = args
        y = layout.unflatten(v)
        if isinstance(system, Network):
            # at an equilibrium every delayed value equals the current one
            w = system.effective_weights().astype(v.dtype)
            dy = system.drift(jnp.zeros((), v.dtype), y, u, system.instantaneous_sums(y, w),
                              jnp.sum(w, axis=-1))
        else:
            dy = system.vector_field(jnp.zeros((), v.dtype), y, u)
        return layout.flatten(dy)

    return fn


def fixed_point(system: AbstractSystem, y0: State | None = None, *, inputs: Any = None,
                rtol: float = 1e-8, atol: float = 1e-8, max_steps: int = 256) -> FixedPoint:
    r"""An equilibrium of `system` near the guess `y0` (default: the system's deterministic
    initial state), with constant `inputs` (a dict keyed by input names, or an array for the
    first input).

    Newton's method (`optimistix.Newton`) from `y0`; where it does not converge,
    Levenberg-Marquardt least squares on $\|f(y)\|^2$ from the same guess. For a delayed
    network the delayed states equal the equilibrium (delays do not move equilibria). Gradients
    with respect to the system's parameters come from implicit differentiation
    ($\partial y^* / \partial\theta = -J^{-1}\,\partial f / \partial\theta$). jit- and
    vmap-safe: vmap over a batch of guesses, or use `fixed_points` to deduplicate them.

    **Returns:** a [`brainmass_eqx.analysis.FixedPoint`][].
    """
    if not isinstance(system, AbstractSystem):
        raise ValueError(f"`system` must be a model or a Network, got {type(system).__name__}.")
    layout = StateLayout.of(system)
    if y0 is None:
        y0 = system.initial_state()
    missing = set(system.state_names) - set(y0)
    if missing:
        raise ValueError(f"`y0` lacks the states {sorted(missing)} of {type(system).__name__}.")
    dtype = jnp.result_type(*jax.tree.leaves(y0), system.dtype)
    v0 = layout.flatten({k: jnp.asarray(y0[k], dtype) for k in layout.names})
    u = constant_inputs(system, inputs, layout.shape, dtype)
    fn = _residual_fn(layout)
    args = (system, u)
    newton = optx.root_find(fn, optx.Newton(rtol=rtol, atol=atol), v0, args,
                            max_steps=max_steps, throw=False)

    def fallback():
        sol = optx.least_squares(fn, optx.LevenbergMarquardt(rtol=rtol, atol=atol), v0, args,
                                 max_steps=max_steps, throw=False)
        return sol.value

    ok = newton.result == optx.RESULTS.successful
    value = jax.lax.cond(ok, lambda: newton.value, fallback)
    residual = jnp.max(jnp.abs(fn(value, args)))
    scale = atol + rtol * jnp.max(jnp.abs(value))
    converged = jnp.isfinite(residual) & (residual <= 100 * scale)
    return FixedPoint(layout.unflatten(value), converged, residual)


def fixed_points(system: AbstractSystem, guesses: State, *, inputs: Any = None,
                 tol: float = 1e-5, **kwargs: Any) -> FixedPoint:
    """The distinct converged equilibria reached from a batch of `guesses` (a state dict whose
    arrays have a leading batch axis), solved in one vmapped call and deduplicated (two
    equilibria within `tol` in every state value are one). Returns a `FixedPoint` whose arrays
    have a leading axis over the distinct equilibria (possibly empty)."""
    batch = jax.vmap(lambda g: fixed_point(system, g, inputs=inputs, **kwargs))(guesses)
    layout = StateLayout.of(system)
    vectors = np.asarray(jax.vmap(layout.flatten)(batch.state))
    keep: list[int] = []
    for k in np.flatnonzero(np.asarray(batch.converged)):
        if all(np.max(np.abs(vectors[k] - vectors[m])) > tol for m in keep):
            keep.append(int(k))
    index = jnp.asarray(keep, jnp.int32)
    return jax.tree.map(lambda x: x[index], batch)
