r"""The forward recursion of a delayed (or noisy) run over the nested blocks of the delay plan:
a top-level block (superblock) reads its level's delayed sums once and runs its sub-blocks,
down to the base blocks whose steps are scanned one by one. Chunks of superblocks are
checkpointed for the reverse pass (`chunks`)."""

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from ._buffer import column
from ._checkpoint import scan_chunks
from ._context import Coupling, Run
from ._records import write_records
from ._state import Carry, Ends, Stepping
from ._step import StepArgs, stage_sums


def base_steps(run: Run, coupling: Coupling, carry: Stepping, start: Int[Array, ""],
               rows: Float[Array, "rows channels nodes"], dws: dict[str, Array] | None,
               *, record: bool) -> tuple[Stepping, PyTree, Array | None]:
    """The `levels[0]` steps of one base block from step `start`: the carry after them, the
    per-step records (with `record`) and the pre-synaptic values written to the buffer."""
    cfg, net, monitors = run.cfg, run.net, run.params.monitors
    fractions = cfg.stage_fractions if cfg.cubic_history and not cfg.frozen_input \
        and rows.shape[0] > 3 else ()
    mids = stage_sums(rows, fractions) if fractions else None

    def step(carry: Stepping, k):
        dw = run.step_increment(dws, k) if cfg.stochastic else None
        t_start = (start + k).astype(run.dtype) * cfg.dt
        state, solver = run.solver_step(coupling.weights, coupling.strength, dw, carry.state,
                                        carry.solver,
                                        StepArgs(rows, k, t_start, mids, fractions))
        if monitors.resets and cfg.n_transient > 0:
            ms = jax.lax.cond(start + k + 1 == cfg.n_transient,
                              lambda: monitors.at_start(net, state.y, state.monitors),
                              lambda: state.monitors)
            state = dataclasses.replace(state, monitors=ms)
        def kept_at(step, old):
            return jax.tree.map(lambda new, o: jnp.where(start + k + 1 == step, new, o), state,
                                old)

        first = carry.final.first
        if cfg.save_initial and cfg.n_transient > 0:
            first = kept_at(cfg.n_transient, first)
        final = Ends(first, kept_at(cfg.n_total, carry.final.last))
        out = monitors.record(net, state.y, state.monitors) if record else None
        pre = None if cfg.plan is None else net.coupling.pre(net.coupled(state.y))
        return Stepping(state, solver, final), (out, pre)

    carry, (outs, pres) = jax.lax.scan(step, carry, jnp.arange(cfg.levels[0], dtype=jnp.int32))
    return carry, outs, pres


def base(run: Run, carry: Carry, start: Int[Array, ""], rows: Array | None,
         dws: dict[str, Array] | None, coupling: Coupling, *, record: bool
         ) -> tuple[Carry, PyTree]:
    """One base block from step `start`: the steps, then the buffer write and whatever the
    carry keeps (records, delayed sums, the reverse pass's tape)."""
    plan, block = run.cfg.plan, run.cfg.levels[0]
    b = start // block
    if plan is not None and carry.buffer is None:
        rows = jax.lax.dynamic_index_in_dim(carry.kept, b, keepdims=False)
    elif rows is not None and run.member is not None:
        rows = column(rows, run.member)  # the sums of all levels, batch-minor
    elif rows is None:
        rows = jnp.zeros((block + 1, run.net.n_channels, run.net.n_regions), run.dtype)
    stepping, outs, pres = base_steps(run, coupling,
                                      Stepping(carry.state, carry.solver, carry.final), start,
                                      rows, dws, record=record)
    buffer, records, kept, tape = carry.buffer, carry.records, carry.kept, carry.tape
    if plan is not None and buffer is not None:
        buffer = buffer.write(start, pres, run.member)
        if kept is not None:
            kept = jax.lax.dynamic_update_index_in_dim(kept, rows, b, 0)
    if record and records is not None:
        records, outs = write_records(run, records, start, outs), None
    if tape is not None:
        tape = tape.write(b, carry.state, carry.solver, carry.final, rows, pres)
    return Carry(stepping.state, buffer, stepping.solver, stepping.final, records, kept,
                 tape), outs


def level(run: Run, depth: int, carry: Carry, start: Int[Array, ""], rows: Array | None,
          dws: dict[str, Array] | None, coupling: Coupling, *, record: bool
          ) -> tuple[Carry, PyTree]:
    """One block of `levels[depth]` steps: read this level's delayed sums and run its
    sub-blocks (in the reverse pass's recompute, which has no buffer, the sums come from
    `carry.kept`). With `record`, the steps' records are written into `carry.records` when it
    holds arrays (the delayed forward pass), else returned stacked."""
    cfg, plan = run.cfg, run.cfg.plan
    size = cfg.levels[depth]
    if cfg.stochastic and depth == run.noise_depth:
        dws = run.increments(start, size)
    if plan is not None and carry.buffer is not None and plan.groups[depth].per_target:
        own = carry.buffer.read(plan.groups[depth], start, size + 1, coupling.slots[depth],
                                run.member)
        rows = own if rows is None else rows + own
    if depth == 0:
        return base(run, carry, start, rows, dws, coupling, record=record)
    sub = cfg.levels[depth - 1]

    def body(carry, j):
        sub_rows = None if rows is None else jax.lax.dynamic_slice_in_dim(rows, j * sub, sub + 1)
        sub_dws = None if dws is None else jax.tree.map(
            lambda v: jax.lax.dynamic_slice_in_dim(v, j * sub, sub), dws)
        return level(run, depth - 1, carry, start + j * sub, sub_rows, sub_dws, coupling,
                     record=record)

    carry, outs = jax.lax.scan(body, carry, jnp.arange(size // sub, dtype=jnp.int32))
    return carry, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), outs)


def superblock_fn(run: Run, *, record: bool) -> Callable[[Carry, Array], tuple[Carry, PyTree]]:
    """`fn(carry, b)`: superblock `b`."""
    coupling = run.coupling()
    top = len(run.cfg.levels) - 1

    def fn(carry, b):
        return level(run, top, carry, b * run.cfg.levels[-1], None, None, coupling,
                     record=record)

    return fn


def checkpoint(carry: Carry) -> Carry:
    """What the reverse pass recomputes a chunk from: the carry without its records and kept
    sums, and without the buffer when the delayed sums are kept."""
    return dataclasses.replace(carry, buffer=None if carry.kept is not None else carry.buffer,
                               records=None, kept=None)


def chunks(run: Run, carry: Carry, first: int, n: int, *, record: bool, save: bool
           ) -> tuple[Carry, tuple[Carry | None, Carry | None]]:
    """Superblocks `first .. first + n - 1` of a delayed run in chunks of about sqrt(n) (with
    `record`, into `carry.records`). Returns the carry and, with `save`, the `checkpoint` at
    the start of every chunk (stacked over the full chunks, and the remainder's)."""
    fn = superblock_fn(run, record=record)

    def body(carry, idx, _):
        start = checkpoint(carry) if save else None
        return jax.lax.scan(fn, carry, idx)[0], start

    return scan_chunks(body, carry, first, n)


def scan_noise_only(run: Run, carry: Carry, first: int, n: int, *, record: bool
                    ) -> tuple[Carry, PyTree]:
    """Superblocks of a noisy network without delays (no buffer): plain autodiff, with each
    chunk rematerialised (`jax.checkpoint`); returns the per-step records, stacked."""
    fn = superblock_fn(run, record=record)

    @jax.checkpoint
    def run_chunk(carry, idx):
        return jax.lax.scan(fn, carry, idx)

    carry, (full, rest) = scan_chunks(lambda c, idx, _: run_chunk(c, idx), carry, first, n)
    outs = [o for o in (None if full is None else jax.tree.map(
        lambda x: x.reshape(-1, *x.shape[2:]), full), rest) if o is not None]
    if not outs:
        return carry, None
    out = jax.tree.map(lambda *xs: jnp.concatenate(xs), *outs) if len(outs) > 1 else outs[0]
    # (superblocks, steps, ...) -> (steps, ...)
    return carry, jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), out)
