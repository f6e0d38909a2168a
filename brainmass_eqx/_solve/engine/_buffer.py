r"""The ring buffer of past coupling values and its delayed reads (the plan is in
`brainmass_eqx._network._delay_plan`).

Diffrax has no delay-differential-equation solver, so delayed networks are stepped at a fixed
`dt` by our own `lax.scan` over a diffrax solver's `step`. The buffer stores
$\mathrm{pre}(x_j)$ of every region at every past step. Every conduction delay is at least one
block long, so the delayed inputs of a whole block are already in the buffer when the block
starts: they are read **once per block**, as one contiguous window per connection (the way
spiking simulators exchange spikes once per min-delay interval), and reduced to the summed input
$S_i(t_{n+m}) = \sum_j w_{ij}\,\mathrm{pre}(x_j(t_{n+m} - \tau_{ij}))$ for every step end of the
block. Long connections are read once per longer block (see `DelayPlan`). A solver stage at
$t_{n+k} + c\,\Delta t$ then reads the sums interpolated at its own time between step ends
(`_step.delayed_sums`): exactly at the step ends, by cubics through four step ends inside a
step (linearly for a block shorter than three steps). Heun is therefore second order on delayed
networks and RK4 fourth order for a smooth history, where TVB, which freezes the delayed input
over the step, is first order.
"""

import functools
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float

from ..._network._delay_plan import DelayPlan, EdgeGroup


#: Reads add this many slots' windows per pass over the sums: a pass per slot would load and
#: store every sum once per slot, which matters when the sums do not stay in registers or L1
#: (batch-minor sweeps; the measurement is in the design notes).
_SLOTS_PER_PASS = 4

#: With the weights' gradient, a read of at least this many slots takes the products in passes
#: of their own (see `_slab_sum_batch_last`).
_SEPARATE_DOTS = 8


@final
class Member(NamedTuple):
    r"""One member of a batch-minor sweep (see `DelayBuffer`): the batch `size` and this
    member's index `token` (batched under the engine's inner `jax.vmap`)."""

    size: int
    token: Array


@final
class DelayBuffer(eqx.Module):
    r"""Ring buffer of past coupling values, `(channels, nodes, 2 * ring)`, written twice (at `p`
    and `p + ring`) so that every read window is contiguous.

    The value of step $s$ lives at position $(s - 1) \bmod$ `ring`. Base blocks start at
    multiples of `plan.levels[0]` and `ring` is a multiple of it, so a block's writes never wrap.

    **Batch-minor sweeps.** Under `jax.vmap` the engine holds one buffer for the whole batch,
    `(channels, nodes, 2 * ring, batch)`, with the batch axis last, rather than a batch of
    buffers: a read window of `w` steps is then `w * batch` contiguous values, which vectorise,
    where a batch of buffers gathers `batch` separate short windows. The methods then take the
    run's `Member`: the buffer is unbatched for `jax.vmap` (the engine's inner vmap over the
    members), and reads and writes are `custom_vmap` operations that act on every member at
    once.
    """

    data: Float[Array, "channels nodes time *batch"]
    plan: DelayPlan = eqx.field(static=True)

    @staticmethod
    def from_history(plan: DelayPlan, history: Float[Array, "time channels nodes"],
                     member: Member | None = None) -> "DelayBuffer":
        """`history[k]` holds the values of step `k - ring + 1` (the last row is step 0)."""
        if history.shape[0] != plan.ring:
            raise ValueError(f"history needs {plan.ring} rows, got {history.shape[0]}.")
        steps = np.arange(-plan.ring + 1, 1)
        positions = (steps - 1) % plan.ring
        ordered = jnp.zeros_like(history).at[positions].set(history)
        data = jnp.moveaxis(ordered, 0, -1)
        data = jnp.concatenate([data, data], axis=-1)
        return DelayBuffer(data if member is None else collect(data, member), plan)

    def read(self, group: EdgeGroup, start: Array, n_rows: int,
             weights: Float[Array, "nodes slots"], member: Member | None = None
             ) -> Float[Array, "rows channels nodes *batch"]:
        r"""Summed delayed input of one edge group for the `n_rows` step ends from step
        `start`: row $m$ is $\sum_j w_{ij}\,\mathrm{pre}(x_j(t_{\text{start}+m} - \tau_{ij}))$
        over the group's connections (`weights` from `group.weights`).

        With a `member`, the sums of every member in one batch-minor array (unbatched for
        the engine's inner vmap; a member takes its own with `column`), so that the sums of
        all levels are added up before the one transposition to the members' layout."""
        n_channels, n_nodes = self.data.shape[:2]
        if group.per_target == 0:
            return jnp.zeros((n_rows, n_channels, n_nodes), self.data.dtype)
        window = n_rows + (1 if self.plan.exact else 0)
        lags = group.lags.array
        span = int(lags.max()) - int(lags.min()) + window
        assert span <= self.plan.ring  # the ring holds the longest delay plus a top block
        # the group's windows all lie in one contiguous slab of the buffer, from column `q`
        q = (jnp.asarray(start, jnp.int32) - int(lags.max()) - 1) % self.plan.ring
        acc = slab_sum(self.data, weights, group, int(lags.max()) - lags, n_rows,
                        self.plan.exact, start=q, member=member)
        return acc.transpose(2, 1, 0, *range(3, acc.ndim))

    def write(self, start: Array, block_values: Float[Array, "block channels nodes"],
              member: Member | None = None) -> "DelayBuffer":
        """Store the values of steps `start + 1 .. start + block`."""
        q = jnp.asarray(start, jnp.int32) % self.plan.ring
        vals = jnp.moveaxis(block_values, 0, -1).astype(self.data.dtype)
        if member is None:
            return DelayBuffer(_write_twice(self.data, vals, q, self.plan.ring), self.plan)
        return DelayBuffer(_member_write(self.plan.ring)(self.data, vals, q, member.token),
                           self.plan)


def _write_twice(data, vals, q, ring):
    data = jax.lax.dynamic_update_slice_in_dim(data, vals, q, axis=2)
    return jax.lax.dynamic_update_slice_in_dim(data, vals, q + ring, axis=2)


def _vmapped(primal, batched, args):
    """The plain batching of a batch-minor operation (for a rule's unexpected case, e.g. an
    outer `jax.vmap` of a whole sweep): `jax.vmap` of its one-member definition."""
    in_axes = jax.tree.map(lambda b: 0 if b else None, list(batched))
    out = jax.vmap(primal, in_axes=in_axes)(*args)
    return out, jax.tree.map(lambda _: True, out)


def _batch_last(x, batched, size):
    """A `custom_vmap` rule's argument with its batch axis last (broadcast if unbatched)."""
    return jnp.moveaxis(x, 0, -1) if batched else jnp.broadcast_to(x[..., None],
                                                                   (*x.shape, size))


@functools.cache
def _member_write(ring: int):
    @custom_vmap
    def write(data, vals, q, token):
        column = _write_twice(data[..., token], vals, q, ring)
        return data.at[..., token].set(column)

    @write.def_vmap
    def rule(size, batched, data, vals, q, token):
        if batched[0] or batched[2]:
            return _vmapped(write, batched, (data, vals, q, token))
        return _write_twice(data, _batch_last(vals, batched[1], size), q, ring), False

    return write


@functools.cache
def _member_collect(size: int):
    @custom_vmap
    def collect(x, token):
        return jnp.zeros((*x.shape, size), x.dtype).at[..., token].set(x)

    @collect.def_vmap
    def rule(axis_size, batched, x, token):
        if axis_size != size:  # an outer vmap
            return _vmapped(collect, batched, (x, token))
        return _batch_last(x, batched[0], axis_size), False

    return collect


def collect(x: Array, member: Member) -> Array:
    """The batch-minor array of every member's `x` (under the engine's inner vmap; unbatched
    for it, with the batch axis last)."""
    return _member_collect(member.size)(x, member.token)


@custom_vmap
def _column(x, token):
    return x[..., token]


@_column.def_vmap
def _column_rule(size, batched, x, token):
    if batched[0] or x.shape[-1] != size:
        return _vmapped(_column, batched, (x, token))
    return jnp.moveaxis(x, -1, 0), True


def column(x: Array, member: Member) -> Array:
    """This member's slice of a batch-minor array (the inverse of `collect`)."""
    return _column(x, member.token)


def slab_sum(slab: Float[Array, "channels nodes time *batch"],
              weights: Float[Array, "nodes slots *batch"], group: EdgeGroup,
              offsets: np.ndarray, n_rows: int, exact: bool,
              dots: Float[Array, "nodes channels rows *batch"] | None = None,
              start: Array | int = 0, member: Member | None = None):
    """For every region, the weighted sum over its slots of windows of `slab`: slot `k` of
    region `i` reads row `group.sources[i, k]` from column `start + offsets[i, k]` on. With
    `exact`, a window has one more sample and the two neighbours are mixed by the slot's
    fraction.

    With `dots`, also returns each slot's unweighted window contracted with `dots` of its
    region, `(slots, nodes)` (the gradient of the sum with respect to the slot weights).

    With a `member`, `slab` is batch-minor and this is a `custom_vmap` operation (without
    `dots`): under the engine's inner vmap it reads every member at once (`weights` may be
    batched) into one batch-minor array, `(nodes, channels, rows, batch)`, with each member's
    sums in its own column (the `collect` of the members' sums)."""
    if member is None:
        return _slab_sum_batch_last(slab, weights, group, offsets, n_rows, exact, dots, start)
    assert dots is None

    @custom_vmap
    def member_sum(slab, weights, start, token):
        own = _slab_sum_batch_last(slab[..., token], weights, group, offsets, n_rows, exact,
                                   None, start)
        return jnp.zeros((*own.shape, member.size), own.dtype).at[..., token].set(own)

    @member_sum.def_vmap
    def rule(size, batched, slab, weights, start, token):
        if batched[0] or batched[2] or size != member.size:
            return _vmapped(member_sum, batched, (slab, weights, start, token))
        weights = _batch_last(weights, batched[1], size)
        return _slab_sum_batch_last(slab, weights, group, offsets, n_rows, exact, None,
                                    start), False

    return member_sum(slab, weights, start, member.token)


def _slab_sum_batch_last(slab, weights, group, offsets, n_rows, exact, dots, start):
    """`slab_sum` of one run (`slab.ndim == 3`) or of a batch-minor sweep (a trailing batch
    axis on `slab`, `weights` and `dots`)."""
    n_channels, n_nodes = slab.shape[:2]
    batch = slab.shape[3:]
    nb = len(batch)
    k = group.per_target
    window = n_rows + (1 if exact else 0)
    # slot-major `(slots, nodes, 2)` start indices (source row, column)
    idx = np.stack([group.sources.array, offsets.ravel()], axis=-1)
    idx = jnp.asarray(idx.reshape(n_nodes, k, 2).transpose(1, 0, 2).astype(np.int32))
    shift = jnp.stack([jnp.zeros((), jnp.int32), jnp.asarray(start, jnp.int32)])[None]
    dnums = jax.lax.GatherDimensionNumbers(
        offset_dims=tuple(range(1, 3 + nb)), collapsed_slice_dims=(1,), start_index_map=(1, 2))
    w = jnp.moveaxis(weights, 1, 0)  # (slots, nodes, *batch)
    frac = jnp.asarray(group.fractions.array.reshape(n_nodes, k).T, slab.dtype)

    # A few slots at a time (`_SLOTS_PER_PASS`): gather every region's window in each slot,
    # `(nodes, channels, window, *batch)`, and accumulate them weighted. XLA fuses the gathers
    # into the multiply-adds, so the windows are never stored: about twice as fast as
    # gathering all the windows and reducing them with a batched dot.
    def slot(kk):
        win = jax.lax.gather(slab, idx[kk] + shift, dnums, (n_channels, 1, window, *batch),
                             mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
        if exact:
            f = frac[kk].reshape(n_nodes, 1, 1, *(1,) * nb)
            win = (1 - f) * win[:, :, :n_rows] + f * win[:, :, 1:]
        wk = w[kk].reshape(n_nodes, 1, 1, *w.shape[2:])
        return win, wk

    # With `dots`, each slot's products with the dots are folded over the rows, elementwise,
    # to `fold` rows (`(nodes, channels, fold)`), and reduced once after the loop: XLA's CPU
    # reduction of a gathered window per slot is several times slower than the read itself.
    fold = _fold_rows(n_rows)

    def folded(win):
        prod = win * dots
        parts = [prod[:, :, g * fold:(g + 1) * fold] for g in range(n_rows // fold)]
        return sum(parts[1:], parts[0])

    def weighted(first_slot, n_slots):
        # several slots per pass: the sums are loaded and stored once per pass, not per slot
        terms = [wk * win for win, wk in (slot(first_slot + j) for j in range(n_slots))]
        return sum(terms[1:], terms[0])

    def dot_pass(first_slot, n_slots, dw):
        products = jnp.stack([folded(slot(first_slot + j)[0]) for j in range(n_slots)])
        return jax.lax.dynamic_update_slice_in_dim(dw, products, first_slot, axis=0)

    passes = k // _SLOTS_PER_PASS
    first = passes * _SLOTS_PER_PASS
    acc = jnp.zeros((n_nodes, n_channels, n_rows, *batch), slab.dtype)
    dw = None if dots is None else jnp.zeros((k, n_nodes, n_channels, fold, *batch),
                                             slab.dtype)
    if dots is not None and k < _SEPARATE_DOTS:
        # few slots: one loop for both (the separate passes below only pay off for many)
        def both(kk, carry):
            acc, dw = carry
            win, wk = slot(kk)
            return acc + wk * win, jax.lax.dynamic_update_index_in_dim(dw, folded(win), kk, 0)

        acc, dw = jax.lax.fori_loop(0, k, both, (acc, dw))
        return jax.lax.optimization_barrier(acc), jnp.sum(dw, axis=(2, 3))
    # The slots left after the passes of four, or all of them for a level with at most eight,
    # in one unrolled pass: one kernel instead of one per slot. The short levels are read
    # most often, so their fixed cost per read dominates (W1 forward and sweeps about 10 %
    # faster; the design notes).
    unrolled = 0 if k <= 2 * _SLOTS_PER_PASS else first
    if unrolled:
        acc = jax.lax.fori_loop(
            0, passes, lambda g, acc: acc + weighted(g * _SLOTS_PER_PASS, _SLOTS_PER_PASS),
            acc)
    if k > unrolled:
        acc = acc + weighted(unrolled, k - unrolled)
    # XLA would fuse the last slots (a loop it unrolls) with the callers' transposition of the
    # sums: then every element of every window is gathered on its own, rows outermost
    acc = jax.lax.optimization_barrier(acc)
    if dots is None:
        return acc
    # The weights' gradient in passes of its own, each gathering its windows again: a window
    # gathered once for both the sums and the products is stored between two kernels, and on
    # the CPU the launches of such small kernels cost more than the gathers.
    if passes:
        dw = jax.lax.fori_loop(
            0, passes, lambda g, dw: dot_pass(g * _SLOTS_PER_PASS, _SLOTS_PER_PASS, dw), dw)
    dw = jax.lax.fori_loop(first, k, lambda kk, dw: dot_pass(kk, 1, dw), dw)
    return acc, jnp.sum(dw, axis=(2, 3))


def _fold_rows(n_rows: int) -> int:
    """The rows a slot's products with the dots are folded to: the largest divisor of
    `n_rows` up to 12 that leaves at most 64 terms per folded row (`n_rows` itself, no fold,
    when there is none)."""
    for fold in range(min(12, n_rows), 0, -1):
        if n_rows % fold == 0 and n_rows // fold <= 64:
            return fold
    return n_rows


def adjoint_read(g_ring: Float[Array, "channels nodes time *batch"], plan: DelayPlan,
                 group: EdgeGroup, start: Array, n_rows: int, weights: Float[Array, "nodes slots"],
                 dots: Float[Array, "nodes channels rows"] | None = None):
    r"""The reverse pass's delayed read, on the transposed connectome: for the steps
    $s = $ `start + 1 .. start + n_rows`, $\bar p_j(s) = \sum_i w_{ij}\,[(1 - f)\,\bar S_i(s +
    \ell_{ij}) + f\,\bar S_i(s + \ell_{ij} - 1)]$ from the ring `g_ring` of cotangents
    $\bar S(t)$ (stored like the buffer: $t$ at position $(t - 1) \bmod$ `ring`, twice).
    `group` is one of `plan.adjoint`, `weights` its slot weights. Returns `(nodes, channels,
    rows)` (and, with `dots`, the slot weights' gradient)."""
    lags = group.lags.array
    lag_min, lag_max = int(lags.min()), int(lags.max())
    shift = 1 if plan.exact else 0
    span = lag_max - lag_min + n_rows + shift
    assert span <= plan.ring
    q = (jnp.asarray(start, jnp.int32) + lag_min - shift) % plan.ring
    return slab_sum(g_ring, weights, group, lags - lag_min, n_rows, plan.exact, dots, start=q)
