"""The ODE path of `simulate`: a model, or a network without delays or noise, solved by
`diffrax.diffeqsolve` (adaptive or fixed steps, any diffrax adjoint), its monitors integrated
alongside and recorded at every step end."""

from typing import Any, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._monitors import MonitorSet
from . import _vector_field as vf
from ._report import mark_nonfinite
from ._simulation import Simulation, with_initial
from ._vector_field import Augmented


@final
class OdeConfig(eqx.Module):
    """Static settings of one run (hashable: they key the compilation cache)."""

    dt: float
    t_start: float
    n_transient: int
    n_record: int
    max_steps: int | None
    save_initial: bool = False


def is_fixed_step(controller: dfx.AbstractStepSizeController) -> bool:
    return isinstance(controller, dfx.ConstantStepSize)


def _field(t, state: Augmented, args) -> Augmented:
    system, inputs, monitors = args
    return vf.drift(system, inputs, monitors, t, state)


def _solve(model, inputs, mset, y0, t0, t1, n_steps, saveat, solver, controller, adjoint, cfg):
    fixed = is_fixed_step(controller)
    return dfx.diffeqsolve(
        dfx.ODETerm(_field),
        solver,
        t0,
        t1,
        cfg.dt,
        y0,
        args=(model, inputs, mset),
        saveat=saveat,
        stepsize_controller=controller,
        adjoint=adjoint,
        max_steps=n_steps if fixed else cfg.max_steps,
        throw=False,  # failures are reported by `simulate` (see `_report.py`)
    )


@eqx.filter_jit
def run_ode(model, inputs, y0, mset: MonitorSet, solver, controller, adjoint, cfg: OdeConfig
         ) -> Simulation:
    dtype = jnp.result_type(*jax.tree.leaves(y0))
    fixed = is_fixed_step(controller)
    result = dfx.RESULTS.successful
    stats: dict[str, Any] = {}
    t_start = jnp.asarray(cfg.t_start, dtype)
    yy0 = Augmented(y0, mset.init(model, y0))
    if cfg.n_transient > 0:
        warm = _solve(model, inputs, mset, yy0, jnp.asarray(0.0, dtype), t_start,
                      cfg.n_transient, dfx.SaveAt(t1=True), solver, controller, adjoint, cfg)
        yy0 = jax.tree.map(lambda v: v[-1], warm.ys)
        result = warm.result
        stats = {f"transient_{k}": v for k, v in warm.stats.items()}
    yy0 = Augmented(yy0.y, mset.at_start(model, yy0.y, yy0.monitors))

    def save(t, state, args):
        del t, args
        return mset.record(model, state.y, state.monitors)

    t_end = jnp.asarray(cfg.t_start + cfg.n_record * cfg.dt, dtype)
    if fixed:
        per_step = dfx.SubSaveAt(steps=True, fn=save)
    else:
        ts = cfg.t_start + cfg.dt * np.arange(1, cfg.n_record + 1)
        per_step = dfx.SubSaveAt(ts=jnp.asarray(ts, dtype), fn=save)
    saveat = dfx.SaveAt(subs=(per_step, dfx.SubSaveAt(t1=True)))
    sol = _solve(model, inputs, mset, yy0, t_start, t_end, cfg.n_record, saveat, solver,
                 controller, adjoint, cfg)
    records, final = sol.ys
    final = jax.tree.map(lambda v: v[-1], final)
    ts = sol.ts[0]
    result = dfx.RESULTS.where(result == dfx.RESULTS.successful, sol.result, result)
    stats = {**stats, **sol.stats}
    ys, strides = mset.finish(records, final.monitors, cfg.dt), mset.strides(cfg.dt)
    if cfg.save_initial:
        ts, ys = with_initial(ts, ys, strides, cfg.t_start,
                              mset.record(model, yy0.y, yy0.monitors))
    sim = Simulation(ts=ts, ys=ys, final_state=final.y, result=result, stats=stats,
                     strides=strides, initial=cfg.save_initial)
    if fixed:
        return mark_nonfinite(sim)
    # an adaptive solve that meets a non-finite vector field shrinks its steps until it runs
    # out of them: say what happened, since more steps would not help
    t_reached = sol.ts[1][-1]
    args = (model, inputs, mset)

    def finite_field(t):
        return jnp.all(jnp.stack([jnp.all(jnp.isfinite(v))
                                  for v in jax.tree.leaves(_field(t, final, args))]))

    stalled = (sol.result == dfx.RESULTS.max_steps_reached) & ~(
        finite_field(t_reached) & finite_field(t_reached + jnp.asarray(cfg.dt, dtype)))
    return mark_nonfinite(sim, stalled=stalled, stalled_time=t_reached)
