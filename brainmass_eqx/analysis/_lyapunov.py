r"""The continuous Lyapunov equation $J P + P J^\top + Q = 0$ of a stable $J$, by the Cayley
transform and the doubling (Smith) iteration: with $A = (pI - J)^{-1}(pI + J)$ and
$Q_d = 2p\,(pI - J)^{-1} Q (pI - J)^{-\top}$ the equation is $P = A P A^\top + Q_d$, whose
solution $P = \sum_k A^k Q_d (A^k)^\top$ the iteration $P \leftarrow P + A P A^\top$,
$A \leftarrow A^2$ sums $2^K$ terms in $K$ steps. Matrix products only: differentiable, vmappable,
fast on accelerators (see the analysis docs for the measured comparison with
`scipy.linalg.solve_continuous_lyapunov`)."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


def solve_lyapunov(jac: Float[Array, "d d"], q: Float[Array, "d d"], *, steps: int = 48
                   ) -> Float[Array, "d d"]:
    r"""The stationary covariance $P$ of $\mathrm{d}x = J x\,\mathrm{d}t + G\,\mathrm{d}W$,
    $Q = G G^\top$: the solution of $J P + P J^\top + Q = 0$ (NaN when $J$ is not stable, where
    no stationary covariance exists). `steps` doublings sum $2^{\text{steps}}$ terms of the
    series; the shift $p$ is the geometric mean of the extreme eigenvalue moduli (Gershgorin
    bounds)."""
    d = jac.shape[0]
    eye = jnp.eye(d, dtype=jac.dtype)
    radius = jnp.max(jnp.sum(jnp.abs(jac), axis=1))
    low = jnp.maximum(jnp.min(jnp.abs(jnp.diag(jac))), radius * 1e-6)
    p = jnp.sqrt(radius * low)
    inv = jnp.linalg.inv(p * eye - jac)
    a = inv @ (p * eye + jac)
    qd = 2 * p * inv @ q @ inv.T

    def double(carry, _):
        pk, ak = carry
        return (pk + ak @ pk @ ak.T, ak @ ak), None

    (pk, ak), _ = jax.lax.scan(double, (qd, a), None, length=steps)
    converged = jnp.max(jnp.abs(ak)) < 1e-6
    stable = jnp.all(jnp.real(jnp.linalg.eigvals(jac)) < 0) if jax.default_backend() == "cpu" \
        else converged
    pk = (pk + pk.T) / 2
    return jnp.where(stable & converged, pk, jnp.nan)
