"""Static settings of one engine run (`ScanConfig`, hashable: they key the compilation cache),
built from the network and the run's length by `build_config`, and the public option object of
the delayed reverse pass (`DelayedAdjoint`)."""

from typing import Any, NamedTuple, final

import equinox as eqx
import jax.numpy as jnp

from ..._network import DelayPlan, Network


@final
class DelayedAdjoint(eqx.Module):
    r"""How `simulate` differentiates delayed (and noisy) networks: the engine's own reverse
    pass, with chunked $O(\sqrt{n})$ checkpointing of the $n$ steps.

    The reverse pass of a delayed run needs the delayed sums
    $S_i(t) = \sum_j w_{ij}\,\mathrm{pre}(x_j(t - \tau_{ij}))$ of every step. While they take
    at most `keep_sums_bytes` (one value per region, channel and step: 219 MB for 60 s of an
    80-region network at dt = 0.1 ms in float32), the forward pass keeps them and the reverse
    pass only re-runs the solver steps from its checkpoints. Longer runs recompute them,
    delayed reads included, so memory stays $O(\sqrt{n})$ instead of $O(n)$. Under `jax.vmap`
    the budget applies to each member (a batch of $B$ differentiated runs may keep $B$ times
    it): lower it for large vmapped gradients.

    **Arguments:** `keep_sums_bytes`, the budget in bytes (default $2^{28}$ = 256 MiB; `0`
    always recomputes).

    !!! example

        ```python
        sim = bmx.simulate(net, 2000.0, 0.1, adjoint=bmx.DelayedAdjoint(keep_sums_bytes=0))
        ```
    """

    keep_sums_bytes: int = eqx.field(default=2**28, static=True)

    def __check_init__(self):
        if isinstance(self.keep_sums_bytes, bool) or not isinstance(self.keep_sums_bytes, int) \
                or self.keep_sums_bytes < 0:
            raise ValueError("`DelayedAdjoint.keep_sums_bytes` must be a non-negative int "
                             f"(bytes), got {self.keep_sums_bytes!r}.")


@final
class Blocks(NamedTuple):
    """How a run's steps fall into top-level blocks (superblocks): `n_warm` of the transient,
    `n_record` holding the recording, which starts `offset` steps into its first one."""

    n_warm: int
    n_record: int
    offset: int


@final
class ScanConfig(eqx.Module):
    """Static settings of an engine run.

    **Fields:** `dt` (ms); `n_transient` and `n_record` steps; `levels`, the nested block
    sizes in steps (see [`brainmass_eqx.DelayPlan`][]; one level without delays); the delay
    `plan` (`None` without delays); `stochastic`; `itemsize`, the bytes of one state value;
    `keep_sums_bytes` (see [`brainmass_eqx.DelayedAdjoint`][]) and `store_rows`, whether the
    forward pass of a differentiated delayed run keeps its delayed sums within it;
    `cubic_history`, whether solver stages inside a step read the delayed sums by cubic rather
    than linear interpolation between step ends (see `delayed_sums`), and `stage_fractions`,
    the solver's interior stage fractions, whose sums are then made once per block;
    `frozen_input`, every stage reads the sums of its step's start (TVB's scheme);
    `save_initial`, the records start with the state at the start of the recording.
    """

    dt: float
    n_transient: int
    n_record: int
    levels: tuple[int, ...]
    plan: DelayPlan | None
    stochastic: bool
    n_channels: int = 1
    n_regions: int = 1
    itemsize: int = 4
    keep_sums_bytes: int = 2**28
    store_rows: bool = False
    cubic_history: bool = False
    stage_fractions: tuple[float, ...] = ()
    frozen_input: bool = False
    save_initial: bool = False

    @property
    def n_total(self) -> int:
        return self.n_transient + self.n_record

    @property
    def blocks(self) -> Blocks:
        superblock = self.levels[-1]
        n_warm = self.n_transient // superblock
        offset = self.n_transient - n_warm * superblock
        return Blocks(n_warm, -(-(offset + self.n_record) // superblock), offset)

    @property
    def n_base_blocks(self) -> int:
        """Base blocks in the (padded) run."""
        blocks = self.blocks
        return (blocks.n_warm + blocks.n_record) * (self.levels[-1] // self.levels[0])

    def rows_bytes(self) -> int:
        """Bytes of the delayed sums of every base block of one run (one row more per block)."""
        return (self.n_base_blocks * (self.levels[0] + 1) * self.n_channels * self.n_regions
                * self.itemsize)


def build_config(net: Network, dt: float, n_transient: int, n_record: int, y0_dtype: Any,
                 max_superblock: int | None = None,
                 adjoint: DelayedAdjoint = DelayedAdjoint(),
                 stage_fractions: tuple[float, ...] | None = (), save_initial: bool = False
                 ) -> ScanConfig:
    """The settings of a run of `net`: its delay plan at step `dt` (ms) with the top level
    capped at `max_superblock` steps (default: an eighth of the run, so a short run is never
    padded by more than that), whether the delayed sums fit `adjoint`'s budget, and, from the
    solver's interior `stage_fractions` (`None`: not known statically), whether its stages read
    them by cubic interpolation (whenever a stage lies inside a step)."""
    plan = None
    n_total = n_transient + n_record
    itemsize = jnp.dtype(y0_dtype).itemsize
    if net.has_delays:
        cap = max(1, n_total // 8) if max_superblock is None else max_superblock
        plan = DelayPlan.build(net.connectome, net.speed, dt, exact=net.exact_delays,
                               n_channels=net.n_channels, itemsize=itemsize,
                               max_superblock=cap, at_least_one_step=net.at_least_one_step)
        levels = plan.levels
    else:
        levels = (max(1, min(100, n_total)),)
    cfg = ScanConfig(dt=dt, n_transient=n_transient, n_record=n_record, levels=levels,
                     plan=plan, stochastic=net.is_stochastic, n_channels=net.n_channels,
                     n_regions=net.n_regions, itemsize=itemsize,
                     keep_sums_bytes=adjoint.keep_sums_bytes,
                     cubic_history=plan is not None and stage_fractions != (),
                     stage_fractions=stage_fractions or (),
                     frozen_input=net.has_delays and net.frozen_delayed_input,
                     save_initial=save_initial)
    if plan is not None:
        cfg = eqx.tree_at(lambda c: c.store_rows, cfg,
                          cfg.rows_bytes() <= adjoint.keep_sums_bytes)
    return cfg
