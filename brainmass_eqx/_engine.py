"""The fixed-step engine for delayed and/or stochastic networks: a `lax.scan` over blocks of
steps of a diffrax solver, carrying the delay buffer, with chunked checkpointing."""

import math
from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np

from ._coupling import LearnableWeights
from ._delays import DelayBuffer, DelayPlan, Member, _slab_sum, adjoint_read, column
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
    [`brainmass_eqx.DelayPlan`][]; one level of `block` steps without delays). With
    `store_rows`, the forward pass of a differentiated delayed run keeps the delayed sums of
    every step for the reverse pass (see `REVERSE_ROWS_BYTES`); `itemsize` is the bytes of
    one state value."""

    dt: float
    n_transient: int
    n_record: int
    levels: tuple[int, ...]
    plan: DelayPlan | None
    stochastic: bool
    store_rows: bool = False
    itemsize: int = 4


#: The reverse pass of a delayed run needs the delayed sums $S(t)$ of every step. While they
#: take at most this many bytes (one value per region and step: 219 MB for 60 s of an
#: 80-region network at dt = 0.1 ms), the forward pass keeps them, and the reverse pass only
#: re-runs the (cheap) solver steps from its checkpoints. Longer runs recompute them, delayed
#: reads included, from the checkpoints, so memory stays O(sqrt(steps)) instead of O(steps).
REVERSE_ROWS_BYTES = 2**28


_NOISE_BLOCK = 4


class _Carry(NamedTuple):
    """What the scans over blocks carry: the `state` `(y, monitor states)`, the delay
    `buffer` (`None` without delays, and in the reverse pass's recompute when the delayed
    sums were kept), the `solver` state, the `final` state (at the run's last step), and
    optionally the `records` arrays of the recording, the `kept` delayed sums of every base
    block (see `REVERSE_ROWS_BYTES`) and the reverse pass's `tape`, `(first base block,
    arrays of every base block's inputs)`."""

    state: Any
    buffer: Any
    solver: Any
    final: Any
    records: Any = None
    kept: Any = None
    tape: Any = None


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


class _Engine:
    """What one run needs, built inside a trace from the differentiable parts `(net, inputs,
    mset)`: the step function of a base block, the noise increments and the forward and reverse
    recursions over the nested blocks of the delay plan."""

    def __init__(self, params, solver, key, cfg: ScanConfig, y0, member: Member | None = None):
        self.params, self.member = params, member
        self.net, self.inputs, self.mset = params
        self.solver, self.key, self.cfg, self.y0 = solver, key, cfg, y0
        self.dtype = jnp.result_type(*jax.tree.leaves(y0))
        self.n_total = cfg.n_transient + cfg.n_record
        # subsampling monitors keep only their samples: record k keeps every
        # `rec_strides[k]`-th step
        self.rec_strides = self.mset.record_strides(cfg.dt)
        # averaging monitors accumulate their window means: record k is the mean of steps
        # `n_transient + k s + 1 .. n_transient + (k + 1) s`
        self.rec_means = self.mset.averaging()
        self.noise_keys = (tuple(self.net.noise.diffusion(y0, self.net.noise_states))
                           if cfg.stochastic else ())
        # Increments are drawn once per block of at least `_NOISE_BLOCK` steps (the smallest
        # level that long, else the top level): one threefry call per step costs microseconds.
        self.noise_depth = next((d for d, size in enumerate(cfg.levels) if size >= _NOISE_BLOCK),
                                len(cfg.levels) - 1)
        self.ms_zero = jax.tree.map(jnp.zeros_like, self.mset.init(self.net, y0))

    def with_params(self, params) -> "_Engine":
        return _Engine(params, self.solver, self.key, self.cfg, self.y0, self.member)

    def coupling(self):
        """`(weights, strength)` in the run's dtype."""
        weights = self.net.effective_weights().astype(self.dtype)
        return weights, jnp.sum(weights, axis=-1)

    def increments(self, start, size):
        keys = jax.random.split(jax.random.fold_in(self.key, start), len(self.noise_keys))
        sqrt_dt = jnp.sqrt(jnp.asarray(self.cfg.dt, self.dtype))
        dw = {name: sqrt_dt * jax.random.normal(kk, (size, *self.y0[name].shape), self.dtype)
              for name, kk in zip(self.noise_keys, keys)}
        # without the barrier XLA recomputes the threefry draws inside every consumer
        return jax.lax.optimization_barrier(dw)

    def terms(self, weights, strength, dw):
        fields = _vector_field(self.params, self.cfg, self.dtype, weights, strength)
        return _terms(*fields, self.cfg.stochastic, dw)

    def solver_step(self, weights, strength, dw, yy, ss, args):
        """One solver step from `yy`: `(state, solver state)`.

        In a batch-minor sweep this is one step of the whole batch: the solver steps
        `(batch, ...)` arrays and only the vector field is vmapped over the members. (Vmapped,
        diffrax's loop over a Runge-Kutta method's stages copies strided stage arrays at every
        step: a third of a 64-member W1 sweep.)"""
        cfg, dtype, solver = self.cfg, self.dtype, self.solver

        def interval():  # made inside each trace: a closed-over array would leak into the next
            return jnp.asarray(0.0, dtype), jnp.asarray(cfg.dt, dtype)

        if self.member is None:
            return _solver_step(solver, self.terms(weights, strength, dw), *interval(), yy,
                                args, ss)
        parts = (self.params, weights, strength, args)
        dyn, static = eqx.partition((parts, dw, yy, ss), eqx.is_array)

        def one_field(dyn_parts):
            params, weights, strength, args = eqx.combine(dyn_parts, static[0])
            return _vector_field(params, cfg, dtype, weights, strength), args

        @jax.custom_batching.custom_vmap
        def member_step(dyn):
            (dyn_parts, dw, yy, ss) = dyn
            fields, args = one_field(dyn_parts)
            return _solver_step(solver, _terms(*fields, cfg.stochastic, dw), *interval(), yy,
                                args, ss)

        @member_step.def_vmap
        def rule(size, batched, dyn):
            (b_parts, b_dw, b_yy, b_ss), = batched
            dyn_parts, dw, yy, ss = dyn
            axes = (0, jax.tree.map(lambda b: 0 if b else None, b_parts))

            def full(x, b):
                return x if b else jnp.broadcast_to(x, (size, *x.shape))

            dw, yy, ss = (jax.tree.map(full, *xb) for xb in ((dw, b_dw), (yy, b_yy), (ss, b_ss)))

            def batched_field(which):
                def field(t, y, members):
                    def one(y, member):
                        fields, args = one_field(member)
                        return fields[which](t, y, args)

                    return jax.vmap(one, in_axes=axes)(y, members)

                return field

            terms = _terms(batched_field(0), batched_field(1), cfg.stochastic, dw)
            out = _solver_step(solver, terms, *interval(), yy, dyn_parts, ss)
            return out, jax.tree.map(lambda _: True, out)

        return member_step(dyn)

    def step_increment(self, dws, k):
        dw = {name: jnp.zeros_like(v) for name, v in self.y0.items()}
        dw.update({name: v[k] for name, v in dws.items()})
        return dw, self.ms_zero

    def solver_init(self, yy0):
        weights, strength = self.coupling()
        dummy_rows = jnp.zeros((self.cfg.levels[0] + 1, self.net.n_channels,
                                self.net.n_regions), self.dtype)
        dw = self.step_increment({}, 0) if self.cfg.stochastic else None
        zero, h = jnp.asarray(0.0, self.dtype), jnp.asarray(self.cfg.dt, self.dtype)
        return self.solver.init(self.terms(weights, strength, dw), zero, h, yy0,
                                (dummy_rows, 0, zero))

    def steps(self, coupling, yy, ss, yf, start, rows, dws, record: bool):
        """The `levels[0]` steps of one base block from step `start`: returns the carry
        `(state, solver state, final state)`, the records and the pre-synaptic values."""
        cfg, net, mset = self.cfg, self.net, self.mset
        weights, strength = coupling

        def step_fn(carry, k):
            yy, ss, yf = carry
            dw = self.step_increment(dws, k) if cfg.stochastic else None
            t_start = (start + k).astype(self.dtype) * cfg.dt
            yy1, ss = self.solver_step(weights, strength, dw, yy, ss, (rows, k, t_start))
            if mset.resets and cfg.n_transient > 0:
                ms1 = jax.lax.cond(start + k + 1 == cfg.n_transient,
                                   lambda: mset.at_start(net, *yy1), lambda: yy1[1])
                yy1 = (yy1[0], ms1)
            yf = jax.tree.map(lambda new, old: jnp.where(start + k + 1 == self.n_total, new, old),
                              yy1, yf)
            out = mset.record(net, *yy1) if record else None
            pre = None if cfg.plan is None else net.coupling.pre(net.coupled(yy1[0]))
            return (yy1, ss, yf), (out, pre)

        carry, (outs, pres) = jax.lax.scan(step_fn, (yy, ss, yf),
                                           jnp.arange(cfg.levels[0], dtype=jnp.int32))
        return carry, outs, pres

    # -- forward ------------------------------------------------------------------------

    def record_rows(self, name: str) -> tuple[int, int]:
        """`(samples kept of record `name`, rows of its carried array)`: a base block writes a
        window of up to `ceil(block / stride)` samples (one more for window means), so the
        array has at least that many."""
        stride = self.rec_strides[name]
        n = self.cfg.n_record // stride
        return n, max(n, -(-self.cfg.levels[0] // stride) + (name in self.rec_means))

    def write_records(self, rec, start, outs):
        """Store the records of the base block from step `start` in the run's record arrays
        `rec`: sample `j` of a record kept every `s` steps is step `n_transient + (j + 1) s`
        (`s = 1`: every step); steps outside the recording, or between samples, are dropped.
        """
        block = self.cfg.levels[0]
        first = start - self.cfg.n_transient  # the recording's step index of the block start

        def write(r, o, stride):
            # one in-place window write (a scatter would leave XLA's fused loop): the window
            # is clamped into the array, and its rows without a sample of this block keep
            # their old values
            width = -(-block // stride)
            at = jnp.clip((first + stride) // stride - 1, 0, r.shape[0] - width)
            k = (at + jnp.arange(width, dtype=jnp.int32) + 1) * stride - 1 - first
            inside = ((k >= 0) & (k < block)).reshape(width, *(1,) * (r.ndim - 1))
            old = jax.lax.dynamic_slice_in_dim(r, at, width)
            new = jnp.take(o.astype(r.dtype), jnp.clip(k, 0, block - 1), axis=0)
            return jax.lax.dynamic_update_slice_in_dim(r, jnp.where(inside, new, old), at, 0)

        def accumulate(r, o, stride, n):
            # add the block's steps, over `stride`, to the means of their windows (a trailing
            # partial window is dropped): one in-place window update, as in `write`
            width = -(-block // stride) + 1
            at = jnp.clip(first // stride, 0, r.shape[0] - width)
            steps = first + jnp.arange(block, dtype=jnp.int32)
            window = steps // stride
            valid = (steps >= 0) & (window < n)
            mask = (window[None] - at == jnp.arange(width, dtype=jnp.int32)[:, None]) & valid[None]
            sums = jnp.tensordot(mask.astype(r.dtype), o.astype(r.dtype), axes=1) / stride
            old = jax.lax.dynamic_slice_in_dim(r, at, width)
            return jax.lax.dynamic_update_slice_in_dim(r, old + sums, at, 0)

        def store(name, r, o):
            stride = self.rec_strides[name]
            if name in self.rec_means:
                return accumulate(r, o, stride, self.record_rows(name)[0])
            return write(r, o, stride)

        return {name: jax.tree.map(lambda r, o: store(name, r, o), rec[name], outs[name])
                for name in rec}

    def read_records(self, ct, start):
        """The cotangents of the block's records from those of the kept samples `ct` (the
        transpose of `write_records`): zero for steps outside the recording or between
        samples; a window mean's cotangent over its `stride` steps."""
        block = self.cfg.levels[0]
        r = start - self.cfg.n_transient + jnp.arange(block, dtype=jnp.int32)

        def read(c, stride, mean):
            if mean:
                j, valid = r // stride, r >= 0
            else:
                j = (r + 1) // stride - 1
                valid = ((r + 1) % stride == 0) & (j >= 0)
            valid = valid & (j < c.shape[0])
            v = jnp.take(c, jnp.clip(j, 0, c.shape[0] - 1), axis=0, mode="clip")
            v = v / stride if mean else v
            return jnp.where(valid.reshape(block, *(1,) * (c.ndim - 1)), v,
                             jnp.zeros((), c.dtype))

        return {name: jax.tree.map(
            lambda c: read(c, self.rec_strides[name], name in self.rec_means), ct[name])
            for name in ct}

    def level(self, depth, carry: _Carry, start, rows, dws, record, coupling, group_w):
        """One block of `levels[depth]` steps: read this level's delayed sums and run its
        sub-blocks (in the reverse pass's recompute, which has no buffer, the sums come from
        `carry.kept`). With `record`, the steps' records are written into `carry.records`
        when it holds arrays (the delayed forward pass: one output array, no stacking and
        slicing), else returned stacked."""
        cfg, plan = self.cfg, self.cfg.plan
        size = cfg.levels[depth]
        if cfg.stochastic and depth == self.noise_depth:
            dws = self.increments(start, size)
        if plan is not None and carry.buffer is not None and plan.groups[depth].per_target:
            own = carry.buffer.read(plan.groups[depth], start, size + 1, group_w[depth],
                                    self.member)
            rows = own if rows is None else rows + own
        if depth == 0:
            return self.base(carry, start, rows, dws, record, coupling)
        sub = cfg.levels[depth - 1]

        def body(carry, j):
            sub_rows = (None if rows is None
                        else jax.lax.dynamic_slice_in_dim(rows, j * sub, sub + 1))
            sub_dws = None if dws is None else jax.tree.map(
                lambda v: jax.lax.dynamic_slice_in_dim(v, j * sub, sub), dws)
            return self.level(depth - 1, carry, start + j * sub, sub_rows, sub_dws, record,
                              coupling, group_w)

        carry, outs = jax.lax.scan(body, carry, jnp.arange(size // sub, dtype=jnp.int32))
        return carry, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), outs)

    def base(self, carry: _Carry, start, rows, dws, record, coupling):
        """One base block from step `start`: the steps, then the buffer write and whatever
        the carry keeps (records, delayed sums, the reverse pass's tape)."""
        plan, block = self.cfg.plan, self.cfg.levels[0]
        b = start // block
        if plan is not None and carry.buffer is None:
            rows = jax.lax.dynamic_index_in_dim(carry.kept, b, keepdims=False)
        elif rows is not None and self.member is not None:
            rows = column(rows, self.member)  # the sums of all levels, batch-minor
        elif rows is None:
            rows = jnp.zeros((block + 1, self.net.n_channels, self.net.n_regions), self.dtype)
        (yy1, ss1, yf1), outs, pres = self.steps(coupling, carry.state, carry.solver,
                                                 carry.final, start, rows, dws, record)
        buf, rec, kept, tape = carry.buffer, carry.records, carry.kept, carry.tape
        if plan is not None and buf is not None:
            buf = buf.write(start, pres, self.member)
            if kept is not None:
                kept = jax.lax.dynamic_update_index_in_dim(kept, rows, b, 0)
        if record and rec is not None:
            rec, outs = self.write_records(rec, start, outs), None
        if tape is not None:
            first, arrays = tape
            entry = {"state": carry.state, "solver": carry.solver, "final": carry.final,
                     "rows": rows, "pres": pres}
            arrays = {k: jax.tree.map(
                lambda a, v: jax.lax.dynamic_update_index_in_dim(a, v, b - first, 0),
                arrays[k], entry[k]) for k in arrays}
            tape = (first, arrays)
        return _Carry(yy1, buf, ss1, yf1, rec, kept, tape), outs

    def superblock_fn(self, record):
        """`fn(carry, b)`: superblock `b`."""
        coupling = self.coupling()
        plan = self.cfg.plan
        group_w = (None if plan is None
                   else tuple(g.weights(coupling[0]) for g in plan.groups))

        def fn(carry, b):
            return self.level(len(self.cfg.levels) - 1, carry, b * self.cfg.levels[-1], None,
                              None, record, coupling, group_w)

        return fn

    def chunks(self, carry: _Carry, first, n, record, save):
        """Superblocks `first .. first + n - 1` of a delayed run in chunks of about sqrt(n)
        (with `record`, into `carry.records`). Returns the carry and, with `save`, the carry
        at the start of every chunk, what the reverse pass recomputes from (without the
        buffer when the delayed sums are kept)."""
        if n == 0:
            return carry, (None, None)
        fn = self.superblock_fn(record)
        size = _chunk_size(n)
        n_chunks, rest = divmod(n, size)

        def checkpoint(carry):
            return carry._replace(buffer=None if carry.kept is not None else carry.buffer,
                                  records=None, kept=None)

        def chunk(carry, c):
            start = checkpoint(carry)
            idx = first + c * size + jnp.arange(size, dtype=jnp.int32)
            carry, _ = jax.lax.scan(fn, carry, idx)
            return carry, start if save else None

        starts = rest_start = None
        if n_chunks:
            carry, starts = jax.lax.scan(chunk, carry, jnp.arange(n_chunks, dtype=jnp.int32))
        if rest:
            rest_start = checkpoint(carry) if save else None
            idx = first + n_chunks * size + jnp.arange(rest, dtype=jnp.int32)
            carry, _ = jax.lax.scan(fn, carry, idx)
        return carry, (starts, rest_start)

    # -- reverse (delayed networks) --------------------------------------------------------

    def base_bwd(self, st, start, pend, tape, ct_rec, dws, record, rev, kept):
        ct_yy, ct_ss, ct_yf, g_ring, row0, ct_p, ct_strength, ct_wadj = st
        plan, block = self.cfg.plan, self.cfg.levels[0]
        strength = rev[0]
        first, arrays = tape
        b = start // block

        def pick(a):
            return jax.lax.dynamic_index_in_dim(a, b - first, keepdims=False)

        yy, ss, yf = (jax.tree.map(pick, arrays[k]) for k in ("state", "solver", "final"))
        rows = (pick(arrays["rows"]) if "rows" in arrays
                else jax.lax.dynamic_index_in_dim(kept, b, keepdims=False))
        cto = None if ct_rec is None else self.read_records(ct_rec, start)

        def f(params, strength, yy, ss, yf, rows):
            eng = self.with_params(params)
            return eng.steps((None, strength), yy, ss, yf, start, rows, dws, record)

        out, vjp = eqx.filter_vjp(f, self.params, strength, yy, ss, yf, rows)
        ct_pres = jnp.zeros_like(out[2]) if pend is None else pend
        g_p, g_strength, ct_yy, ct_ss, ct_yf, g_rows = vjp(((ct_yy, ct_ss, ct_yf), cto, ct_pres))
        # row m of this block and row 0 of the next are the same delayed sum
        g_block = g_rows[1:].at[-1].add(row0)
        g_ring = DelayBuffer(g_ring, plan).write(start, g_block).data
        return (ct_yy, ct_ss, ct_yf, g_ring, g_rows[0], _add(ct_p, g_p),
                ct_strength + g_strength, ct_wadj)

    def level_bwd(self, depth, st, start, pend, tape, ct_rec, dws, record, rev, kept):
        """The reverse of `level`. `rev` holds what every block of the reverse pass shares:
        `(strength, adjoint slot weights, whether the weights are differentiated)`; `tape` is
        `(first base block, arrays)` of the chunk's recompute, `ct_rec` the records'
        cotangents."""
        cfg, plan = self.cfg, self.cfg.plan
        _, adj_w, dots_on = rev
        size = cfg.levels[depth]
        if cfg.stochastic and depth == self.noise_depth:
            dws = self.increments(start, size)
        group = plan.adjoint[depth]
        if group.per_target:
            g_ring = st[3]
            dots = None
            if dots_on:
                first, arrays = tape
                block = cfg.levels[0]
                pres = jax.lax.dynamic_slice_in_dim(arrays["pres"], start // block - first,
                                                    size // block)
                dots = pres.reshape(size, *pres.shape[2:]).transpose(2, 1, 0)
            res = adjoint_read(g_ring, plan, group, start, size, adj_w[depth], dots)
            own, dw = (res, None) if dots is None else res
            own = own.transpose(2, 1, 0)
            pend = own if pend is None else pend + own
            if dw is not None:
                ct_wadj = list(st[7])
                ct_wadj[depth] = ct_wadj[depth] + dw.T
                st = (*st[:7], tuple(ct_wadj))
        if depth == 0:
            return self.base_bwd(st, start, pend, tape, ct_rec, dws, record, rev, kept)
        sub = cfg.levels[depth - 1]

        def body(st, j):
            sub_pend = None if pend is None else jax.lax.dynamic_slice_in_dim(pend, j * sub, sub)
            sub_dws = None if dws is None else jax.tree.map(
                lambda v: jax.lax.dynamic_slice_in_dim(v, j * sub, sub), dws)
            return self.level_bwd(depth - 1, st, start + j * sub, sub_pend, tape, ct_rec,
                                  sub_dws, record, rev, kept), None

        st, _ = jax.lax.scan(body, st, jnp.arange(size // sub, dtype=jnp.int32), reverse=True)
        return st

    def chunks_bwd(self, st, saved, first, n, ct_rec, record, rev, kept):
        """The reverse of `chunks`: recompute each chunk from its saved start, taping every
        base block's inputs (its delayed sums come from `kept` when the forward pass kept
        them), then walk its blocks backwards."""
        if n == 0:
            return st
        size = _chunk_size(n)
        n_chunks, rest = divmod(n, size)
        top = len(self.cfg.levels) - 1
        superblock, block = self.cfg.levels[-1], self.cfg.levels[0]
        per_superblock = superblock // block
        fn = self.superblock_fn(False)
        n_channels, n_regions = self.net.n_channels, self.net.n_regions
        keys = (["state", "solver", "final"] + ([] if kept is not None else ["rows"])
                + (["pres"] if rev[2] else []))

        def run(st, start_carry, idx):
            n_base = idx.shape[0] * per_superblock
            proto = {"state": start_carry.state, "solver": start_carry.solver,
                     "final": start_carry.final,
                     "rows": jnp.zeros((block + 1, n_channels, n_regions), self.dtype),
                     "pres": jnp.zeros((block, n_channels, n_regions), self.dtype)}
            arrays = {k: jax.tree.map(lambda x: jnp.zeros((n_base, *x.shape), x.dtype),
                                      proto[k]) for k in keys}
            carry = start_carry._replace(kept=kept, tape=(idx[0] * per_superblock, arrays))
            tape = jax.lax.scan(fn, carry, idx)[0].tape

            def back(st, b):
                return self.level_bwd(top, st, b * superblock, None, tape, ct_rec, None,
                                      record, rev, kept), None

            st, _ = jax.lax.scan(back, st, idx, reverse=True)
            return st

        starts, rest_start = saved
        if rest:
            st = run(st, rest_start, first + n_chunks * size + jnp.arange(rest, dtype=jnp.int32))
        if n_chunks:
            def chunk(st, xs):
                c, start_carry = xs
                return run(st, start_carry, first + c * size + jnp.arange(size, dtype=jnp.int32)
                           ), None

            st, _ = jax.lax.scan(chunk, st, (jnp.arange(n_chunks, dtype=jnp.int32), starts),
                                 reverse=True)
        return st


def _vector_field(params, cfg: ScanConfig, dtype, weights, strength):
    """`(drift, diffusion)` of a network run, `f(t_local, (y, monitor states), (rows, k,
    t_start))`: the stage at `t_start + t_local` of the step `k` of a base block reads its
    delayed sums interpolated from the block's `rows`."""
    from ._simulate import _evaluate_inputs

    net, inputs, mset = params

    def drift(t_local, yy, args):
        y, ms = yy
        rows, k, t_start = args
        if cfg.plan is None:
            sums = net.instantaneous_sums(y, weights)
        else:
            c = (t_local / cfg.dt).astype(dtype)
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

    return drift, diffusion


def _terms(drift, diffusion, stochastic: bool, dw):
    """The diffrax terms of a step: the drift, and with noise the diffusion driven by the
    step's Brownian increment `dw`."""
    if not stochastic:
        return dfx.ODETerm(drift)
    return dfx.MultiTerm(dfx.ODETerm(drift), dfx.ControlTerm(diffusion, _StepIncrement(dw)))


def _solver_step(solver, terms, t0, t1, yy, args, ss):
    r"""One fixed step of `solver` from `yy` (a fresh start, `made_jump`): `(state, solver
    state)`.

    An explicit Runge-Kutta method (Heun, RK4, ...) is stepped here from its Butcher tableau,
    with its stages unrolled; it computes the same $y_1 = y_0 + \sum_i b_i k_i$,
    $k_i = \mathrm{vf\_prod}(t_0 + c_i h, y_0 + \sum_{j<i} a_{ij} k_j)$ as diffrax's `step`,
    whose loop over stages (made for adaptive stepping, with error estimates and dense output)
    dominated the reverse pass of delayed networks. Every step is a fresh start, so a
    first-same-as-last method's state is never read and is passed on unchanged. Other solvers
    use their own `step`."""
    if not isinstance(solver, dfx.AbstractERK):
        yy1, _, _, ss1, _ = solver.step(terms, t0, t1, yy, args, ss, made_jump=True)
        return yy1, ss1
    tableau = solver.tableau
    control = terms.contr(t0, t1)

    def combine(coeffs, ks):  # yy + sum_j coeffs[j] ks[j], without the zero terms
        scaled = [jax.tree.map(lambda x: float(a) * x, k) for a, k in zip(coeffs, ks) if a != 0]
        return jax.tree.map(lambda y, *ds: y + sum(ds[1:], ds[0]) if ds else y, yy, *scaled)

    ks = [terms.vf_prod(t0, yy, args, control)]
    for c, a in zip(tableau.c, tableau.a_lower):
        ks.append(terms.vf_prod(t0 + float(c) * (t1 - t0), combine(a, ks), args, control))
    return combine(tableau.b_sol, ks), ss


def _add(a, b):
    return jax.tree.map(lambda x, y: x if y is None else (y if x is None else x + y), a, b,
                        is_leaf=lambda x: x is None)


def _zeros(tree):
    return jax.tree.map(lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else None, tree)


def _blocks(cfg: ScanConfig) -> tuple[int, int, int]:
    superblock = cfg.levels[-1]
    n_warm = cfg.n_transient // superblock
    offset = cfg.n_transient - n_warm * superblock
    n_rec = -(-(offset + cfg.n_record) // superblock)
    return n_warm, n_rec, offset


def _batch_minor(fn: Callable, *args):
    r"""`fn(None, *args)`, and under `jax.vmap` one call `fn(member, *args)` per batch member
    inside an inner vmap, in which the delay buffers are batch-minor (see
    [`brainmass_eqx.DelayBuffer`][]): one buffer for the whole batch, unbatched for the inner
    vmap, which `fn` reads and writes for every member at once. `fn` returns no batch-minor
    array (its checkpoints' buffers go out member by member, `column`).

    `jax.vmap` of a single run would instead batch every buffer read into a gather of `batch`
    separate short windows: 5.5-7 s for a 64 x 2 s W1 sweep on the 2-core CPU, 3x slower than
    `jax.lax.map` over the runs, where the batch-minor sweep takes about 1.6 s."""
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


def _for_members(cfg: ScanConfig, member: Member | None, net: Network) -> ScanConfig:
    """The run's settings for one member of a batch-minor sweep: the kept delayed sums of
    every member share `REVERSE_ROWS_BYTES`."""
    if member is None or not cfg.store_rows:
        return cfg
    fits = _rows_bytes(cfg, net) * member.size <= REVERSE_ROWS_BYTES
    return eqx.tree_at(lambda c: c.store_rows, cfg, fits)


@eqx.filter_custom_vjp
def _delayed(vjp_arg, solver, key, cfg):
    """A delayed network's run: `(final state, records)` from `((net, inputs, mset), (initial
    state, history, solver state))`. Its reverse pass is written out (see `_delayed_bwd`)."""
    def run(member, vjp_arg, key):
        return _delayed_forward(vjp_arg, solver, key, cfg, save=False, member=member)[0]

    return _batch_minor(run, vjp_arg, key)


def _delayed_forward(vjp_arg, solver, key, cfg, save, member=None):
    params, (yy0, hist, ss0) = vjp_arg
    cfg = _for_members(cfg, member, params[0])
    eng = _Engine(params, solver, key, cfg, yy0[0], member)
    n_warm, n_rec, _ = _blocks(cfg)
    kept = None
    if save and cfg.store_rows:
        # the delayed sums of every base block, for the reverse pass
        n_base = (n_warm + n_rec) * (cfg.levels[-1] // cfg.levels[0])
        kept = jnp.zeros((n_base, cfg.levels[0] + 1, *hist.shape[1:]), hist.dtype)
    carry = _Carry(yy0, DelayBuffer.from_history(cfg.plan, hist, member), ss0, yy0, kept=kept)
    carry, saved_warm = eng.chunks(carry, 0, n_warm, False, save)
    # the records go straight into arrays of the kept samples, carried through the run
    shapes = jax.eval_shape(lambda: eng.mset.record(eng.net, *yy0))
    rec = {name: jax.tree.map(lambda s: jnp.zeros((eng.record_rows(name)[1], *s.shape),
                                                  s.dtype), shapes[name]) for name in shapes}
    carry, saved_rec = eng.chunks(carry._replace(records=rec), n_warm, n_rec, True, save)
    rec = {name: jax.tree.map(lambda r: r[:eng.record_rows(name)[0]], r_name)
           for name, r_name in carry.records.items()}
    if member is not None:
        # the checkpoints' buffers leave the sweep member by member
        def unbatch(saved):
            return jax.tree.map(lambda c: c if c is None or c.buffer is None else c._replace(
                buffer=DelayBuffer(column(c.buffer.data, member), cfg.plan)), saved,
                is_leaf=lambda x: isinstance(x, _Carry) or x is None)

        saved_warm, saved_rec = unbatch(saved_warm), unbatch(saved_rec)
    return (carry.final, rec), (saved_warm, saved_rec, carry.kept)


@_delayed.def_fwd
def _delayed_fwd(perturbed, vjp_arg, solver, key, cfg):
    del perturbed

    def run(member, vjp_arg, key):
        return _delayed_forward(vjp_arg, solver, key, cfg, save=True, member=member)

    return _batch_minor(run, vjp_arg, key)


@_delayed.def_bwd
def _delayed_bwd(residuals, grad_obj, perturbed, vjp_arg, solver, key, cfg):
    r"""The reverse pass of a delayed network, written out rather than left to autodiff.

    Autodiff would carry the buffer's cotangent through every block and scatter each read's
    cotangent into it (XLA copies the whole buffer at every base block). Here the delay is
    adjoint by construction: the cotangent of a pre-synaptic value is
    $\bar p_j(s) = \sum_i w_{ij}\,\bar S_i(s + \tau_{ij})$, a *delayed read of the future* on
    the transposed connectome, from a ring of the delayed sums' cotangents $\bar S$ that the
    reverse pass fills as it goes (every $\bar S(t)$ needed is complete, since every delay is at
    least a block long). It uses the same nested blocks as the forward pass. Each chunk is
    recomputed from its saved start, taping the inputs of every base block, whose steps are then
    differentiated by `eqx.filter_vjp`. The connection weights' gradient comes from the same
    reads (only when they are differentiated).
    """
    params, (yy0, hist, ss0) = vjp_arg
    plan = cfg.plan
    eng = _Engine(params, solver, key, cfg, yy0[0])
    saved_warm, saved_rec, kept = residuals
    ct_final, ct_outs = grad_obj
    n_warm, n_rec, _ = _blocks(cfg)
    ct_final = jax.tree.map(lambda x, g: jnp.zeros_like(x) if g is None else g, yy0, ct_final,
                            is_leaf=lambda x: x is None)
    if ct_outs is not None:
        outs_shape = jax.eval_shape(
            lambda: _delayed_forward(vjp_arg, solver, key, cfg, save=False)[0][1])
        ct_outs = jax.tree.map(lambda s, g: jnp.zeros(s.shape, s.dtype) if g is None else g,
                               outs_shape, ct_outs, is_leaf=lambda x: x is None)
    weights, strength = eng.coupling()
    adj_w = tuple(g.weights(weights.T) for g in plan.adjoint)
    # the weights' gradient (per-connection dot products in the adjoint reads) only when the
    # weights are differentiated: the connectome's, or the gains of a `LearnableWeights`
    # coupling (a coupling's other parameters act in its `pre` and `post`, differentiated
    # with the steps)
    net_perturbed = perturbed[0][0]
    learnt = isinstance(params[0].coupling, LearnableWeights)
    dots_on = any(jax.tree.leaves((net_perturbed.connectome,
                                   net_perturbed.coupling if learnt else None)))
    rev = (strength, adj_w, dots_on)
    ring = plan.ring
    n_channels, n_regions = hist.shape[1:]
    st = (jax.tree.map(jnp.zeros_like, yy0), _zeros(ss0), ct_final,
          jnp.zeros((n_channels, n_regions, 2 * ring), hist.dtype),
          jnp.zeros((n_channels, n_regions), hist.dtype), _zeros(params),
          jnp.zeros_like(strength), tuple(jnp.zeros_like(w) for w in adj_w))
    st = eng.chunks_bwd(st, saved_rec, n_warm, n_rec, ct_outs, True, rev, kept)
    st = eng.chunks_bwd(st, saved_warm, 0, n_warm, None, False, rev, kept)
    ct_yy, ct_ss, _, g_ring, row0, ct_p, ct_strength, ct_wadj = st

    # the history (steps -ring+1 .. 0) is read by the sums S(t) of t >= 0: lay the cotangents
    # out by t, zero before t = 0, and read them once more
    gx = jnp.concatenate([jnp.zeros((*row0.shape, ring + 1), row0.dtype), row0[..., None],
                          g_ring[..., :ring]], axis=-1)
    ct_hist = jnp.zeros((row0.shape[1], row0.shape[0], ring), row0.dtype)
    shift = 1 if plan.exact else 0
    ct_wadj = list(ct_wadj)
    dots = hist.transpose(2, 1, 0) if dots_on else None
    for depth, group in enumerate(plan.adjoint):
        if not group.per_target:
            continue
        res = _slab_sum(gx, adj_w[depth], group, group.lags.array + 2 - shift, ring, plan.exact,
                        dots)
        own, dw = (res, None) if dots is None else res
        ct_hist = ct_hist + own
        if dw is not None:
            ct_wadj[depth] = ct_wadj[depth] + dw.T

    def derive(params):
        weights, strength = eng.with_params(params).coupling()
        return strength, tuple(g.weights(weights.T) for g in plan.adjoint)

    _, vjp = eqx.filter_vjp(derive, params)
    (g_p,) = vjp((ct_strength, tuple(ct_wadj)))
    return _add(ct_p, g_p), (ct_yy, ct_hist.transpose(2, 1, 0), ct_ss)


@eqx.filter_jit
def run_network(net: Network, inputs, y0, history, mset, solver, key, cfg: ScanConfig):
    from ._simulate import Simulation

    dt, plan = cfg.dt, cfg.plan
    dtype = jnp.result_type(*jax.tree.leaves(y0))
    params = (net, inputs, mset)
    eng = _Engine(params, solver, key, cfg, y0)

    ms0 = mset.init(net, y0)
    if cfg.n_transient == 0:
        ms0 = mset.at_start(net, y0, ms0)
    yy0 = (y0, ms0)
    ss0 = eng.solver_init(yy0)
    n_warm, n_rec, offset = _blocks(cfg)
    subsampled = plan is not None
    if plan is not None:
        if history is None:
            pre0 = net.coupling.pre(net.coupled(y0)).astype(dtype)
            hist = jnp.broadcast_to(pre0, (plan.ring, *pre0.shape))
        else:
            def pre_at(s):
                h = history(s.astype(dtype) * dt)
                return net.coupling.pre(net.coupled(h)).astype(dtype)

            hist = jax.vmap(pre_at)(jnp.arange(-plan.ring + 1, 1, dtype=jnp.int32))
        final, records = _delayed((params, (yy0, hist, ss0)), solver, key, cfg)
    else:
        # noise without delays: no buffer, so autodiff with chunked rematerialisation is fine
        carry = _Carry(yy0, None, ss0, yy0)
        carry, _ = _scan_checkpointed(eng.superblock_fn(False), carry, 0, n_warm)
        carry, outs = _scan_checkpointed(eng.superblock_fn(True), carry, n_warm, n_rec)
        outs = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), outs)
        final = carry.final
        records = jax.tree.map(lambda x: x[offset:offset + cfg.n_record], outs)
    final_state, final_ms = final
    ts = jnp.asarray((cfg.n_transient + 1 + np.arange(cfg.n_record)) * dt, dtype)
    stats = {"num_steps": jnp.asarray((n_warm + n_rec) * cfg.levels[-1]),
             "block": jnp.asarray(cfg.levels[0]), "superblock": jnp.asarray(cfg.levels[-1])}
    return Simulation(ts=ts, ys=mset.finish(records, final_ms, dt, subsampled),
                      final_state=final_state, result=dfx.RESULTS.successful, stats=stats,
                      strides=mset.strides(dt))


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
    cfg = ScanConfig(dt=dt, n_transient=n_transient, n_record=n_record, levels=levels,
                     plan=plan, stochastic=net.is_stochastic,
                     itemsize=jnp.dtype(y0_dtype).itemsize)
    if plan is not None:
        fits = _rows_bytes(cfg, net) <= REVERSE_ROWS_BYTES
        cfg = eqx.tree_at(lambda c: c.store_rows, cfg, fits)
    return cfg


def _rows_bytes(cfg: ScanConfig, net: Network) -> int:
    """Bytes of the delayed sums of every base block of one run (see `REVERSE_ROWS_BYTES`)."""
    n_warm, n_rec, _ = _blocks(cfg)
    n_base = (n_warm + n_rec) * (cfg.levels[-1] // cfg.levels[0])
    return n_base * (cfg.levels[0] + 1) * net.n_channels * net.n_regions * cfg.itemsize
