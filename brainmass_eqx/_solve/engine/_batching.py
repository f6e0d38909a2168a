r"""Batching rules of batch-minor sweeps: under `jax.vmap`, a delayed run becomes one run of the
whole batch whose delay buffer holds the batch axis last (see
[`brainmass_eqx.DelayBuffer`][]), and whose solver steps `(batch, ...)` arrays with only the
vector field vmapped over the members."""

from collections.abc import Callable
from typing import Any

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

from . import _step
from ._buffer import Member
from ._config import ScanConfig
from ._state import Params


def batch_minor(fn: Callable[..., Any], *args: Any) -> Any:
    r"""`fn(None, *args)`, and under `jax.vmap` one call `fn(member, *args)` per batch member
    inside an inner vmap, in which the delay buffers are batch-minor: one buffer for the whole
    batch, unbatched for the inner vmap, which `fn` reads and writes for every member at once.
    `fn` returns no batch-minor array (its checkpoints' buffers go out member by member,
    `column`).

    `jax.vmap` of a single run would instead batch every buffer read into a gather of `batch`
    separate short windows, several times slower than `jax.lax.map` over the runs (see the
    sweep figures in the networks docs)."""
    dyn, static = eqx.partition(args, eqx.is_array)

    @jax.custom_batching.custom_vmap
    def run(dyn):
        return fn(None, *eqx.combine(dyn, static))

    @run.def_vmap
    def rule(size, batched, dyn):
        def member_fn(dyn, token):
            return fn(Member(size, token), *eqx.combine(dyn, static))

        in_axes = (jax.tree.map(lambda b: 0 if b else None, batched[0]), 0)
        out = jax.vmap(member_fn, in_axes=in_axes)(dyn, jnp.arange(size, dtype=jnp.int32))
        return out, jax.tree.map(lambda _: True, out)

    return run(dyn)


def member_solver_step(params: Params, solver: dfx.AbstractSolver, cfg: ScanConfig, dtype: Any,
                       weights: Array, strength: Array, dw: PyTree | None, state: PyTree,
                       solver_state: PyTree, args: _step.StepArgs) -> tuple[PyTree, PyTree]:
    """One step of a member of a batch-minor sweep; vmapped, one step of the whole batch in
    which the solver steps `(batch, ...)` arrays and only the vector field is vmapped over the
    members (vmapped, diffrax's loop over a Runge-Kutta method's stages would copy strided
    stage arrays at every step)."""
    parts = (params, weights, strength, args)
    dyn, static = eqx.partition((parts, dw, state, solver_state), eqx.is_array)

    def member_fields(dyn_parts):
        params, weights, strength, args = eqx.combine(dyn_parts, static[0])
        return _step.fields(params, cfg, dtype, weights, strength), args

    @jax.custom_batching.custom_vmap
    def step(dyn):
        dyn_parts, dw, state, solver_state = dyn
        fields, args = member_fields(dyn_parts)
        return _step.solver_step(solver, _step.terms(*fields, cfg.stochastic, dw),
                                 *_step.interval(cfg, dtype), state, args, solver_state)

    @step.def_vmap
    def rule(size, batched, dyn):
        (b_parts, b_dw, b_state, b_ss), = batched
        dyn_parts, dw, state, solver_state = dyn
        axes = (0, jax.tree.map(lambda b: 0 if b else None, b_parts))

        def full(x, b):
            return x if b else jnp.broadcast_to(x, (size, *x.shape))

        dw, state, solver_state = (jax.tree.map(full, *xb) for xb in
                                   ((dw, b_dw), (state, b_state), (solver_state, b_ss)))

        def batched_field(which):
            def field(t, y, members):
                def one(y, member):
                    fields, args = member_fields(member)
                    return fields[which](t, y, args)

                return jax.vmap(one, in_axes=axes)(y, members)

            return field

        terms = _step.terms(batched_field(0), batched_field(1), cfg.stochastic, dw)
        out = _step.solver_step(solver, terms, *_step.interval(cfg, dtype), state, dyn_parts,
                                solver_state)
        return out, jax.tree.map(lambda _: True, out)

    return step(dyn)
