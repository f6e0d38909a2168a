"""`Simulation`: the result of `simulate`, a pytree of the recorded arrays."""

from typing import Any, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core._types import State


@final
class Simulation(eqx.Module):
    """The result of [`brainmass_eqx.simulate`][]: a pytree, safe through jit, grad and vmap.

    Index it like a dict: `sim["x"]` is the monitored array, time first (`(time, *nodes)`).

    **Fields:**

    - `ts`: the step times in ms, `(time,)`; sample `k` is at the *end* of step `k`, so the
      first sample is at `transient + dt` and the last at `duration` — or, with
      `simulate(..., save_initial=True)` (`initial`), the first is the state at `transient`.
      Monitors with a `period` (BOLD, subsampling, averaging) have their own sample times:
      `sim.times(name)`.
    - `ys`: the monitored arrays, keyed by monitor name.
    - `final_state`: the state at the end of the run (continue with `simulate(..., y0=...)`).
    - `result`: the solver's `diffrax.RESULTS` (check it when running with `throw=False`).
    - `stats`: solver statistics (number of steps, accepted and rejected steps).
    """

    ts: Float[Array, " time"]
    ys: dict[str, Array]
    final_state: State
    result: dfx.RESULTS
    stats: dict[str, Any]
    strides: dict[str, int | None] = eqx.field(default_factory=dict, static=True)
    initial: bool = eqx.field(default=False, static=True)

    def times(self, name: str) -> Float[Array, " samples"]:
        """The sample times (ms) of monitor `name`: `ts` for per-step monitors, the end of each
        `period` for periodic ones, and the end of the run for final-value monitors."""
        self[name]
        stride = self.strides.get(name, 1)
        if stride is None:
            return self.ts[-1:]
        if stride == 1:
            return self.ts
        return self.ts[int(self.initial) + stride - 1::stride]

    def __getitem__(self, name: str) -> Array:
        try:
            return self.ys[name]
        except KeyError:
            raise KeyError(
                f"No monitor named {name!r}; this simulation recorded {tuple(self.ys)}."
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self.ys

    def keys(self) -> tuple[str, ...]:
        """The monitor names."""
        return tuple(self.ys)


def with_initial(ts: Float[Array, " time"], ys: dict[str, Array],
                 strides: dict[str, int | None], t0: float, first: dict[str, Array]
                 ) -> tuple[Array, dict[str, Array]]:
    """`ts` and the per-step records of `ys` with the sample `first` (the records of the
    state at the start of the recording, time `t0`) put in front; periodic and final-value
    monitors keep their own samples."""
    ts = jnp.concatenate([jnp.asarray([t0], ts.dtype), ts])
    out = dict(ys)
    for name, stride in strides.items():
        if stride == 1:
            out[name] = jax.tree.map(lambda f, y: jnp.concatenate([f[None].astype(y.dtype), y]),
                                     first[name], ys[name])
    return ts, out
