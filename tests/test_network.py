"""Delayed networks: accuracy (analytic solutions, convergence order), history, errors,
transformations, gradients and memory."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest
from helpers import convergence_order, count_compilations, finite_difference_grad

import brainmass_eqx as bmx
from brainmass_eqx import _delays, _engine


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
    # its intermediate stages read linearly interpolated history: order 2, smaller constant
    dts = (0.2, 0.1, 0.05, 0.025)
    errors = chain_errors(chain(2.0), bmx.RK4(), dts, 2.0)
    heun = chain_errors(chain(2.0), dfx.Heun(), dts, 2.0)
    assert convergence_order(dts, errors) > 1.8
    assert all(e < h for e, h in zip(errors, heun))


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


def test_block_structure_does_not_change_the_result():
    """Reading long connections once per long block is an optimisation only."""
    from brainmass_eqx._engine import build_config, run_network
    from brainmass_eqx._forward import make_monitor_set

    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (6, 6))
    lengths = rng.uniform(0.5, 6.0, (6, 6))
    net = bmx.Network(bmx.Hopf(a=0.1), bmx.Connectome(w, lengths), bmx.DiffusiveCoupling(k=0.2),
                      speed=1.0)
    y0 = net.initial_state(key=jax.random.key(0))
    mons = make_monitor_set(net, ["x"])
    outs = []
    for cap in (1, 10, 40):
        cfg = build_config(net, 0.1, 37, 500, jnp.float32, max_superblock=cap)
        assert cfg.levels[-1] <= max(cap, cfg.levels[0])
        outs.append(run_network(net, None, y0, None, mons, dfx.Heun(), None, cfg)["x"])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0], outs[2], rtol=1e-5, atol=1e-6)


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


@pytest.mark.parametrize("solver", [dfx.Heun(), bmx.RK4(), dfx.Midpoint(), dfx.Ralston(),
                                    dfx.Bosh3(), dfx.Euler()], ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("stochastic", [False, True])
def test_engine_step_equals_the_solvers_own_step(x64, solver, stochastic):
    """The engine steps explicit Runge-Kutta methods from their tableau; it must give what
    diffrax's `step` gives (on a nonlinear field over a pytree state, with and without a
    Stratonovich noise term), and hand every other solver to its own `step`."""
    def drift(t, y, args):
        return {"x": -y["x"] * y["v"] + jnp.sin(t) * args, "v": y["x"] ** 2 - 0.3 * y["v"]}

    def diffusion(t, y, args):  # multiplicative, as the engine's (a diagonal operator)
        return lx.DiagonalLinearOperator({"x": 0.2 * y["v"], "v": 0.1 + 0.0 * y["v"]})

    y0 = {"x": jnp.linspace(0.2, 1.0, 5), "v": jnp.linspace(-0.5, 0.5, 5)}
    t0, t1, args = jnp.asarray(0.3), jnp.asarray(0.35), jnp.asarray(0.7)
    dw = jax.tree.map(lambda v: 0.2 * jnp.cos(3 * v), y0) if stochastic else None
    terms = _engine._terms(drift, diffusion, stochastic, dw)
    ss = solver.init(terms, t0, t1, y0, args)
    expected, _, _, expected_ss, _ = solver.step(terms, t0, t1, y0, args, ss, made_jump=True)
    got, got_ss = _engine._solver_step(solver, terms, t0, t1, y0, args, ss)
    for name in y0:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-13, atol=1e-15)
    assert jax.tree.structure(got_ss) == jax.tree.structure(expected_ss)
    # the step moved: a broken combination of stages could not pass by returning y0
    assert not np.allclose(got["x"], y0["x"])


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


# ------------------------------------------------------------- a small hcp-like network


def small_network(noise=None, n=6, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.8)
    lengths = rng.uniform(2.0, 15.0, (n, n))
    return bmx.Network(bmx.Hopf(a=jnp.full(n, -0.05)), bmx.Connectome(w, lengths),
                       bmx.DiffusiveCoupling(k=0.3), speed=2.0, noise=noise, **kwargs)


def test_zero_delay_network_runs_adaptively_and_matches_fixed_steps(x64):
    net = small_network()
    inst = bmx.Network(net.node, net.connectome.without_lengths(), net.coupling)
    y0 = net.initial_state(key=jax.random.key(1))
    a = bmx.simulate(inst, 50.0, 0.1, y0=y0)  # adaptive Tsit5 through diffeqsolve
    assert int(a.stats["num_steps"]) < 500
    b = bmx.simulate(inst, 50.0, 0.01, y0=y0, solver=dfx.Heun())
    np.testing.assert_allclose(a["x"], b["x"][9::10], atol=2e-6)


def test_vmap_over_parameters_keys_and_initial_states():
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.01))
    ks = jnp.array([0.1, 0.3, 0.6])
    keys = jax.random.split(jax.random.key(0), 3)
    y0s = jax.vmap(lambda k: net.initial_state(key=k))(keys)

    def run(k, key, y0):
        model = eqx.tree_at(lambda m: m.coupling.k, net, k)
        return bmx.simulate(model, 30.0, 0.1, key=key, y0=y0, monitors=["x"])["x"]

    batched = jax.vmap(run)(ks, keys, y0s)
    assert batched.shape == (3, 300, 6)
    for i in range(3):
        single = run(ks[i], keys[i], jax.tree.map(lambda v: v[i], y0s))
        np.testing.assert_allclose(batched[i], single, rtol=1e-5, atol=1e-6)


def test_vmapped_sweeps_match_single_runs(x64):
    """`jax.vmap` runs every member in one batch-minor buffer: each member equals its own
    run, whatever is batched (coupling, weights, history, key), and a vmap of a vmap too."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.02), exact_delays=True)
    y0 = net.initial_state(key=jax.random.key(1))

    def run(k, scale, level, key):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.connectome.weights), net,
                            (k, net.connectome.weights * scale))
        history = lambda t: {"x": jnp.full(6, level) + 0.01 * t, "y": jnp.zeros(6)}  # noqa: E731
        return bmx.simulate(model, 20.0, 0.1, key=key, y0=y0, history=history,
                            monitors=["x"])["x"]

    ks, scales = jnp.array([0.1, 0.4, 0.7]), jnp.array([1.0, 0.5, 1.5])
    levels, keys = jnp.array([0.0, 0.2, -0.3]), jax.random.split(jax.random.key(0), 3)
    batched = jax.vmap(run)(ks, scales, levels, keys)
    nested = jax.vmap(lambda k: jax.vmap(run, in_axes=(None, 0, 0, 0))(k, scales, levels, keys)
                      )(ks[:2])
    for i in range(3):
        single = run(ks[i], scales[i], levels[i], keys[i])
        np.testing.assert_allclose(batched[i], single, rtol=1e-12, atol=1e-12)
        for j in range(2):
            np.testing.assert_allclose(nested[j, i], run(ks[j], scales[i], levels[i], keys[i]),
                                       rtol=1e-12, atol=1e-12)


def test_gradients_under_vmap_match_single_runs(x64, reverse_policy):
    """`vmap(grad)` and `grad(vmap)` of a delayed SDE (with the weights differentiated) equal
    the gradients of single runs, in both reverse-pass regimes."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.02), exact_delays=True)
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(theta, key):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.node.a, m.connectome.weights), net,
                            (theta[0], jnp.full(6, theta[1]), net.connectome.weights * theta[2]))
        sim = bmx.simulate(model, 30.0, 0.1, key=key, y0=y0, transient=3.0, monitors=["x"])
        return jnp.mean(sim["x"] ** 2)

    thetas = jnp.array([[0.3, -0.05, 1.0], [0.5, -0.1, 0.8]])
    keys = jax.random.split(jax.random.key(3), 2)
    grad = jax.jit(jax.grad(loss))
    single = jnp.stack([grad(thetas[i], keys[i]) for i in range(2)])
    np.testing.assert_allclose(jax.vmap(jax.grad(loss))(thetas, keys), single, rtol=1e-10)
    # a parameter shared by the batch gets the sum of the members' gradients
    shared = jax.grad(lambda th: jnp.sum(jax.vmap(loss, in_axes=(None, 0))(th, keys)))(thetas[0])
    np.testing.assert_allclose(shared, grad(thetas[0], keys[0]) + grad(thetas[0], keys[1]),
                               rtol=1e-10)


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


@pytest.fixture(params=["kept-sums", "recomputed-sums"])
def reverse_policy(request, monkeypatch):
    """Both regimes of the delayed reverse pass: delayed sums kept by the forward pass (short
    runs) or recomputed from the checkpoints (runs over `REVERSE_ROWS_BYTES`)."""
    if request.param == "recomputed-sums":
        monkeypatch.setattr(_engine, "REVERSE_ROWS_BYTES", 0)
    return request.param


@pytest.mark.parametrize("noise, exact", [(None, False), (bmx.AdditiveNoise(sigma=0.02), False),
                                          (None, True)], ids=["ode", "sde", "ode-exact-delays"])
def test_gradient_through_delays_matches_finite_differences(x64, noise, exact, reverse_policy):
    net = small_network(noise=noise, exact_delays=exact)
    key = jax.random.key(2)
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(theta):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.node.a), net,
                            (theta[0], jnp.full(6, theta[1])))
        sim = bmx.simulate(model, 40.0, 0.1, key=key, y0=y0, transient=5.0, monitors=["x"])
        return jnp.mean(sim["x"] ** 2)

    theta = jnp.array([0.3, -0.05])
    np.testing.assert_allclose(jax.grad(loss)(theta), finite_difference_grad(loss, theta),
                               rtol=1e-5)


def test_gradient_with_respect_to_connectome_weights(x64, reverse_policy):
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(w):
        model = eqx.tree_at(lambda m: m.connectome.weights, net, w)
        return jnp.mean(bmx.simulate(model, 20.0, 0.1, y0=y0, monitors=["x"])["x"] ** 2)

    w = net.connectome.weights
    g = jax.grad(loss)(w)
    # directional derivative along a random direction vs central differences
    v = jnp.where(w != 0, jnp.asarray(np.random.default_rng(0).normal(size=w.shape)), 0.0)
    eps = 1e-5
    fd = (loss(w + eps * v) - loss(w - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g, v), fd, rtol=1e-5)


def test_gradient_with_respect_to_learnt_gains_and_coupling_strength(x64):
    """A `LearnableWeights` coupling's gains are connection weights (the reverse pass's
    per-connection products); its wrapped coupling's strength is not."""
    base = small_network()
    net = eqx.tree_at(lambda m: m.coupling, base,
                      bmx.LearnableWeights(base.coupling, base.connectome.n_regions))
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(gain, k):
        model = eqx.tree_at(lambda m: (m.coupling.log_gain, m.coupling.coupling.k), net,
                            (gain, k))
        return jnp.mean(bmx.simulate(model, 20.0, 0.1, y0=y0, monitors=["x"])["x"] ** 2)

    gain, k = net.coupling.log_gain, jnp.asarray(0.3)
    g_gain, g_k = jax.grad(loss, (0, 1))(gain, k)
    v = jnp.asarray(np.random.default_rng(1).normal(size=gain.shape))
    eps = 1e-5
    fd = (loss(gain + eps * v, k) - loss(gain - eps * v, k)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g_gain, v), fd, rtol=1e-5)
    np.testing.assert_allclose(g_k, finite_difference_grad(lambda k: loss(gain, k), k),
                               rtol=1e-5)


def test_reverse_mode_memory_grows_sublinearly(monkeypatch):
    """Chunked checkpointing: 16x the simulated time costs far less than 16x the memory (the
    regime of runs whose delayed sums exceed `REVERSE_ROWS_BYTES`)."""
    monkeypatch.setattr(_engine, "REVERSE_ROWS_BYTES", 0)
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.01), n=8)
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def temp_bytes(duration):
        def loss(p):
            sim = bmx.simulate(eqx.combine(p, static), duration, 0.1, key=jax.random.key(0),
                               monitors={"m": lambda y: jnp.mean(y["x"] ** 2)})
            return jnp.mean(sim["m"])

        compiled = jax.jit(jax.grad(loss)).lower(params).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    short, long = temp_bytes(500.0), temp_bytes(8000.0)
    assert long / short < 6, (short, long)


@pytest.mark.parametrize("period", [0.3, 2.5], ids=["stride-below-block", "stride-above-block"])
def test_subsampling_monitors_keep_only_their_samples_in_the_engine(period):
    """A delayed run stores only a subsampling monitor's samples (not every step); they equal
    the every-step record of the same run subsampled afterwards, after a transient that ends
    inside a block."""
    net = small_network()  # shortest delay 1 ms: a base block of 10 steps
    stride = round(period / 0.1)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x", "sub": bmx.Subsample("x", period)})
    assert sim["sub"].shape == (400 // stride, 6)
    np.testing.assert_array_equal(sim["sub"], sim["raw"][stride - 1::stride])


@pytest.mark.parametrize("period", [0.3, 2.5], ids=["window-below-block", "window-above-block"])
def test_averaging_monitors_accumulate_their_window_means_in_the_engine(x64, period):
    """A delayed run accumulates a `TemporalAverage`'s window means block by block; they equal
    the every-step record of the same run averaged afterwards (a trailing partial window
    dropped), after a transient that ends inside a block."""
    net = small_network()  # a base block of 10 steps
    stride = round(period / 0.1)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x",
                                                "mean": bmx.TemporalAverage("x", period)})
    n = 400 // stride
    assert sim["mean"].shape == (n, 6)
    want = np.asarray(sim["raw"])[:n * stride].reshape(n, stride, 6).mean(axis=1)
    np.testing.assert_allclose(sim["mean"], want, rtol=1e-12, atol=1e-14)


def test_hrf_bold_accumulates_its_downsampling_means_in_the_engine(x64):
    """`HRFBold` starts from window means of `downsample`: a delayed run accumulates them
    (no every-step record) and gives what the monitor gives post hoc on the same run's
    every-step trace."""
    net = small_network()
    fast = bmx.Gamma(tau=0.002, n=2.0, duration=0.05)  # peaks at 2 ms: a 40 ms run responds
    bold = bmx.HRFBold("x", period=5.0, kernel=fast, downsample=0.5)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x", "bold": bold})
    assert sim["bold"].shape == (8, 6)
    np.testing.assert_allclose(sim["bold"], bold(sim["raw"], 0.1), rtol=1e-10, atol=1e-14)
    assert np.abs(np.asarray(sim["bold"])).max() > 1e-3  # not trivially zero


def test_subsampling_monitors_do_not_hold_every_step():
    """A delayed run's working memory does not hold a subsampling or averaging monitor's
    (or `HRFBold`'s) every-step trace (storing it and reducing it after the run took 486 kB
    here)."""
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    # HRFBold's FFT convolution with its 32 s kernel needs ~1 MB of its own: a longer run
    for monitor, duration, share in ((bmx.Subsample("x", 2.5), 2000.0, 0.1),
                                     (bmx.TemporalAverage("x", 2.5), 2000.0, 0.1),
                                     (bmx.HRFBold("x", period=100.0, downsample=2.5), 20_000.0,
                                      0.5)):
        def run(y0, monitor=monitor, duration=duration):
            return bmx.simulate(net, duration, 0.1, y0=y0, monitors={"m": monitor})

        every_step_bytes = round(duration / 0.1) * 6 * 4
        temp = jax.jit(run).lower(y0).compile().memory_analysis().temp_size_in_bytes
        assert temp < every_step_bytes * share, (monitor, temp)


@pytest.mark.parametrize("monitor", [bmx.Subsample("x", 1.3), bmx.TemporalAverage("x", 1.3),
                                     bmx.HRFBold("x", period=6.5, downsample=1.3,
                                                 kernel=bmx.Gamma(tau=0.002, n=2.0,
                                                                  duration=0.05))],
                         ids=["subsample", "average", "hrf-bold"])
def test_gradient_through_a_subsampling_or_averaging_monitor(x64, reverse_policy, monitor):
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(k):
        model = eqx.tree_at(lambda m: m.coupling.k, net, k)
        sim = bmx.simulate(model, 30.0, 0.1, y0=y0, transient=2.3, monitors={"m": monitor})
        return jnp.mean(sim["m"] ** 2)

    k = jnp.array(0.3)
    np.testing.assert_allclose(jax.grad(loss)(k), finite_difference_grad(loss, k), rtol=1e-5)


def test_delayed_sums_are_kept_for_the_reverse_pass_within_the_budget(monkeypatch):
    """The forward pass keeps the delayed sums (one value per region, channel and step, plus
    a row per base block) exactly when they fit `REVERSE_ROWS_BYTES`."""
    net = small_network(n=8)
    cfg = _engine.build_config(net, 0.1, 0, 1000, jnp.float32)
    block, top = cfg.levels[0], cfg.levels[-1]
    n_steps = -(-1000 // top) * top  # whole superblocks
    nbytes = n_steps // block * (block + 1) * 8 * 4
    for budget, kept in ((nbytes, True), (nbytes - 1, False)):
        monkeypatch.setattr(_engine, "REVERSE_ROWS_BYTES", budget)
        assert _engine.build_config(net, 0.1, 0, 1000, jnp.float32).store_rows is kept


def test_a_vmapped_batch_shares_the_kept_sums_budget(monkeypatch):
    """Under `jax.vmap` the kept delayed sums of all members together must fit
    `REVERSE_ROWS_BYTES`."""
    net = small_network(n=8)
    monkeypatch.setattr(_engine, "REVERSE_ROWS_BYTES", 10 * 2**20)
    cfg = _engine.build_config(net, 0.1, 0, 1000, jnp.float32)
    one = _engine._rows_bytes(cfg, net)
    monkeypatch.setattr(_engine, "REVERSE_ROWS_BYTES", 4 * one)
    token = jnp.zeros((), jnp.int32)
    assert _engine._for_members(cfg, _delays.Member(4, token), net).store_rows
    assert not _engine._for_members(cfg, _delays.Member(5, token), net).store_rows


def _naive_read(data, plan, group, start, n_rows, weights):
    """Reference for `DelayBuffer.read`: each connection's value at each row by plain indexing
    of the first copy of the ring, `(rows, channels, nodes)`."""
    n = data.shape[1]
    src = group.sources.array.reshape(n, -1)
    lag = group.lags.array.reshape(n, -1)
    frac = group.fractions.array.reshape(1, 1, n, -1)
    p = (start + np.arange(n_rows)[:, None, None] - lag - 1) % plan.ring  # (rows, n, slots)
    values = data[:, src, p]  # (channels, rows, n, slots)
    if plan.exact:
        values = (1 - frac) * values + frac * data[:, src, (p + 1) % plan.ring]
    return jnp.einsum("ik,crik->rci", weights, values)


@pytest.mark.parametrize("exact", [False, True], ids=["rounded", "exact"])
def test_delay_read_and_its_gradient_match_a_naive_reference(x64, exact):
    rng = np.random.default_rng(5)
    n = 5
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    conn = bmx.Connectome(w, rng.uniform(0.35, 3.0, (n, n)))
    plan = bmx.DelayPlan.build(conn, 1.0, 0.1, exact=exact, n_channels=2, itemsize=8)
    hist = jnp.asarray(rng.normal(size=(plan.ring, 2, n)))
    buf = bmx.DelayBuffer.from_history(plan, hist)
    weights = jnp.asarray(conn.weights)
    for depth, group in enumerate(plan.groups):
        if group.per_target == 0:
            continue
        gw = group.weights(weights)
        size = plan.levels[depth] + 1
        start = 3 * plan.levels[-1] + plan.levels[depth]
        got = buf.read(group, start, size, gw)
        want = _naive_read(buf.data, plan, group, start, size, gw)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

        ct = jnp.asarray(rng.normal(size=want.shape))

        def ours(data, gw, group=group, start=start, size=size):
            rows = bmx.DelayBuffer(data, plan).read(group, start, size, gw)
            return jnp.vdot(rows, ct)

        def naive(data, gw, group=group, start=start, size=size):
            rows = _naive_read(data, plan, group, start, size, gw)
            return jnp.vdot(rows, ct)

        (d_ours, w_ours), (d_naive, w_naive) = (jax.grad(f, (0, 1))(buf.data, gw)
                                                for f in (ours, naive))
        np.testing.assert_allclose(w_ours, w_naive, rtol=1e-12, atol=1e-12)
        # the buffer holds every value twice (a read may use either copy): compare the
        # gradient with respect to each stored value, i.e. summed over its two copies
        fold = lambda d: d[..., :plan.ring] + d[..., plan.ring:]  # noqa: E731
        np.testing.assert_allclose(fold(d_ours), fold(d_naive), rtol=1e-12, atol=1e-12)


def test_delay_plan_reads_every_connection_once_with_the_fewest_slots():
    """Slots per level are the prefix maxima of the per-target counts; no connection is read
    at a block longer than its delay allows; a fully connected connectome has no padding."""
    rng = np.random.default_rng(7)
    for n, density in ((12, 1.0), (20, 0.3)):
        w = rng.uniform(0.1, 1, (n, n)) * (rng.uniform(size=(n, n)) < density)
        np.fill_diagonal(w, 0)
        conn = bmx.Connectome(w, rng.uniform(1.0, 40.0, (n, n)))
        plan = bmx.DelayPlan.build(conn, 1.0, 0.1, exact=False, n_channels=1, itemsize=4)
        seen = []
        for size, g in zip(plan.levels, plan.groups):
            valid = g.valid.array
            targets = np.repeat(np.arange(n), g.per_target)[valid]
            lags = g.lags.array[valid]
            assert np.all(lags >= size)  # the window of a whole block is already in the buffer
            seen += list(zip(targets, g.sources.array[valid], lags))
        edges = conn.edges.array
        want = sorted(zip(edges[:, 0], edges[:, 1],
                          np.rint(conn.lengths.array[edges[:, 0], edges[:, 1]] / 0.1).astype(int)))
        assert sorted(seen) == want
        in_degree = np.bincount(edges[:, 0], minlength=n)
        assert sum(g.per_target for g in plan.groups) == in_degree.max()
        if density == 1.0:
            assert all(g.valid.array.all() for g in plan.groups)
