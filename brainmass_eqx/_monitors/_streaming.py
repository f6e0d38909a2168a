"""A streaming functional-connectivity monitor: memory independent of the simulated time."""

from typing import Any, ClassVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core._stats import corr_from_cov
from ._base import AbstractMonitor, Signal


@final
class StreamingFC(AbstractMonitor):
    r"""Functional connectivity (or covariance) of the recorded window, accumulated during the
    solve: its memory is $O(N^2)$ whatever the simulated time, so a 10-minute run needs no
    `(time, regions)` array.

    The monitor integrates, alongside the model and from the start of the recording,
    $S_1 = \int (z - c)\,dt$, $S_2 = \int (z - c)(z - c)^\top dt$ and $T = \int dt$, with $c$
    the signal at the start (a shift that avoids cancellation in float32). At the end,
    $\mu = S_1/T$, $\Sigma = S_2/T - \mu\mu^\top$ and the FC is
    $\Sigma_{ij}/\sqrt{\Sigma_{ii}\Sigma_{jj}}$ (unit diagonal; a constant region gives
    zeros). These are time averages of the continuous trajectory (trapezoidal for Heun), equal
    to the sample statistics of the recorded steps up to $O(dt/T)$. Differentiable.

    The result `sim["fc"]` has no time axis: `(regions, regions)`.

    **Fields:** `on` (the signal, one value per region), `covariance` (return $\Sigma$ instead
    of the correlation; default `False`).
    """

    on: Signal = None
    covariance: bool = eqx.field(default=False, static=True)
    period: None = eqx.field(default=None, static=True)

    per_step: ClassVar[bool] = False
    stateful: ClassVar[bool] = True
    resets: ClassVar[bool] = True
    default_name: ClassVar[str] = "fc"

    def init(self, signal: Array) -> dict[str, Array]:
        if signal.ndim != 1:
            raise ValueError(f"`StreamingFC` needs one signal value per region (a vector); got "
                             f"shape {signal.shape}.")
        n = signal.shape[0]
        return {"shift": signal, "s1": jnp.zeros((n,), signal.dtype),
                "s2": jnp.zeros((n, n), signal.dtype), "t": jnp.zeros((), signal.dtype)}

    def at_start(self, state: dict[str, Array], signal: Array) -> dict[str, Array]:
        del state
        return self.init(signal)

    def rate(self, state: dict[str, Array], signal: Array) -> dict[str, Array]:
        x = signal - state["shift"]
        return {"shift": jnp.zeros_like(x), "s1": x, "s2": jnp.outer(x, x),
                "t": jnp.ones((), x.dtype)}

    def final(self, state: Any) -> Float[Array, "nodes nodes"]:
        t = state["t"]
        mean = state["s1"] / t
        cov = state["s2"] / t - jnp.outer(mean, mean)
        cov = (cov + cov.T) / 2
        if self.covariance:
            return cov
        return corr_from_cov(cov)

    def validate(self, dt: float, n_record: int) -> None:
        del dt
        if n_record < 2:
            raise ValueError(f"`StreamingFC` needs at least 2 recorded steps for a correlation, "
                             f"got {n_record}: record for longer (or a smaller dt).")
