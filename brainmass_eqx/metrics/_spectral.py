"""Spectra and synchrony: Welch PSD, spectral peak, analytic signal, Kuramoto order parameter."""

from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.signal
import numpy as np
from jaxtyping import Array, Float

from .._core._units import to_ms


def _time_first(x: Any, name: str) -> Array:
    try:
        x = jnp.asarray(x)
    except TypeError:
        raise TypeError(f"`{name}` must be a float array with time first, got {x!r}.") from None
    if x.ndim < 1 or not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"`{name}` must be a float array with time first, got {x.dtype} "
                         f"{x.shape}.")
    return x


def welch_psd(x: Float[Array, " time *channels"], dt: Any, *, nperseg: int | None = None,
              noverlap: int | None = None) -> tuple[Float[Array, " freqs"],
                                                    Float[Array, " freqs *channels"]]:
    r"""Power spectral density by Welch's method along the time axis (axis 0): Hann-windowed
    segments of `nperseg` samples overlapping by `noverlap` (default half), each demeaned,
    averaged periodograms, one-sided, density scaling (units²/Hz): `jax.scipy.signal.welch`,
    which matches `scipy.signal.welch(x, fs, nperseg=..., axis=0)`.

    **Arguments:** `x` time first; `dt` the sampling interval (Quantity or ms); `nperseg`
    (default `min(256, len(x))`); `noverlap` (default `nperseg // 2`).

    **Returns:** `(freqs, psd)`, frequencies in Hz.
    """
    freqs, psd = _welch(x, dt, nperseg, noverlap)
    return jnp.asarray(freqs, psd.dtype), psd


def _welch(x: Any, dt: Any, nperseg: int | None, noverlap: int | None
           ) -> tuple[np.ndarray, Array]:
    x = _time_first(x, "x")
    dt_ms = to_ms(dt, name="dt")
    n = x.shape[0]
    nperseg = min(256, n) if nperseg is None else int(nperseg)
    if not 2 <= nperseg <= n:
        raise ValueError(f"`nperseg` must be between 2 and the length of `x` ({n}), got "
                         f"{nperseg}.")
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    if not 0 <= noverlap < nperseg:
        raise ValueError(f"`noverlap` must be in [0, nperseg), got {noverlap}.")
    fs = 1000.0 / dt_ms
    _, psd = jax.scipy.signal.welch(x, fs=fs, window="hann", nperseg=nperseg,
                                    noverlap=noverlap, detrend="constant", axis=0,
                                    scaling="density")
    freqs = np.fft.rfftfreq(nperseg, d=1.0 / fs)  # numpy: static, usable for band masks
    return freqs, psd.astype(x.dtype)


def _band(freqs: Array, fmin: float | None, fmax: float | None) -> np.ndarray:
    f = np.asarray(freqs)
    mask = np.ones(f.shape, bool)
    if fmin is not None:
        mask &= f >= fmin
    if fmax is not None:
        mask &= f <= fmax
    if not mask.any():
        raise ValueError(f"no frequency of the spectrum lies in [{fmin}, {fmax}] Hz.")
    return mask


def peak_frequency(x: Float[Array, " time *channels"], dt: Any, *, fmin: float | None = None,
                   fmax: float | None = None, nperseg: int | None = None,
                   temperature: float | None = None) -> Float[Array, "*channels"]:
    r"""The frequency (Hz) of the maximum of the Welch PSD of each channel, within
    `[fmin, fmax]` Hz.

    With `temperature` $T$ it returns the differentiable soft-argmax
    $\sum_f f\,\mathrm{softmax}(\log P_f / T)$ instead (a smaller $T$ is closer to the
    argmax); the plain argmax has zero gradient.
    """
    freqs, p = _welch(x, dt, nperseg, None)
    mask = _band(freqs, fmin, fmax)
    f, p = jnp.asarray(freqs[mask], p.dtype), p[mask]
    if temperature is None:
        return f[jnp.argmax(p, axis=0)]
    w = jax.nn.softmax(jnp.log(p + jnp.finfo(p.dtype).tiny) / temperature, axis=0)
    return jnp.tensordot(f, w, axes=(0, 0))


def analytic_signal(x: Float[Array, " time *channels"]) -> Array:
    """The analytic signal $x + i\\,\\mathcal{H}[x]$ along axis 0 by FFT (as
    `scipy.signal.hilbert(x, axis=0)`)."""
    x = _time_first(x, "x")
    n = x.shape[0]
    h = np.zeros(n)
    if n % 2 == 0:
        h[0] = h[n // 2] = 1.0
        h[1:n // 2] = 2.0
    else:
        h[0] = 1.0
        h[1:(n + 1) // 2] = 2.0
    spectrum = jnp.fft.fft(x, axis=0)
    h = jnp.asarray(h, spectrum.dtype).reshape((n,) + (1,) * (x.ndim - 1))
    return jnp.fft.ifft(spectrum * h, axis=0)


def instantaneous_phase(x: Float[Array, " time *channels"]) -> Float[Array, " time *channels"]:
    """The phase (rad) of the analytic signal of each (demeaned) channel."""
    x = _time_first(x, "x")
    z = analytic_signal(x - jnp.mean(x, axis=0, keepdims=True))
    return jnp.angle(z).astype(x.dtype)


def order_parameter(phases: Float[Array, "*time nodes"]) -> Float[Array, "*time"]:
    r"""The Kuramoto order parameter $R = \left|\frac{1}{N}\sum_j e^{i\theta_j}\right| \in
    [0, 1]$ over the last axis (regions)."""
    phases = jnp.asarray(phases)
    if phases.ndim < 1 or phases.shape[-1] == 0:
        raise ValueError(f"`phases` must have a last axis of regions, got shape {phases.shape}.")
    c = jnp.mean(jnp.cos(phases), axis=-1)
    s = jnp.mean(jnp.sin(phases), axis=-1)
    return jnp.clip(jnp.sqrt(c * c + s * s), 0.0, 1.0)


def metastability(phases: Float[Array, "time nodes"]) -> Float[Array, ""]:
    """The standard deviation over time of the Kuramoto order parameter (Shanahan 2010)."""
    return jnp.std(order_parameter(phases))
