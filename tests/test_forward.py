"""Forward models: Balloon-Windkessel, HRF kernels and convolution BOLD, temporal monitors,
lead fields (with independent analytic references), streaming FC."""

import math

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
from helpers import count_compilations

import brainmass_eqx as bmx
from brainmass_eqx import metrics


# ------------------------------------------------------------------------ Balloon-Windkessel


@pytest.mark.parametrize("readout", [bmx.ClassicalBOLD(), bmx.RevisedBOLD()])
def test_balloon_is_exactly_zero_at_rest(readout):
    bw = bmx.BalloonWindkessel(period=100.0, readout=readout)
    assert np.all(np.asarray(bw(jnp.zeros((5000, 3)), 1.0)) == 0.0)
    # in a simulation whose neural state stays at rest (Hopf below the bifurcation, at 0)
    node = bmx.Hopf(a=-0.1)
    sim = bmx.simulate(node, 3000.0, 0.5, n_nodes=2, solver=dfx.Heun(),
                       y0={"x": jnp.zeros(2), "y": jnp.zeros(2)},
                       monitors={"bold": bmx.BalloonWindkessel(on="x", period=500.0,
                                                               readout=readout)})
    assert np.all(np.asarray(sim["bold"]) == 0.0)


def _impulse_response(dt=1.0, seconds=30.0, width_ms=100.0, bw=None):
    n = int(seconds * 1000 / dt)
    t = (np.arange(n) + 1) * dt
    z = ((t > 1000.0) & (t <= 1000.0 + width_ms)).astype(np.float32)[:, None]
    bw = bmx.BalloonWindkessel(period=dt) if bw is None else bw
    return t, np.asarray(bw(jnp.asarray(z), dt))[:, 0]


def test_balloon_impulse_response_shape():
    # Stephan et al. 2007 / SPM haemodynamics: time to peak about 4-6 s, then an undershoot
    t, y = _impulse_response(bw=bmx.BalloonWindkessel.revised(period=1.0))
    peak = t[np.argmax(y)] - 1000.0
    assert 4000.0 <= peak <= 6000.0
    after = y[t > t[np.argmax(y)]]
    assert after.min() < -0.05 * y.max()  # post-stimulus undershoot
    assert t[np.argmin(after) + np.argmax(y) + 1] - 1000.0 > 8000.0  # undershoot after ~8 s
    assert abs(y[-1]) < 0.5 * abs(after.min())  # returning to baseline
    # Friston et al. 2003 defaults: the linearised flow f'' + kappa f' + gamma f = eps z peaks
    # at atan(w / (kappa / 2)) / w ~ 1.9 s (w = sqrt(gamma - kappa^2 / 4)); volume and
    # deoxyhaemoglobin follow within about one transit time (0.98 s)
    t, y = _impulse_response()
    w = np.sqrt(0.41 - 0.65**2 / 4)
    flow_peak = np.arctan(w / 0.325) / w * 1000
    peak = t[np.argmax(y)] - 1000.0
    assert flow_peak < peak < flow_peak + 1500.0
    assert y[t > t[np.argmax(y)]].min() < 0


def test_balloon_small_inputs_respond_linearly():
    # y(a) = a L + a^2 Q + ...: the homogeneity defect y(2a) - 2 y(a) is quadratic in a
    def defect(amp):
        _, y1 = _impulse_response(bw=bmx.BalloonWindkessel(period=1.0, epsilon=amp))
        _, y2 = _impulse_response(bw=bmx.BalloonWindkessel(period=1.0, epsilon=2 * amp))
        return np.abs(y2 - 2 * y1).max(), np.abs(y2).max()

    d1, scale = defect(0.5)
    d2, _ = defect(0.25)
    assert d1 < 0.05 * scale
    assert d2 / d1 == pytest.approx(0.25, rel=0.1)


def test_balloon_in_simulation_agrees_with_post_hoc():
    node = bmx.Hopf(a=jnp.asarray([-0.1, 0.01, 0.04]), omega=2 * np.pi * 0.05 / 1000)
    bw = bmx.BalloonWindkessel(on="x", period=720.0)
    sim = bmx.simulate(node, 36_000.0, 1.0, solver=dfx.Heun(),
                       y0={"x": jnp.full(3, 0.2), "y": jnp.zeros(3)},
                       monitors={"x": "x", "bold": bw})
    assert sim["bold"].shape == (50, 3)
    np.testing.assert_allclose(sim.times("bold"), 720.0 * np.arange(1, 51), rtol=1e-6)
    post = bw(sim["x"], 1.0)
    scale = float(np.abs(sim["bold"]).max())
    assert scale > 1e-3
    np.testing.assert_allclose(post, sim["bold"], atol=1e-4 * scale)


def test_balloon_integrates_through_the_transient():
    node = bmx.Hopf(a=-0.1)
    y0 = {"x": jnp.ones(1), "y": jnp.zeros(1)}
    mon = {"bold": bmx.BalloonWindkessel(on="x", period=1000.0)}
    full = bmx.simulate(node, 10_000.0, 1.0, solver=dfx.Heun(), y0=y0, monitors=mon)
    late = bmx.simulate(node, 10_000.0, 1.0, solver=dfx.Heun(), y0=y0, monitors=mon,
                        transient=5000.0)
    np.testing.assert_allclose(late["bold"], full["bold"][5:], rtol=1e-5, atol=1e-7)


def test_revised_readout_coefficients():
    rho = jnp.asarray(0.34)
    k1, k2, k3 = bmx.RevisedBOLD().coefficients(rho)
    np.testing.assert_allclose([k1, k2, k3], [4.3 * 40.3 * 0.34 * 0.04, 25 * 0.34 * 0.04, 0.0],
                               rtol=1e-6)
    k1, k2, k3 = bmx.ClassicalBOLD().coefficients(rho)
    np.testing.assert_allclose([k1, k2, k3], [7 * 0.34, 2.0, 2 * 0.34 - 0.2], rtol=1e-6)
    _, y_classic = _impulse_response()
    _, y_revised = _impulse_response(bw=bmx.BalloonWindkessel(period=1.0,
                                                              readout=bmx.RevisedBOLD()))
    assert y_revised.max() > 0 and not np.allclose(y_revised, y_classic)


def test_balloon_parameters_validate_and_accept_quantities():
    import unxt as u

    bw = bmx.BalloonWindkessel(tau=u.Quantity(980.0, "ms"), period=u.Quantity(2, "s"))
    np.testing.assert_allclose(bw.tau, 0.98)
    assert bw.period == 2000.0
    with pytest.raises(ValueError, match="rho"):
        bmx.BalloonWindkessel(rho=1.5)
    with pytest.raises(ValueError, match="period"):
        bmx.simulate(bmx.Hopf(), 300.0, 0.3, monitors={"b": bmx.BalloonWindkessel(
            on="x", period=100.0)})


# ------------------------------------------------------------------------------ HRF kernels


def _argmax_root(kernel, lo, hi):
    """Independent peak time: the root of the numerical derivative (scipy brentq)."""
    def dh(t):
        e = 1e-5
        return (float(kernel(jnp.asarray((t + e) * 1000.0)))
                - float(kernel(jnp.asarray((t - e) * 1000.0)))) / (2 * e)

    return scipy.optimize.brentq(dh, lo, hi, xtol=1e-6)


def test_gamma_and_volterra_peaks_have_closed_forms(x64):
    g = bmx.Gamma(tau=1.2, n=4.0)
    assert float(g.peak_time()) == pytest.approx(3 * 1.2)
    assert _argmax_root(g, 1.0, 8.0) == pytest.approx(3.6, abs=1e-4)
    v = bmx.FirstOrderVolterra()
    w = math.sqrt(1 / 0.4 - 1 / (4 * 0.8**2))
    assert float(v.peak_time()) == pytest.approx(math.atan(2 * 0.8 * w) / w)
    assert _argmax_root(v, 0.5, 2.5) == pytest.approx(float(v.peak_time()), abs=1e-4)
    # unit area of the gamma density (trapezoid over its support)
    t = np.linspace(0, 40, 40001)
    assert np.trapezoid(np.asarray(g(jnp.asarray(t * 1000))), t) == pytest.approx(1.0, abs=1e-4)


def test_canonical_and_mixture_kernels_match_scipy_gamma_densities(x64):
    t = np.linspace(0, 32, 3201)
    spm = scipy.stats.gamma.pdf(t, 6) - scipy.stats.gamma.pdf(t, 16) / 6
    np.testing.assert_allclose(bmx.CanonicalHRF()(jnp.asarray(t * 1000)), spm, atol=1e-12)
    mog = scipy.stats.gamma.pdf(t, 6) - 0.4 * scipy.stats.gamma.pdf(t, 13)
    np.testing.assert_allclose(bmx.MixtureOfGammas()(jnp.asarray(t * 1000)), mog, atol=1e-12)
    # the canonical response peaks just before the mode 5 s of its first gamma
    peak = _argmax_root(bmx.CanonicalHRF(), 3.0, 7.0)
    assert 4.5 < peak < 5.0


def test_double_exponential_kernel_formula(x64):
    k = bmx.DoubleExponential()
    t = np.linspace(0, 40, 401)
    ref = (0.1 * np.exp(-t / 7.22) * np.sin(2 * np.pi * 0.03 * t)
           - 0.1 * np.exp(-t / 7.4) * np.sin(2 * np.pi * 0.12 * t))
    np.testing.assert_allclose(k(jnp.asarray(t * 1000)), ref, atol=1e-12)


def test_volterra_must_be_underdamped():
    with pytest.raises(ValueError, match="underdamped"):
        bmx.FirstOrderVolterra(tau_s=0.2, tau_f=0.4)


def test_hrf_bold_is_a_causal_convolution(x64):
    rng = np.random.default_rng(0)
    dt, down, period = 1.0, 4.0, 720.0
    z = rng.normal(size=(36_000, 2))
    mon = bmx.HRFBold(period=period, downsample=down, kernel=bmx.Gamma())
    y = np.asarray(mon(jnp.asarray(z), dt))
    zb = z.reshape(-1, 4, 2).mean(1)
    lags = np.arange(int(np.ceil(20.0 / 0.004))) * 0.004
    h = scipy.stats.gamma.pdf(lags, 3, scale=1.08) * 0.004
    ref = np.stack([np.convolve(zb[:, i], h)[:zb.shape[0]] for i in range(2)], 1)[179::180]
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12)


def test_hrf_bold_constant_input_reaches_kernel_area():
    mon = bmx.HRFBold(period=1000.0, downsample=4.0)
    y = np.asarray(mon(jnp.full((60_000, 1), 2.0), 1.0))
    assert y.shape == (60, 1)
    # 2 * area of the canonical HRF over its 32 s support (1 - 1/6 up to the tails)
    area = scipy.stats.gamma.cdf(32, 6) - scipy.stats.gamma.cdf(32, 16) / 6
    np.testing.assert_allclose(y[-1, 0], 2 * area, rtol=2e-3)
    assert abs(y[0, 0]) < 0.05  # nothing yet after the first second


def test_hrf_bold_in_simulation_matches_post_hoc():
    node = bmx.Hopf(a=jnp.asarray([0.04, 0.1]), omega=2 * np.pi * 0.1 / 1000)
    mon = bmx.HRFBold(on="x", period=1000.0, downsample=2.0)
    sim = bmx.simulate(node, 20_000.0, 1.0, solver=dfx.Heun(), monitors={"x": "x", "b": mon},
                       y0={"x": jnp.full(2, 0.3), "y": jnp.zeros(2)})
    np.testing.assert_allclose(sim["b"], mon(sim["x"], 1.0), rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="downsample"):
        bmx.simulate(node, 3000.0, 1.5, monitors={"b": mon})


# --------------------------------------------------------------------- temporal monitors


def test_temporal_average_and_subsample():
    node = bmx.Hopf(a=0.2)
    sim = bmx.simulate(node, 1003.0, 0.5, n_nodes=2, solver=dfx.Heun(), key=jax.random.key(0),
                       monitors={"x": "x", "avg": bmx.TemporalAverage(on="x", period=10.0),
                                 "sub": bmx.Subsample(on="x", period=5.0)})
    x = np.asarray(sim["x"])
    n = (x.shape[0] // 20) * 20
    np.testing.assert_allclose(sim["avg"], x[:n].reshape(-1, 20, 2).mean(1), rtol=1e-6)
    np.testing.assert_allclose(sim["sub"], x[9::10])
    np.testing.assert_allclose(sim.times("sub"), np.asarray(sim.ts)[9::10])
    np.testing.assert_allclose(sim.times("avg")[:2], [10.0, 20.0])
    # post hoc gives the same
    np.testing.assert_allclose(bmx.TemporalAverage(period=10.0)(sim["x"], 0.5), sim["avg"])


# ------------------------------------------------------------------------------ lead fields


def _sphere_series(big_r, sigma, b, p_r, p_t, theta, phi, n_terms=400):
    """Legendre-series surface potential of a dipole on the z axis at depth b in a homogeneous
    sphere (e.g. de Munck & Peters 1993), an independent reference for the closed form."""
    x = np.cos(theta)
    total = 0.0
    for n in range(1, n_terms):
        pn = scipy.special.eval_legendre(n, x)
        pn1 = -scipy.special.lpmv(1, n, x)  # without the Condon-Shortley phase
        total += (2 * n + 1) / n * (b / big_r) ** (n - 1) * (n * p_r * pn
                                                             + p_t * np.cos(phi) * pn1)
    return total / (4 * np.pi * sigma * big_r**2)


def test_sphere_eeg_lead_field_matches_legendre_series(x64):
    big_r, sigma, b = 90.0, 0.33, 60.0
    theta = np.array([0.2, 0.7, 1.3, 2.0, 2.9])
    phi = np.array([0.0, 0.5, 2.0, 3.5, 5.0])
    sensors = big_r * np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi),
                                np.cos(theta)], 1)
    src = np.array([[0.0, 0.0, b], [0.0, 0.0, b]])
    ori = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    gain = np.asarray(bmx.eeg_lead_field(src, sensors, orientations=ori,
                                         conductor=bmx.SphericalHead(radius=big_r)))
    for j, (p_r, p_t) in enumerate([(1.0, 0.0), (0.0, 1.0)]):
        # series in SI units (m), converted to µV per nA·m
        ref = _sphere_series(big_r * 1e-3, sigma, b * 1e-3, p_r, p_t, theta, phi) * 1e-3
        np.testing.assert_allclose(gain[:, j], ref, rtol=1e-6)


def test_eeg_lead_field_centre_dipole_and_infinite_medium(x64):
    sensors = 90.0 * np.eye(3)
    src = np.array([[0.0, 0.0, 0.0]])
    ori = np.array([[0.0, 0.0, 1.0]])
    inf = bmx.eeg_lead_field(src, sensors, orientations=ori, conductor=bmx.InfiniteMedium())
    sph = bmx.eeg_lead_field(src, sensors, orientations=ori)
    # infinite medium: p.d / (4 pi sigma d^3) at 90 mm on the axis, in µV per nA·m
    expected = 1e-9 / (4 * np.pi * 0.33 * 0.09**2) * 1e6
    np.testing.assert_allclose(inf[:, 0], [0.0, 0.0, expected], atol=1e-15)
    np.testing.assert_allclose(sph, 3 * inf, atol=1e-15)  # three times, at the centre


def test_eeg_lead_field_input_errors():
    with pytest.raises(ValueError, match="on the sphere"):
        bmx.eeg_lead_field([[0, 0, 10.0]], [[0, 0, 50.0]])
    with pytest.raises(ValueError, match="inside"):
        bmx.eeg_lead_field([[0, 0, 95.0]], [[0, 0, 90.0]])
    with pytest.raises(ValueError, match="origin"):
        bmx.eeg_lead_field([[0, 0, 0.0]], [[0, 0, 90.0]])
    with pytest.raises(ValueError, match="sources"):
        bmx.eeg_lead_field([[0, 0]], [[0, 0, 90.0]])


def test_meg_lead_field_sarvas_properties(x64):
    rng = np.random.default_rng(1)
    sensors = rng.normal(size=(20, 3))
    sensors = 110.0 * sensors / np.linalg.norm(sensors, axis=1, keepdims=True)
    src = np.array([[10.0, 20.0, 50.0], [0.0, 0.0, 0.0]])
    radial = src[0] / np.linalg.norm(src[0])
    tangential = np.cross(radial, [1.0, 0.0, 0.0])
    tangential /= np.linalg.norm(tangential)
    # radial dipoles and dipoles at the centre are silent
    g = bmx.meg_lead_field(src[:1], sensors, orientations=radial[None])
    np.testing.assert_allclose(g, 0.0, atol=1e-10)
    g = bmx.meg_lead_field(src[1:], sensors, orientations=np.array([[1.0, 0, 0]]))
    np.testing.assert_allclose(g, 0.0, atol=1e-10)
    # the radial field comes from the primary current only (Biot-Savart), volume currents
    # do not contribute to it outside a sphere
    g = np.asarray(bmx.meg_lead_field(src[:1], sensors, orientations=tangential[None]))
    r, r0, q = sensors * 1e-3, src[0] * 1e-3, tangential
    d = r - r0
    b0 = 1e-7 * np.cross(q, d) / np.linalg.norm(d, axis=1, keepdims=True) ** 3
    radial_b0 = np.sum(b0 * r / np.linalg.norm(r, axis=1, keepdims=True), 1) * 1e6
    np.testing.assert_allclose(g[:, 0], radial_b0, rtol=1e-9, atol=1e-12)
    assert np.abs(g).max() > 1.0


def test_lead_field_monitor_projects_and_references():
    rng = np.random.default_rng(2)
    gain = jnp.asarray(rng.normal(size=(5, 3)), jnp.float32)
    node = bmx.Hopf(a=0.2)
    mons = {"x": "x", "s": bmx.LeadField(gain, on="x"),
            "ref": bmx.LeadField(gain, on="x", average_reference=True)}
    sim = bmx.simulate(node, 200.0, 0.5, n_nodes=3, key=jax.random.key(0), solver=dfx.Heun(),
                       monitors=mons)
    np.testing.assert_allclose(sim["s"], sim["x"] @ gain.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.mean(np.asarray(sim["ref"]), axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(bmx.LeadField(gain)(sim["x"], 0.5), sim["s"], rtol=1e-6)
    with pytest.raises(ValueError, match="region columns"):
        bmx.simulate(node, 10.0, 0.5, n_nodes=4, key=jax.random.key(0),
                     monitors={"s": bmx.LeadField(gain, on="x")})
    with pytest.raises(ValueError, match="gain"):
        bmx.LeadField(jnp.ones(3))


def test_jansen_rit_eeg_through_an_analytic_lead_field():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 3))
    centres = 50.0 * centres / np.linalg.norm(centres, axis=1, keepdims=True)
    sensors = rng.normal(size=(8, 3))
    sensors = 90.0 * sensors / np.linalg.norm(sensors, axis=1, keepdims=True)
    gain = bmx.eeg_lead_field(centres, sensors)
    sim = bmx.simulate(bmx.JansenRit(), 500.0, 0.5, n_nodes=4, key=jax.random.key(1),
                       monitors={"eeg": bmx.LeadField(gain, on="eeg")})
    assert sim["eeg"].shape == (1000, 8) and np.all(np.isfinite(sim["eeg"]))


# ------------------------------------------------------------------------------ streaming FC


def test_streaming_fc_matches_fc_of_the_recorded_trace():
    conn = bmx.Connectome(jnp.asarray(np.random.default_rng(4).uniform(size=(4, 4)),
                                      jnp.float32))
    net = bmx.Network(bmx.Hopf(a=-0.02), conn, coupling=bmx.DiffusiveCoupling(k=0.2),
                      noise=bmx.AdditiveNoise(sigma=0.05))
    # the streaming moments are Heun quadratures of the path, the sample FC a plain mean of the
    # step ends: they agree to O(dt^2) (about 1 % at dt = 0.5 ms for this 10 Hz network)
    sim = bmx.simulate(net, 2000.0, 0.1, key=jax.random.key(0), transient=200.0,
                       monitors={"x": "x", "fc": bmx.StreamingFC(on="x"),
                                 "cov": bmx.StreamingFC(on="x", covariance=True)})
    assert sim["fc"].shape == (4, 4)
    np.testing.assert_allclose(sim["fc"], metrics.fc(sim["x"]), atol=5e-3)
    np.testing.assert_allclose(sim["cov"], np.cov(np.asarray(sim["x"]).T, bias=True),
                               rtol=5e-3, atol=1e-5)
    np.testing.assert_allclose(sim.times("fc"), [2000.0])


def test_streaming_fc_in_a_delayed_network_excludes_the_transient():
    w = jnp.asarray([[0, 1.0, 0.5], [1.0, 0, 0.2], [0.5, 0.2, 0]])
    conn = bmx.Connectome(w, lengths=jnp.asarray([[0, 20.0, 30], [20, 0, 10], [30, 10, 0]]))
    net = bmx.Network(bmx.Hopf(a=-0.05), conn, coupling=bmx.DiffusiveCoupling(k=0.3),
                      speed=10.0, noise=bmx.AdditiveNoise(sigma=0.05))
    sim = bmx.simulate(net, 1500.0, 0.1, key=jax.random.key(1), transient=500.0,
                       monitors={"x": "x", "fc": bmx.StreamingFC(on="x")})
    assert sim["x"].shape == (10_000, 3)
    np.testing.assert_allclose(sim["fc"], metrics.fc(sim["x"]), atol=5e-3)


def test_monitors_do_not_recompile_for_new_parameter_values():
    mons = {"bold": bmx.BalloonWindkessel(on="x", period=100.0), "fc": bmx.StreamingFC("x")}
    conn = bmx.Connectome(jnp.ones((3, 3)))

    def run(k):
        net = bmx.Network(bmx.Hopf(a=-0.05), conn, coupling=bmx.DiffusiveCoupling(k=k))
        return bmx.simulate(net, 500.0, 0.5, solver=dfx.Heun(), key=jax.random.key(0),
                            monitors=mons)

    run(0.1)
    with count_compilations() as c:
        run(0.2)
    assert c.compiles == 0


def test_bold_gradient_through_a_delayed_network_matches_finite_differences(x64):
    from helpers import finite_difference_grad

    w = jnp.asarray([[0, 1.0], [0.6, 0]])
    conn = bmx.Connectome(w, lengths=jnp.asarray([[0, 12.0], [12.0, 0]]))
    mon = {"bold": bmx.BalloonWindkessel(on="x", period=250.0),
           "hrf": bmx.HRFBold(on="x", period=250.0, downsample=2.0, kernel=bmx.Gamma())}
    y0 = {"x": jnp.asarray([0.3, -0.1]), "y": jnp.asarray([0.0, 0.2])}

    base = bmx.Network(bmx.Hopf(a=-0.05, omega=0.01), conn,
                       coupling=bmx.DiffusiveCoupling(k=0.0), speed=2.0)

    @jax.jit
    def loss(k):
        net = eqx.tree_at(lambda n: n.coupling.k, base, k)
        sim = bmx.simulate(net, 3000.0, 1.0, y0=y0, monitors=mon)
        return jnp.sum(sim["bold"] ** 2) * 1e4 + jnp.sum(sim["hrf"] ** 2)

    k = jnp.asarray(0.4)
    g = jax.grad(loss)(k)
    assert abs(float(g)) > 1e-6
    np.testing.assert_allclose(g, finite_difference_grad(loss, k, eps=1e-6), rtol=1e-5)
