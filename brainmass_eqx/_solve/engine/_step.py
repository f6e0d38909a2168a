r"""One fixed step of a network run: the vector field of a step (its stages read the delayed
sums interpolated between step ends), the diffrax terms driven by the step's Brownian
increment, and the step itself, explicit Runge-Kutta methods stepped from their tableau."""

from typing import Any, ClassVar, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from .. import _vector_field as vf
from .._vector_field import Augmented
from ._config import ScanConfig
from ._state import Params


@final
class StepIncrement(dfx.AbstractBrownianPath):
    """The Brownian increment of one step, drawn outside the solver (a fixed increment)."""

    dw: PyTree
    levy_area: ClassVar[type] = dfx.BrownianIncrement

    @property
    def t0(self):
        return None

    @property
    def t1(self):
        return None

    def evaluate(self, t0, t1=None, left=True, use_levy=False):
        del t0, t1, left, use_levy
        return self.dw


@final
class StepArgs(eqx.Module):
    """What the vector field of step `k` of a base block reads: the block's delayed sums
    `rows` (row `m` at the end of step `m - 1`) and the step's start time `t_start` (ms)."""

    rows: Float[Array, "rows channels nodes"]
    k: Int[Array, ""]
    t_start: Float[Array, ""]


def fields(params: Params, cfg: ScanConfig, dtype: Any, weights: Array, strength: Array):
    """`(drift, diffusion)` of a network run, `f(t_local, state, args: StepArgs)`: the stage at
    `t_start + t_local` of step `k` reads its delayed sums interpolated linearly between the
    block's `rows` $k$ and $k + 1$ (without delays, the instantaneous sums)."""
    net, inputs, monitors = params.system, params.inputs, params.monitors

    def drift(t_local, state: Augmented, args: StepArgs) -> Augmented:
        if cfg.plan is None:
            sums = net.instantaneous_sums(state.y, weights)
        else:
            c = (t_local / cfg.dt).astype(dtype)
            lo = jax.lax.dynamic_index_in_dim(args.rows, args.k, keepdims=False)
            hi = jax.lax.dynamic_index_in_dim(args.rows, args.k + 1, keepdims=False)
            sums = lo + c * (hi - lo)
        return vf.drift(net, inputs, monitors, args.t_start + t_local, state, sums, strength)

    def diffusion(t, state: Augmented, args: StepArgs):
        del t, args
        return vf.diffusion(net, state)

    return drift, diffusion


def terms(drift, diffusion, stochastic: bool, dw: PyTree | None) -> dfx.AbstractTerm:
    """The diffrax terms of a step: the drift, and with noise the diffusion driven by the
    step's Brownian increment `dw`."""
    if not stochastic:
        return dfx.ODETerm(drift)
    return dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(diffusion, StepIncrement(dw)))


def solver_step(solver: dfx.AbstractSolver, terms: dfx.AbstractTerm, t0: Array, t1: Array,
                y0: PyTree, args: Any, solver_state: PyTree) -> tuple[PyTree, PyTree]:
    r"""One fixed step of `solver` from `y0` (a fresh start, `made_jump`): `(state, solver
    state)`.

    An explicit Runge-Kutta method (Heun, RK4, ...) is stepped here from its Butcher tableau,
    with its stages unrolled; it computes the same $y_1 = y_0 + \sum_i b_i k_i$,
    $k_i = \mathrm{vf\_prod}(t_0 + c_i h, y_0 + \sum_{j<i} a_{ij} k_j)$ as diffrax's `step`,
    whose loop over stages (made for adaptive stepping, with error estimates and dense output)
    dominated the reverse pass of delayed networks. Every step is a fresh start, so a
    first-same-as-last method's state is never read and is passed on unchanged. Other solvers
    use their own `step`."""
    if not isinstance(solver, dfx.AbstractERK):
        y1, _, _, ss1, _ = solver.step(terms, t0, t1, y0, args, solver_state, made_jump=True)
        return y1, ss1
    tableau = solver.tableau
    control = terms.contr(t0, t1)

    def combine(coeffs, ks):  # y0 + sum_j coeffs[j] ks[j], without the zero terms
        scaled = [jax.tree.map(lambda x: float(a) * x, k) for a, k in zip(coeffs, ks) if a != 0]
        return jax.tree.map(lambda y, *ds: y + sum(ds[1:], ds[0]) if ds else y, y0, *scaled)

    ks = [terms.vf_prod(t0, y0, args, control)]
    for c, a in zip(tableau.c, tableau.a_lower):
        ks.append(terms.vf_prod(t0 + float(c) * (t1 - t0), combine(a, ks), args, control))
    return combine(tableau.b_sol, ks), solver_state


def interval(cfg: ScanConfig, dtype: Any) -> tuple[Array, Array]:
    """A step's `(t0, t1)` in local time, made inside each trace (a closed-over array would
    leak into the next)."""
    return jnp.asarray(0.0, dtype), jnp.asarray(cfg.dt, dtype)
