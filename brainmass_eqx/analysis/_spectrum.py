r"""Spectra of linearised systems: eigenvalues of undelayed Jacobians, and for delayed networks
the rightmost roots of the characteristic equation $\det \Delta(\lambda) = 0$, by a
pseudospectral (Chebyshev collocation) discretisation of the delay equation's infinitesimal
generator (Breda, Maset & Vermiglio 2005, *SIAM J. Sci. Comput.* 27:482), refined by Newton's
method on $\Delta(\lambda) v = 0$.

`jnp.linalg.eig` (non-symmetric) runs on the CPU only: on other backends the eigenvalue problem
is solved on the host (`numpy.linalg.eig` through `jax.pure_callback`).
"""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._core._types import State
from .._models import AbstractSystem
from ._jacobian import Jacobian, jacobian
from ._state_vector import complex_dtype


@final
class Spectrum(eqx.Module):
    r"""Eigenvalues (per ms) sorted by decreasing real part: `values`, and `errors`, an
    estimate of each one's error (0 for the exact eigenvalues of an undelayed system; for a
    delayed one the last Newton correction, or the collocation's own residual where Newton was
    not run). `stable` is whether every real part is negative; `frequency` the imaginary parts
    in Hz."""

    values: Complex[Array, " n"]
    errors: Float[Array, " n"]

    @property
    def rightmost(self) -> Complex[Array, ""]:
        return self.values[0]

    @property
    def stable(self) -> Array:
        return jnp.all(jnp.real(self.values) < 0)

    @property
    def frequency(self) -> Float[Array, " n"]:
        """$|\\mathrm{Im}\\,\\lambda| / 2\\pi$ in Hz (eigenvalues are per ms)."""
        return jnp.abs(jnp.imag(self.values)) * 1000.0 / (2 * jnp.pi)


def _eig(m: Array) -> Array:
    """Eigenvalues of a real or complex square matrix; on the host where the backend has no
    non-symmetric `eig`."""
    if jax.default_backend() == "cpu":
        return jnp.linalg.eig(m)[0]
    out = jax.ShapeDtypeStruct(m.shape[:1], complex_dtype(m.dtype))
    return jax.pure_callback(lambda a: np.linalg.eig(a)[0].astype(out.dtype), out, m)


def _sorted(values: Array, n: int | None) -> Array:
    order = jnp.argsort(-jnp.real(values))
    values = values[order]
    return values if n is None else values[:n]


def chebyshev(m: int, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Chebyshev extremal nodes on $[-\\text{length}, 0]$ (node 0 at 0) and the differentiation
    matrix there (Trefethen, *Spectral Methods in MATLAB*, `cheb`)."""
    x = np.cos(np.pi * np.arange(m + 1) / m)
    c = np.hstack([2.0, np.ones(m - 1), 2.0]) * (-1.0) ** np.arange(m + 1)
    dx = x[:, None] - x[None, :]
    d = np.outer(c, 1 / c) / (dx + np.eye(m + 1))
    d = d - np.diag(d.sum(axis=1))
    theta = length * (x - 1) / 2
    return theta, d * 2 / length


def _lagrange(theta: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The Lagrange basis on the Chebyshev nodes `theta` evaluated at the points `at`:
    `(len(at), len(theta))` (barycentric, exact at the nodes)."""
    m = len(theta) - 1
    w = (-1.0) ** np.arange(m + 1)
    w[0] /= 2
    w[-1] /= 2
    diff = at[:, None] - theta[None, :]
    exact = np.isclose(diff, 0.0, atol=1e-12 * max(1.0, float(np.max(np.abs(theta)))))
    diff = np.where(exact, 1.0, diff)
    terms = w / diff
    out = terms / terms.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    out[hit] = exact[hit].astype(float)
    return out


def collocation_generator(jac: Jacobian, degree: int) -> Array:
    r"""The $(M + 1) d$ square matrix approximating the infinitesimal generator of the delay
    equation on $[-\tau_{max}, 0]$: block row 0 is $J_0 u_0 + \sum_{ij} A_{:,i} w_{ij} B_{j,:}
    u(-\tau_{ij})$ (the history interpolated on the Chebyshev nodes), the others the Chebyshev
    derivative."""
    d = jac.local.shape[0]
    tau = np.asarray(jac.delays)
    w = np.asarray(jac.weights)
    tmax = float(tau[w != 0].max())
    theta, diff = chebyshev(degree, tmax)
    n = w.shape[0]
    targets, sources = np.nonzero(w)
    ell = _lagrange(theta, -tau[targets, sources])  # (edges, M + 1)
    # the coupled part, node by node: W_m[i, j] = w_ij l_m(-tau_ij)
    wm = np.zeros((degree + 1, n, n))
    wm[:, targets, sources] = (w[targets, sources][:, None] * ell).T
    eye_c = jnp.eye(jac.n_channels, dtype=jac.local.dtype)
    first = [jac.into @ jnp.kron(eye_c, jnp.asarray(wm[m], jac.local.dtype)) @ jac.out_of
             for m in range(degree + 1)]
    first[0] = first[0] + jac.local
    top = jnp.concatenate(first, axis=1)
    rest = jnp.kron(jnp.asarray(diff[1:], jac.local.dtype), jnp.eye(d, dtype=jac.local.dtype))
    return jnp.concatenate([top, rest], axis=0)


def refine(jac: Jacobian, lam: Array, steps: int = 12) -> tuple[Array, Array]:
    r"""Newton's method on $\Delta(\lambda) v = 0$, $c^* v = 1$ from the root estimate `lam`:
    returns the refined root and the size of the last correction (its error estimate)."""
    d = jac.local.shape[0]
    lam = jnp.asarray(lam, complex_dtype(jac.local.dtype))
    # the starting vector: the null direction of Delta(lam), by inverse iteration
    delta = jac.characteristic(lam) + 1e-7 * jnp.eye(d, dtype=lam.dtype)
    v = jnp.linalg.solve(delta, jnp.ones(d, lam.dtype))
    v = v / jnp.linalg.norm(v).astype(v.dtype)
    c = jnp.conj(v)

    def step(carry, _):
        lam, v, _ = carry
        delta = jac.characteristic(lam)
        top = jnp.concatenate([delta, (jac.characteristic_derivative(lam) @ v)[:, None]],
                              axis=1)
        bottom = jnp.concatenate([c, jnp.zeros(1, lam.dtype)])[None]
        rhs = -jnp.concatenate([delta @ v, (c @ v - 1)[None]])
        dx = jnp.linalg.solve(jnp.concatenate([top, bottom], axis=0), rhs)
        return (lam + dx[-1], v + dx[:-1], jnp.abs(dx[-1])), None

    (lam, _, err), _ = jax.lax.scan(step, (lam, v, jnp.asarray(jnp.inf, jnp.real(lam).dtype)),
                                    None, length=steps)
    return lam, err


def eigenvalues(system: AbstractSystem | Jacobian, y: State | None = None, *,
                n: int | None = None, inputs: Any = None, degree: int = 12,
                refine_steps: int = 12) -> Spectrum:
    r"""The spectrum of `system` linearised about the state `y` (or of a `Jacobian` from
    [`brainmass_eqx.analysis.jacobian`][]), the `n` rightmost eigenvalues (default all).

    Undelayed systems: the eigenvalues of the Jacobian (differentiable). Delayed networks: the
    rightmost characteristic roots of
    $\det(\lambda I - J_0 - \sum_{ij} A_{:,i} w_{ij} B_{j,:} e^{-\lambda\tau_{ij}}) = 0$ from the
    Chebyshev collocation of the generator with `degree` + 1 nodes on $[-\tau_{max}, 0]$
    (Breda, Maset & Vermiglio), each refined by `refine_steps` Newton steps on the
    characteristic equation; `errors` holds the last Newton correction. The collocation's
    eigenvalue problem has $(\text{degree} + 1) d$ unknowns for $d$ state values: raise
    `degree` when the delays are long against the dynamics' time scale.
    """
    jac = system if isinstance(system, Jacobian) else jacobian(system, y, inputs=inputs)
    if not jac.has_delays:
        values = _sorted(_eig(jac.instantaneous()), n)
        return Spectrum(values, jnp.zeros(values.shape, jnp.real(values).dtype))
    if not (isinstance(degree, int) and degree >= 2):
        raise ValueError(f"`degree` must be an int >= 2, got {degree!r}.")
    estimates = _sorted(_eig(collocation_generator(jac, degree)), n)
    refined, errors = jax.vmap(lambda lam: refine(jac, lam, refine_steps))(estimates)
    keep = jnp.isfinite(refined)
    refined = jnp.where(keep, refined, estimates)
    order = jnp.argsort(-jnp.real(refined))
    return Spectrum(refined[order], jnp.where(keep, errors, jnp.inf)[order])
