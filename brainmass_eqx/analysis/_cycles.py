r"""Periodic orbits by single shooting, their Floquet multipliers, and the continuation of the
cycle born at a Hopf point.

A cycle of $\dot y = f(y)$ with period $T$ is a zero of
$G(y_0, T) = (\varphi_T(y_0) - y_0,\; n \cdot (y_0 - y_{ref}))$, where $\varphi_T$ is the flow
over time $T$ (written as $\mathrm{d}y/\mathrm{d}s = T f(y)$ on $s \in [0, 1]$, so $T$ is a
parameter, not an end time) and the second equation pins the phase on the plane through
$y_{ref}$ normal to $n = f(y_{ref})$. The flow is integrated by diffrax (Tsit5, adaptive) in
forward mode, so Newton's Jacobian is exact. The Floquet multipliers are the eigenvalues of the
monodromy matrix $\partial \varphi_T / \partial y_0$; one of them is 1 (the phase direction),
the cycle is stable when all others lie inside the unit circle.

Delayed networks are not covered: their cycles live in a function space (DDE-BIFTOOL's
collocation), and single shooting of the discretised history is a poor method for them.
"""

from collections.abc import Callable
from typing import Any, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Complex, Float

from .._core._types import State
from .._models import AbstractSystem
from .._network import Network
from ._arclength import Corrector, follow
from ._continuation import Bifurcation
from ._fixed_point import _residual_fn
from ._jacobian import constant_inputs, jacobian
from ._parameter import Drive, parametrise
from ._state_vector import StateLayout


@final
class PeriodicOrbit(eqx.Module):
    r"""A periodic orbit: a `state` on it (the phase fixed by the shooting's section), its
    `period` (ms), the `amplitude` of each state variable (half its peak-to-peak range over one
    period, a state dict) and its `maxima` and `minima`, the Floquet `multipliers` (sorted by
    decreasing modulus; one is 1), whether the shooting `converged`, and the `residual`
    $\max|\varphi_T(y_0) - y_0|$."""

    state: State
    period: Float[Array, ""]
    maxima: State
    minima: State
    multipliers: Complex[Array, " d"]
    converged: Bool[Array, ""]
    residual: Float[Array, ""]

    @property
    def amplitude(self) -> State:
        """Half of each state's peak-to-peak range over the period."""
        return _half_range(self.maxima, self.minima)

    @property
    def frequency(self) -> Float[Array, ""]:
        """$1000 / T$ in Hz (the period is in ms)."""
        return 1000.0 / self.period

    @property
    def stable(self) -> Bool[Array, ""]:
        """Every multiplier but the trivial one (the closest to 1) inside the unit circle."""
        return _floquet_stable(self.multipliers)


@final
class CycleBranch(eqx.Module):
    """Cycles continued in one parameter: `params` `(points,)`, `periods` (ms), `amplitudes`,
    `maxima` and `minima` (state dicts with a leading points axis), `multipliers`
    `(points, d)`, `stable`, `states` (a point on each cycle), and whether `stop` was reached
    (`complete`, `message`)."""

    params: Float[Array, " points"]
    periods: Float[Array, " points"]
    maxima: State
    minima: State
    multipliers: Complex[Array, "points d"]
    states: State
    complete: bool = eqx.field(static=True, default=True)
    message: str = eqx.field(static=True, default="")

    @property
    def amplitudes(self) -> State:
        """Half of each state's peak-to-peak range over each cycle."""
        return _half_range(self.maxima, self.minima)

    @property
    def stable(self) -> Bool[Array, " points"]:
        """Whether each cycle is stable (see `PeriodicOrbit.stable`)."""
        return jax.vmap(_floquet_stable)(self.multipliers)


def _half_range(maxima: State, minima: State) -> State:
    return {k: (maxima[k] - minima[k]) / 2 for k in maxima}


def _floquet_stable(multipliers: Array) -> Bool[Array, ""]:
    """All multipliers but the trivial one (the closest to 1) inside the unit circle."""
    trivial = jnp.argmin(jnp.abs(multipliers - 1))
    return jnp.all(jnp.abs(multipliers).at[trivial].set(0.0) < 1)


def _check_system(system: AbstractSystem) -> None:
    if not isinstance(system, AbstractSystem):
        raise ValueError(f"`system` must be a model or a Network, got {type(system).__name__}.")
    if isinstance(system, Network) and system.has_delays:
        raise ValueError("periodic orbits of delayed networks are not supported (shooting needs "
                         "a finite-dimensional state); use a network without delays.")


class _Flow(eqx.Module):
    """The flow map of `system` (as a flat vector field) over a period, and its samples."""

    field: Callable = eqx.field(static=True)
    rtol: float = eqx.field(static=True)

    def __call__(self, v0: Array, period: Array, args: Any, ts: Array | None = None) -> Array:
        def rhs(s, v, a):
            return period * self.field(v, a)

        saveat = dfx.SaveAt(t1=True) if ts is None else dfx.SaveAt(ts=ts)
        sol = dfx.diffeqsolve(dfx.ODETerm(rhs), dfx.Tsit5(), 0.0, 1.0, 0.01, v0, args,
                              saveat=saveat, adjoint=dfx.ForwardMode(), max_steps=16384,
                              stepsize_controller=dfx.PIDController(rtol=self.rtol,
                                                                    atol=self.rtol),
                              throw=False)
        # a failed integration (too stiff, too long a period) is NaN: Newton then reports no
        # convergence and the continuation shortens its step
        ys = jnp.where(sol.result == dfx.RESULTS.successful, sol.ys, jnp.nan)
        return ys[-1] if ts is None else ys


def _tolerance(dtype: Any) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-6


@eqx.filter_jit
def _describe(flow: _Flow, layout: StateLayout, v0: Array, period: Array, args: Any,
              samples: int = 1024) -> tuple[State, State, Array, Array]:
    """Maxima, minima, Floquet multipliers and the closing residual of the cycle through
    `v0`."""
    ts = jnp.linspace(0.0, 1.0, samples, dtype=v0.dtype)
    orbit = flow(v0, period, args, ts)
    top, bottom = jnp.max(orbit, axis=0), jnp.min(orbit, axis=0)
    monodromy = jax.jacfwd(lambda v: flow(v, period, args))(v0)
    multipliers = jnp.linalg.eigvals(monodromy)
    multipliers = multipliers[jnp.argsort(-jnp.abs(multipliers))]
    residual = jnp.max(jnp.abs(orbit[-1] - v0))
    return layout.unflatten(top), layout.unflatten(bottom), multipliers, residual


def _flat_field(system: AbstractSystem):
    """The vector field as `f(v, (system, inputs))` on flat state vectors."""
    layout = StateLayout.of(system)
    return layout, _residual_fn(layout)


def periodic_orbit(system: AbstractSystem, y0: State, period: float, *, inputs: Any = None,
                   max_steps: int = 64) -> PeriodicOrbit:
    r"""The periodic orbit of `system` near the state `y0` with period near `period` (ms), by
    single shooting: Newton's method (`optimistix.Newton`) on
    $(\varphi_T(y_0) - y_0,\; f(y_{guess}) \cdot (y_0 - y_{guess}))$ in $(y_0, T)$, with constant
    `inputs`. `y0` should lie near the cycle (for example a state from the end of a
    simulation, or an equilibrium displaced along the critical eigenvector near a Hopf point).
    Float64 gives the tightest orbits (shooting amplifies the flow's errors by the
    multipliers).

    **Returns:** a [`brainmass_eqx.analysis.PeriodicOrbit`][]; `converged` is `False` (and the
    residual large) when Newton did not close the orbit.
    """
    _check_system(system)
    if not (float(period) > 0):
        raise ValueError(f"`period` must be a positive duration in ms, got {period!r}.")
    missing = set(system.state_names) - set(y0)
    if missing:
        raise ValueError(f"`y0` lacks the states {sorted(missing)} of {type(system).__name__}.")
    dtype = jnp.result_type(*jax.tree.leaves(y0), system.dtype)
    layout, field = _flat_field(system)
    rtol = _tolerance(dtype)
    flow = _Flow(field, rtol)
    guess = layout.flatten({k: jnp.asarray(y0[k], dtype) for k in layout.names})
    args = (system, constant_inputs(system, inputs, layout.shape, dtype))
    normal = field(guess, args)
    if not bool(jnp.any(normal != 0)):
        raise ValueError("`y0` is an equilibrium: start from a point on (or near) the cycle.")
    scale = jnp.asarray(period, dtype)

    def shooting(x, args):
        v, tau = x[:-1], x[-1] * scale
        return jnp.concatenate([flow(v, tau, args) - v, jnp.dot(normal, v - guess)[None]])

    x0 = jnp.concatenate([guess, jnp.ones(1, dtype)])
    sol = optx.root_find(shooting, optx.Newton(rtol=rtol, atol=rtol), x0, args,
                         max_steps=max_steps, throw=False)
    v, tau = sol.value[:-1], sol.value[-1] * scale
    maxima, minima, multipliers, residual = _describe(flow, layout, v, tau, args)
    converged = ((sol.result == optx.RESULTS.successful) & jnp.isfinite(residual)
                 & (residual <= 1e3 * rtol * (1 + jnp.max(jnp.abs(v)))) & (tau > 0))
    return PeriodicOrbit(layout.unflatten(v), tau, maxima, minima, multipliers, converged,
                         residual)


def cycle_continuation(system: AbstractSystem, where: Callable[[Any], Any] | Drive,
                       hopf: Bifurcation, stop: float, *, steps: int = 50, inputs: Any = None,
                       max_points: int | None = None) -> CycleBranch:
    r"""Continue the cycle born at the Hopf point `hopf` (from
    [`brainmass_eqx.analysis.continuation`][] in the same parameter `where`) towards the
    parameter value `stop`, by pseudo-arclength in $(y_0, T, p)$ with shooting as the curve.

    The branch leaves the Hopf point along the critical eigenvector $q$ (the cycle
    $y^* + \varepsilon\,\mathrm{Re}(q\,e^{i\omega t})$ to first order), with the phase pinned
    first on the plane normal to $\mathrm{Im}\,q$, then on the plane through the previous cycle
    point normal to the flow there. Steps are at most $|stop - p_H| / steps$ (the period is
    measured in units of the Hopf period). A subcritical Hopf point's cycle turns away from
    `stop`; the branch then ends when `max_points` (default `10 * steps`) is reached.

    **Returns:** a [`brainmass_eqx.analysis.CycleBranch`][].
    """
    _check_system(system)
    if not isinstance(hopf, Bifurcation) or hopf.kind != "hopf":
        raise ValueError("`hopf` must be a Hopf point, a `Bifurcation` with kind 'hopf' from "
                         "`continuation(...).bifurcations`.")
    dtype = jax.tree.leaves(hopf.state)[0].dtype
    setting = parametrise(system, where, inputs, dtype)
    p_h = hopf.param
    at_hopf, u_h = setting(p_h)
    layout, field = _flat_field(system)
    flow = _Flow(field, _tolerance(dtype))
    y_h = layout.flatten(hopf.state)
    values, vectors = np.linalg.eig(np.asarray(
        jacobian(at_hopf, hopf.state, inputs=u_h).instantaneous()))
    k = int(np.argmin(np.where(values.imag > 0, np.abs(values.real), np.inf)))
    q = vectors[:, k] / np.linalg.norm(vectors[:, k])
    period0 = 2 * np.pi / values[k].imag
    re_q = jnp.asarray(q.real / np.linalg.norm(q.real), dtype)
    im_q = jnp.asarray(q.imag - (q.imag @ q.real) / (q.real @ q.real) * q.real, dtype)

    def curve(x, ref):
        v, tau, p = x[:-2], x[-2] * period0, x[-1]
        v_ref, normal = ref
        return jnp.concatenate([flow(v, tau, setting(p)) - v,
                                jnp.dot(normal, v - v_ref)[None]])

    def reference(x):
        normal = field(x[:-2], setting(x[-1]))
        return x[:-2], normal / jnp.linalg.norm(normal)

    corrector = Corrector(curve)
    x0 = jnp.concatenate([y_h, jnp.ones(1, dtype), jnp.asarray([p_h], dtype)])
    t0 = jnp.concatenate([re_q, jnp.zeros(2, dtype)])
    direction = float(np.sign(stop - p_h))
    path = follow(corrector, x0, t0, ds=abs(stop - p_h) / steps,
                  max_points=10 * steps if max_points is None else max_points,
                  done=lambda x: (float(x[-1]) - stop) * direction >= 0,
                  reference=reference, ref0=(y_h, im_q))
    points = path.points[1:]  # the Hopf point itself is a cycle of zero amplitude
    if not points:
        raise ValueError(f"no cycle could be continued from the Hopf point: {path.message}.")
    described = [_describe(flow, layout, x[:-2], x[-2] * period0, setting(x[-1]))
                 for x in points]
    xs = jnp.stack(points)
    maxima, minima, multipliers, _ = jax.tree.map(lambda *a: jnp.stack(a), *described)
    return CycleBranch(xs[:, -1], xs[:, -2] * period0, maxima, minima, multipliers,
                       jax.vmap(layout.unflatten)(xs[:, :-2]), path.complete, path.message)
