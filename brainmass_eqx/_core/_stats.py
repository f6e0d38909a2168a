"""Small statistics shared by the metrics and the monitors."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def covariance(x: Float[Array, "time n"]) -> Float[Array, "n n"]:
    """The covariance of the columns of `x` about their means, normalised by the number of
    samples (time is axis 0)."""
    xc = x - jnp.mean(x, axis=0, keepdims=True)
    return xc.T @ xc / x.shape[0]


def corr_from_cov(cov: Float[Array, "n n"]) -> Float[Array, "n n"]:
    """Correlation matrix from a covariance: symmetric and with a unit diagonal by
    construction, values clipped to [-1, 1], and a zero-variance variable uncorrelated with
    the others (finite gradients). A variable with a non-finite variance (NaN or inf in its
    signal) has NaN correlations, its diagonal included: NaN in, NaN out."""
    cov = (cov + cov.T) / 2  # exactly symmetric (a matrix product need not be)
    var = jnp.diagonal(cov)
    ok = var > 0
    std = jnp.sqrt(jnp.where(ok, var, 1.0))  # safe where: finite gradients for flat signals
    both = ok[:, None] & ok[None, :]
    corr = jnp.where(both, cov / (std[:, None] * std[None, :]), 0.0)
    corr = jnp.clip(corr, -1.0, 1.0)
    corr = jnp.where(jnp.eye(cov.shape[0], dtype=bool), 1.0, corr)
    bad = ~jnp.isfinite(var)
    corr = jnp.where(bad[:, None] | bad[None, :] | jnp.isnan(cov), jnp.nan, corr)
    return corr.astype(cov.dtype)
