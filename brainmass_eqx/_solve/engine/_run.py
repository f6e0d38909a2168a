"""An engine run: the delayed forward pass and its custom reverse pass (`delayed`, an
`eqx.filter_custom_vjp`), and `run_network`, the compiled entry point `simulate` calls for
delayed and/or noisy networks."""

import dataclasses
from typing import Any, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from ..._monitors import MonitorSet
from ..._network import Network
from .._report import mark_nonfinite
from .._simulation import Simulation, with_initial
from .._vector_field import Augmented
from ._batching import batch_minor
from ._blocks import chunks, scan_noise_only
from ._buffer import DelayBuffer, Member, column
from ._config import ScanConfig
from ._context import Run
from ._records import empty_records, trim_records
from ._reverse import chunks_bwd, history_cotangent
from ._state import Adjoints, Carry, Cotangents, Ends, Params, add, zeros_like_inexact


@final
class DelayedStart(eqx.Module):
    """What a delayed run is differentiated with respect to: its `params`, the initial
    `state`, the `history` of pre-synaptic values (`ring` rows, step `-ring + 1` first) and the
    initial `solver` state."""

    params: Params
    state: Augmented
    history: Float[Array, "ring channels nodes"]
    solver: PyTree


def _forward(start: DelayedStart, solver, key, cfg: ScanConfig, *, save: bool,
             member: Member | None = None):
    """`((final state, records), residuals)` of a delayed run; the residuals (with `save`) are
    the chunks' checkpoints and the kept delayed sums."""
    # under vmap every member keeps its sums exactly as an unbatched run would: the batched
    # residuals must have the unbatched run's structure (a budget shared by the members, which
    # dropped the sums of large batches, broke `jax.vmap` of long differentiated runs)
    run = Run.build(start.params, solver, key, cfg, start.state.y, member)
    blocks = cfg.blocks
    kept = None
    if save and cfg.store_rows:
        kept = jnp.zeros((cfg.n_base_blocks, cfg.levels[0] + 1, *start.history.shape[1:]),
                         start.history.dtype)
    buffer = DelayBuffer.from_history(cfg.plan, start.history, member)
    carry = Carry(start.state, buffer, start.solver, Ends.at(start.state), kept=kept)
    carry, saved_warm = chunks(run, carry, 0, blocks.n_warm, record=False, save=save)
    monitors, net = start.params.monitors, start.params.system
    shapes = jax.eval_shape(lambda: monitors.record(net, start.state.y, start.state.monitors))
    carry = dataclasses.replace(carry, records=empty_records(run, shapes))
    carry, saved_rec = chunks(run, carry, blocks.n_warm, blocks.n_record, record=True,
                              save=save)
    records = trim_records(run, carry.records)
    if member is not None:
        # the checkpoints' buffers leave the sweep member by member
        def unbatch(saved):
            return jax.tree.map(
                lambda c: c if c is None or c.buffer is None else dataclasses.replace(
                    c, buffer=DelayBuffer(column(c.buffer.data, member), cfg.plan)),
                saved, is_leaf=lambda x: isinstance(x, Carry) or x is None)

        saved_warm, saved_rec = unbatch(saved_warm), unbatch(saved_rec)
    return (carry.final, records), (saved_warm, saved_rec, carry.kept)


@eqx.filter_custom_vjp
def delayed(start: DelayedStart, solver, key, cfg: ScanConfig):
    """A delayed network's run: `(final state, records)`. Its reverse pass is written out
    (`_reverse.py`)."""
    def run(member, start, key):
        return _forward(start, solver, key, cfg, save=False, member=member)[0]

    return batch_minor(run, start, key)


@delayed.def_fwd
def _delayed_fwd(perturbed, start, solver, key, cfg):
    del perturbed

    def run(member, start, key):
        return _forward(start, solver, key, cfg, save=True, member=member)

    return batch_minor(run, start, key)


def _fill(like: PyTree, ct: PyTree) -> PyTree:
    return jax.tree.map(lambda s, g: jnp.zeros(s.shape, s.dtype) if g is None else g, like, ct,
                        is_leaf=lambda x: x is None)


@delayed.def_bwd
def _delayed_bwd(residuals, grad_obj, perturbed, start: DelayedStart, solver, key, cfg):
    run = Run.build(start.params, solver, key, cfg, start.state.y)
    plan, blocks = cfg.plan, cfg.blocks
    saved_warm, saved_rec, kept = residuals
    ct_final, ct_records = grad_obj
    ct_final = _fill(Ends.at(start.state), ct_final)
    if ct_records is not None:
        shapes = jax.eval_shape(lambda: _forward(start, solver, key, cfg, save=False)[0][1])
        ct_records = _fill(shapes, ct_records)
    coupling = run.coupling()
    adjoint_weights = tuple(g.weights(coupling.weights.T) for g in plan.adjoint)
    # the weights' gradient (per-connection dot products in the adjoint reads) only when the
    # weights are differentiated: the connectome's, or the parameters the coupling reshapes
    # them with (its other parameters act in its `pre` and `post`, differentiated with the
    # steps)
    net_perturbed = perturbed.params.system
    weight_grads = any(jax.tree.leaves((net_perturbed.connectome,
                                        net_perturbed.coupling.weight_parameters())))
    adjoints = Adjoints(coupling.strength, adjoint_weights, weight_grads)
    n_channels, n_regions = start.history.shape[1:]
    dtype = start.history.dtype
    ct = Cotangents(jax.tree.map(jnp.zeros_like, start.state), zeros_like_inexact(start.solver),
                    ct_final, jnp.zeros((n_channels, n_regions, 2 * plan.ring), dtype),
                    jnp.zeros((n_channels, n_regions), dtype), zeros_like_inexact(start.params),
                    jnp.zeros_like(coupling.strength),
                    tuple(jnp.zeros_like(w) for w in adjoint_weights))
    ct = chunks_bwd(run, ct, saved_rec, blocks.n_warm, blocks.n_record, ct_records, adjoints,
                    kept, record=True)
    ct = chunks_bwd(run, ct, saved_warm, 0, blocks.n_warm, None, adjoints, kept, record=False)
    ct_history, ct_weights = history_cotangent(run, ct, start.history, adjoints)

    def derive(params):
        c = run.with_params(params).coupling()
        return c.strength, tuple(g.weights(c.weights.T) for g in plan.adjoint)

    _, vjp = eqx.filter_vjp(derive, start.params)
    (g_params,) = vjp((ct.strength, ct_weights))
    return DelayedStart(add(ct.params, g_params), ct.state, ct_history, ct.solver)


def _history(net: Network, history, y0: dict[str, Array], cfg: ScanConfig, dtype: Any
             ) -> Float[Array, "ring channels nodes"]:
    """The pre-synaptic values of steps `-ring + 1 .. 0` from the `history` callable (constant,
    equal to the initial state, without one)."""
    plan = cfg.plan
    if history is None:
        pre0 = net.coupling.pre(net.coupled(y0)).astype(dtype)
        return jnp.broadcast_to(pre0, (plan.ring, *pre0.shape))

    def pre_at(s):
        h = history(s.astype(dtype) * cfg.dt)
        if not isinstance(h, dict) or any(c not in h for c in net.cvar):
            raise ValueError(f"`history` must return a state dict holding the coupled "
                             f"variables {net.cvar}, got {h!r}.")
        shape = (net.n_regions,)
        for c in net.cvar:
            v = jnp.asarray(h[c])
            try:
                ok = jnp.broadcast_shapes(v.shape, shape) == shape
            except ValueError:
                ok = False
            if not ok:
                raise ValueError(f"`history` returned {c!r} of shape {v.shape}; give a scalar "
                                 f"or one value per region, shape {shape}.")
        h = {c: jnp.broadcast_to(jnp.asarray(h[c], dtype), shape) for c in net.cvar}
        return net.coupling.pre(net.coupled(h)).astype(dtype)

    return jax.vmap(pre_at)(jnp.arange(-plan.ring + 1, 1, dtype=jnp.int32))


@eqx.filter_jit
def run_network(net: Network, inputs, y0: dict[str, Array], history, monitors: MonitorSet,
                solver: dfx.AbstractSolver, key: PRNGKeyArray | None, cfg: ScanConfig
                ) -> Simulation:
    """A delayed and/or noisy network's run at fixed steps of `cfg.dt`, as a `Simulation`."""
    dtype = jnp.result_type(*jax.tree.leaves(y0))
    params = Params(net, inputs, monitors)
    run = Run.build(params, solver, key, cfg, y0)
    ms0 = monitors.init(net, y0)
    if cfg.n_transient == 0:
        ms0 = monitors.at_start(net, y0, ms0)
    state = Augmented(y0, ms0)
    solver_state = run.solver_init(state)
    blocks = cfg.blocks
    if cfg.plan is not None:
        start = DelayedStart(params, state, _history(net, history, y0, cfg, dtype), solver_state)
        final, records = delayed(start, solver, key, cfg)
    else:
        # noise without delays: no buffer, so autodiff with chunked rematerialisation is fine
        carry = Carry(state, None, solver_state, Ends.at(state))
        carry, _ = scan_noise_only(run, carry, 0, blocks.n_warm, record=False)
        carry, outs = scan_noise_only(run, carry, blocks.n_warm, blocks.n_record, record=True)
        final = carry.final
        records = jax.tree.map(lambda x: x[blocks.offset:blocks.offset + cfg.n_record], outs)
    ts = jnp.asarray((cfg.n_transient + 1 + np.arange(cfg.n_record)) * cfg.dt, dtype)
    stats = {"num_steps": jnp.asarray((blocks.n_warm + blocks.n_record) * cfg.levels[-1]),
             "block": jnp.asarray(cfg.levels[0]), "superblock": jnp.asarray(cfg.levels[-1])}
    ys = monitors.finish(records, final.last.monitors, cfg.dt, cfg.plan is not None)
    strides = monitors.strides(cfg.dt)
    if cfg.save_initial:
        ts, ys = with_initial(ts, ys, strides, cfg.n_transient * cfg.dt,
                              monitors.record(net, final.first.y, final.first.monitors))
    return mark_nonfinite(Simulation(
        ts=ts, ys=ys, final_state=final.last.y, result=dfx.RESULTS.successful, stats=stats,
        strides=strides, initial=cfg.save_initial))
