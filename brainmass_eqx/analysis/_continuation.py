r"""Pseudo-arclength continuation of equilibrium branches in one parameter, with the stability
along the branch and the detection and location of folds (saddle-nodes) and Hopf points.

On the branch $F(y, p) = 0$ (the equilibrium condition, as `fixed_point`), each step predicts
along the unit tangent $t$ of the curve in $(y, p)$ and corrects by Newton's method on
$F(y, p) = 0$, $t \cdot ((y, p) - (y, p)_{pred}) = 0$, so the branch is followed around folds,
where $p$ turns back. A fold is where the tangent's $p$-component changes sign; a Hopf point where
a complex pair of eigenvalues (characteristic roots, with delays) crosses the imaginary axis.
Both are located to tolerance by bisection along the step, each trial corrected back onto the
branch.
"""

from collections.abc import Callable
from typing import Any, Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._types import State
from .._models import AbstractSystem
from ._fixed_point import _residual_fn, fixed_point
from ._jacobian import constant_inputs
from ._spectrum import eigenvalues
from ._state_vector import StateLayout


@final
class Bifurcation(eqx.Module):
    """A located bifurcation: its `kind` (`"fold"` or `"hopf"`), the parameter value `param`,
    the equilibrium `state` there and, for a Hopf point, the `frequency` of the cycle born there
    (Hz; 0 for a fold)."""

    kind: Literal["fold", "hopf"] = eqx.field(static=True)
    param: float = eqx.field(static=True)
    state: State
    frequency: float = eqx.field(static=True)


@final
class Branch(eqx.Module):
    """An equilibrium branch: the parameter values `params` `(points,)`, the `states` (state
    dicts with a leading points axis), the rightmost eigenvalue's real part `growth` (per ms;
    negative: stable), `stable`, and the located `bifurcations`."""

    params: Float[Array, " points"]
    states: State
    growth: Float[Array, " points"]
    stable: Array
    bifurcations: tuple[Bifurcation, ...]


def _setter(system: AbstractSystem, where: Callable[[Any], Any]):
    base = jnp.asarray(where(system))

    def with_param(p):
        # a per-region parameter is scaled as one: p multiplies its starting pattern
        value = p if base.ndim == 0 else base * (p / _first_nonzero(base))
        return eqx.tree_at(where, system, jnp.asarray(value, base.dtype))

    return with_param, float(base if base.ndim == 0 else _first_nonzero(base))


def _first_nonzero(x: Array) -> Array:
    flat = jnp.ravel(x)
    return flat[jnp.argmax(flat != 0)]


def continuation(system: AbstractSystem, where: Callable[[Any], Any], start: float, stop: float,
                 *, steps: int = 100, y0: State | None = None, inputs: Any = None,
                 n_eigenvalues: int = 6, tol: float = 1e-8) -> Branch:
    r"""Continue the equilibrium of `system` in the parameter selected by `where` (as for
    `eqx.tree_at`: a scalar, or a per-region array scaled as one) from `start` towards `stop` by
    pseudo-arclength, `steps` steps of length $|stop - start| / steps$ in $(y, p)$ (so about
    `steps` points when the branch does not turn). The stability at each point comes from
    [`brainmass_eqx.analysis.eigenvalues`][] (characteristic roots for delayed networks);
    folds and Hopf points are located to `tol` in the parameter.

    **Returns:** a [`brainmass_eqx.analysis.Branch`][].
    """
    if not callable(where):
        raise ValueError("`where` must be a callable selecting one parameter, e.g. "
                         "`lambda m: m.a` or `lambda net: net.coupling.k`.")
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"`steps` must be an int >= 2, got {steps!r}.")
    with_param, _ = _setter(system, where)
    layout = StateLayout.of(system)
    first = fixed_point(with_param(start), y0, inputs=inputs)
    if not bool(first.converged):
        raise ValueError(f"no equilibrium converged at the start, {start}: give `y0` near one.")
    dtype = jax.tree.leaves(first.state)[0].dtype
    u = constant_inputs(system, inputs, layout.shape, dtype)
    fn = _residual_fn(layout)

    def residual(x):  # x = (v, p)
        return fn(x[:-1], (with_param(x[-1]), u))

    jac = jax.jit(jax.jacfwd(residual))
    residual_j = jax.jit(residual)

    def tangent(x, previous):
        j = jac(x)
        # the null vector of the (d, d + 1) Jacobian: solve with the previous tangent appended
        a = jnp.concatenate([j, previous[None]], axis=0)
        t = jnp.linalg.solve(a, jnp.zeros(x.shape[0], x.dtype).at[-1].set(1.0))
        return t / jnp.linalg.norm(t)

    def correct(x_pred, t):
        x = x_pred
        for _ in range(20):
            f = residual_j(x)
            g = jnp.dot(t, x - x_pred)
            a = jnp.concatenate([jac(x), t[None]], axis=0)
            dx = jnp.linalg.solve(a, -jnp.concatenate([f, g[None]]))
            x = x + dx
            if float(jnp.max(jnp.abs(dx))) < tol * 1e-2:
                break
        return x

    ds = abs(stop - start) / steps
    x = jnp.concatenate([layout.flatten(first.state), jnp.asarray([start], dtype)])
    t = jnp.zeros_like(x).at[-1].set(np.sign(stop - start))
    t = tangent(x, t)
    if float(t[-1]) * (stop - start) < 0:
        t = -t
    points, tangents = [x], [t]
    for _ in range(4 * steps):
        x_new = correct(x + ds * t, t)
        t_new = tangent(x_new, t)
        if float(jnp.dot(t_new, t)) < 0:
            t_new = -t_new
        x, t = x_new, t_new
        points.append(x)
        tangents.append(t)
        if (float(x[-1]) - stop) * np.sign(stop - start) >= 0 or not bool(
                jnp.all(jnp.isfinite(x))):
            break
    xs = jnp.stack(points)

    def spectrum_at(xk):
        return eigenvalues(with_param(xk[-1]), layout.unflatten(xk[:-1]), n=n_eigenvalues,
                           inputs=inputs).values

    spectra = [np.asarray(spectrum_at(xk)) for xk in points]
    growth = np.array([np.max(np.real(s)) for s in spectra])
    bifurcations = []
    for k in range(len(points) - 1):
        tk, tk1 = float(tangents[k][-1]), float(tangents[k + 1][-1])
        if tk * tk1 < 0:
            bifurcations.append(_locate(lambda xk, tk=tangents[k]: float(
                tangent(xk, tk)[-1]), points[k], points[k + 1], tangents[k], correct, "fold",
                layout, spectrum_at, tol))
        for pair in _complex_crossings(spectra[k], spectra[k + 1]):
            del pair
            bifurcations.append(_locate(lambda xk: float(_hopf_test(spectrum_at(xk))),
                                        points[k], points[k + 1], tangents[k], correct, "hopf",
                                        layout, spectrum_at, tol))
            break
    return Branch(xs[:, -1], jax.vmap(layout.unflatten)(xs[:, :-1]), jnp.asarray(growth),
                  jnp.asarray(growth < 0), tuple(bifurcations))


def _hopf_test(values: np.ndarray) -> float:
    """The largest real part among eigenvalues with a non-zero imaginary part."""
    values = np.asarray(values)
    complex_ones = values[np.abs(np.imag(values)) > 1e-9]
    return float(np.max(np.real(complex_ones))) if complex_ones.size else -np.inf


def _complex_crossings(before: np.ndarray, after: np.ndarray) -> list[int]:
    a, b = _hopf_test(before), _hopf_test(after)
    return [0] if np.isfinite(a) and np.isfinite(b) and a * b < 0 else []


def _locate(test, x0, x1, t, correct, kind, layout, spectrum_at, tol):
    """Bisection on the sign of `test` between two branch points, every trial corrected back
    onto the branch; returns the located `Bifurcation`."""
    f0 = test(x0)
    lo, hi = x0, x1
    for _ in range(60):
        mid = correct((lo + hi) / 2, t)
        if test(mid) * f0 > 0:
            lo = mid
        else:
            hi = mid
        if abs(float(hi[-1] - lo[-1])) < tol:
            break
    x = (lo + hi) / 2
    freq = 0.0
    if kind == "hopf":
        values = np.asarray(spectrum_at(x))
        pair = values[np.abs(np.imag(values)) > 1e-9]
        top = pair[np.argmax(np.real(pair))]
        freq = float(abs(np.imag(top)) * 1000.0 / (2 * np.pi))
    return Bifurcation(kind, float(x[-1]), layout.unflatten(x[:-1]), freq)
