"""Shared test utilities."""

import contextlib
from collections.abc import Callable, Iterator

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import brainmass_eqx as bmx


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8) -> bool:
    """Same structure, same dtypes, values close."""
    return bool(eqx.tree_equal(x, y, typematch=True, rtol=rtol, atol=atol))


def finite_difference_grad(f: Callable[[jax.Array], jax.Array], x: jax.Array, *,
                           eps: float | None = None) -> np.ndarray:
    """Central finite-difference gradient of a scalar `f` at the 1-D float64 point `x`."""
    x = jnp.asarray(x)
    assert x.dtype == jnp.float64, "finite differences need float64 (use the x64 fixture)"
    if eps is None:
        eps = float(np.finfo(np.float64).eps ** (1 / 3)) * max(1.0, float(jnp.max(jnp.abs(x))))
    grad = np.zeros(x.shape)
    for i in np.ndindex(x.shape):
        e = jnp.zeros_like(x).at[i].set(eps)
        grad[i] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return grad


def convergence_order(dts, errors) -> float:
    """Slope of log(error) against log(dt) (least squares)."""
    slope, _ = np.polyfit(np.log(np.asarray(dts)), np.log(np.asarray(errors)), 1)
    return float(slope)


class CompileCounter:
    """Counts XLA compilations and jaxpr traces while active."""

    compiles: int = 0
    traces: int = 0


@contextlib.contextmanager
def count_compilations() -> Iterator[CompileCounter]:
    counter = CompileCounter()

    def listener(event: str, duration: float, **kwargs) -> None:
        del duration, kwargs
        if event == "/jax/core/compile/backend_compile_duration":
            counter.compiles += 1
        elif event == "/jax/core/compile/jaxpr_trace_duration":
            counter.traces += 1

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield counter
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def small_network(noise=None, n=6, seed=0, **kwargs):
    """A small hcp-like delayed Hopf network with random weights and tract lengths."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.8)
    lengths = rng.uniform(2.0, 15.0, (n, n))
    return bmx.Network(bmx.Hopf(a=jnp.full(n, -0.05)), bmx.Connectome(w, lengths),
                       bmx.DiffusiveCoupling(k=0.3), speed=2.0, noise=noise, **kwargs)
