r"""Pseudo-arclength continuation of equilibrium branches in one parameter, with the stability
along the branch and the detection and location of folds (saddle-nodes) and Hopf points.

On the branch $F(y, p) = 0$ (the equilibrium condition, as `fixed_point`), each step predicts
along the unit tangent $t$ of the curve in $(y, p)$ and corrects by Newton's method on
$F(y, p) = 0$, $t \cdot ((y, p) - (y, p)_{pred}) = 0$, so the branch is followed around folds,
where $p$ turns back. A fold is where the tangent's $p$-component changes sign; a Hopf point where
a complex pair of eigenvalues (characteristic roots, with delays) crosses the imaginary axis.
Both are located to tolerance by bisection along the step, each trial corrected back onto the
branch. The path following itself (adaptive steps, compiled corrector) is
`_arclength.follow`, shared with the continuation of cycles.
"""

import warnings
from collections.abc import Callable
from typing import Any, Literal, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._types import State
from .._models import AbstractSystem
from .._network import Network
from ._arclength import Corrector, default_tol, follow
from ._fixed_point import _residual_fn, fixed_point
from ._parameter import Drive, parametrise
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
    negative: stable), `stable`, the located `bifurcations`, whether the branch reached `stop`
    (`complete`) and how it ended (`message`)."""

    params: Float[Array, " points"]
    states: State
    growth: Float[Array, " points"]
    stable: Array
    bifurcations: tuple[Bifurcation, ...]
    complete: bool = eqx.field(static=True, default=True)
    message: str = eqx.field(static=True, default="")


def continuation(system: AbstractSystem, where: Callable[[Any], Any] | Drive, start: float,
                 stop: float,
                 *, steps: int = 100, y0: State | None = None, inputs: Any = None,
                 n_eigenvalues: int = 6, degree: int = 12, tol: float = 1e-8,
                 max_points: int | None = None) -> Branch:
    r"""Continue the equilibrium of `system` in the parameter selected by `where` (as for
    `eqx.tree_at`: a scalar, or a per-region array scaled as one; or a constant input,
    [`brainmass_eqx.analysis.Drive`][]) from `start` towards `stop` by
    pseudo-arclength, with steps of at most $|stop - start| / steps$ in $(y, p)$, shortened
    where the branch bends (so about `steps` points where it does not). The stability at each
    point comes from [`brainmass_eqx.analysis.eigenvalues`][] (characteristic roots for delayed
    networks, from a collocation of `degree`: each point costs an eigenvalue problem of
    $(\text{degree} + 1) d$ unknowns, so lower it for long branches of large networks);
    folds and Hopf points are located to `tol` in the parameter.

    A branch that cannot be followed to `stop` (the corrector fails even with tiny steps, or
    `max_points`, default `10 * steps`, is reached) is returned as far as it got, with
    `complete=False`, its `message`, and a warning.

    **Returns:** a [`brainmass_eqx.analysis.Branch`][].
    """
    if not (isinstance(steps, int) and steps >= 2):
        raise ValueError(f"`steps` must be an int >= 2, got {steps!r}.")
    if start == stop:
        raise ValueError("`start` and `stop` must differ.")
    dtype = jnp.dtype(system.dtype)
    setting = parametrise(system, where, inputs, dtype)
    layout = StateLayout.of(system)
    s0, u0 = setting(start)
    first = fixed_point(s0, y0, inputs=u0)
    if not bool(first.converged):
        raise ValueError(f"no equilibrium converged at the start, {start}: give `y0` near one.")
    dtype = jax.tree.leaves(first.state)[0].dtype
    fn = _residual_fn(layout)
    corrector = Corrector(lambda x, ref: fn(x[:-1], setting(x[-1])))
    direction = float(np.sign(stop - start))
    x0 = jnp.concatenate([layout.flatten(first.state), jnp.asarray([start], dtype)])
    t0 = corrector.tangent(x0, jnp.zeros_like(x0).at[-1].set(direction), None)
    path = follow(corrector, x0, t0, ds=abs(stop - start) / steps,
                  max_points=10 * steps if max_points is None else max_points,
                  done=lambda x: (float(x[-1]) - stop) * direction >= 0,
                  reference=lambda x: None)
    if not path.complete:
        warnings.warn(f"continuation ended before `stop`: {path.message}.", stacklevel=2)
    spectrum_at = _spectrum_fn(system, setting, layout, n_eigenvalues, degree)
    spectra = [np.asarray(spectrum_at(xk)) for xk in path.points]
    growth = np.array([np.max(np.real(s)) for s in spectra])
    bifurcations = _bifurcations(path, spectra, corrector, layout, spectrum_at, tol)
    xs = jnp.stack(path.points)
    return Branch(xs[:, -1], jax.vmap(layout.unflatten)(xs[:, :-1]), jnp.asarray(growth),
                  jnp.asarray(growth < 0), tuple(bifurcations), path.complete, path.message)


def _spectrum_fn(system, setting, layout, n, degree):
    """The `n` rightmost eigenvalues at a branch point `(v, p)`; compiled where the delays do
    not have to be read on the host."""

    def spectrum_at(x):
        s, u = setting(x[-1])
        return eigenvalues(s, layout.unflatten(x[:-1]), n=n, inputs=u, degree=degree).values

    delayed = isinstance(system, Network) and system.has_delays
    return spectrum_at if delayed else jax.jit(spectrum_at)


def _bifurcations(path, spectra, corrector, layout, spectrum_at, tol):
    tol_c = jnp.asarray(default_tol(path.points[0].dtype), path.points[0].dtype)

    def correct(x, t):
        return corrector.correct(x, t, None, tol_c)[0]

    found = []
    points, tangents = path.points, path.tangents
    for k in range(len(points) - 1):
        if float(tangents[k][-1]) * float(tangents[k + 1][-1]) < 0:
            found.append(_locate(lambda xk, tk=tangents[k]: float(
                corrector.tangent(xk, tk, None)[-1]), points[k], points[k + 1], tangents[k],
                correct, "fold", layout, spectrum_at, tol))
        if _complex_crossing(spectra[k], spectra[k + 1]):
            hopf = _locate(lambda xk: _hopf_test(np.asarray(spectrum_at(xk))), points[k],
                           points[k + 1], tangents[k], correct, "hopf", layout, spectrum_at,
                           tol)
            if hopf is not None:
                found.append(hopf)
    return found


def _hopf_test(values: np.ndarray) -> float:
    """The largest real part among eigenvalues with a non-zero imaginary part."""
    values = np.asarray(values)
    complex_ones = values[np.abs(np.imag(values)) > 1e-9]
    return float(np.max(np.real(complex_ones))) if complex_ones.size else -np.inf


def _complex_crossing(before: np.ndarray, after: np.ndarray) -> bool:
    a, b = _hopf_test(before), _hopf_test(after)
    return bool(np.isfinite(a) and np.isfinite(b) and a * b < 0)


def _locate(test, x0, x1, t, correct, kind, layout, spectrum_at, tol):
    """Bisection on the sign of `test` between two branch points, every trial corrected back
    onto the branch; returns the located `Bifurcation` (`None` for a sign change of the Hopf
    test that is not a crossing of the imaginary axis)."""
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
    x = correct((lo + hi) / 2, t)
    freq = 0.0
    if kind == "hopf":
        values = np.asarray(spectrum_at(x))
        pair = values[np.abs(np.imag(values)) > 1e-9]
        if not pair.size:
            return None
        top = pair[np.argmax(np.real(pair))]
        if abs(top.real) > 1e-3 * abs(top):
            return None  # a complex pair that met on the real axis, not a crossing
        freq = float(abs(np.imag(top)) * 1000.0 / (2 * np.pi))
    return Bifurcation(kind, float(x[-1]), layout.unflatten(x[:-1]), freq)
