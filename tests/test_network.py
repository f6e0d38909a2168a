"""Delayed networks: accuracy (analytic solutions, convergence order), history, transient
and final state, and compile once. The engine's parts have their own files: delay plan,
buffer, engine step, records, reverse pass and batching."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import convergence_order, count_compilations, small_network

import brainmass_eqx as bmx


# Node 1 is a Linear node driven by a constant input u; node 0 only receives node 1's activity
# through one connection with delay tau_d. Both have closed forms, so the delayed network has an
# analytic solution to converge to.
TAU0, TAU1, GAIN, DRIVE = 5.0, 3.0, 0.5, 1.0
W2 = np.array([[0.0, 1.0], [0.0, 0.0]])


def chain(tau_d, **kwargs):
    conn = bmx.Connectome(W2, np.array([[0.0, tau_d], [0.0, 0.0]]))
    return bmx.Network(bmx.Linear(tau=jnp.array([TAU0, TAU1])), conn,
                       bmx.LinearCoupling(a=GAIN), speed=1.0, **kwargs)


def drive(t):
    return {"x": jnp.array([0.0, DRIVE])}


def chain_exact(t, tau_d):
    """x0(t) = a u tau1 int_0^T e^{-(T-r)/tau0} (1 - e^{-r/tau1}) dr with T = max(t - tau_d, 0)."""
    big_t = np.maximum(t - tau_d, 0.0)
    k = 1 / TAU0 - 1 / TAU1
    return GAIN * DRIVE * TAU1 * (TAU0 * (1 - np.exp(-big_t / TAU0))
                                  - np.exp(-big_t / TAU0) * (np.exp(big_t * k) - 1) / k)


def chain_errors(net, solver, dts, tau_d):
    errors = []
    for dt in dts:
        sim = bmx.simulate(net, 20.0, dt, solver=solver, inputs=drive, y0={"x": jnp.zeros(2)})
        errors.append(np.max(np.abs(np.asarray(sim["x"][:, 0])
                                    - chain_exact(np.asarray(sim.ts), tau_d))))
    return errors


@pytest.mark.parametrize("solver, order", [(dfx.Euler(), 1), (dfx.Heun(), 2)],
                         ids=["euler", "heun"])
def test_delayed_convergence_order_against_analytic_solution(x64, solver, order):
    dts = (0.2, 0.1, 0.05, 0.025)
    errors = chain_errors(chain(2.0), solver, dts, 2.0)
    assert abs(convergence_order(dts, errors) - order) < 0.2, errors


def test_rk4_on_delayed_network_is_at_least_second_order(x64):
    # the chain starts from rest under a step drive: the kinks at t = 0 and t = tau_d (breaking
    # points) cap every fixed-step method; a smooth history is fourth order (below)
    dts = (0.2, 0.1, 0.05, 0.025)
    errors = chain_errors(chain(2.0), bmx.RK4(), dts, 2.0)
    heun = chain_errors(chain(2.0), dfx.Heun(), dts, 2.0)
    assert convergence_order(dts, errors) > 1.8
    assert all(e < h for e, h in zip(errors, heun))


def _circulant_exponential_network():
    """Five Linear nodes on a circulant connectome with two delays, whose rows all hold the
    same (weight, delay) pairs: x_i(t) = e^{lambda t} for all t is an exact solution when
    lambda = -1/tau + k sum_j w_j e^{-lambda d_j} (solved by brentq), so with the history
    e^{lambda t} the solution is smooth and known exactly."""
    from scipy.optimize import brentq

    w0, d0 = np.array([0, 0.6, 0.3, 0.3, 0.6]), np.array([0, 2.0, 3.5, 3.5, 2.0])
    weights = np.array([np.roll(w0, i) for i in range(5)])
    lengths = np.array([np.roll(d0, i) for i in range(5)])
    tau, k = 10.0, 0.05
    lam = brentq(lambda x: x + 1 / tau - k * np.sum(w0 * np.exp(-x * d0)), -1.0, 1.0)
    net = bmx.Network(bmx.Linear(tau=tau), bmx.Connectome(weights, lengths),
                      coupling=bmx.LinearCoupling(a=k), speed=1.0)
    return net, lam


def test_rk4_with_cubic_history_is_fourth_order_on_a_smooth_delayed_network(x64):
    """RK4's midpoint stages read the delayed sums by cubic interpolation between step ends:
    order >= 3.5 by regression over dt against the exact solution (linear interpolation, the
    engine before, measured 2.00 here)."""
    net, lam = _circulant_exponential_network()

    def history(t):
        return {"x": jnp.exp(lam * t) * jnp.ones(5)}

    dts = (0.5, 0.25, 0.125)
    errors = []
    for dt in dts:
        sim = bmx.simulate(net, 40.0, dt, solver=bmx.RK4(), y0=history(0.0), history=history)
        errors.append(float(np.max(np.abs(np.asarray(sim["x"]) - np.exp(lam * np.asarray(
            sim.ts))[:, None]))))
    assert convergence_order(dts, errors) >= 3.5, errors
    heun = bmx.simulate(net, 40.0, 0.125, solver=dfx.Heun(), y0=history(0.0), history=history)
    assert errors[-1] < float(np.max(np.abs(heun["x"][-1] - np.exp(lam * 40.0)))) / 100


def test_cubic_history_interpolation_is_exact_for_cubics_and_used_by_interior_stages():
    from brainmass_eqx._solve.engine._step import delayed_sums, interior_fractions, stage_sums

    steps = np.arange(9.0)  # a block of 8 steps: rows 0..8
    poly = 0.3 - 1.2 * steps + 0.5 * steps**2 - 0.07 * steps**3
    rows = jnp.asarray(np.broadcast_to(poly[:, None, None], (9, 1, 2)), jnp.float32)
    for k in range(8):
        for c in (0.0, 0.25, 0.5, 0.9, 1.0):
            x = k + c
            want = 0.3 - 1.2 * x + 0.5 * x**2 - 0.07 * x**3
            got = delayed_sums(rows, jnp.asarray(k), jnp.asarray(c, jnp.float32), cubic=True)
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    linear = delayed_sums(rows, jnp.asarray(2), jnp.asarray(0.5, jnp.float32), cubic=False)
    np.testing.assert_allclose(np.asarray(linear), (poly[2] + poly[3]) / 2, rtol=1e-6)
    mids = stage_sums(rows, (0.5, 0.25))
    for k in range(8):
        for j, c in enumerate((0.5, 0.25)):
            np.testing.assert_allclose(np.asarray(mids[j, k]), np.asarray(delayed_sums(
                rows, jnp.asarray(k), jnp.asarray(c, jnp.float32), cubic=True)), rtol=1e-5,
                atol=1e-6)
    assert interior_fractions(bmx.RK4()) == (0.5,)
    assert interior_fractions(dfx.Tsit5())[:2] == (0.161, 0.327)
    assert interior_fractions(dfx.Heun()) == () and interior_fractions(dfx.Euler()) == ()


def test_exact_fractional_delays_are_second_order_and_rounding_is_not(x64):
    dts = (0.2, 0.1, 0.05, 0.025)
    tau_d = 2.03  # not a multiple of any dt
    exact = chain_errors(chain(tau_d, exact_delays=True), dfx.Heun(), dts, tau_d)
    rounded = chain_errors(chain(tau_d), dfx.Heun(), dts, tau_d)
    assert abs(convergence_order(dts, exact) - 2) < 0.2, exact
    assert convergence_order(dts, rounded) < 1.3
    assert exact[-1] < rounded[-1] / 10


def test_heun_error_on_a_delayed_network_is_far_below_first_order(x64):
    """Stage-time delayed reads keep Heun's error far below the O(dt) error of a first-order
    method at the same dt (the order itself is measured in the test above)."""
    heun = chain_errors(chain(2.0), dfx.Heun(), (0.1,), 2.0)[0]
    euler = chain_errors(chain(2.0), dfx.Euler(), (0.1,), 2.0)[0]
    assert heun < euler / 20


def test_constant_history_and_user_history():
    tau_d = 2.0
    net = chain(tau_d)
    # constant history equal to y0 = 0: node 0 sees nothing before t = tau_d
    sim = bmx.simulate(net, 4.0, 0.1, solver=dfx.Heun(), inputs=drive, y0={"x": jnp.zeros(2)})
    before = np.asarray(sim.ts) <= tau_d
    np.testing.assert_allclose(sim["x"][before, 0], 0.0, atol=1e-7)
    # a history with node 1 at 2.0 before t = 0 drives node 0 from the start:
    # x0' = -x0/tau0 + a * 2 for t < tau_d  =>  x0 = 2 a tau0 (1 - e^{-t/tau0})
    def history(t):
        return {"x": jnp.array([0.0, 2.0])}

    sim = bmx.simulate(net, 4.0, 0.1, solver=dfx.Heun(), inputs=drive, history=history,
                       y0={"x": jnp.array([0.0, 2.0])})
    t = np.asarray(sim.ts)
    expected = 2 * GAIN * TAU0 * (1 - np.exp(-t / TAU0))
    np.testing.assert_allclose(sim["x"][t <= tau_d, 0], expected[t <= tau_d], rtol=2e-4)


def test_transient_and_final_state_in_the_engine():
    net = chain(2.0)
    full = bmx.simulate(net, 20.0, 0.1, solver=dfx.Heun(), inputs=drive, y0={"x": jnp.zeros(2)})
    part = bmx.simulate(net, 20.0, 0.1, solver=dfx.Heun(), inputs=drive, transient=7.3,
                        y0={"x": jnp.zeros(2)})
    assert part["x"].shape == (127, 2)
    np.testing.assert_allclose(part["x"], full["x"][73:], rtol=1e-6)
    np.testing.assert_allclose(part.ts, full.ts[73:], rtol=1e-6)
    np.testing.assert_allclose(part.final_state["x"], full["x"][-1], rtol=1e-6)
    # a recording shorter than one base block (the 2 ms delay is a block of 20 steps), after
    # a transient that ends inside a block
    short = bmx.simulate(net, 7.8, 0.1, solver=dfx.Heun(), inputs=drive, transient=7.3,
                         y0={"x": jnp.zeros(2)})
    assert short["x"].shape == (5, 2)
    np.testing.assert_allclose(short["x"], full["x"][73:78], rtol=1e-6)
    np.testing.assert_allclose(short.final_state["x"], full["x"][77], rtol=1e-6)


def test_zero_delay_network_runs_adaptively_and_matches_fixed_steps(x64):
    net = small_network()
    inst = bmx.Network(net.node, net.connectome.without_lengths(), net.coupling)
    y0 = net.initial_state(key=jax.random.key(1))
    a = bmx.simulate(inst, 50.0, 0.1, y0=y0)  # adaptive Tsit5 through diffeqsolve
    assert int(a.stats["num_steps"]) < 500
    b = bmx.simulate(inst, 50.0, 0.01, y0=y0, solver=dfx.Heun())
    np.testing.assert_allclose(a["x"], b["x"][9::10], atol=2e-6)


def test_second_call_does_not_recompile():
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.01))
    bmx.simulate(net, 30.0, 0.1, key=jax.random.key(0))
    # new values of the same (strong) dtypes: a weak-typed jnp.asarray(0.9) would retrace,
    # as in any JAX program
    other = eqx.tree_at(lambda m: (m.coupling.k, m.node.a), net,
                        (jnp.asarray(0.9, jnp.float32), jnp.full(6, -0.2, jnp.float32)))
    with count_compilations() as counter:
        bmx.simulate(other, 30.0, 0.1, key=jax.random.key(5))["x"].block_until_ready()
    assert (counter.compiles, counter.traces) == (0, 0)


def test_errors_for_unresolvable_delays_and_huge_buffers():
    net = chain(0.05)
    with pytest.raises(ValueError, match=r"dt = 0.1 ms cannot resolve .* 0.05 ms"):
        bmx.simulate(net, 10.0, 0.1, inputs=drive)
    net = chain(1e7)
    with pytest.raises(ValueError, match=r"delay buffer would hold .* GiB"):
        bmx.simulate(net, 10.0, 0.1, inputs=drive)
    with pytest.raises(ValueError, match="fixed steps"):
        bmx.simulate(chain(2.0), 10.0, 0.1, stepsize_controller=dfx.PIDController(1e-3, 1e-6))
    with pytest.raises(ValueError, match="`history` only applies"):
        bmx.simulate(bmx.Hopf(), 10.0, 0.1, history=lambda t: {"x": 0.0, "y": 0.0})
