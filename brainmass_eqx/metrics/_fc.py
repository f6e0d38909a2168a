"""Functional connectivity, its dynamics (FCD) and distances between distributions."""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._stats import corr_from_cov as _corr_from_cov, covariance as _covariance
from .._core._steps import whole_steps
from .._core._units import to_ms


def _as_timeseries(x: Any, name: str) -> Array:
    try:
        x = jnp.asarray(x)
    except TypeError:
        raise TypeError(f"`{name}` must be a float array (time, regions), got {x!r}.") from None
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be a (time, regions) array, got shape {x.shape}.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"`{name}` must be a float array, got dtype {x.dtype}.")
    if x.shape[0] < 2:
        raise ValueError(f"`{name}` needs at least 2 time points, got {x.shape[0]}.")
    return x


def fc(x: Float[Array, "time nodes"]) -> Float[Array, "nodes nodes"]:
    r"""Functional connectivity: the Pearson correlation matrix of the regions' time series,

    $$\mathrm{FC}_{ij} = \frac{\sum_t (x_{ti} - \bar x_i)(x_{tj} - \bar x_j)}
      {\sqrt{\sum_t (x_{ti} - \bar x_i)^2 \sum_t (x_{tj} - \bar x_j)^2}}.$$

    Symmetric with a unit diagonal by construction, values in $[-1, 1]$. A constant region has
    zero correlation with the others (finite gradients); a region whose signal holds a NaN or
    inf has NaN correlations (NaN in, NaN out). Time is axis 0.
    """
    return _corr_from_cov(_covariance(_as_timeseries(x, "x")))


def upper_triangle(m: Float[Array, "n n"], k: int = 1) -> Float[Array, " pairs"]:
    """The entries above the `k`-th diagonal of a square matrix, row by row."""
    m = jnp.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {m.shape}.")
    i, j = np.triu_indices(m.shape[0], k=k)
    return m[i, j]


def pearson(a: Float[Array, " n"], b: Float[Array, " n"]) -> Float[Array, ""]:
    """Pearson correlation of two vectors (0 if either is constant, NaN if either holds a NaN
    or inf)."""
    a, b = _samples_of(a, "a"), _samples_of(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"`a` and `b` must have the same length, got {a.shape} and {b.shape}.")
    a = a - jnp.mean(a)
    b = b - jnp.mean(b)
    saa, sbb, sab = jnp.sum(a * a), jnp.sum(b * b), jnp.sum(a * b)
    ok = (saa > 0) & (sbb > 0)
    denom = jnp.sqrt(jnp.where(ok, saa * sbb, 1.0))
    r = jnp.where(ok, sab / denom, 0.0)
    return jnp.where(jnp.isfinite(saa) & jnp.isfinite(sbb) & jnp.isfinite(sab), r, jnp.nan)


def matrix_correlation(a: Float[Array, "n n"], b: Float[Array, "n n"]) -> Float[Array, ""]:
    """Pearson correlation of the upper triangles (diagonal excluded) of two square matrices:
    the usual "FC fit" between a simulated and an empirical FC."""
    if jnp.shape(a) != jnp.shape(b):
        raise ValueError(f"matrices must have the same shape, got {jnp.shape(a)} and "
                         f"{jnp.shape(b)}.")
    return pearson(upper_triangle(a), upper_triangle(b))


def fc_correlation(x: Float[Array, "time nodes"], y: Float[Array, "time nodes"]
                   ) -> Float[Array, ""]:
    """`matrix_correlation(fc(x), fc(y))`."""
    return matrix_correlation(fc(x), fc(y))


def fc_rmse(x: Float[Array, "time nodes"], y: Float[Array, "time nodes"]
            ) -> Float[Array, ""]:
    """Root-mean-square difference of the upper triangles of `fc(x)` and `fc(y)` (the unit
    diagonals carry no information and are excluded)."""
    return matrix_rmse(fc(x), fc(y))


def matrix_rmse(a: Float[Array, "n n"], b: Float[Array, "n n"]) -> Float[Array, ""]:
    """Root-mean-square difference of the upper triangles (diagonal excluded) of two square
    matrices."""
    d = upper_triangle(a) - upper_triangle(b)
    return jnp.sqrt(jnp.mean(d * d))


def _samples(value: Any, dt: Any, name: str) -> int:
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        n = int(value)
    else:
        if dt is None:
            raise ValueError(f"`{name}` is a time ({value!r}); pass `dt` to convert it to "
                             f"samples, or give `{name}` as an int number of samples.")
        t = to_ms(value, name=name)
        step = to_ms(dt, name="dt")
        n = whole_steps(t, step, name=name, unit="samples")
    if n < 1:
        raise ValueError(f"`{name}` must be at least one sample, got {n}.")
    return n


def sliding_fc(x: Float[Array, "time nodes"], window: Any, step: Any, *, dt: Any = None
               ) -> Float[Array, "windows pairs"]:
    """The upper triangle of the FC of each sliding window: windows start at
    `0, step, 2 step, ...` and hold `window` samples (both ints, or times with `dt`)."""
    x = _as_timeseries(x, "x")
    w = _samples(window, dt, "window")
    s = _samples(step, dt, "step")
    if w < 2 or w > x.shape[0]:
        raise ValueError(f"`window` must hold between 2 and {x.shape[0]} samples, got {w}.")
    starts = np.arange(0, x.shape[0] - w + 1, s)

    def one(start):
        return upper_triangle(fc(jax.lax.dynamic_slice_in_dim(x, start, w)))

    return jax.lax.map(one, jnp.asarray(starts))


def fcd(x: Float[Array, "time nodes"], window: Any, step: Any, *, dt: Any = None
        ) -> Float[Array, "windows windows"]:
    r"""Functional connectivity dynamics (Hansen et al. 2015): the correlation between the FC
    patterns of sliding windows, $\mathrm{FCD}_{ab} = \mathrm{corr}(\mathrm{triu}\,
    \mathrm{FC}_a, \mathrm{triu}\,\mathrm{FC}_b)$.

    **Arguments:** `x` `(time, regions)`; `window` and `step` as ints (samples) or times
    (Quantity or ms) together with `dt`, the sampling interval of `x`.
    """
    v = sliding_fc(x, window, step, dt=dt)
    vc = v - jnp.mean(v, axis=1, keepdims=True)
    return _corr_from_cov(vc @ vc.T / v.shape[1])


def _samples_of(x: Any, name: str) -> Array:
    """A non-empty float sample, flattened."""
    x = jnp.ravel(jnp.asarray(x))
    if x.shape[0] == 0:
        raise ValueError(f"`{name}` is empty: a distribution needs at least one sample.")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _nan_if_any(value: Array, *xs: Array) -> Array:
    """`value`, or NaN where any of `xs` holds a NaN (sorting would hide it)."""
    bad = jnp.any(jnp.stack([jnp.any(jnp.isnan(x)) for x in xs]))
    return jnp.where(bad, jnp.nan, value)


def ks_distance(a: Float[Array, " n"], b: Float[Array, " m"]) -> Float[Array, ""]:
    r"""Two-sample Kolmogorov-Smirnov statistic $\sup_x |F_a(x) - F_b(x)|$ of the empirical
    distributions of `a` and `b` (the statistic of `scipy.stats.ks_2samp`). Its gradient is
    zero almost everywhere: use it to evaluate, and
    [`brainmass_eqx.metrics.wasserstein_distance`][] to optimise. NaN if either sample holds a
    NaN; a `ValueError` for an empty sample."""
    a0, b0 = _samples_of(a, "a"), _samples_of(b, "b")
    a = jnp.sort(a0)
    b = jnp.sort(b0).astype(a.dtype)
    grid = jnp.concatenate([a, b])
    fa = jnp.searchsorted(a, grid, side="right").astype(a.dtype) / a.shape[0]
    fb = jnp.searchsorted(b, grid, side="right").astype(a.dtype) / b.shape[0]
    return _nan_if_any(jnp.max(jnp.abs(fa - fb)), a0, b0)


def wasserstein_distance(a: Float[Array, " n"], b: Float[Array, " m"]) -> Float[Array, ""]:
    r"""The 1-Wasserstein (earth mover's) distance $\int |F_a(x) - F_b(x)|\,dx$ between the
    empirical distributions of `a` and `b` (as `scipy.stats.wasserstein_distance`).
    Differentiable in the sample values. NaN if either sample holds a NaN; a `ValueError` for
    an empty sample."""
    a0, b0 = _samples_of(a, "a"), _samples_of(b, "b")
    a = jnp.sort(a0)
    b = jnp.sort(b0).astype(a.dtype)
    grid = jnp.sort(jnp.concatenate([a, b]))
    widths = jnp.diff(grid)
    fa = jnp.searchsorted(a, grid[:-1], side="right").astype(a.dtype) / a.shape[0]
    fb = jnp.searchsorted(b, grid[:-1], side="right").astype(a.dtype) / b.shape[0]
    return _nan_if_any(jnp.sum(jnp.abs(fa - fb) * widths), a0, b0)
