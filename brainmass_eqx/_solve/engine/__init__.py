"""The fixed-step engine of delayed and/or noisy networks: a `lax.scan` over the nested blocks
of the delay plan, stepping a diffrax solver, carrying the ring buffer, with chunked
checkpointing and a written-out reverse pass. Files, from the bottom up: `_config` (static
settings, `DelayedAdjoint`), `_buffer` (ring buffer and delayed reads), `_state` (typed
state), `_step` (one solver step), `_batching` (batch-minor sweeps), `_context` (`Run`),
`_records`, `_checkpoint`, `_blocks` (forward), `_reverse` (reverse pass), `_run` (entry
point)."""

from ._buffer import DelayBuffer as DelayBuffer, Member as Member
from ._config import (
    DelayedAdjoint as DelayedAdjoint,
    ScanConfig as ScanConfig,
    build_config as build_config,
)
from ._run import run_network as run_network
from ._step import (
    interior_fractions as interior_fractions,
    solver_step as solver_step,
    terms as terms,
)
