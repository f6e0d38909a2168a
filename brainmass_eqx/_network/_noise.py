r"""Noise as stochastic differential equations.

A noisy network solves the Itô SDE (Stratonovich with a Stratonovich solver such as
`diffrax.Heun`; the two agree for additive noise)

$$\mathrm{d}y = \big(f(t, y) + a(y)\big)\,\mathrm{d}t + g(y)\,\mathrm{d}W_t,$$

where $a$ is the extra drift of coloured-noise processes and $g$ is diagonal. Brownian increments
are drawn per step as $\Delta W \sim \mathcal N(0, \Delta t)$ from an explicit key, so paths are
reproducible and correctly $\sqrt{\Delta t}$-scaled: the noise intensity does not depend on the
step size (brainmass's `GaussianNoise` does not scale with $\sqrt{\Delta t}$, catalog §16.12).
Coloured noise is coloured **in time**, by augmenting the state with the noise process.
"""

import abc
import math
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._types import State, names_tuple
from .._core._units import name_param_converters, param


class AbstractNoise(eqx.Module):
    """Base class of noise processes.

    `states` names the node variables the noise drives (`None`: the node's default coupled
    variable). A process may add auxiliary state variables (`aux_names`), which are integrated
    with the node and recorded like any other state.
    """

    states: eqx.AbstractVar[tuple[str, ...] | None]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)

    @abc.abstractmethod
    def aux_names(self, states: tuple[str, ...]) -> tuple[str, ...]:
        """Names of the auxiliary state variables this noise adds (none for white noise)."""

    @abc.abstractmethod
    def drift(self, y: State, states: tuple[str, ...]) -> State:
        """Extra drift $a(y)$, keyed by the variables it acts on (node and auxiliary)."""

    @abc.abstractmethod
    def diffusion(self, y: State, states: tuple[str, ...]) -> State:
        """Diagonal diffusion $g(y)$, keyed by the variables that receive $\\mathrm{d}W$."""


def _states_field() -> Any:
    return eqx.field(default=None, static=True, converter=names_tuple)


@final
class AdditiveNoise(AbstractNoise):
    r"""Additive white noise: $\mathrm{d}x = f\,\mathrm{d}t + \sigma\,\mathrm{d}W_t$.

    Over one step the variance added is $\sigma^2 \Delta t$ (units of $x^2$; $\sigma$ in units
    of $x$ per $\sqrt{\text{ms}}$). `sigma` may be one value per region.
    """

    sigma: Float[Array, "*nodes"] = param(0.01, bounds=(0.0, None),
                                          doc="noise intensity (per sqrt(ms))")
    states: tuple[str, ...] | None = _states_field()

    def aux_names(self, states):
        return ()

    def drift(self, y, states):
        return {}

    def diffusion(self, y, states):
        return {s: jnp.broadcast_to(self.sigma, y[s].shape).astype(y[s].dtype) for s in states}


@final
class MultiplicativeNoise(AbstractNoise):
    r"""Multiplicative (linear, state-proportional) white noise:
    $\mathrm{d}x = f\,\mathrm{d}t + \sigma x\,\mathrm{d}W_t$.

    Itô with `diffrax.Euler` (Euler-Maruyama), Stratonovich with `diffrax.Heun`; the two differ
    by the drift $\tfrac12\sigma^2 x$.
    """

    sigma: Float[Array, "*nodes"] = param(0.01, bounds=(0.0, None),
                                          doc="relative noise intensity (per sqrt(ms))")
    states: tuple[str, ...] | None = _states_field()

    def aux_names(self, states):
        return ()

    def drift(self, y, states):
        return {}

    def diffusion(self, y, states):
        return {s: (self.sigma * y[s]).astype(y[s].dtype) for s in states}


@final
class OrnsteinUhlenbeckNoise(AbstractNoise):
    r"""Ornstein-Uhlenbeck (exponentially correlated) noise added to the drift:

    $$\mathrm{d}x = (f + \eta)\,\mathrm{d}t,\qquad
    \mathrm{d}\eta = -\frac{\eta}{\tau}\,\mathrm{d}t + \sigma\sqrt{\frac{2}{\tau}}\,\mathrm{d}W_t.$$

    $\eta$ is stationary with variance $\sigma^2$ and autocorrelation $e^{-|s|/\tau}$: coloured
    in time (spectrum $\propto 1/(1 + (2\pi f\tau)^2)$). The state gains one auxiliary variable
    `ou_<name>` per driven variable, starting at 0.

    **Parameters:** `sigma` stationary standard deviation (units of $x$ per ms), `tau`
    correlation time in ms (default 5 ms).
    """

    sigma: Float[Array, "*nodes"] = param(0.01, bounds=(0.0, None), doc="stationary std")
    tau: Float[Array, "*nodes"] = param(5.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="correlation time")
    states: tuple[str, ...] | None = _states_field()

    def aux_names(self, states):
        return tuple(f"ou_{s}" for s in states)

    def drift(self, y, states):
        out = {}
        for s in states:
            eta = y[f"ou_{s}"]
            out[s] = eta
            out[f"ou_{s}"] = -eta / self.tau
        return out

    def diffusion(self, y, states):
        g = self.sigma * jnp.sqrt(2.0 / self.tau)
        return {f"ou_{s}": jnp.broadcast_to(g, y[f"ou_{s}"].shape).astype(y[f"ou_{s}"].dtype)
                for s in states}


@final
class PinkNoise(AbstractNoise):
    r"""Coloured $1/f^\alpha$ noise, as a weighted sum of Ornstein-Uhlenbeck processes.

    $$\mathrm{d}x = (f + \textstyle\sum_p \eta_p)\,\mathrm{d}t,\qquad
    \mathrm{d}\eta_p = -\frac{\eta_p}{\tau_p}\mathrm{d}t + \sqrt{\frac{2 v_p}{\tau_p}}\,
    \mathrm{d}W^{(p)}_t,$$

    with `n_poles` time constants $\tau_p$ log-spaced between $1/(2\pi f_\max)$ and
    $1/(2\pi f_\min)$ and variances $v_p \propto \tau_p^{\alpha - 1}$ normalised to
    $\sum_p v_p = \sigma^2$. Each $\eta_p$ has a Lorentzian spectrum; their superposition has a
    power spectrum $\propto f^{-\alpha}$ between $f_\min$ and $f_\max$ (to within a few per cent
    with about one pole per octave), flattening outside (Kasdin 1995, *Discrete simulation of
    colored noise and stochastic processes and 1/f^alpha power law noise generation*,
    Proc. IEEE 83:802, doi:10.1109/5.381848). Valid for $0 < \alpha < 2$.

    **Parameters:** `sigma` total standard deviation, `alpha` spectral exponent (static,
    default 1), `f_min`/`f_max` band in Hz (static, default 1-100 Hz), `n_poles` (static,
    default 8). Adds auxiliary variables `pink_<name>_<p>`.
    """

    sigma: Float[Array, "*nodes"] = param(0.01, bounds=(0.0, None), doc="total std")
    alpha: float = eqx.field(default=1.0, static=True)
    f_min: float = eqx.field(default=1.0, static=True)
    f_max: float = eqx.field(default=100.0, static=True)
    n_poles: int = eqx.field(default=8, static=True)
    states: tuple[str, ...] | None = _states_field()

    def __check_init__(self):
        if not 0 < self.alpha < 2:
            raise ValueError(f"`PinkNoise.alpha` must lie in (0, 2), got {self.alpha}.")
        if not 0 < self.f_min < self.f_max:
            raise ValueError("`PinkNoise` needs 0 < f_min < f_max (Hz).")
        if self.n_poles < 2:
            raise ValueError("`PinkNoise.n_poles` must be >= 2.")

    @property
    def taus(self) -> np.ndarray:
        """The OU time constants $\\tau_p$ in ms."""
        return 1e3 / (2 * math.pi * np.geomspace(self.f_max, self.f_min, self.n_poles))

    @property
    def fractions(self) -> np.ndarray:
        """The variance fractions $v_p / \\sigma^2$ (summing to 1)."""
        v = self.taus ** (self.alpha - 1)
        return v / v.sum()

    def aux_names(self, states):
        return tuple(f"pink_{s}_{p}" for s in states for p in range(self.n_poles))

    def drift(self, y, states):
        out: dict[str, Array] = {}
        for s in states:
            total = 0.0
            for p, tau in enumerate(self.taus):
                eta = y[f"pink_{s}_{p}"]
                total = total + eta
                out[f"pink_{s}_{p}"] = -eta / tau
            out[s] = total
        return out

    def diffusion(self, y, states):
        out = {}
        for s in states:
            for p, (tau, frac) in enumerate(zip(self.taus, self.fractions)):
                name = f"pink_{s}_{p}"
                g = self.sigma * math.sqrt(2 * frac / tau)
                out[name] = jnp.broadcast_to(g, y[name].shape).astype(y[name].dtype)
        return out
