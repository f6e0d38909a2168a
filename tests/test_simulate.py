import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import unxt as u
from helpers import convergence_order, count_compilations, finite_difference_grad
from hypothesis import given, strategies as st

import brainmass_eqx as bmx


# ------------------------------------------------------------------ analytic solutions


def linear_constant_input(t, x0, drive, tau):
    return x0 * np.exp(-t / tau) + drive * tau * (1 - np.exp(-t / tau))


class SineDrive(eqx.Module):
    """u(t) = A sin(w t); an eqx.Module so its amplitude is data, not a compile-time constant."""

    amplitude: jax.Array
    w: float = eqx.field(static=True)

    def __call__(self, t):
        return {"x": self.amplitude * jnp.sin(self.w * t)}


def linear_sine_input(t, x0, amplitude, w, tau):
    """Exact solution of x' = -x/tau + A sin(w t), x(0) = x0."""
    denom = 1 + (w * tau) ** 2
    particular = amplitude * tau * (np.sin(w * t) - w * tau * np.cos(w * t)) / denom
    c = x0 + amplitude * tau * w * tau / denom
    return c * np.exp(-t / tau) + particular


@pytest.mark.parametrize(
    "solver, atol",
    # Heun's global error here is about h^2/(6 tau^2) |x0 - u tau| max(t/tau e^{-t/tau}) = 3e-5
    [(None, 2e-5), (dfx.Heun(), 5e-5), (bmx.RK4(), 2e-5)],
    ids=["tsit5-pid", "heun", "rk4"],
)
def test_linear_matches_analytic_solution(solver, atol):
    model = bmx.Linear(tau=10.0)
    sim = bmx.simulate(model, 50.0, 0.1, solver=solver, y0={"x": jnp.array([1.0, -2.0])},
                       inputs=lambda t: {"x": 0.3})
    exact = linear_constant_input(np.asarray(sim.ts)[:, None], np.array([1.0, -2.0]), 0.3, 10.0)
    np.testing.assert_allclose(sim["x"], exact, atol=atol)
    np.testing.assert_allclose(sim.ts[0], 0.1, rtol=1e-6)
    np.testing.assert_allclose(sim.ts[-1], 50.0, rtol=1e-6)


@pytest.mark.parametrize(
    "solver, order, dts",
    [
        (dfx.Euler(), 1, (0.4, 0.2, 0.1, 0.05)),
        (dfx.Heun(), 2, (0.4, 0.2, 0.1, 0.05)),
        (bmx.RK4(), 4, (2.0, 1.0, 0.5, 0.25)),
    ],
    ids=["euler", "heun", "rk4"],
)
def test_fixed_step_convergence_order(x64, solver, order, dts):
    tau, amplitude, w, x0 = 5.0, 0.8, 0.5, 1.0
    model = bmx.Linear(tau=tau)
    drive = SineDrive(jnp.asarray(amplitude), w)
    errors = []
    for dt in dts:
        sim = bmx.simulate(model, 20.0, dt, solver=solver, y0={"x": x0}, inputs=drive)
        exact = linear_sine_input(np.asarray(sim.ts), x0, amplitude, w, tau)
        errors.append(np.max(np.abs(np.asarray(sim["x"]) - exact)))
    measured = convergence_order(dts, errors)
    assert abs(measured - order) < 0.25, (measured, errors)


# ------------------------------------------------------------------ Hopf: known dynamics


@given(a=st.floats(0.05, 2.0), omega=st.floats(0.03, 0.3))
def test_hopf_limit_cycle_radius_sqrt_a_and_frequency_omega(a, omega):
    sim = bmx.simulate(bmx.Hopf(a=a, omega=omega), 800.0, 0.2, transient=400.0)
    x, y = np.asarray(sim["x"]), np.asarray(sim["y"])
    np.testing.assert_allclose(np.hypot(x, y), np.sqrt(a), rtol=1e-3)
    # frequency from the unwrapped phase: theta' = omega on the limit cycle
    phase = np.unwrap(np.arctan2(y, x))
    slope = np.polyfit(np.asarray(sim.ts), phase, 1)[0]
    np.testing.assert_allclose(slope, omega, rtol=1e-4)


def test_hopf_radius_follows_exact_polar_solution_below_threshold():
    # r' = r (a - r^2) is a Bernoulli equation: s = r^-2 obeys s' = -2 a s + 2, so
    # s(t) = 1/a + (s0 - 1/a) exp(-2 a t).
    a, r0 = -0.1, 0.1
    sim = bmx.simulate(bmx.Hopf(a=a), 100.0, 1.0)
    t = np.asarray(sim.ts)
    exact = (1 / a + (r0**-2 - 1 / a) * np.exp(-2 * a * t)) ** -0.5
    np.testing.assert_allclose(np.hypot(sim["x"], sim["y"]), exact, rtol=1e-3, atol=1e-7)


# ------------------------------------------------------------------ time grid, monitors


def test_transient_is_dropped_and_times_are_step_ends():
    sim = bmx.simulate(bmx.Hopf(), 100.0, 0.5, transient=20.0, solver=dfx.Heun())
    assert sim["x"].shape == (160,)
    np.testing.assert_allclose(sim.ts, 20.0 + 0.5 * np.arange(1, 161), rtol=1e-6)
    # the final state is the last recorded sample
    assert float(sim.final_state["x"]) == float(sim["x"][-1])
    # and continuing from it equals one longer run
    rest = bmx.simulate(bmx.Hopf(), 50.0, 0.5, solver=dfx.Heun(), y0=sim.final_state)
    full = bmx.simulate(bmx.Hopf(), 150.0, 0.5, transient=20.0, solver=dfx.Heun())
    np.testing.assert_allclose(rest["x"], full["x"][160:], atol=1e-6)


def test_monitor_forms():
    model = bmx.Hopf(a=jnp.array([0.25, 1.0]))

    def radius(y):
        return jnp.hypot(y["x"], y["y"])

    sim = bmx.simulate(model, 200.0, 1.0, transient=100.0, monitors={"r": radius, "px": "x"})
    assert set(sim.keys()) == {"r", "px"}
    np.testing.assert_allclose(sim["r"][-1], [0.5, 1.0], rtol=1e-3)
    assert sim["px"].shape == (100, 2)
    assert set(bmx.simulate(model, 10.0, 1.0, monitors=["y"]).keys()) == {"y"}
    assert set(bmx.simulate(model, 10.0, 1.0, monitors=radius).keys()) == {"output"}
    assert set(bmx.simulate(model, 10.0, 1.0).keys()) == {"x", "y"}
    assert "x" in bmx.simulate(model, 10.0, 1.0)
    with pytest.raises(KeyError, match="recorded"):
        bmx.simulate(model, 10.0, 1.0, monitors=["x"])["y"]


def test_inputs_drive_the_named_variable():
    # a constant drive on y shifts the fixed point of a damped Hopf node:
    # 0 = a x - w y, c = -(a y + w x) -> solve the linear system (small-amplitude regime)
    a, w, c = -0.5, 0.2, 0.01
    sim = bmx.simulate(bmx.Hopf(a=a, omega=w), 200.0, 1.0, inputs=lambda t: {"y": c},
                       y0={"x": 0.0, "y": 0.0})
    jac = np.array([[a, -w], [w, a]])
    fixed = np.linalg.solve(jac, [0.0, -c])
    np.testing.assert_allclose([sim["x"][-1], sim["y"][-1]], fixed, rtol=2e-3)


# ------------------------------------------------------------------ transformations


def test_vmap_over_parameters_matches_single_runs():
    a_values = jnp.array([0.1, 0.4, 0.9])

    def amplitude(a):
        sim = bmx.simulate(bmx.Hopf(a=a), 300.0, 1.0, transient=200.0, monitors=["x"])
        return jnp.max(sim["x"])

    batched = jax.vmap(amplitude)(a_values)
    single = jnp.stack([amplitude(a) for a in a_values])
    np.testing.assert_allclose(batched, single, rtol=1e-5)
    np.testing.assert_allclose(batched, jnp.sqrt(a_values), rtol=2e-3)


def test_simulation_is_a_pytree_through_jit():
    @eqx.filter_jit
    def run(model):
        return bmx.simulate(model, 20.0, 1.0)

    sim = run(bmx.Hopf())
    assert isinstance(sim, bmx.Simulation)
    assert sim.result == dfx.RESULTS.successful
    assert int(sim.stats["num_steps"]) > 0


@pytest.mark.parametrize("solver", [None, dfx.Heun()], ids=["tsit5-pid", "heun"])
def test_gradient_matches_finite_differences(x64, solver):
    controller = dfx.PIDController(rtol=1e-10, atol=1e-12) if solver is None else None
    drive = SineDrive(jnp.asarray(0.05), 0.3)

    def loss(theta):
        model = bmx.Hopf(a=theta[0], omega=theta[1])
        sim = bmx.simulate(model, 60.0, 0.5, transient=10.0, solver=solver, inputs=drive,
                           stepsize_controller=controller, monitors=["x"])
        return jnp.mean(sim["x"] ** 2)

    theta = jnp.array([0.2, 0.15])
    grad = jax.grad(loss)(theta)
    fd = finite_difference_grad(loss, theta)
    np.testing.assert_allclose(grad, fd, rtol=1e-5 if solver is not None else 1e-4)


def test_gradient_with_respect_to_the_input(x64):
    def loss(amplitude):
        sim = bmx.simulate(bmx.Linear(tau=5.0), 30.0, 0.1, solver=dfx.Heun(),
                           inputs=SineDrive(amplitude, 0.5), monitors=["x"])
        return jnp.sum(sim["x"][-1] ** 2)

    amplitude = jnp.asarray(0.7)
    grad = jax.grad(loss)(amplitude)
    # Heun is linear in the drive, so d/dA x_h(T)^2 = 2 x_h(T)^2 / A exactly for the scheme
    np.testing.assert_allclose(grad, 2 * loss(amplitude) / 0.7, rtol=1e-10)
    # and it is within the scheme's O(h^2) error of the exact solution's derivative
    x_end = linear_sine_input(30.0, 0.0, 0.7, 0.5, 5.0)
    np.testing.assert_allclose(grad, 2 * x_end**2 / 0.7, rtol=1e-3)


def test_second_call_with_same_shapes_does_not_recompile():
    y0 = {"x": jnp.zeros(4), "y": jnp.full(4, 0.1)}
    drive = SineDrive(jnp.asarray(0.1), 0.2)
    bmx.simulate(bmx.Hopf(a=jnp.full(4, 0.3)), 50.0, 0.5, y0=y0, inputs=drive)
    with count_compilations() as counter:
        sim = bmx.simulate(bmx.Hopf(a=jnp.full(4, 0.7), omega=0.1), 50.0, 0.5,
                           y0={"x": jnp.ones(4), "y": jnp.zeros(4)},
                           inputs=SineDrive(jnp.asarray(0.3), 0.2))
        sim["x"].block_until_ready()
    assert (counter.compiles, counter.traces) == (0, 0)
    # and the fixed-step path too
    bmx.simulate(bmx.Hopf(a=0.3), 50.0, 0.5, solver=dfx.Heun(), key=jax.random.key(0))
    with count_compilations() as counter:
        bmx.simulate(bmx.Hopf(a=0.9), 50.0, 0.5, solver=dfx.Heun(), key=jax.random.key(1))
    assert (counter.compiles, counter.traces) == (0, 0)


# ------------------------------------------------------------------ units and errors


def test_quantity_durations_equal_plain_milliseconds():
    model = bmx.Hopf()
    a = bmx.simulate(model, u.Quantity(100, "ms"), u.Quantity(0.5, "ms"))
    b = bmx.simulate(model, u.Quantity(0.1, "s"), u.Quantity(500, "us"))
    c = bmx.simulate(model, 100.0, 0.5)
    np.testing.assert_array_equal(a["x"], b["x"])
    np.testing.assert_array_equal(a["x"], c["x"])
    np.testing.assert_array_equal(a.ts, b.ts)


def test_wrong_unit_duration_raises_clear_error():
    with pytest.raises(ValueError, match=r"`duration` has unit 'mV'.*'ms'"):
        bmx.simulate(bmx.Hopf(), u.Quantity(1, "mV"), 0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(duration=10.0, dt=-0.1), r"`dt` must be a finite, positive time"),
        (dict(duration=10.0, dt=0.3), r"`duration` .* not a whole number of steps"),
        (dict(duration=10.0, dt=0.5, transient=10.0), r"`transient` .* shorter than"),
        (dict(duration=10.0, dt=0.5, transient=0.7), r"`transient` .* not a whole number"),
        (dict(duration=10.0, dt=0.5, solver=bmx.RK4(),
              stepsize_controller=dfx.PIDController(rtol=1e-3, atol=1e-6)), r"`RK4`.*adaptive"),
        (dict(duration=10.0, dt=0.5, y0={"x": 0.0}), r"`y0` must have exactly the keys"),
        (dict(duration=10.0, dt=0.5, y0={"x": 0.0, "y": jnp.nan}), r"`y0\['y'\]`.*NaN"),
        (dict(duration=10.0, dt=0.5, monitors=["v"]), r"no state or observable 'v'"),
        (dict(duration=10.0, dt=0.5, inputs=lambda t: {"z": 1.0}), r"`inputs` returned keys"),
        (dict(duration=10.0, dt=0.5, inputs=3.0), r"`inputs` must be a callable"),
        (dict(duration=10.0, dt=0.5, n_nodes=3, y0=None, solver="heun"), r"`solver` must be"),
    ],
)
def test_bad_arguments_raise_named_errors(kwargs, message):
    model = bmx.Hopf()
    with pytest.raises(ValueError, match=message):
        bmx.simulate(model, **kwargs)


def test_mismatched_node_count_is_an_error():
    with pytest.raises(ValueError, match=r"`n_nodes`=3 does not match"):
        bmx.simulate(bmx.Hopf(a=jnp.ones(4)), 10.0, 1.0, n_nodes=3)


def test_solver_failure_is_reported_without_throwing():
    sim = bmx.simulate(bmx.Hopf(), 100.0, 1.0, max_steps=3, throw=False)
    assert sim.result != dfx.RESULTS.successful
    with pytest.raises(Exception, match="max_steps"):
        bmx.simulate(bmx.Hopf(), 100.0, 1.0, max_steps=3)


def test_key_gives_reproducible_random_initial_state():
    model = bmx.Hopf(a=jnp.full(5, 0.2))
    s1 = bmx.simulate(model, 10.0, 1.0, key=jax.random.key(3))
    s2 = bmx.simulate(model, 10.0, 1.0, key=jax.random.key(3))
    s3 = bmx.simulate(model, 10.0, 1.0, key=jax.random.key(4))
    np.testing.assert_array_equal(s1["x"], s2["x"])
    assert not np.allclose(s1["x"], s3["x"])
