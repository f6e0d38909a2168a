r"""The reverse pass of a delayed network, written out rather than left to autodiff.

Autodiff would carry the buffer's cotangent through every block and scatter each read's
cotangent into it (XLA copies the whole buffer at every base block). Here the delay is adjoint
by construction: the cotangent of a pre-synaptic value is
$\bar p_j(s) = \sum_i w_{ij}\,\bar S_i(s + \tau_{ij})$, a *delayed read of the future* on the
transposed connectome, from a ring of the delayed sums' cotangents $\bar S$ that the reverse
pass fills as it goes (every $\bar S(t)$ needed is complete, since every delay is at least a
block long). It uses the same nested blocks as the forward pass. Each chunk is recomputed from
its saved start, taping the inputs of every base block, whose steps are then differentiated by
`eqx.filter_vjp`. The connection weights' gradient comes from the same reads (only when they
are differentiated).
"""

import dataclasses
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from ._blocks import base_steps, superblock_fn
from ._buffer import DelayBuffer, adjoint_read, slab_sum
from ._checkpoint import scan_chunks
from ._context import Coupling, Run
from ._records import read_records
from ._state import Adjoints, Carry, Cotangents, Stepping, Tape, add


@final
@dataclasses.dataclass(frozen=True)
class ChunkReverse:
    """What every block of one chunk's reverse pass reads: the chunk's `tape`, the cotangents
    of the records (`ct_records`, `None` in the transient), the forward pass's `kept` delayed
    sums (or `None`), the shared `adjoints`, and whether the chunk `record`s."""

    tape: Tape
    ct_records: dict[str, PyTree] | None
    kept: Array | None
    adjoints: Adjoints
    record: bool


def base_bwd(run: Run, ct: Cotangents, start: Int[Array, ""], pending: Array | None,
             dws: dict[str, Array] | None, ctx: ChunkReverse) -> Cotangents:
    """The reverse of one base block: differentiate its steps from the taped inputs, and
    write the delayed sums' cotangents into the ring."""
    plan, block = run.cfg.plan, run.cfg.levels[0]
    b = start // block
    state, solver, final, rows = ctx.tape.read(b)
    if rows is None:
        rows = jax.lax.dynamic_index_in_dim(ctx.kept, b, keepdims=False)
    ct_out = None if ctx.ct_records is None else read_records(run, ctx.ct_records, start)

    def f(params, strength, carry, rows):
        coupling = Coupling(None, strength, ())
        return base_steps(run.with_params(params), coupling, carry, start, rows, dws,
                          record=ctx.record)

    out, vjp = eqx.filter_vjp(f, run.params, ctx.adjoints.strength,
                              Stepping(state, solver, final), rows)
    ct_pres = jnp.zeros_like(out[2]) if pending is None else pending
    g_params, g_strength, g_carry, g_rows = vjp(
        (Stepping(ct.state, ct.solver, ct.final), ct_out, ct_pres))
    # row m of this block and row 0 of the next are the same delayed sum
    g_block = g_rows[1:].at[-1].add(ct.row0)
    ring = DelayBuffer(ct.ring, plan).write(start, g_block).data
    return Cotangents(g_carry.state, g_carry.solver, g_carry.final, ring, g_rows[0],
                      add(ct.params, g_params), ct.strength + g_strength, ct.weights)


def level_bwd(run: Run, depth: int, ct: Cotangents, start: Int[Array, ""],
              pending: Array | None, dws: dict[str, Array] | None, ctx: ChunkReverse
              ) -> Cotangents:
    """The reverse of one block of `levels[depth]` steps: this level's adjoint read adds the
    cotangents of the pre-synaptic values it delays (`pending` for the steps below), then the
    sub-blocks are walked backwards."""
    cfg, plan = run.cfg, run.cfg.plan
    size = cfg.levels[depth]
    if cfg.stochastic and depth == run.noise_depth:
        dws = run.increments(start, size)
    group = plan.adjoint[depth]
    if group.per_target:
        dots = None
        if ctx.adjoints.weight_grads:
            block = cfg.levels[0]
            dots = jax.lax.dynamic_slice_in_dim(
                ctx.tape.pres, start - ctx.tape.first * block, size, axis=2)
        res = adjoint_read(ct.ring, plan, group, start, size, ctx.adjoints.weights[depth], dots)
        own, dw = (res, None) if dots is None else res
        own = own.transpose(2, 1, 0)
        pending = own if pending is None else pending + own
        if dw is not None:
            weights = list(ct.weights)
            weights[depth] = weights[depth] + dw.T
            ct = dataclasses.replace(ct, weights=tuple(weights))
    if depth == 0:
        return base_bwd(run, ct, start, pending, dws, ctx)
    sub = cfg.levels[depth - 1]

    def body(ct, j):
        sub_pending = (None if pending is None
                       else jax.lax.dynamic_slice_in_dim(pending, j * sub, sub))
        sub_dws = None if dws is None else jax.tree.map(
            lambda v: jax.lax.dynamic_slice_in_dim(v, j * sub, sub), dws)
        return level_bwd(run, depth - 1, ct, start + j * sub, sub_pending, sub_dws, ctx), None

    ct, _ = jax.lax.scan(body, ct, jnp.arange(size // sub, dtype=jnp.int32), reverse=True)
    return ct


def _empty_tape(run: Run, start: Carry, first_block: Array, n_base: int, *, rows: bool,
                pres: bool) -> Tape:
    block, net = run.cfg.levels[0], run.net

    def zeros(x):
        return jnp.zeros((n_base, *x.shape), x.dtype)

    return Tape(first_block, jax.tree.map(zeros, start.state), jax.tree.map(zeros, start.solver),
                jax.tree.map(zeros, start.final),
                jnp.zeros((n_base, block + 1, net.n_channels, net.n_regions), run.dtype)
                if rows else None,
                jnp.zeros((net.n_regions, net.n_channels, n_base * block), run.dtype)
                if pres else None)


def chunks_bwd(run: Run, ct: Cotangents, saved: tuple[Carry | None, Carry | None], first: int,
               n: int, ct_records: dict[str, PyTree] | None, adjoints: Adjoints,
               kept: Array | None, *, record: bool) -> Cotangents:
    """The reverse of `chunks`: recompute each chunk from its saved start, taping every base
    block's inputs (its delayed sums come from `kept` when the forward pass kept them), then
    walk its blocks backwards."""
    top = len(run.cfg.levels) - 1
    superblock, block = run.cfg.levels[-1], run.cfg.levels[0]
    fn = superblock_fn(run, record=False)

    def body(ct, idx, start: Carry):
        n_base = idx.shape[0] * (superblock // block)
        tape = _empty_tape(run, start, idx[0] * (superblock // block), n_base,
                           rows=kept is None, pres=adjoints.weight_grads)
        carry = dataclasses.replace(start, kept=kept, tape=tape)
        ctx = ChunkReverse(jax.lax.scan(fn, carry, idx)[0].tape, ct_records, kept, adjoints,
                           record)

        def back(ct, b):
            return level_bwd(run, top, ct, b * superblock, None, None, ctx), None

        return jax.lax.scan(back, ct, idx, reverse=True)[0], None

    return scan_chunks(body, ct, first, n, xs=saved, reverse=True)[0]


def history_cotangent(run: Run, ct: Cotangents, history: Float[Array, "time channels nodes"],
                      adjoints: Adjoints) -> tuple[Array, tuple[Array, ...]]:
    """The cotangent of the history (steps `-ring + 1 .. 0`), read by the sums $S(t)$ of
    $t \\ge 0$: the ring's cotangents laid out by $t$, zero before $t = 0$, read once more; and
    the adjoint slot weights' cotangents with these reads' products added."""
    plan = run.cfg.plan
    ring = plan.ring
    gx = jnp.concatenate([jnp.zeros((*ct.row0.shape, ring + 1), ct.row0.dtype),
                          ct.row0[..., None], ct.ring[..., :ring]], axis=-1)
    ct_hist = jnp.zeros((ct.row0.shape[1], ct.row0.shape[0], ring), ct.row0.dtype)
    shift = 1 if plan.exact else 0
    weights = list(ct.weights)
    dots = history.transpose(2, 1, 0) if adjoints.weight_grads else None
    for depth, group in enumerate(plan.adjoint):
        if not group.per_target:
            continue
        res = slab_sum(gx, adjoints.weights[depth], group, group.lags.array + 2 - shift, ring,
                       plan.exact, dots)
        own, dw = (res, None) if dots is None else res
        ct_hist = ct_hist + own
        if dw is not None:
            weights[depth] = weights[depth] + dw.T
    return ct_hist.transpose(2, 1, 0), tuple(weights)
