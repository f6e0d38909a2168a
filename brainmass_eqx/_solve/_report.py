"""Failures reported, not buried: a run whose state turns non-finite is marked
`diffrax.RESULTS.nonfinite` with the time of its first non-finite sample, and `simulate(...,
throw=True)` raises on any failed run, with that time when the call is not traced."""

import dataclasses

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp

from ._simulation import Simulation


def mark_nonfinite(sim: Simulation, *, stalled=None, stalled_time=None) -> Simulation:
    """`sim` with `result = RESULTS.nonfinite` when its final state is non-finite, or when an
    adaptive solve `stalled` on a non-finite vector field (at `stalled_time`, ms; diffrax then
    reports `max_steps_reached`, and more steps would not help), and with
    `stats["nonfinite_time"]`: the time (ms) of the first non-finite recorded sample (the end of
    the run if no record shows it), `inf` when every value is finite. Traceable."""
    leaves = jax.tree.leaves(sim.final_state)
    nonfinite = ~jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))
    dtype = sim.ts.dtype
    first = jnp.asarray(jnp.inf, dtype)
    for name, stride in sim.strides.items():
        values = jnp.asarray(sim.ys[name])
        if stride is None or values.ndim == 0 or values.shape[0] == 0:
            continue
        ok = jnp.all(jnp.isfinite(values).reshape(values.shape[0], -1), axis=1)
        first = jnp.minimum(first, jnp.min(jnp.where(ok, jnp.inf, sim.times(name))))
    when = jnp.where(jnp.isfinite(first), first, sim.ts[-1])
    convert = nonfinite & (sim.result == dfx.RESULTS.successful)
    if stalled is not None:
        nonfinite = nonfinite | stalled
        convert = convert | stalled
        when = jnp.where(stalled, jnp.asarray(stalled_time, dtype), when)
    result = dfx.RESULTS.where(convert, dfx.RESULTS.nonfinite, sim.result)
    stats = {**sim.stats, "nonfinite_time": jnp.where(nonfinite, when, jnp.inf).astype(dtype)}
    return dataclasses.replace(sim, result=result, stats=stats)


def report(sim: Simulation, throw: bool) -> Simulation:
    """With `throw`, raise on a failed run: an `equinox.EquinoxRuntimeError` naming the failure
    (and, outside `jit`/`vmap`/`grad`, the time of the first non-finite sample); traced, the
    check runs with the computation (`equinox.error_if`)."""
    if not throw:
        return sim
    failed = sim.result != dfx.RESULTS.successful
    if isinstance(failed, jax.core.Tracer):
        ys = sim.result.error_if(sim.ys, failed)
        return dataclasses.replace(sim, ys=ys)
    if bool(failed):
        message = dfx.RESULTS[sim.result]
        t = float(sim.stats.get("nonfinite_time", float("inf")))
        where = f" The first non-finite value is at t = {t:.6g} ms." if t != float("inf") \
            else ""
        raise eqx.EquinoxRuntimeError(
            f"simulate: {message}{where} Pass `throw=False` to get the arrays and check "
            "`sim.result` (and `sim.stats['nonfinite_time']`)."
        )
    return sim
