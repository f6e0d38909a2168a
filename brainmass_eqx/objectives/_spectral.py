"""Objectives on power spectra."""

from typing import Any, final

import equinox as eqx
import jax.numpy as jnp

from .._core._units import to_ms
from ..metrics._spectral import _band, _welch, peak_frequency
from ._base import AbstractObjective


@final
class PSDDistance(AbstractObjective):
    """RMS difference of two Welch spectra (see `psd_distance`)."""

    dt: float = eqx.field(static=True)
    nperseg: int | None = eqx.field(static=True)
    fmin: float | None = eqx.field(static=True)
    fmax: float | None = eqx.field(static=True)
    log: bool = eqx.field(static=True)

    def __call__(self, prediction, target):
        f, pp = _welch(prediction, self.dt, self.nperseg, None)
        _, pt = _welch(target, self.dt, self.nperseg, None)
        mask = _band(f, self.fmin, self.fmax)
        pp, pt = pp[mask], pt[mask]
        if self.log:
            tiny = jnp.finfo(pp.dtype).tiny
            pp, pt = jnp.log10(pp + tiny), jnp.log10(pt + tiny)
        else:
            pp = pp / jnp.sum(pp, axis=0, keepdims=True)
            pt = pt / jnp.sum(pt, axis=0, keepdims=True)
        return jnp.sqrt(jnp.mean((pp - pt) ** 2))


@final
class SpectralPeak(AbstractObjective):
    """Difference of spectral peak frequencies (see `spectral_peak`)."""

    dt: float = eqx.field(static=True)
    fmin: float | None = eqx.field(static=True)
    fmax: float | None = eqx.field(static=True)
    nperseg: int | None = eqx.field(static=True)
    temperature: float = eqx.field(static=True)

    def __call__(self, prediction, target):
        kw = dict(fmin=self.fmin, fmax=self.fmax, nperseg=self.nperseg,
                  temperature=self.temperature)
        fp = peak_frequency(prediction, self.dt, **kw)
        target = jnp.asarray(target)
        ft = target if target.ndim <= 1 and target.shape != prediction.shape \
            else peak_frequency(target, self.dt, **kw)
        try:
            jnp.broadcast_shapes(jnp.shape(fp), jnp.shape(ft))
        except ValueError:
            raise ValueError(f"`prediction` has {jnp.shape(fp)} channels' peaks but `target` "
                             f"{jnp.shape(ft)}: give the same channels (or one peak "
                             "frequency).") from None
        return jnp.mean(jnp.abs(fp - ft))


def psd_distance(dt: Any, *, nperseg: int | None = None, fmin: float | None = None,
                 fmax: float | None = None, log: bool = True) -> AbstractObjective:
    """RMS difference between the Welch spectra (log10 power when `log`, else spectra
    normalised to unit sum per channel) of prediction and target in `[fmin, fmax]` Hz.
    `dt` is the sampling interval of both (Quantity or ms)."""
    return PSDDistance(dt=to_ms(dt, name="dt"), nperseg=nperseg, fmin=fmin, fmax=fmax,
                        log=log)


def spectral_peak(dt: Any, *, fmin: float | None = None, fmax: float | None = None,
                  nperseg: int | None = None, temperature: float = 0.05) -> AbstractObjective:
    """Mean absolute difference (Hz) between the spectral peak frequencies of prediction and
    target, using the differentiable soft-argmax of
    [`brainmass_eqx.metrics.peak_frequency`][]. The target may also be given directly as peak
    frequencies in Hz (a scalar or one per channel)."""
    return SpectralPeak(dt=to_ms(dt, name="dt"), fmin=fmin, fmax=fmax, nperseg=nperseg,
                         temperature=float(temperature))
