"""Haemodynamic response function (HRF) kernels and convolution BOLD."""

import abc
import math
from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.signal
import jax.scipy.special as jsp
import numpy as np
from jaxtyping import Array, Float

from .._core._units import name_param_converters, param, strip_units
from ._base import AbstractMonitor, Signal, block_average, period_stride, resolve_period


def _duration(x: Any) -> float:
    value = float(strip_units(x, "s", name="duration"))
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`duration` (the kernel's support, s) must be positive, got {value}.")
    return value


class AbstractHRFKernel(eqx.Module):
    r"""An impulse response $h(t)$ of the BOLD signal to neural activity, $t$ in seconds.

    Call it with times in ms (or a time Quantity): `kernel(t_ms)`. `duration` (s) is the
    support used for convolution. Subclasses implement `response(t_s)` with $t$ in seconds.
    """

    duration: eqx.AbstractVar[float]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)

    @abc.abstractmethod
    def response(self, t: Float[Array, "*t"]) -> Float[Array, "*t"]:
        """$h(t)$ with `t` in seconds ($t \\ge 0$)."""

    def __call__(self, t: Any) -> Float[Array, "*t"]:
        t_ms = jnp.asarray(strip_units(t, "ms", name="t"))
        return self.response(t_ms / 1000.0)


def _duration_field(default: float):
    return eqx.field(default=default, static=True,
                     converter=_duration)


@final
class FirstOrderVolterra(AbstractHRFKernel):
    r"""The first-order Volterra kernel of the Balloon-Windkessel model (Friston et al. 2000;
    TVB's default HRF):

    $$h(t) = c\, e^{-t/(2\tau_s)}\, \frac{\sin(\omega t)}{\omega}, \qquad
      \omega = \sqrt{\frac{1}{\tau_f} - \frac{1}{4\tau_s^2}}.$$

    It peaks at $t^* = \arctan(2\tau_s\omega)/\omega$ (about 1.5 s for the defaults). The
    parameters must make it underdamped ($4\tau_s^2 > \tau_f$).

    **Fields:** `tau_s` (signal decay time, s; 0.8), `tau_f` (autoregulation time, s; 0.4),
    `scale` $c$ (1/3), `duration` (support, s; 20).
    """

    tau_s: Float[Array, ""] = param(0.8, unit="s", doc="signal decay time", bounds=(0, None),
                                    inclusive=(False, True))
    tau_f: Float[Array, ""] = param(0.4, unit="s", doc="autoregulation time", bounds=(0, None),
                                    inclusive=(False, True))
    scale: Float[Array, ""] = param(1.0 / 3.0, doc="amplitude")
    duration: float = _duration_field(20.0)

    def __check_init__(self):
        if isinstance(self.tau_s, jax.core.Tracer) or isinstance(self.tau_f, jax.core.Tracer):
            return
        if not bool(np.all(4 * np.asarray(self.tau_s) ** 2 > np.asarray(self.tau_f))):
            raise ValueError(
                "`FirstOrderVolterra`: the kernel must be underdamped, 4 tau_s^2 > tau_f "
                f"(got tau_s={self.tau_s}, tau_f={self.tau_f})."
            )

    @property
    def omega(self) -> Array:
        return jnp.sqrt(1.0 / self.tau_f - 1.0 / (4.0 * self.tau_s**2))

    def response(self, t: Array) -> Array:
        w = self.omega
        return self.scale * jnp.exp(-t / (2.0 * self.tau_s)) * jnp.sin(w * t) / w

    def peak_time(self) -> Array:
        """The closed-form time of the maximum, in s."""
        return jnp.arctan(2.0 * self.tau_s * self.omega) / self.omega


@final
class Gamma(AbstractHRFKernel):
    r"""The gamma-density HRF of Boynton et al. (1996):

    $$h(t) = \frac{(t/\tau)^{n-1} e^{-t/\tau}}{\tau\,\Gamma(n)},$$

    unit area, peak at $t^* = (n - 1)\tau$.

    **Fields:** `tau` (time constant, s; 1.08), `n` (shape, 3), `duration` (s; 20).
    """

    tau: Float[Array, ""] = param(1.08, unit="s", doc="time constant", bounds=(0, None),
                                  inclusive=(False, True))
    n: Float[Array, ""] = param(3.0, doc="shape (phase delay)", bounds=(1, None))
    duration: float = _duration_field(20.0)

    def response(self, t: Array) -> Array:
        return _gamma_pdf(t, self.n, self.tau)

    def peak_time(self) -> Array:
        """The closed-form time of the maximum, in s."""
        return (self.n - 1.0) * self.tau


def _gamma_pdf(t: Array, shape: Array, scale: Array) -> Array:
    x = jnp.maximum(t, 0.0) / scale
    log_p = jsp.xlogy(shape - 1.0, x) - x - jsp.gammaln(shape) - jnp.log(scale)
    return jnp.where(t >= 0, jnp.exp(log_p), 0.0)


@final
class DoubleExponential(AbstractHRFKernel):
    r"""Two damped sinusoids (TVB's `DoubleExponential`):

    $$h(t) = a_1 e^{-t/\tau_1}\sin(2\pi f_1 t) - a_2 e^{-t/\tau_2}\sin(2\pi f_2 t).$$

    **Fields:** `tau_1`, `tau_2` (s; 7.22, 7.4), `f_1`, `f_2` (Hz; 0.03, 0.12), `amp_1`,
    `amp_2` (0.1, 0.1), `duration` (s; 40).
    """

    tau_1: Float[Array, ""] = param(7.22, unit="s", doc="first decay time", bounds=(0, None),
                                    inclusive=(False, True))
    tau_2: Float[Array, ""] = param(7.4, unit="s", doc="second decay time", bounds=(0, None),
                                    inclusive=(False, True))
    f_1: Float[Array, ""] = param(0.03, unit="Hz", doc="first frequency", bounds=(0, None))
    f_2: Float[Array, ""] = param(0.12, unit="Hz", doc="second frequency", bounds=(0, None))
    amp_1: Float[Array, ""] = param(0.1, doc="first amplitude")
    amp_2: Float[Array, ""] = param(0.1, doc="second amplitude")
    duration: float = _duration_field(40.0)

    def response(self, t: Array) -> Array:
        two_pi = 2.0 * math.pi
        return (self.amp_1 * jnp.exp(-t / self.tau_1) * jnp.sin(two_pi * self.f_1 * t)
                - self.amp_2 * jnp.exp(-t / self.tau_2) * jnp.sin(two_pi * self.f_2 * t))


@final
class MixtureOfGammas(AbstractHRFKernel):
    r"""A difference of two gamma densities (Glover 1999; TVB's `MixtureOfGammas`):

    $$h(t) = \lambda\left[\frac{(\lambda t)^{a_1 - 1} e^{-\lambda t}}{\Gamma(a_1)}
      - c\,\frac{(\lambda t)^{a_2 - 1} e^{-\lambda t}}{\Gamma(a_2)}\right].$$

    **Fields:** `a_1` (6), `a_2` (13), `lam` $\lambda$ (1/s; 1), `c` (undershoot ratio,
    0.4), `duration` (s; 20).
    """

    a_1: Float[Array, ""] = param(6.0, doc="shape of the response", bounds=(1, None))
    a_2: Float[Array, ""] = param(13.0, doc="shape of the undershoot", bounds=(1, None))
    lam: Float[Array, ""] = param(1.0, unit="1/s", doc="rate", bounds=(0, None),
                                  inclusive=(False, True))
    c: Float[Array, ""] = param(0.4, doc="undershoot ratio", bounds=(0, None))
    duration: float = _duration_field(20.0)

    def response(self, t: Array) -> Array:
        scale = 1.0 / self.lam
        return _gamma_pdf(t, self.a_1, scale) - self.c * _gamma_pdf(t, self.a_2, scale)


@final
class CanonicalHRF(AbstractHRFKernel):
    r"""SPM's canonical double-gamma HRF (Friston et al. 1998; `spm_hrf`):

    $$h(t) = g\!\left(t; \tfrac{d_1}{s_1}, s_1\right)
      - \frac{1}{r}\, g\!\left(t; \tfrac{d_2}{s_2}, s_2\right),$$

    with $g(t; a, s)$ the gamma density of shape $a$ and scale $s$. The response peaks near
    5 s (the mode $(d_1/s_1 - 1)s_1$ of the first gamma) and has an undershoot near 15 s.

    **Fields:** `peak_delay` $d_1$ (s; 6), `undershoot_delay` $d_2$ (s; 16),
    `peak_dispersion` $s_1$ (s; 1), `undershoot_dispersion` $s_2$ (s; 1), `ratio` $r$ (6),
    `duration` (s; 32).
    """

    peak_delay: Float[Array, ""] = param(6.0, unit="s", doc="delay of the response",
                                         bounds=(0, None), inclusive=(False, True))
    undershoot_delay: Float[Array, ""] = param(16.0, unit="s", doc="delay of the undershoot",
                                               bounds=(0, None), inclusive=(False, True))
    peak_dispersion: Float[Array, ""] = param(1.0, unit="s", doc="dispersion of the response",
                                              bounds=(0, None), inclusive=(False, True))
    undershoot_dispersion: Float[Array, ""] = param(1.0, unit="s",
                                                    doc="dispersion of the undershoot",
                                                    bounds=(0, None), inclusive=(False, True))
    ratio: Float[Array, ""] = param(6.0, doc="response to undershoot ratio", bounds=(0, None),
                                    inclusive=(False, True))
    duration: float = _duration_field(32.0)

    def response(self, t: Array) -> Array:
        s1, s2 = self.peak_dispersion, self.undershoot_dispersion
        return (_gamma_pdf(t, self.peak_delay / s1, s1)
                - _gamma_pdf(t, self.undershoot_delay / s2, s2) / self.ratio)


def causal_convolve(x: Float[Array, " time *nodes"], h: Float[Array, " lags"]
                    ) -> Float[Array, " time *nodes"]:
    r"""$y_i = \sum_{j=0}^{L-1} h_j x_{i-j}$ along axis 0 (zero before the first sample), by
    FFT (`jax.scipy.signal.fftconvolve`)."""
    h = jnp.broadcast_to(h.reshape(h.shape + (1,) * (x.ndim - 1)), (h.shape[0], *x.shape[1:]))
    y = jax.scipy.signal.fftconvolve(x, h.astype(x.dtype), mode="full", axes=0)
    return y[:x.shape[0]].astype(x.dtype)


@final
class HRFBold(AbstractMonitor):
    r"""BOLD by convolving neural activity with an HRF kernel (TVB's `Bold` monitor):

    $$y(t) = \text{scale}\int_0^{D} h(\tau)\, \bar z(t - \tau)\, d\tau,$$

    with $\bar z$ the activity averaged over windows of `downsample` ms, $h$ the `kernel`
    sampled at the same spacing over its support $D$, activity taken as zero before the first
    sample, and $\tau$ in seconds. The sample at the end of every `period` (TR) is kept. A
    constant activity $z_0$ gives $y \to \text{scale}\cdot z_0\int h$ once the kernel's support
    has elapsed. Differentiable and vmap-safe (FFT convolution).

    **Fields:** `on` (the signal), `period` (TR; Quantity or ms, a multiple of `downsample`;
    720 ms), `kernel` (an `AbstractHRFKernel`; default [`brainmass_eqx.CanonicalHRF`][]),
    `downsample` (ms, a multiple of `dt`; 4 ms), `scale` (1.0).
    """

    on: Signal = None
    period: float = eqx.field(default=720.0, static=True, converter=lambda p: resolve_period(
        p, name="HRFBold.period"))
    kernel: AbstractHRFKernel = CanonicalHRF()
    downsample: float = eqx.field(default=4.0, static=True, converter=lambda p: resolve_period(
        p, name="HRFBold.downsample"))
    scale: Float[Array, ""] = param(1.0, doc="output scale")

    subsamples: ClassVar[bool] = False
    averages: ClassVar[bool] = True
    default_name: ClassVar[str] = "bold"

    def validate(self, dt: float, n_record: int) -> None:
        w = period_stride(self.downsample, dt, owner="HRFBold", name="downsample")
        period_stride(self.period, self.downsample, owner="HRFBold")
        if n_record < w * round(self.period / self.downsample):
            raise ValueError(f"`HRFBold.period` ({self.period} ms) is longer than the recorded "
                             f"time ({n_record * dt} ms): no sample would be recorded.")

    @property
    def mean_period(self) -> float:
        return self.downsample

    def reduce(self, records: Array, dt: float) -> Array:
        w = period_stride(self.downsample, dt, owner="HRFBold", name="downsample")
        return self.reduce_means(block_average(records, w), dt)

    def reduce_means(self, z: Array, dt: float) -> Array:
        del dt
        step_s = self.downsample / 1000.0
        n_lags = max(1, int(math.ceil(self.kernel.duration / step_s)))
        lags = jnp.arange(n_lags, dtype=z.dtype) * jnp.asarray(step_s, z.dtype)
        # the kernel's parameters in the signal's dtype (a default kernel is float32)
        kernel = jax.tree.map(lambda p: p.astype(z.dtype) if eqx.is_inexact_array(p) else p,
                              self.kernel)
        h = kernel.response(lags).astype(z.dtype) * jnp.asarray(step_s, z.dtype)
        y = self.scale.astype(z.dtype) * causal_convolve(z, h)
        stride = period_stride(self.period, self.downsample, owner="HRFBold")
        return y[stride - 1::stride]
