r"""Pseudo-arclength path following, shared by the continuation of equilibria and of cycles.

A solution curve $G(x) = 0$, $G: \mathbb{R}^{n+1} \to \mathbb{R}^n$, is followed from a point
with unit tangent $t$ (the null vector of $\partial G / \partial x$): predict $x + s\,t$, then
correct by Newton's method on the square system $G(x) = 0$, $t \cdot (x - x_{pred}) = 0$
(Keller 1977). A step is accepted when the corrector converges and the tangent has turned by
less than about 25 degrees; otherwise the step length halves. After an easy step (at most four
Newton iterations) it grows again, up to the largest step. The corrector and the tangent are
compiled once per curve (a `jax.lax.while_loop`), the step control runs in Python.

$G$ may depend on a reference `ref` that is fixed during one step (the phase condition of a
cycle refers to the previous point).
"""

from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int


_MAX_TURN = 0.9  # the cosine of the largest accepted turn of the tangent in one step


@final
class Corrector(eqx.Module):
    """Newton's method on the curve `residual(x, ref)` plus the arclength condition, and the
    curve's unit tangent, both compiled."""

    residual: Callable[[Array, Any], Array]
    max_iter: int = eqx.field(static=True, default=12)

    def jacobian(self, x: Array, ref: Any) -> Array:
        return jax.jacfwd(self.residual)(x, ref)

    @eqx.filter_jit
    def tangent(self, x: Float[Array, " n"], previous: Float[Array, " n"], ref: Any
                ) -> Float[Array, " n"]:
        """The unit null vector of $\\partial G/\\partial x$ at `x`, oriented along `previous`."""
        a = jnp.concatenate([self.jacobian(x, ref), previous[None]], axis=0)
        t = jnp.linalg.solve(a, jnp.zeros(x.shape[0], x.dtype).at[-1].set(1.0))
        t = t / jnp.linalg.norm(t)
        return jnp.where(jnp.dot(t, previous) < 0, -t, t)

    @eqx.filter_jit
    def correct(self, x_pred: Float[Array, " n"], t: Float[Array, " n"], ref: Any,
                tol: Float[Array, ""]) -> tuple[Array, Bool[Array, ""], Int[Array, ""]]:
        """Newton from the prediction `x_pred` on the hyperplane normal to `t` through it: the
        corrected point, whether the last correction was below `tol` (relative to the point's
        size) and the number of iterations."""

        def cond(carry):
            _, size, k = carry
            return (k < self.max_iter) & (size > tol) & jnp.isfinite(size)

        def body(carry):
            x, _, k = carry
            a = jnp.concatenate([self.jacobian(x, ref), t[None]], axis=0)
            rhs = -jnp.concatenate([self.residual(x, ref), jnp.dot(t, x - x_pred)[None]])
            dx = jnp.linalg.solve(a, rhs)
            return x + dx, jnp.max(jnp.abs(dx)) / (1 + jnp.max(jnp.abs(x))), k + 1

        start = (x_pred, jnp.asarray(jnp.finfo(x_pred.dtype).max, x_pred.dtype), jnp.asarray(0))
        x, size, k = jax.lax.while_loop(cond, body, start)
        return x, size <= tol, k


@final
class Path(eqx.Module):
    """The accepted points and unit tangents of a followed curve, and why it ended."""

    points: list[Array]
    tangents: list[Array]
    refs: list[Any]
    complete: bool = eqx.field(static=True)
    message: str = eqx.field(static=True)


def default_tol(dtype: Any) -> float:
    """The corrector's relative tolerance: near the precision's reach."""
    return 1e-11 if jnp.dtype(dtype) == jnp.float64 else 2e-5


def follow(corrector: Corrector, x0: Array, t0: Array, *, ds: float, max_points: int,
           done: Callable[[Array], bool], reference: Callable[[Array], Any], ref0: Any = None,
           tol: float | None = None, min_ds: float | None = None) -> Path:
    """Follow the curve from `x0` along `t0` with steps of at most `ds` until `done(x)`, at most
    `max_points` points; `reference(x)` gives the next step's `ref` from an accepted point."""
    tol_a = jnp.asarray(default_tol(x0.dtype) if tol is None else tol, x0.dtype)
    min_ds = ds * 1e-6 if min_ds is None else min_ds
    ref = reference(x0) if ref0 is None else ref0
    points, tangents, refs = [x0], [t0], [ref]
    x, t, step = x0, t0, ds
    while len(points) < max_points:
        x_new, ok, iters = corrector.correct(x + step * t, t, ref, tol_a)
        accept = bool(ok)
        if accept:
            t_new = corrector.tangent(x_new, t, ref)
            accept = bool(jnp.dot(t_new, t) > _MAX_TURN)
        if not accept:
            step /= 2
            if step < min_ds:
                return Path(points, tangents, refs, False,
                            f"the corrector failed with steps down to {step:.3g} at "
                            f"{np.asarray(x[-1]).item():.6g}")
            continue
        x, t = x_new, t_new
        if ref0 is not None:  # the curve moves with its reference: take the tangent anew
            ref = reference(x)
            t = corrector.tangent(x, t, ref)
        points.append(x)
        tangents.append(t)
        refs.append(ref)
        if int(iters) <= 4:
            step = min(1.5 * step, ds)
        if done(x):
            return Path(points, tangents, refs, True, "reached the end of the interval")
    return Path(points, tangents, refs, False, f"stopped after {max_points} points")
