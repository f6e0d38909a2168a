"""Known dynamics from the literature, one or more per model."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import brainmass_eqx as bmx


@given(a=st.floats(0.05, 1.0), beta=st.floats(-1.0, 1.0))
def test_stuart_landau_radius_and_shear_frequency(a, beta):
    omega = 0.2
    sim = bmx.simulate(bmx.StuartLandau(a=a, omega=omega, beta=beta), 600.0, 0.2,
                       transient=300.0)
    x, y = np.asarray(sim["x"]), np.asarray(sim["y"])
    np.testing.assert_allclose(np.hypot(x, y), np.sqrt(a), rtol=1e-3)
    slope = np.polyfit(np.asarray(sim.ts), np.unwrap(np.arctan2(y, x)), 1)[0]
    np.testing.assert_allclose(slope, omega - beta * a, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("mu", [10.0, 20.0])
def test_van_der_pol_relaxation_period(mu):
    sim = bmx.simulate(bmx.VanDerPol(mu=mu), 20 * mu, 0.05, transient=5 * mu)
    x = np.asarray(sim["x"])
    t = np.asarray(sim.ts)
    up = t[1:][(x[:-1] < 0) & (x[1:] >= 0)]
    period = np.mean(np.diff(up))
    asymptotic = (3 - 2 * np.log(2)) * mu + 7.014 * mu ** (-1 / 3)
    assert period == pytest.approx(asymptotic, rel=0.03)


def test_fitzhugh_nagumo_is_excitable():
    model = bmx.FitzHughNagumo()

    class Pulse(eqx.Module):
        amplitude: jax.Array

        def __call__(self, t):
            return {"v": jnp.where((t >= 10.0) & (t < 11.0), self.amplitude, 0.0)}

    def peak(amplitude):
        sim = bmx.simulate(model, 200.0, 0.05, solver=dfx.Heun(), inputs=Pulse(amplitude))
        v = np.asarray(sim["v"])
        crossings = np.sum((v[:-1] < 1.0) & (v[1:] >= 1.0))
        return v.max(), crossings

    rest_peak, rest_spikes = peak(jnp.asarray(0.0, jnp.float32))
    sub_peak, sub_spikes = peak(jnp.asarray(0.3, jnp.float32))
    supra_peak, supra_spikes = peak(jnp.asarray(1.5, jnp.float32))
    assert rest_spikes == sub_spikes == 0 and sub_peak < 0
    assert supra_spikes == 1 and supra_peak > 1.5
    # rest state is a fixed point of the vector field
    y = model.initial_state()
    dy = model.vector_field(0.0, y, model.zero_inputs())
    assert abs(float(dy["v"])) < 1e-3 and abs(float(dy["w"])) < 1e-3


def test_generic_2d_oscillator_settles_on_the_nullcline_intersection():
    model = bmx.Generic2dOscillator()
    sim = bmx.simulate(model, 3000.0, 1.0, y0={"V": 0.5, "W": 0.0})
    # V-nullcline: W = f V^3 - e V^2 (g = 0, alpha = 1, I = 0); W-nullcline: W = a + b V
    roots = np.roots([1.0, -3.0, 10.0, 2.0])  # V^3 - 3V^2 = -2 - 10V
    v_star = roots[np.abs(roots.imag) < 1e-9].real[0]
    np.testing.assert_allclose(sim["V"][-1], v_star, atol=1e-3)
    np.testing.assert_allclose(sim["W"][-1], -2.0 - 10.0 * v_star, atol=1e-2)


def test_lorenz_sensitive_dependence_on_initial_conditions(x64):
    model = bmx.Lorenz()
    y0 = {"x": jnp.array([1.0, 1.0 + 1e-9]), "y": jnp.ones(2), "z": jnp.ones(2) * 20.0}
    sim = bmx.simulate(model, 25.0, 0.01, y0=y0,
                       stepsize_controller=dfx.PIDController(rtol=1e-11, atol=1e-13),
                       solver=dfx.Tsit5(), max_steps=200_000)
    d = np.sqrt(sum((np.asarray(sim[k])[:, 0] - np.asarray(sim[k])[:, 1]) ** 2
                    for k in ("x", "y", "z")))
    t = np.asarray(sim.ts)
    window = (d > 1e-7) & (d < 1e-2)
    rate = np.polyfit(t[window], np.log(d[window]), 1)[0]
    assert rate == pytest.approx(0.906, abs=0.25)
    assert d[-1] > 1.0  # separated to the size of the attractor


@given(u_e=st.floats(-5.0, 50.0), u_i=st.floats(-5.0, 50.0))
def test_threshold_linear_relaxes_to_rectified_gain(u_e, u_i):
    model = bmx.ThresholdLinear()
    sim = bmx.simulate(model, 100.0, 0.5, inputs=lambda t: {"E": u_e, "I": u_i},
                       y0={"E": 1.0, "I": 1.0})
    t = np.asarray(sim.ts)
    e_star, i_star = 0.066 * max(u_e, 0.0), 0.351 * max(u_i, 0.0)
    np.testing.assert_allclose(sim["E"], e_star + (1 - e_star) * np.exp(-t / 20.0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sim["I"], i_star + (1 - i_star) * np.exp(-t / 10.0),
                               rtol=1e-4, atol=1e-5)


def test_jansen_rit_deterministic_limit_cycle_in_the_alpha_band():
    import scipy.signal

    model = bmx.JansenRit()
    sim = bmx.simulate(model, 3000.0, 0.5, transient=1000.0, monitors=["eeg"])
    eeg = np.asarray(sim["eeg"], np.float64)
    assert eeg.max() - eeg.min() > 1.0  # a sustained oscillation, not a fixed point
    f, p = scipy.signal.welch(eeg - eeg.mean(), fs=2000.0, nperseg=2048)
    assert 8.0 <= f[np.argmax(p)] <= 12.5


def test_jansen_rit_stochastic_input_gives_an_alpha_peak():
    """Jansen & Rit (1995): p uniform in 120-320 Hz, i.e. mean 220 Hz and standard deviation
    100/sqrt(3) Hz, white at the sampling step; as an SDE the input is additive noise on y4
    with intensity A a sigma_p sqrt(dt_sample)."""
    import scipy.signal

    model = bmx.JansenRit()
    sigma_p = 100.0 / np.sqrt(3.0) / 1000.0  # per ms
    dt_sample = 1.0  # ms: one uniform draw per millisecond, as in the paper
    intensity = 3.25 * 0.1 * sigma_p * np.sqrt(dt_sample)
    net = bmx.Network(model, bmx.Connectome.unconnected(8), bmx.LinearCoupling(cvar="y1",
                      target="y4"), noise=bmx.AdditiveNoise(sigma=intensity, states="y4"))
    sim = bmx.simulate(net, 10_000.0, 0.5, transient=1000.0, key=jax.random.key(0),
                       monitors=["eeg"])
    eeg = np.asarray(sim["eeg"], np.float64)
    f, p = scipy.signal.welch(eeg - eeg.mean(axis=0), fs=2000.0, nperseg=4096, axis=0)
    peak = f[np.argmax(p.mean(axis=1))]
    assert 8.0 <= peak <= 12.5


def qif_fixed_points(eta, J, delta):
    """Positive roots R = tau r of -pi^2 R^4 + J R^3 + eta R^2 + delta^2/(4 pi^2) = 0."""
    roots = np.roots([-np.pi**2, J, eta, 0.0, delta**2 / (4 * np.pi**2)])
    return np.sort([x.real for x in roots if abs(x.imag) < 1e-9 and x.real > 0])


def test_montbrio_pazo_roxin_bistability_at_the_fixed_points():
    tau = 10.0
    low, saddle, high = qif_fixed_points(-5.0, 15.0, 1.0) * 1000.0 / tau  # Hz
    model = bmx.MontbrioPazoRoxin(tau=tau)
    down = bmx.simulate(model, 500.0, 0.5, y0={"r": 1.0, "v": -2.0})
    up = bmx.simulate(model, 500.0, 0.5, y0={"r": 1.2 * high, "v": -0.1})
    assert float(down["r"][-1]) == pytest.approx(low, rel=1e-3)
    assert float(up["r"][-1]) == pytest.approx(high, rel=1e-3)
    assert low < saddle < high


@pytest.mark.parametrize("tau", [1.0, 10.0, 20.0])
def test_montbrio_pazo_roxin_scales_with_tau(tau):
    # the single fixed point for J = 0 depends on tau only through r = R / tau
    (big_r,) = qif_fixed_points(-2.0, 0.0, 1.0)
    sim = bmx.simulate(bmx.MontbrioPazoRoxin(tau=tau, eta=-2.0, J=0.0), 40 * tau, tau / 20)
    assert float(sim["r"][-1]) == pytest.approx(big_r * 1000.0 / tau, rel=1e-3)
    assert float(sim["v"][-1]) == pytest.approx(-1.0 / (2 * np.pi * big_r), rel=1e-3)


def test_coombes_byrne_without_synapses_is_montbrio_pazo_roxin(x64):
    y0 = {"r": 5.0, "v": -0.5}
    cb = bmx.simulate(bmx.CoombesByrne(k=0.0, eta=-1.0), 200.0, 0.5, y0=y0, solver=dfx.Heun())
    mpr = bmx.simulate(bmx.MontbrioPazoRoxin(J=0.0, eta=-1.0), 200.0, 0.5, y0=y0,
                       solver=dfx.Heun())
    np.testing.assert_allclose(cb["r"], mpr["r"], rtol=1e-10)
    np.testing.assert_allclose(cb["v"], mpr["v"], rtol=1e-10, atol=1e-12)
    # with synapses (k > 0, shunting v_syn < 0) the rate is lower
    shunted = bmx.simulate(bmx.CoombesByrne(k=1.0, eta=-1.0), 200.0, 0.5, y0=y0)
    assert float(shunted["r"][-1]) < float(mpr["r"][-1])


def test_kuramoto_synchronises_above_critical_coupling():
    n, sigma = 200, 0.01
    omega = jnp.asarray(np.random.default_rng(0).normal(0.05, sigma, n), jnp.float32)
    k_c = 2 * np.sqrt(2 * np.pi) * sigma / np.pi
    conn = bmx.Connectome(np.ones((n, n)))
    order = {"R": lambda y: bmx.Kuramoto.order_parameter(y["theta"])}

    def final_order(k):
        net = bmx.Network(bmx.Kuramoto(omega=omega), conn, bmx.KuramotoCoupling(k=k))
        sim = bmx.simulate(net, 3000.0, 1.0, transient=2000.0, key=jax.random.key(1),
                           monitors=order)
        return float(np.mean(sim["R"]))

    assert final_order(5 * k_c) > 0.9
    assert final_order(0.2 * k_c) < 0.2


@given(st.lists(st.floats(-100, 100), min_size=1, max_size=20))
def test_order_parameter_in_unit_interval(theta):
    r = float(bmx.Kuramoto.order_parameter(jnp.asarray(theta, jnp.float32)))
    assert -1e-6 <= r <= 1 + 1e-6


def test_wilson_cowan_bistability_at_independently_found_fixed_points():
    import scipy.optimize

    model = bmx.WilsonCowan()

    def f(x):
        return 1 / (1 + np.exp(-x))

    def fixed(z):  # the original equations in numpy, target-first weights
        e, i = z
        fe = f(1.2 * (12 * e - 4 * i - 2.8)) - f(-1.2 * 2.8)
        fi = f(1.0 * (13 * e - 11 * i - 4.0)) - f(-4.0)
        return [-e + (1 - e) * fe, -i + (1 - i) * fi]

    low = scipy.optimize.fsolve(fixed, [0.0, 0.0])
    high = scipy.optimize.fsolve(fixed, [0.5, 0.1])
    assert high[0] > low[0] + 0.3
    for start, target in (({"E": 0.0, "I": 0.0}, low), ({"E": 0.5, "I": 0.1}, high)):
        sim = bmx.simulate(model, 200.0, 0.5, y0=start)
        np.testing.assert_allclose([sim["E"][-1], sim["I"][-1]], target, atol=1e-4)


def test_wilson_cowan_limit_cycle_of_the_1972_paper():
    # Wilson & Cowan (1972), Fig. 9 parameters: a limit cycle for a constant drive P = 1.25
    model = bmx.WilsonCowan(w_ee=16.0, w_ei=12.0, w_ie=15.0, w_ii=3.0, a_E=1.3, theta_E=4.0,
                            a_I=2.0, theta_I=3.7)

    def amplitude(drive):
        sim = bmx.simulate(model, 300.0, 0.1, transient=100.0, inputs=lambda t: {"E": drive},
                           y0={"E": 0.1, "I": 0.05})
        return float(np.ptp(np.asarray(sim["E"])))

    assert amplitude(1.25) > 0.1
    assert amplitude(0.0) < 1e-4


def test_wong_wang_exc_inh_rests_at_a_few_hertz():
    import scipy.optimize

    model = bmx.WongWangExcInh()
    sim = bmx.simulate(model, 3000.0, 1.0, monitors=["S_E", "S_I", "r_E", "r_I"])
    assert 2.0 < float(sim["r_E"][-1]) < 5.0  # Deco et al. (2014): ~3 Hz excitatory rest

    def h(i, a, b, d):
        x = a * i - b
        return x / (1 - np.exp(-d * x))

    def fixed(z):  # the paper's equations in numpy (ms, Hz)
        se, si = z
        ie = 0.382 + 1.4 * 0.15 * se - si
        ii = 0.7 * 0.382 + 0.15 * se - si
        return [-se / 100 + (1 - se) * 0.641e-3 * h(ie, 310, 125, 0.16),
                -si / 10 + 1e-3 * h(ii, 615, 177, 0.087)]

    se, si = scipy.optimize.fsolve(fixed, [0.1, 0.04], xtol=1e-12)
    np.testing.assert_allclose([sim["S_E"][-1], sim["S_I"][-1]], [se, si], rtol=1e-3)


def test_wong_wang_inhibition_lowers_the_excitatory_rate():
    rates = [float(bmx.simulate(bmx.WongWangExcInh(J_i=j), 3000.0, 1.0,
                                monitors=["r_E"])["r_E"][-1]) for j in (0.5, 1.0, 2.0)]
    assert rates[0] > rates[1] > rates[2] > 0


@pytest.mark.parametrize("x0, seizes", [(-1.6, True), (-1.9, True), (-2.3, False),
                                        (-2.6, False)])
def test_epileptor_seizes_above_its_excitability_threshold(x0, seizes):
    # Jirsa et al. (2014): recurrent seizure-like events for x0 above about -2.05, none below
    sim = bmx.simulate(bmx.Epileptor(x0=x0), 10_000.0, 1.0, monitors=["x1", "lfp"],
                       max_steps=2_000_000)
    x1 = np.asarray(sim["x1"])
    onsets = int(np.sum((x1[:-1] <= 0) & (x1[1:] > 0)))
    if seizes:
        assert onsets > 10 and np.ptp(np.asarray(sim["lfp"])) > 2.0
    else:
        assert onsets == 0 and x1.max() < -1.0


def test_epileptor_coupling_is_not_silently_discarded():
    net = bmx.Network(bmx.Epileptor(x0=-2.3), bmx.Connectome(np.array([[0.0, 1.0], [1.0, 0.0]])),
                      bmx.LinearCoupling(a=1.0, cvar="x1", target="x1"))
    sim = bmx.simulate(net, 200.0, 1.0, monitors=["x1"], max_steps=500_000)
    alone = bmx.simulate(bmx.Epileptor(x0=-2.3), 200.0, 1.0, monitors=["x1"], n_nodes=2,
                         max_steps=500_000)
    assert np.max(np.abs(np.asarray(sim["x1"]) - np.asarray(alone["x1"]))) > 1e-3


@pytest.mark.parametrize("c, choice", [(0.5, 1), (-0.5, -1), (0.0, 0)])
def test_wong_wang_decision_follows_the_coherence(c, choice):
    model = bmx.WongWang(c=c)
    sim = bmx.simulate(model, 2000.0, 1.0, monitors=["r1", "r2"])
    assert int(model.decision(sim.final_state)) == choice
    winner = max(float(sim["r1"][-1]), float(sim["r2"][-1]))
    if choice:
        assert 20.0 < winner < 40.0  # the choice attractor of Wong & Wang (2006)
    else:  # symmetric input from a symmetric start stays undecided
        np.testing.assert_allclose(sim["r1"], sim["r2"], rtol=1e-6)


def test_wong_wang_pool_one_rate_grows_with_coherence():
    rates = [float(bmx.simulate(bmx.WongWang(c=c), 2000.0, 1.0, monitors=["r1"])["r1"][-1])
             for c in (-0.2, 0.0, 0.2, 0.6)]
    assert rates == sorted(rates)


def test_larter_breakspear_aperiodic_oscillation_between_reversal_potentials():
    # Breakspear et al. (2003): with d_V = 0.65 the isolated node oscillates aperiodically
    sim = bmx.simulate(bmx.LarterBreakspear(), 3000.0, 0.5, transient=500.0,
                       max_steps=500_000)
    v = np.asarray(sim["V"], np.float64)
    assert -0.7 < v.min() and v.max() < 1.0  # between the K and Ca reversal potentials
    assert np.ptp(v[-1000:]) > 0.5  # sustained, not decaying
    crossings = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    intervals = np.diff(crossings)
    assert len(intervals) > 10
    assert np.std(intervals) / np.mean(intervals) > 0.01  # not a periodic orbit


def test_wilson_cowan_adaptation_current_tracks_and_lowers_the_rate():
    def run(b):
        return bmx.simulate(bmx.WilsonCowanAdaptive(b_E=b), 1500.0, 0.5,
                            inputs=lambda t: {"E": 1.0})

    free, adapted = run(0.0), run(2.0)
    e = np.asarray(adapted["E"])
    assert float(adapted["A_E"][-1]) == pytest.approx(2.0 * e[-1], rel=1e-3)  # A = b E
    assert e.max() > e[-1] + 0.01  # overshoot, then adaptation
    assert e[-1] < float(free["E"][-1])
    np.testing.assert_allclose(free["A_E"], 0.0)


def test_three_population_without_m_feedback_is_wilson_cowan(x64):
    y0 = {"E": 0.2, "I": 0.1, "M": 0.3}
    three = bmx.simulate(bmx.WilsonCowanThreePopulation(w_em=0.0, w_im=0.0), 100.0, 0.5,
                         y0=y0, inputs=lambda t: {"E": 0.7}, solver=dfx.Heun())
    two = bmx.simulate(bmx.WilsonCowan(), 100.0, 0.5, y0={"E": 0.2, "I": 0.1},
                       inputs=lambda t: {"E": 0.7}, solver=dfx.Heun())
    np.testing.assert_allclose(three["E"], two["E"], rtol=1e-10)
    np.testing.assert_allclose(three["I"], two["I"], rtol=1e-10)
    assert float(np.ptp(np.asarray(three["M"]))) > 0  # M still evolves


def test_divisive_inhibition_fixed_point():
    import scipy.optimize

    def f(x):
        return 1 / (1 + np.exp(-x))

    def fixed(z):
        e, i = z
        fe = f(1.2 * (6 * e + 3.0 - 2.8)) - f(-1.2 * 2.8)
        fi = f(1.0 * (6.5 * e - 4.0)) - f(-4.0)
        return [-e + (1 - e) / (1 + 2 * i) * fe, -i + (1 - i) / (1 + 5.5 * i) * fi]

    sim = bmx.simulate(bmx.WilsonCowanDivisive(), 300.0, 0.5, inputs=lambda t: {"E": 3.0})
    e, i = float(sim["E"][-1]), float(sim["I"][-1])
    np.testing.assert_allclose([e, i], scipy.optimize.fsolve(fixed, [e, i], xtol=1e-12),
                               atol=1e-5)
    # stronger divisive inhibition lowers the excitatory rate
    stronger = bmx.simulate(bmx.WilsonCowanDivisive(w_ei=6.0), 300.0, 0.5,
                            inputs=lambda t: {"E": 3.0})
    assert float(stronger["E"][-1]) < e
