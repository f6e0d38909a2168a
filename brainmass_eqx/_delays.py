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
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._connectome import Connectome, StaticArray


#: A delay buffer bigger than this raises instead of silently exhausting memory.
MAX_BUFFER_BYTES = 2**30


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
    def from_edges(n_nodes: int, targets: np.ndarray, sources: np.ndarray, lags: np.ndarray,
                   fractions: np.ndarray) -> "EdgeGroup":
        counts = np.bincount(targets, minlength=n_nodes)
        k = int(counts.max()) if targets.size else 0
        src = np.zeros((n_nodes, k), np.int32)
        # padding slots read a real, in-range window (the group's longest lag) with weight 0
        lag = np.full((n_nodes, k), int(lags.max()) if lags.size else 0, np.int32)
        frac = np.zeros((n_nodes, k))
        valid = np.zeros((n_nodes, k), bool)
        order = np.lexsort((sources, targets))
        slot = np.arange(targets.size) - np.repeat(np.cumsum(counts) - counts, counts)
        t_sorted = targets[order]
        src[t_sorted, slot] = sources[order]
        lag[t_sorted, slot] = lags[order]
        frac[t_sorted, slot] = fractions[order]
        valid[t_sorted, slot] = True
        return EdgeGroup(k, StaticArray(src.ravel()), StaticArray(lag.ravel()),
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
    `levels[l]` steps belongs to the group of the largest such level and is read once per block
    of that level, for all of the block's steps at once; the sums of all levels are added on the
    way down. On the hcp connectome at 10 mm/ms and dt 0.1 ms (delays of 7 to 248 steps) most
    connections are read once every 56 to 224 steps.

    **Fields:** `levels` (block sizes in steps, ascending), `groups` (one `EdgeGroup` per level),
    `ring` (buffer length in steps, a multiple of the largest level), `exact` (fractional
    delays).
    """

    levels: tuple[int, ...]
    groups: tuple[EdgeGroup, ...]
    ring: int
    exact: bool

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
    groups = tuple(
        EdgeGroup.from_edges(n_regions, targets[m], sources[m], lags[m], fractions[m])
        for m in (level_of == level for level in range(len(levels)))
    )
    return DelayPlan(levels=tuple(levels), groups=groups, ring=ring, exact=exact)


@final
class DelayBuffer(eqx.Module):
    r"""Ring buffer of past coupling values, `(channels, nodes, 2 * ring)`, written twice (at `p`
    and `p + ring`) so that every read window is contiguous.

    The value of step $s$ lives at position $(s - 1) \bmod$ `ring`. Base blocks start at
    multiples of `plan.block` and `ring` is a multiple of it, so a block's writes never wrap.
    """

    data: Float[Array, "channels nodes time"]
    plan: DelayPlan = eqx.field(static=True)

    @staticmethod
    def from_history(plan: DelayPlan, history: Float[Array, "time channels nodes"]
                     ) -> "DelayBuffer":
        """`history[k]` holds the values of step `k - ring + 1` (the last row is step 0)."""
        if history.shape[0] != plan.ring:
            raise ValueError(f"history needs {plan.ring} rows, got {history.shape[0]}.")
        steps = np.arange(-plan.ring + 1, 1)
        positions = (steps - 1) % plan.ring
        ordered = jnp.zeros_like(history).at[positions].set(history)
        data = jnp.moveaxis(ordered, 0, -1)
        return DelayBuffer(jnp.concatenate([data, data], axis=-1), plan)

    def read(self, group: EdgeGroup, start: Array, n_rows: int,
             weights: Float[Array, "nodes slots"]) -> Float[Array, "rows channels nodes"]:
        r"""Summed delayed input of one edge group for the `n_rows` step ends from step
        `start`: row $m$ is $\sum_j w_{ij}\,\mathrm{pre}(x_j(t_{\text{start}+m} - \tau_{ij}))$
        over the group's connections (`weights` from `group.weights`)."""
        n_channels, n_nodes = self.data.shape[:2]
        if group.per_target == 0:
            return jnp.zeros((n_rows, n_channels, n_nodes), self.data.dtype)
        plan = self.plan
        window = n_rows + (1 if plan.exact else 0)
        start = jnp.asarray(start, jnp.int32)
        pos = (start - jnp.asarray(group.lags.array) - 1) % plan.ring
        idx = jnp.stack([jnp.asarray(group.sources.array), pos], axis=-1)
        dnums = jax.lax.GatherDimensionNumbers(
            offset_dims=(1, 2), collapsed_slice_dims=(1,), start_index_map=(1, 2)
        )
        windows = jax.lax.gather(self.data, idx, dnums, (n_channels, 1, window),
                                 mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
        windows = windows.reshape(n_nodes, group.per_target, n_channels, window)
        if plan.exact:
            frac = jnp.asarray(group.fractions.array, weights.dtype).reshape(weights.shape)
            w_now, w_next = weights * (1 - frac), weights * frac
        # one batched dot per channel (batch: target region, contraction: its inputs); much
        # faster on XLA:CPU than a scatter-add or a dot with the channel axis inside
        rows = []
        for p in range(n_channels):
            win = windows[:, :, p]
            if plan.exact:
                r = (jnp.einsum("nk,nkw->nw", w_now, win[..., :n_rows])
                     + jnp.einsum("nk,nkw->nw", w_next, win[..., 1:]))
            else:
                r = jnp.einsum("nk,nkw->nw", weights, win)
            rows.append(r)
        return jnp.stack(rows).transpose(2, 0, 1)

    def write(self, start: Array, block_values: Float[Array, "block channels nodes"]
              ) -> "DelayBuffer":
        """Store the values of steps `start + 1 .. start + block`."""
        q = jnp.asarray(start, jnp.int32) % self.plan.ring
        vals = jnp.moveaxis(block_values, 0, -1).astype(self.data.dtype)
        data = jax.lax.dynamic_update_slice_in_dim(self.data, vals, q, axis=-1)
        data = jax.lax.dynamic_update_slice_in_dim(data, vals, q + self.plan.ring, axis=-1)
        return DelayBuffer(data, self.plan)
