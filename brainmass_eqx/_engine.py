"""The fixed-step engine for delayed and/or stochastic networks: a `lax.scan` over blocks of
steps of a diffrax solver, carrying the delay buffer, with chunked checkpointing."""

import math
from collections.abc import Callable
from typing import Any, ClassVar

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from ._delays import DelayBuffer, DelayPlan
from ._network import Network


class _StepIncrement(dfx.AbstractBrownianPath):
    """The Brownian increment of one step, drawn outside the solver (a `FixedIncrement`)."""

    dw: Any
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


class ScanConfig(eqx.Module):
    """Static settings of an engine run: `levels` are the nested block sizes in steps (see
    [`brainmass_eqx.DelayPlan`][]; one level of `block` steps without delays)."""

    dt: float
    n_transient: int
    n_record: int
    levels: tuple[int, ...]
    plan: DelayPlan | None
    stochastic: bool


_NOISE_BLOCK = 4


def _chunk_size(n: int) -> int:
    # sqrt(n) top-level blocks per checkpointed chunk: reverse-mode memory ~ O(sqrt(n)), not O(n)
    return max(1, int(round(math.sqrt(n))))


def _scan_checkpointed(fn: Callable, carry: Any, first: int, n: int) -> tuple[Any, Any]:
    """`lax.scan` of `fn` over indices `first .. first + n - 1`, rematerialised in chunks."""
    if n == 0:
        return carry, None
    size = _chunk_size(n)
    n_chunks, rest = divmod(n, size)

    def run(carry, idx):
        return jax.lax.scan(fn, carry, idx)

    outs = []
    if n_chunks:
        def chunk(carry, i):
            return jax.checkpoint(run)(carry, first + i * size + jnp.arange(size, dtype=jnp.int32))

        carry, out = jax.lax.scan(chunk, carry, jnp.arange(n_chunks, dtype=jnp.int32))
        outs.append(jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out))
    if rest:
        idx = first + n_chunks * size + jnp.arange(rest, dtype=jnp.int32)
        carry, out = jax.checkpoint(run)(carry, idx)
        outs.append(out)
    out = jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs) if len(outs) > 1 else outs[0]
    return carry, out


@eqx.filter_jit
def run_network(net: Network, inputs, y0, history, mset, solver, key, cfg: ScanConfig):
    from ._simulate import Simulation, _evaluate_inputs

    dt, plan, levels = cfg.dt, cfg.plan, cfg.levels
    m_block, superblock = levels[0], levels[-1]
    dtype = jnp.result_type(*jax.tree.leaves(y0))
    n = net.n_regions
    weights = net.effective_weights().astype(dtype)
    strength = jnp.sum(weights, axis=-1)
    n_total = cfg.n_transient + cfg.n_record
    n_channels = net.n_channels

    if plan is not None:
        group_w = tuple(g.weights(weights) for g in plan.groups)
        if history is None:
            pre0 = net.coupling.pre(net.coupled(y0)).astype(dtype)
            hist = jnp.broadcast_to(pre0, (plan.ring, *pre0.shape))
        else:
            def pre_at(s):
                h = history(s.astype(dtype) * dt)
                return net.coupling.pre(net.coupled(h)).astype(dtype)

            hist = jax.vmap(pre_at)(jnp.arange(-plan.ring + 1, 1, dtype=jnp.int32))
        buf = DelayBuffer.from_history(plan, hist)
    else:
        group_w, buf = None, None
    dummy_rows = jnp.zeros((m_block + 1, n_channels, n), dtype)

    def drift(t_local, yy, args):
        y, ms = yy
        rows, k, t_start = args
        if plan is None:
            sums = net.instantaneous_sums(y, weights)
        else:
            c = (t_local / dt).astype(dtype)
            lo = jax.lax.dynamic_index_in_dim(rows, k, keepdims=False)
            hi = jax.lax.dynamic_index_in_dim(rows, k + 1, keepdims=False)
            sums = lo + c * (hi - lo)
        t = t_start + t_local
        dy = net.drift(t, y, _evaluate_inputs(net, inputs, t, dtype), sums, strength)
        return dy, mset.rate(net, y, ms)

    def diffusion(t, yy, args):
        del t, args
        y, ms = yy
        return lx.DiagonalLinearOperator((net.diffusion(y), jax.tree.map(jnp.zeros_like, ms)))

    def terms_for(dw):
        if not cfg.stochastic:
            return dfx.ODETerm(drift)
        return dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(diffusion, _StepIncrement(dw)))

    noise_keys = tuple(net.noise.diffusion(y0, net.noise_states)) if cfg.stochastic else ()

    # Increments are drawn once per block of at least `_NOISE_BLOCK` steps (the smallest
    # level that long, else the top level): one threefry call per step costs microseconds.
    noise_depth = next((d for d, size in enumerate(levels) if size >= _NOISE_BLOCK),
                       len(levels) - 1)

    def increments(start, size):
        keys = jax.random.split(jax.random.fold_in(key, start), len(noise_keys))
        sqrt_dt = jnp.sqrt(jnp.asarray(dt, dtype))
        dw = {name: sqrt_dt * jax.random.normal(kk, (size, *y0[name].shape), dtype)
              for name, kk in zip(noise_keys, keys)}
        # without the barrier XLA recomputes the threefry draws inside every consumer
        return jax.lax.optimization_barrier(dw)

    ms0 = mset.init(net, y0)
    if cfg.n_transient == 0:
        ms0 = mset.at_start(net, y0, ms0)
    ms_zero = jax.tree.map(jnp.zeros_like, ms0)

    def step_increment(dws, k):
        dw = {name: jnp.zeros_like(v) for name, v in y0.items()}
        dw.update({name: v[k] for name, v in dws.items()})
        return dw, ms_zero

    zero = jnp.asarray(0.0, dtype)
    h = jnp.asarray(dt, dtype)
    init_dw = step_increment({}, 0) if cfg.stochastic else None
    yy0 = (y0, ms0)
    solver_state0 = solver.init(terms_for(init_dw), zero, h, yy0, (dummy_rows, 0, zero))

    def make_superblock(record: bool):
        def base_block(carry, start, rows, dws):
            y, buf, solver_state, y_final = carry

            def step_fn(carry, k):
                y, solver_state, y_final = carry
                dw = step_increment(dws, k) if cfg.stochastic else None
                t_start = (start + k).astype(dtype) * dt
                y1, _, _, solver_state, _ = solver.step(
                    terms_for(dw), zero, h, y, (rows, k, t_start), solver_state, made_jump=True)
                if mset.resets and cfg.n_transient > 0:
                    ms1 = jax.lax.cond(start + k + 1 == cfg.n_transient,
                                       lambda: mset.at_start(net, *y1), lambda: y1[1])
                    y1 = (y1[0], ms1)
                y_final = jax.tree.map(
                    lambda new, old: jnp.where(start + k + 1 == n_total, new, old), y1, y_final)
                out = mset.record(net, *y1) if record else None
                pre = None if plan is None else net.coupling.pre(net.coupled(y1[0]))
                return (y1, solver_state, y_final), (out, pre)

            (y, solver_state, y_final), (outs, pres) = jax.lax.scan(
                step_fn, (y, solver_state, y_final), jnp.arange(m_block, dtype=jnp.int32))
            if plan is not None:
                buf = buf.write(start, pres)
            return (y, buf, solver_state, y_final), outs

        def level(depth, carry, start, rows, dws):
            # rows: the delayed sums of the coarser levels for this block's step ends;
            # dws: this block's noise increments (drawn at `noise_depth`)
            size = levels[depth]
            if cfg.stochastic and depth == noise_depth:
                dws = increments(start, size)
            if plan is not None and plan.groups[depth].per_target:
                buf, own = carry[1].read(plan.groups[depth], start, size + 1, group_w[depth])
                carry = (carry[0], buf, *carry[2:])
                rows = own if rows is None else rows + own
            if rows is None:
                rows = jnp.zeros((size + 1, n_channels, n), dtype)
            if depth == 0:
                return base_block(carry, start, rows, dws)
            sub = levels[depth - 1]

            def body(carry, j):
                sub_rows = jax.lax.dynamic_slice_in_dim(rows, j * sub, sub + 1)
                sub_dws = None if dws is None else jax.tree.map(
                    lambda v: jax.lax.dynamic_slice_in_dim(v, j * sub, sub), dws)
                return level(depth - 1, carry, start + j * sub, sub_rows, sub_dws)

            carry, outs = jax.lax.scan(body, carry, jnp.arange(size // sub, dtype=jnp.int32))
            return carry, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), outs)

        def superblock_fn(carry, b):
            return level(len(levels) - 1, carry, b * superblock, None, None)

        return superblock_fn

    carry = (yy0, buf, solver_state0, yy0)
    n_warm = cfg.n_transient // superblock
    carry, _ = _scan_checkpointed(make_superblock(False), carry, 0, n_warm)
    offset = cfg.n_transient - n_warm * superblock
    n_rec = -(-(offset + cfg.n_record) // superblock)
    carry, outs = _scan_checkpointed(make_superblock(True), carry, n_warm, n_rec)
    records = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:])[offset:offset + cfg.n_record],
                           outs)
    final_state, final_ms = carry[3]
    ts = jnp.asarray((cfg.n_transient + 1 + np.arange(cfg.n_record)) * dt, dtype)
    stats = {"num_steps": jnp.asarray((n_warm + n_rec) * superblock),
             "block": jnp.asarray(m_block), "superblock": jnp.asarray(superblock)}
    return Simulation(ts=ts, ys=mset.finish(records, final_ms, dt), final_state=final_state,
                      result=dfx.RESULTS.successful, stats=stats, strides=mset.strides(dt))


def build_config(net: Network, dt: float, n_transient: int, n_record: int,
                 y0_dtype: Any, max_superblock: int | None = None) -> ScanConfig:
    plan = None
    n_total = n_transient + n_record
    if net.has_delays:
        # never pad a run by more than about an eighth of its length
        cap = max(1, n_total // 8) if max_superblock is None else max_superblock
        plan = DelayPlan.build(net.connectome, net.speed, dt, exact=net.exact_delays,
                               n_channels=net.n_channels, itemsize=jnp.dtype(y0_dtype).itemsize,
                               max_superblock=cap)
        levels = plan.levels
    else:
        levels = (max(1, min(100, n_total)),)
    return ScanConfig(dt=dt, n_transient=n_transient, n_record=n_record, levels=levels,
                      plan=plan, stochastic=net.is_stochastic)
