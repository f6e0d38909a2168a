"""Bifurcations and cycles against closed forms, literature values and brute-force simulation:
the Hopf normal form's cycle (amplitude sqrt(a), period 2 pi / omega, multiplier e^{-2aT}),
Jansen-Rit's Hopf points in the input rate p (Grimbert & Faugeras 2006) and its folds against
the closed-form equilibrium curve, Wilson-Cowan's hysteresis folds against an independent
nullcline computation, each checked by simulation on either side; and the spectrum of an
80-region delayed network against the decay of a simulated perturbation."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import brainmass_eqx as bmx
from brainmass_eqx import analysis


ORIGIN = {"x": jnp.asarray(0.0), "y": jnp.asarray(0.0)}


@pytest.mark.parametrize("a, omega", [(0.25, 0.3), (1.0, 0.05)])
def test_shooting_finds_the_normal_form_cycle(x64, a, omega):
    r"""$\dot r = r(a - r^2)$: the cycle $r = \sqrt a$ with period $2\pi/\omega$; the radial
    Floquet multiplier is $e^{-2aT}$."""
    period = 2 * np.pi / omega
    orbit = analysis.periodic_orbit(bmx.Hopf(a=a, omega=omega),
                                    {"x": jnp.asarray(0.7 * np.sqrt(a)), "y": jnp.asarray(0.1)},
                                    0.8 * period)
    assert bool(orbit.converged)
    assert float(orbit.period) == pytest.approx(period, rel=1e-9)
    assert float(jnp.hypot(orbit.state["x"], orbit.state["y"])) == pytest.approx(np.sqrt(a),
                                                                                rel=1e-8)
    for name in ("x", "y"):
        assert float(orbit.amplitude[name]) == pytest.approx(np.sqrt(a), rel=1e-5)
    moduli = np.sort(np.abs(np.asarray(orbit.multipliers)))
    np.testing.assert_allclose(moduli, [np.exp(-2 * a * period), 1.0], rtol=1e-6, atol=1e-12)
    assert bool(orbit.stable)
    assert float(orbit.frequency) == pytest.approx(1000 * omega / (2 * np.pi), rel=1e-9)


def test_the_cycle_born_at_the_normal_form_hopf_point_grows_as_sqrt_a(x64):
    node = bmx.Hopf(a=-0.5, omega=0.3)
    branch = analysis.continuation(node, lambda m: m.a, -0.5, 0.5, steps=40, y0=ORIGIN)
    (hopf,) = branch.bifurcations
    cycles = analysis.cycle_continuation(node, lambda m: m.a, hopf, 1.0, steps=20)
    assert cycles.complete and float(cycles.params[-1]) >= 1.0
    a = np.asarray(cycles.params)
    assert np.all(a > 0)
    np.testing.assert_allclose(np.asarray(cycles.amplitudes["x"]), np.sqrt(a), rtol=1e-4)
    np.testing.assert_allclose(np.asarray(cycles.periods), 2 * np.pi / 0.3, rtol=1e-8)
    assert np.all(np.asarray(cycles.stable))


def test_periodic_orbit_rejects_bad_input():
    with pytest.raises(ValueError, match="equilibrium"):
        analysis.periodic_orbit(bmx.Hopf(a=0.2), ORIGIN, 10.0)
    with pytest.raises(ValueError, match="period"):
        analysis.periodic_orbit(bmx.Hopf(a=0.2), {"x": 0.1, "y": 0.0}, -1.0)
    net = bmx.Network(bmx.Hopf(), bmx.Connectome(np.ones((2, 2)), np.ones((2, 2))),
                      bmx.DiffusiveCoupling(k=0.1), speed=1.0)
    with pytest.raises(ValueError, match="delayed"):
        analysis.periodic_orbit(net, {"x": jnp.ones(2), "y": jnp.zeros(2)}, 10.0)


# -- Jansen-Rit in the input rate p ------------------------------------------------------------

@pytest.fixture(scope="module")
def jansen_rit_branch():
    with jax.enable_x64(True):
        return analysis.continuation(bmx.JansenRit(p=-50.0), lambda m: m.p, -50.0, 400.0,
                                     steps=100)


def _jr_equilibrium_p(v, m=bmx.JansenRit()):
    r"""The input rate $p$ (Hz) at which $v = y_1 - y_2$ is an equilibrium, in closed form:
    $y_0 = A S(v)/a$, $y_1 = A (p + C_2 S(C_1 y_0))/a$, $y_2 = B C_4 S(C_3 y_0)/b$."""
    e0, r, v0, big_a, big_b, c = 2.5e-3, 0.56, 6.0, 3.25, 22.0, 135.0
    a, b = 0.1, 0.05  # per ms

    def s(x):
        return 2 * e0 / (1 + np.exp(r * (v0 - x)))

    y0 = big_a * s(v) / a
    y2 = big_b * 0.25 * c * s(0.25 * c * y0) / b
    return 1000.0 * ((v + y2) * a / big_a - 0.8 * c * s(c * y0))


def _jr_settle(p, y0, duration=3000.0):
    """The last second of `y1` (mV) simulated for `duration` ms from `y0` at input rate `p`."""
    sim = bmx.simulate(bmx.JansenRit(p=p), duration, 0.05, solver=dfx.Tsit5(), y0=y0,
                       monitors=["y1"], transient=duration - 1000.0)
    return np.asarray(sim["y1"])


def test_jansen_rit_hopf_points_match_grimbert_and_faugeras(x64, jansen_rit_branch):
    """Grimbert & Faugeras (2006, Neural Comput. 18:3052): Hopf bifurcations at p = 89.83 and
    p = 315.70 Hz on the upper branch of equilibria."""
    hopf = sorted(b.param for b in jansen_rit_branch.bifurcations if b.kind == "hopf")
    assert any(abs(p - 89.83) < 0.01 for p in hopf)
    assert any(abs(p - 315.70) < 0.01 for p in hopf)
    top = [b for b in jansen_rit_branch.bifurcations if b.kind == "hopf" and b.param > 300][0]
    assert 10.0 < top.frequency < 12.0  # the alpha rhythm is born here


def test_jansen_rit_folds_lie_on_the_closed_form_equilibrium_curve(x64, jansen_rit_branch):
    folds = sorted(b.param for b in jansen_rit_branch.bifurcations if b.kind == "fold")
    # the turning points of p(v), found independently by scipy
    # the turning points of p(v), found independently by scipy: a maximum then a minimum
    peak = scipy.optimize.minimize_scalar(lambda v: -_jr_equilibrium_p(v), bounds=(0.0, 4.0),
                                          method="bounded", options={"xatol": 1e-9})
    dip = scipy.optimize.minimize_scalar(_jr_equilibrium_p, bounds=(4.0, 8.0),
                                         method="bounded", options={"xatol": 1e-9})
    expected = sorted([_jr_equilibrium_p(peak.x), _jr_equilibrium_p(dip.x)])
    np.testing.assert_allclose(folds, expected, atol=1e-5)
    assert folds[1] == pytest.approx(113.59, abs=0.01)


@pytest.mark.slow
def test_jansen_rit_bifurcations_show_in_simulation(x64, jansen_rit_branch):
    """Either side of the supercritical Hopf point (315.70 Hz) the simulated EEG settles to an
    equilibrium or to an alpha cycle of the continued amplitude; past the fold of the lower
    branch (113.59 Hz) the low state is lost."""
    branch = jansen_rit_branch
    low = {k: v[5] for k, v in branch.states.items()}  # on the lower branch, p about -27
    top = [b for b in branch.bifurcations if b.kind == "hopf" and b.param > 300][0]

    def kick(state):
        return {k: jnp.asarray(v) + (1e-2 if k == "y1" else 0.0) for k, v in state.items()}

    start = analysis.fixed_point(bmx.JansenRit(p=top.param + 40), top.state).state
    early = _jr_settle(top.param + 40, kick(start), duration=1000.0)
    late = _jr_settle(top.param + 40, kick(start))
    assert np.ptp(late) < 0.5 * np.ptp(early)  # the kick decays: stable, no cycle
    cycles = analysis.cycle_continuation(bmx.JansenRit(), lambda m: m.p, top, top.param - 40,
                                         steps=20)
    assert cycles.complete and bool(cycles.stable[-1])
    # below the Hopf point the simulation settles on the continued cycle (same amplitude)
    below = _jr_settle(float(cycles.params[-1]), kick(top.state), duration=8000.0)
    assert np.ptp(below) / 2 == pytest.approx(float(cycles.amplitudes["y1"][-1]), rel=0.02)
    fold = max(b.param for b in branch.bifurcations if b.kind == "fold")
    lower = analysis.fixed_point(bmx.JansenRit(p=fold - 3), low).state["y1"]
    stays = _jr_settle(fold - 3, low)
    leaves = _jr_settle(fold + 3, low)
    assert np.ptp(stays) < 1e-3 and abs(stays[-1] - float(lower)) < 1e-3
    assert abs(leaves[-1] - float(lower)) > 0.1 or np.ptp(leaves) > 0.1


# -- Wilson-Cowan in the drive P onto the excitatory population ------------------------------

def _wc_drive_at(e, m=bmx.WilsonCowan()):
    r"""The drive $P$ at which $E$ is an equilibrium, independently of the library:
    $I^*(E)$ from the I-nullcline by Brent's method, then $P = F_E^{-1}(E / (1 - rE)) -
    w_{ee}E + w_{ei}I^*$ with $F^{-1}(z) = \theta + \mathrm{logit}(z + \sigma(-a\theta)) / a$."""
    import scipy.special

    p = {k: float(getattr(m, k)) for k in ("a_E", "theta_E", "a_I", "theta_I", "w_ee", "w_ei",
                                           "w_ie", "w_ii", "r")}

    def f(x, a, theta):
        return scipy.special.expit(a * (x - theta)) - scipy.special.expit(-a * theta)

    i_star = scipy.optimize.brentq(
        lambda i: i - (1 - p["r"] * i) * f(p["w_ie"] * e - p["w_ii"] * i, p["a_I"],
                                           p["theta_I"]), -1.0, 1.0, xtol=1e-14)
    z = e / (1 - p["r"] * e) + scipy.special.expit(-p["a_E"] * p["theta_E"])
    return (p["theta_E"] + scipy.special.logit(z) / p["a_E"] - p["w_ee"] * e
            + p["w_ei"] * i_star)


def test_wilson_cowan_hysteresis_folds_match_the_nullclines_and_simulation(x64):
    """The original paper's hysteresis (Wilson & Cowan 1972, Fig. 5 parameters): a low and a
    high state coexist for drives between two saddle-nodes; outside, one of them is lost."""
    branch = analysis.continuation(bmx.WilsonCowan(), analysis.Drive("E"), -3.0, 6.0, steps=90)
    folds = sorted(b.param for b in branch.bifurcations if b.kind == "fold")
    assert len(folds) == 2
    dip = scipy.optimize.minimize_scalar(_wc_drive_at, bounds=(0.2, 0.45), method="bounded",
                                         options={"xatol": 1e-10})
    peak = scipy.optimize.minimize_scalar(lambda e: -_wc_drive_at(e), bounds=(0.0, 0.2),
                                          method="bounded", options={"xatol": 1e-10})
    np.testing.assert_allclose(folds, [_wc_drive_at(dip.x), _wc_drive_at(peak.x)], atol=1e-6)

    def settle(drive, e0):
        sim = bmx.simulate(bmx.WilsonCowan(), 200.0, 0.01, solver=dfx.Tsit5(),
                           y0={"E": jnp.asarray(e0), "I": jnp.asarray(e0 / 2)},
                           inputs=lambda t: {"E": jnp.asarray(drive)}, monitors=["E"])
        return float(sim["E"][-1])

    low, high = folds
    assert settle(high - 0.05, 0.0) < 0.1 and settle(high + 0.05, 0.0) > 0.3
    assert settle(low + 0.05, 0.45) > 0.3 and settle(low - 0.05, 0.45) < 0.1
    assert settle(0.0, 0.0) < 0.1 and settle(0.0, 0.45) > 0.3  # bistable in between


@pytest.mark.slow
def test_an_80_region_delayed_spectrum_predicts_the_simulated_decay(x64):
    """Hopf nodes on the hcp connectome, diffusive coupling, delays up to 50 ms (5 mm/ms): the
    rightmost characteristic root's real part is the decay rate of a small random perturbation
    simulated by the engine with exact delays."""
    conn = bmx.datasets.load_dataset("hcp").connectome
    net = bmx.Network(bmx.Hopf(a=-0.02, omega=0.0628), conn, bmx.DiffusiveCoupling(k=0.5),
                      speed=5.0, exact_delays=True)
    spec = analysis.eigenvalues(net, {"x": jnp.zeros(80), "y": jnp.zeros(80)}, n=4, degree=8)
    assert np.all(np.asarray(spec.errors) < 1e-10)
    keys = jax.random.split(jax.random.key(0))
    y0 = {"x": 1e-4 * jax.random.normal(keys[0], (80,)),
          "y": 1e-4 * jax.random.normal(keys[1], (80,))}
    sim = bmx.simulate(net, 3000.0, 0.05, solver=bmx.RK4(), y0=y0, history=lambda t: y0,
                       monitors=["x", "y"])
    size = np.sqrt(np.sum(np.asarray(sim["x"]) ** 2 + np.asarray(sim["y"]) ** 2, axis=1))
    t = np.asarray(sim.ts)
    late = t > 1000.0
    measured = np.polyfit(t[late], np.log(size[late]), 1)[0]
    assert measured == pytest.approx(float(jnp.real(spec.rightmost)), rel=0.01)


@pytest.mark.slow
def test_continuation_of_a_delayed_network_locates_the_delay_induced_hopf_point(x64):
    r"""$\dot x = -x/\tau - b\,x(t - d)$ continued in the gain $b$ (the coupling $-b$) at fixed
    $d$: the stability comes from the characteristic roots, and the Hopf point is where
    $d = \arccos(-1/(b\tau))/\sqrt{b^2 - 1/\tau^2}$ (solved for $b$ by scipy), with angular
    frequency $\sqrt{b^2 - 1/\tau^2}$."""
    tau, d = 10.0, 8.0
    conn = bmx.Connectome(np.array([[1.0]]), np.array([[d]]), zero_diagonal=False)
    net = bmx.Network(bmx.Linear(tau=tau), conn, bmx.LinearCoupling(a=-0.05), speed=1.0,
                      exact_delays=True)

    def delay_at(b):
        return np.arccos(-1 / (b * tau)) / np.sqrt(b**2 - 1 / tau**2) - d

    b_star = scipy.optimize.brentq(delay_at, 0.1 + 1e-9, 5.0, xtol=1e-14)
    branch = analysis.continuation(net, lambda n: n.coupling.a, -0.05, -0.5, steps=30,
                                   y0={"x": jnp.zeros(1)}, degree=16)
    (hopf,) = [b for b in branch.bifurcations if b.kind == "hopf"]
    assert hopf.param == pytest.approx(-b_star, abs=1e-7)
    omega = np.sqrt(b_star**2 - 1 / tau**2)
    assert hopf.frequency == pytest.approx(omega * 1000 / (2 * np.pi), rel=1e-6)
    gains = -np.asarray(branch.params)
    np.testing.assert_array_equal(np.asarray(branch.stable), gains < b_star)
