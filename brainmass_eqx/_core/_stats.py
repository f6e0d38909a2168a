"""Small statistics shared by the metrics and the monitors."""

import jax.numpy as jnp
from jaxtyping import Array, Float


def corr_from_cov(cov: Float[Array, "n n"]) -> Float[Array, "n n"]:
    """Correlation matrix from a covariance: unit diagonal, values clipped to [-1, 1], and a
    zero-variance variable uncorrelated with the others (finite gradients, no NaN)."""
    var = jnp.diagonal(cov)
    ok = var > 0
    std = jnp.sqrt(jnp.where(ok, var, 1.0))  # safe where: finite gradients for flat signals
    both = ok[:, None] & ok[None, :]
    corr = jnp.where(both, cov / (std[:, None] * std[None, :]), 0.0)
    corr = jnp.clip(corr, -1.0, 1.0)
    return jnp.where(jnp.eye(cov.shape[0], dtype=bool), 1.0, corr).astype(cov.dtype)
