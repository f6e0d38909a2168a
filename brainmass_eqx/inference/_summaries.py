r"""Summary statistics for simulation banks: jittable, vmappable and differentiable functions of
a recording (time on axis 0), and a learned embedding trained jointly with the posterior."""

from collections.abc import Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .. import metrics


def _series(x: Any, name: str = "x") -> Array:
    x = jnp.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be (time, nodes), got shape {x.shape}.")
    return x


def fc_upper(x: Float[Array, " time nodes"]) -> Float[Array, " pairs"]:
    """The upper triangle (diagonal excluded) of the Pearson FC of `x`, row by row."""
    return metrics.upper_triangle(metrics.fc(_series(x)))


def fc_eigenvalues(x: Float[Array, " time nodes"]) -> Float[Array, " nodes"]:
    r"""The eigenvalues of the FC of `x`, descending (they sum to the number of nodes; the
    leading one measures global synchrony)."""
    return jnp.linalg.eigvalsh(metrics.fc(_series(x)))[::-1]


def soft_histogram(values: Float[Array, " n"], bins: int = 20,
                   range: tuple[float, float] = (-1.0, 1.0),  # noqa: A002
                   bandwidth: float | None = None) -> Float[Array, " bins"]:
    r"""A differentiable histogram: each value spreads over the bins as a Gaussian of width
    `bandwidth` (default: half a bin), integrated over each bin with the error function; the
    result is the fraction of mass per bin (it sums to 1 up to the mass beyond `range`)."""
    lo, hi = range
    edges = jnp.linspace(lo, hi, bins + 1)
    h = (hi - lo) / bins / 2 if bandwidth is None else bandwidth
    v = jnp.ravel(values)[:, None]
    cdf = jax.scipy.special.ndtr((edges[None, :] - v) / h)
    return jnp.mean(cdf[:, 1:] - cdf[:, :-1], axis=0)


def fcd_histogram(x: Float[Array, " time nodes"], window: Any, step: Any, *, dt: Any = None,
                  bins: int = 20, range: tuple[float, float] = (-1.0, 1.0),  # noqa: A002
                  bandwidth: float | None = None) -> Float[Array, " bins"]:
    r"""Histogram of the functional connectivity dynamics: the correlations between the FCs
    of sliding windows (`metrics.fcd`, windows of `window`, shifted by `step`, in samples or,
    with `dt`, in time units), off the diagonal, as a
    [soft histogram][brainmass_eqx.inference.soft_histogram]."""
    m = metrics.fcd(_series(x), window, step, dt=dt)
    return soft_histogram(metrics.upper_triangle(m), bins, range, bandwidth)


def band_power(x: Float[Array, " time *channels"], dt: Any,
               bands: Sequence[tuple[float, float]], *, nperseg: int | None = None,
               relative: bool = False) -> Float[Array, " bands *channels"]:
    r"""Welch power integrated over each frequency band `(fmin, fmax)` (Hz when `dt` is in
    ms, as everywhere); `relative=True` divides by the total power."""
    freqs, psd = metrics.welch_psd(jnp.asarray(x), dt, nperseg=nperseg)
    df = freqs[1] - freqs[0]
    out = []
    for lo, hi in bands:
        if not hi > lo:
            raise ValueError(f"each band must be (fmin, fmax) with fmax > fmin, got {(lo, hi)}.")
        mask = ((freqs >= lo) & (freqs < hi)).astype(psd.dtype)
        out.append(jnp.tensordot(mask, psd, axes=(0, 0)) * df)
    power = jnp.stack(out)
    return power / (jnp.sum(psd, axis=0) * df)[None] if relative else power


def spectral_peak(x: Float[Array, " time *channels"], dt: Any, *, fmin: float | None = None,
                  fmax: float | None = None, nperseg: int | None = None
                  ) -> tuple[Float[Array, " *channels"], Float[Array, " *channels"]]:
    r"""`(frequency, power)` of the Welch spectrum's peak in `[fmin, fmax]` (Hz for `dt` in
    ms), refined between bins by the parabola through the peak and its neighbours in log
    power, so the frequency moves smoothly with the signal (and has a gradient)."""
    freqs, psd = metrics.welch_psd(jnp.asarray(x), dt, nperseg=nperseg)
    keep = jnp.ones_like(freqs, dtype=bool)
    if fmin is not None:
        keep &= freqs >= fmin
    if fmax is not None:
        keep &= freqs <= fmax
    logp = jnp.log(jnp.maximum(psd, jnp.finfo(psd.dtype).tiny))
    masked = jnp.where(keep.reshape((-1,) + (1,) * (psd.ndim - 1)), logp, -jnp.inf)
    k = jnp.clip(jnp.argmax(masked, axis=0), 1, freqs.shape[0] - 2)
    take = lambda o: jnp.take_along_axis(logp, (k + o)[None], axis=0)[0]  # noqa: E731
    left, mid, right = take(-1), take(0), take(1)
    denom = left - 2 * mid + right
    shift = jnp.where(denom < 0, 0.5 * (left - right) / jnp.where(denom < 0, denom, -1.0), 0.0)
    shift = jnp.clip(shift, -0.5, 0.5)
    df = freqs[1] - freqs[0]
    return freqs[k] + shift * df, jnp.exp(mid - 0.25 * (left - right) * shift)


def moments(x: Float[Array, " time *channels"]) -> Float[Array, " 4 *channels"]:
    r"""Mean, standard deviation, skewness $\mathbb E[(x-\mu)^3]/\sigma^3$ and excess
    kurtosis $\mathbb E[(x-\mu)^4]/\sigma^4 - 3$ over time (population moments)."""
    x = jnp.asarray(x)
    mu = jnp.mean(x, axis=0)
    d = x - mu[None]
    var = jnp.mean(d**2, axis=0)
    sd = jnp.sqrt(var)
    return jnp.stack([mu, sd, jnp.mean(d**3, axis=0) / sd**3, jnp.mean(d**4, axis=0) / var**2 - 3])


def synchrony(x: Float[Array, " time nodes"], *, phases: bool = False) -> Float[Array, " 2"]:
    r"""`[mean R, std R]`: the time average of the Kuramoto order parameter
    $R(t) = \lvert\frac1N\sum_j e^{i\phi_j(t)}\rvert$ and the metastability (its standard
    deviation; Shanahan 2010). Phases come from the analytic signal of `x` unless
    `phases=True` (then `x` holds them)."""
    x = _series(x)
    phi = x if phases else metrics.instantaneous_phase(x - jnp.mean(x, axis=0, keepdims=True))
    r = metrics.order_parameter(phi)
    return jnp.stack([jnp.mean(r), jnp.std(r)])


@final
class EmbeddingNet(eqx.Module):
    r"""A learned summary: an MLP from the (flattened, standardised) simulator output to
    `out_size` features, trained jointly with the posterior flow when given to
    [`brainmass_eqx.inference.NPE`][] as `embedding=`."""

    mlp: eqx.nn.MLP

    def __init__(self, in_size: int, out_size: int, *, width: int = 64, depth: int = 2,
                 key: PRNGKeyArray):
        if in_size < 1 or out_size < 1:
            raise ValueError(f"`in_size` and `out_size` must be positive, got {in_size}, "
                             f"{out_size}.")
        self.mlp = eqx.nn.MLP(in_size, out_size, width, depth, activation=jax.nn.gelu, key=key)

    @property
    def out_size(self) -> int:
        return self.mlp.out_size

    def __call__(self, x: Float[Array, " features"]) -> Float[Array, " out"]:
        return self.mlp(jnp.ravel(x))
