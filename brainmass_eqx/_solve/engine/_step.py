r"""One fixed step of a network run: the vector field of a step (its stages read the delayed
sums interpolated between step ends, linearly or by cubics), the diffrax terms driven by the
step's Brownian increment, and the step itself, explicit Runge-Kutta methods stepped from their
tableau."""

from typing import Any, ClassVar, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
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
    `rows` (row `m` at the end of step `m - 1`), the step's start time `t_start` (ms) and, with
    cubic history, the sums at each interior stage fraction of every step (`mids`, from
    `stage_sums`, for the static `fractions`)."""

    rows: Float[Array, "rows channels nodes"]
    k: Int[Array, ""]
    t_start: Float[Array, ""]
    mids: Float[Array, "fractions steps channels nodes"] | None = None
    fractions: tuple[float, ...] = eqx.field(default=(), static=True)


def fields(params: Params, cfg: ScanConfig, dtype: Any, weights: Array, strength: Array):
    """`(drift, diffusion)` of a network run, `f(t_local, state, args: StepArgs)`: the stage at
    `t_start + t_local` of step `k` reads its delayed sums from the block's `rows` by
    `delayed_sums` (linear or, with `cfg.cubic_history`, cubic; without delays, the
    instantaneous sums)."""
    net, inputs, monitors = params.system, params.inputs, params.monitors

    def drift(t_local, state: Augmented, args: StepArgs) -> Augmented:
        if cfg.plan is None:
            sums = net.instantaneous_sums(state.y, weights)
        else:
            c = t_local / cfg.dt
            if cfg.frozen_input:  # TVB: the sums of the step's start, for every stage
                sums = jax.lax.dynamic_index_in_dim(args.rows, args.k, keepdims=False)
            elif isinstance(c, float) and c in args.fractions:
                sums = jax.lax.dynamic_index_in_dim(args.mids[args.fractions.index(c)],
                                                    args.k, keepdims=False)
            else:
                sums = delayed_sums(args.rows, args.k,
                                    c if isinstance(c, float) else c.astype(dtype),
                                    cubic=cfg.cubic_history)
        return vf.drift(net, inputs, monitors, args.t_start + t_local, state, sums, strength)

    def diffusion(t, state: Augmented, args: StepArgs):
        del t, args
        return vf.diffusion(net, state)

    return drift, diffusion


def delayed_sums(rows: Float[Array, "rows channels nodes"], k: Int[Array, ""],
                 c: Array | float, *, cubic: bool) -> Float[Array, "channels nodes"]:
    r"""The delayed sums at the fraction `c` of step `k` of a base block, from the block's
    `rows` (row $m$ at the end of step $m - 1$).

    Linear: $(1 - c)\,S_k + c\,S_{k+1}$, exact at the step ends and second-order accurate in
    between. Cubic: the Lagrange polynomial through the four rows $s..s+3$ around the step,
    $s = \min(\max(k - 1, 0), n - 3)$ for a block of $n$ steps (one-sided at the block's ends,
    so only the block's own rows are read and the delay plan is unchanged), with an error of
    $O(\Delta t^4)$: what keeps a fourth-order method fourth order on a delayed network. A
    block shorter than three steps falls back to linear."""
    n = rows.shape[0] - 1
    if isinstance(c, float) and c in (0.0, 1.0):
        # a stage at a step end (Heun's, RK4's first and last): the stored sum itself
        return jax.lax.dynamic_index_in_dim(rows, k + int(c), keepdims=False)
    c = jnp.asarray(c, rows.dtype)
    if not cubic or n < 3:
        lo = jax.lax.dynamic_index_in_dim(rows, k, keepdims=False)
        hi = jax.lax.dynamic_index_in_dim(rows, k + 1, keepdims=False)
        return lo + c * (hi - lo)
    s = jnp.clip(k - 1, 0, n - 3)
    u = (k - s).astype(c.dtype) + c  # the stage's place on the stencil, in [0, 3]
    four = jax.lax.dynamic_slice_in_dim(rows, s, 4)
    return sum(w * four[i] for i, w in enumerate(_lagrange(u)))


def _lagrange(u: float) -> tuple[float, float, float, float]:
    return (-(u - 1) * (u - 2) * (u - 3) / 6, u * (u - 2) * (u - 3) / 2,
            -u * (u - 1) * (u - 3) / 2, u * (u - 1) * (u - 2) / 6)


def stage_sums(rows: Float[Array, "rows channels nodes"], fractions: tuple[float, ...]
               ) -> Float[Array, "fractions steps channels nodes"]:
    """`delayed_sums(rows, k, c, cubic=True)` for every step `k` of the block and every `c` of
    `fractions`, at once (four static row gathers with static weights, before the steps: the
    steps then read one stored value per stage, as at the step ends)."""
    n = rows.shape[0] - 1
    starts = np.clip(np.arange(n) - 1, 0, n - 3)
    out = []
    for c in fractions:
        weights = np.array([_lagrange(k - s + c) for k, s in enumerate(starts)])  # (n, 4)
        out.append(sum(jnp.asarray(weights[:, i, None, None], rows.dtype) * rows[starts + i]
                       for i in range(4)))
    return jnp.stack(out)


def interior_fractions(solver: dfx.AbstractSolver) -> tuple[float, ...] | None:
    """The distinct fractions $0 < c < 1$ of a step at which `solver` evaluates the vector field
    (RK4: `(0.5,)`; Euler and Heun: none, their stages sit at the step ends, where every
    interpolation is the stored sum), or `None` when they are not known statically."""
    if isinstance(solver, dfx.Euler | dfx.EulerHeun):
        return ()
    if not isinstance(solver, dfx.AbstractERK):
        return None
    return tuple(sorted({float(c) for c in solver.tableau.c if 0.0 < float(c) < 1.0}))


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
        dtype = jnp.result_type(*jax.tree.leaves(y0))
        y1, _, _, ss1, _ = solver.step(terms, jnp.asarray(t0, dtype), jnp.asarray(t1, dtype),
                                       y0, args, solver_state, made_jump=True)
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


def interval(cfg: ScanConfig, dtype: Any) -> tuple[float, float]:
    """A step's `(t0, t1)` in local time, as Python numbers: an explicit Runge-Kutta stage's
    time is then known when tracing, so a stage at a step end reads its stored delayed sum
    without interpolating (`delayed_sums`). (A closed-over array would leak between traces.)"""
    del dtype
    return 0.0, cfg.dt
