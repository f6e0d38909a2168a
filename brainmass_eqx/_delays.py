r"""Conduction delays: the static delay plan and the ring buffer of past coupling values.

Diffrax has no delay-differential-equation solver, so delayed networks are stepped at a fixed
`dt` by our own `lax.scan` over a diffrax solver's `step`. The buffer stores
$\mathrm{pre}(x_j)$ of every region at every past step. Every conduction delay is at least one
block long, so the delayed inputs of a whole block are already in the buffer when the block
starts: they are read **once per block**, as one contiguous window per connection (the way
spiking simulators exchange spikes once per min-delay interval), and reduced to the summed input
$S_i(t_{n+m}) = \sum_j w_{ij}\,\mathrm{pre}(x_j(t_{n+m} - \tau_{ij}))$ for every step end of the
block. Long connections are read once per longer block (see `DelayPlan`). A solver stage at
$t_{n+k} + c\,\Delta t$ then reads $(1 - c)\,S(t_{n+k}) + c\,S(t_{n+k+1})$: every stage sees the
delayed input at its own time, exactly at the step ends and linearly interpolated in between.
Heun is therefore second order on delayed networks, where TVB, which freezes the delayed input
over the step, is first order.
"""

import dataclasses
import functools
from typing import NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_batching import custom_vmap
from jaxtyping import Array, Float

from ._connectome import Connectome, StaticArray


#: A delay buffer bigger than this raises instead of silently exhausting memory.
MAX_BUFFER_BYTES = 2**30

#: Reads add this many slots' windows per pass over the sums. A pass per slot loads and stores
#: every sum once per slot; the W1 forward is about as fast either way, a 64-member sweep
#: (whose sums do not stay in registers or L1) 20 % faster.
_SLOTS_PER_PASS = 4


@final
@dataclasses.dataclass(frozen=True)
class EdgeGroup:
    """Connections read together, in ELL layout: every target region gets the same number
    `per_target` of slots (padded with `valid = False` slots of zero weight), so the weighted
    sum over a region's inputs is one batched dot product rather than a scatter-add.

    Arrays are flat `(n_nodes * per_target,)`, target-major; `lags` are in steps back from the
    read start, `fractions` the interpolation weight of the following sample (exact delays).
    """

    per_target: int
    sources: StaticArray
    lags: StaticArray
    fractions: StaticArray
    valid: StaticArray

    @property
    def n_edges(self) -> int:
        return int(self.valid.array.sum())

    @staticmethod
    def from_slots(n_nodes: int, per_target: int, targets: np.ndarray, slots: np.ndarray,
                   sources: np.ndarray, lags: np.ndarray, fractions: np.ndarray) -> "EdgeGroup":
        """Connection `e` goes to slot `slots[e]` of region `targets[e]`; unused slots are
        padding."""
        src = np.zeros((n_nodes, per_target), np.int32)
        # padding slots read a real, in-range window (the group's longest lag) with weight 0
        lag = np.full((n_nodes, per_target), int(lags.max()) if lags.size else 0, np.int32)
        frac = np.zeros((n_nodes, per_target))
        valid = np.zeros((n_nodes, per_target), bool)
        src[targets, slots], lag[targets, slots] = sources, lags
        frac[targets, slots], valid[targets, slots] = fractions, True
        return EdgeGroup(per_target, StaticArray(src.ravel()), StaticArray(lag.ravel()),
                         StaticArray(frac.ravel()), StaticArray(valid.ravel()))

    def weights(self, weights: Float[Array, "nodes nodes"]) -> Float[Array, "nodes slots"]:
        """The connection weights in slot layout (zero on padding)."""
        n = weights.shape[0]
        targets = np.repeat(np.arange(n), self.per_target)
        w = weights[targets, jnp.asarray(self.sources.array)]
        w = jnp.where(jnp.asarray(self.valid.array), w, jnp.zeros((), w.dtype))
        return w.reshape(n, self.per_target)


@final
@dataclasses.dataclass(frozen=True)
class DelayPlan:
    """The static structure of a delayed network at one step size (hashable).

    Reading a connection's window costs mostly a fixed overhead per connection, whatever the
    window's length, so long connections should be read rarely. Steps are therefore grouped in a
    hierarchy of nested blocks: `levels[0]` (the shortest delay, in steps) and then doublings,
    each block of one level holding two of the level below. A connection whose delay is at least
    `levels[l]` steps may be read once per block of that level (or of any shorter one), for all
    of the block's steps at once; the sums of all levels are added on the way down. Every level
    reads the same number of slots per target region, and connections are spread over the
    levels so that there are as few slots as possible and as many as possible are read rarely
    (`_assign_slots`). On the hcp connectome at 10 mm/ms and dt 0.1 ms (delays of 7 to 248
    steps), the 6320 connections fill 79 slots per region with no padding, 65 of them read once
    every 56 or 112 steps.

    A read gathers and accumulates the windows slot by slot, straight from the buffer
    (`_slab_sum`; slicing the group's slab out first costs an unvectorised copy). The engine
    differentiates delayed runs with its own reverse pass, which reads the transposed
    connectome the same way (`adjoint`, `adjoint_read`).

    **Fields:** `levels` (block sizes in steps, ascending), `groups` (one `EdgeGroup` per level),
    `ring` (buffer length in steps, a multiple of the largest level), `exact` (fractional
    delays), `adjoint` (the same connections grouped by source, for the reverse pass).
    """

    levels: tuple[int, ...]
    groups: tuple[EdgeGroup, ...]
    ring: int
    exact: bool
    adjoint: tuple[EdgeGroup, ...]

    @property
    def block(self) -> int:
        """Steps per base block (the shortest delay in steps)."""
        return self.levels[0]

    @property
    def superblock(self) -> int:
        """Steps per top-level block."""
        return self.levels[-1]

    @property
    def n_edges(self) -> int:
        return sum(g.n_edges for g in self.groups)

    @staticmethod
    def build(connectome: Connectome, speed: float, dt: float, *, exact: bool,
              n_channels: int, itemsize: int, max_superblock: int | None = None
              ) -> "DelayPlan":
        """Delays in steps from tract lengths, speed and `dt`; validates resolvability and the
        buffer size. `max_superblock` caps the top level (short runs should not be padded to a
        long block). Plans are cached per static structure, so repeated simulations do not
        rebuild them."""
        if connectome.lengths is None:
            raise ValueError("The connectome has no tract lengths, so it has no delays.")
        return _build_plan(connectome.edges, connectome.lengths, connectome.n_regions,
                           float(speed), float(dt), bool(exact), int(n_channels), int(itemsize),
                           max_superblock)


@functools.lru_cache(maxsize=64)
def _build_plan(edges_s: StaticArray, lengths_s: StaticArray, n_regions: int, speed: float,
                dt: float, exact: bool, n_channels: int, itemsize: int,
                max_superblock: int | None) -> DelayPlan:
    edges = edges_s.array
    if edges.shape[0] == 0:
        raise ValueError("The connectome has no connections; drop the tract lengths/speed "
                         "(`connectome.without_lengths()`) to simulate independent nodes.")
    targets, sources = edges[:, 0], edges[:, 1]
    if not np.isfinite(speed) or speed <= 0:
        raise ValueError(f"`speed` must be a positive, finite speed in mm/ms, got {speed}.")
    delays = lengths_s.array[targets, sources] / speed  # ms
    steps = delays / dt
    shortest = int(np.argmin(steps))
    if exact:
        lags = np.ceil(steps - 1e-9).astype(np.int64)
        fractions = lags - steps
        fractions[np.abs(fractions) < 1e-9] = 0.0
        # a window also reads the sample after the delayed time
        usable = np.where(fractions > 0, lags - 1, lags)
    else:
        lags = np.rint(steps).astype(np.int64)
        fractions = np.zeros_like(steps)
        usable = lags
    block = int(usable.min())
    if block < 1:
        i, j = targets[shortest], sources[shortest]
        raise ValueError(
            f"dt = {dt} ms cannot resolve the shortest conduction delay, "
            f"{delays[shortest]:.4g} ms (onto region {i} from region {j}): every delay must "
            f"be at least one step. Use dt <= {delays[shortest]:.4g} ms, a lower `speed`, "
            "or drop the lengths of connections that should be instantaneous."
        )
    cap = int(usable.max()) if max_superblock is None else min(int(usable.max()), max_superblock)
    levels = [block]
    while levels[-1] * 2 <= cap:
        levels.append(levels[-1] * 2)
    level_of = np.searchsorted(np.asarray(levels), usable, side="right") - 1
    groups = _assign_slots(n_regions, targets, sources, lags, fractions, level_of, len(levels))
    # levels left without slots only lengthen the blocks (and the padding of short runs)
    while len(levels) > 1 and groups[-1].per_target == 0:
        levels, groups = levels[:-1], groups[:-1]
    max_lag = int(lags.max())
    top = levels[-1]
    ring = -(-(max_lag + top + 1) // top) * top
    nbytes = 2 * ring * n_channels * n_regions * itemsize
    if nbytes > MAX_BUFFER_BYTES:
        raise ValueError(
            f"The delay buffer would hold {ring} steps x {n_regions} regions x "
            f"{n_channels} channels ({nbytes / 2**30:.1f} GiB): the longest delay "
            f"({delays.max():.4g} ms) is {max_lag} steps of dt = {dt} ms. Use a larger dt, "
            "a higher `speed`, or fewer regions."
        )
    # the reverse pass reads the same connections by source (the transposed connectome), with
    # slots spread over the same levels; its fractions weight the earlier of the two samples
    level_of = np.minimum(level_of, len(levels) - 1)
    adjoint = _assign_slots(n_regions, sources, targets, lags,
                            np.where(fractions > 0, 1 - fractions, 1.0) if exact else fractions,
                            level_of, len(levels))
    return DelayPlan(levels=tuple(levels), groups=groups, ring=ring, exact=exact,
                     adjoint=adjoint)


def _assign_slots(n_regions: int, targets: np.ndarray, sources: np.ndarray, lags: np.ndarray,
                  fractions: np.ndarray, level_of: np.ndarray, n_levels: int
                  ) -> tuple[EdgeGroup, ...]:
    r"""Slots per target at each level, with as little padding and as many slots as high as
    possible.

    A connection may be read at its own level or at any lower one (its window is in the buffer
    for every shorter block too). Every level has the same number of slots per target, so the
    levels' cumulative slot counts must cover the target with the most connections up to that
    level, $P_l = \max_i \#\{e \to i : \text{level}(e) \le l\}$; taking exactly these
    prefix counts uses the fewest slots at every level, and since a slot costs less the longer
    its block, this also is the cheapest assignment. Each target's connections, sorted by level,
    fill its slots from the bottom up: on the fully connected hcp connectome no slot is padding.
    """
    counts = np.zeros((n_regions, n_levels), np.int64)
    np.add.at(counts, (targets, level_of), 1)
    prefix = np.concatenate([[0], np.cumsum(counts, axis=1).max(axis=0)])
    order = np.lexsort((lags, level_of, targets))
    t_sorted = targets[order]
    rank = np.arange(targets.size) - np.searchsorted(t_sorted, t_sorted)
    level = np.searchsorted(prefix, rank, side="right") - 1
    groups = []
    for lv in range(n_levels):
        e = order[level == lv]
        groups.append(EdgeGroup.from_slots(
            n_regions, int(prefix[lv + 1] - prefix[lv]), targets[e],
            rank[level == lv] - prefix[lv], sources[e], lags[e], fractions[e]))
    return tuple(groups)


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
    multiples of `plan.block` and `ring` is a multiple of it, so a block's writes never wrap.

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
        acc = _slab_sum(self.data, weights, group, int(lags.max()) - lags, n_rows,
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


def _slab_sum(slab: Float[Array, "channels nodes time *batch"],
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
    """`_slab_sum` of one run (`slab.ndim == 3`) or of a batch-minor sweep (a trailing batch
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
    # gathering all the windows and reducing them with a batched dot. (With `dots`, one slot
    # per pass.)
    def slot(kk):
        win = jax.lax.gather(slab, idx[kk] + shift, dnums, (n_channels, 1, window, *batch),
                             mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
        if exact:
            f = frac[kk].reshape(n_nodes, 1, 1, *(1,) * nb)
            win = (1 - f) * win[:, :, :n_rows] + f * win[:, :, 1:]
        wk = w[kk].reshape(n_nodes, 1, 1, *w.shape[2:])
        return win, wk

    def add_slot(kk, carry):
        acc, dw = carry
        win, wk = slot(kk)
        acc = acc + wk * win
        if dots is not None:
            dw = jax.lax.dynamic_update_index_in_dim(dw, jnp.sum(win * dots, axis=(1, 2)), kk,
                                                     axis=0)
        return acc, dw

    def add_slots(g, carry):
        # several slots per pass: the sums are loaded and stored once per pass, not per slot
        acc, dw = carry
        terms = [wk * win for win, wk in (slot(g * _SLOTS_PER_PASS + j)
                                          for j in range(_SLOTS_PER_PASS))]
        return acc + sum(terms[1:], terms[0]), dw

    acc = jnp.zeros((n_nodes, n_channels, n_rows, *batch), slab.dtype)
    dw = None if dots is None else jnp.zeros((k, n_nodes, *batch), slab.dtype)
    first = 0
    if dots is None:
        first = k // _SLOTS_PER_PASS * _SLOTS_PER_PASS
        acc, dw = jax.lax.fori_loop(0, k // _SLOTS_PER_PASS, add_slots, (acc, dw))
    acc, dw = jax.lax.fori_loop(first, k, add_slot, (acc, dw))
    # XLA would fuse the last slots (a loop it unrolls) with the callers' transposition of the
    # sums: then every element of every window is gathered on its own, rows outermost
    acc = jax.lax.optimization_barrier(acc)
    return acc if dots is None else (acc, dw)


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
    return _slab_sum(g_ring, weights, group, lags - lag_min, n_rows, plan.exact, dots, start=q)
