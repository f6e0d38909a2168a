"""Metrics against scipy/numpy on the same data, known values, and hypothesis properties."""

import diffrax as dfx
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats
from helpers import finite_difference_grad
from hypothesis import given

import brainmass_eqx as bmx
from brainmass_eqx import metrics


def test_fc_matches_numpy_corrcoef():
    x = np.random.default_rng(0).normal(size=(500, 6)) @ np.random.default_rng(1).normal(
        size=(6, 6))
    np.testing.assert_allclose(metrics.fc(jnp.asarray(x, jnp.float32)), np.corrcoef(x.T),
                               atol=2e-5)


def test_fc_of_independent_noise_is_near_identity():
    t, n = 4000, 8
    x = jax.random.normal(jax.random.key(0), (t, n))
    c = np.asarray(metrics.fc(x))
    off = c[~np.eye(n, dtype=bool)]
    # the sample correlation of independent series has sd 1/sqrt(T): 5 sd bound
    assert np.max(np.abs(off)) < 5 / np.sqrt(t)
    np.testing.assert_array_equal(np.diag(c), 1.0)


def test_fc_constant_region_gives_zero_correlation_and_finite_gradient():
    x = jnp.stack([jnp.sin(jnp.arange(100.0) / 5), jnp.ones(100), jnp.cos(jnp.arange(100.0))],
                  axis=1)
    c = metrics.fc(x)
    assert c[0, 1] == 0 and c[1, 1] == 1
    g = jax.grad(lambda x: jnp.sum(metrics.fc(x)))(x)
    assert np.all(np.isfinite(g))


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=7),
                  elements=st.floats(-1e3, 1e3, allow_nan=False, width=32)))
def test_fc_properties(x):
    c = np.asarray(metrics.fc(jnp.asarray(x, jnp.float32)))
    assert c.shape == (x.shape[1],) * 2
    np.testing.assert_array_equal(c, c.T)
    np.testing.assert_array_equal(np.diag(c), 1.0)
    assert np.all(np.abs(c) <= 1.0)


def test_matrix_correlation_is_pearson_of_upper_triangles():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 7, 7))
    iu = np.triu_indices(7, 1)
    expected = scipy.stats.pearsonr(a[iu], b[iu]).statistic
    np.testing.assert_allclose(metrics.matrix_correlation(jnp.asarray(a, jnp.float32),
                                                          jnp.asarray(b, jnp.float32)),
                               expected, atol=1e-5)


def _fcd_reference(x, w, s):
    iu = np.triu_indices(x.shape[1], 1)
    vecs = [np.corrcoef(x[i:i + w].T)[iu] for i in range(0, x.shape[0] - w + 1, s)]
    return np.corrcoef(np.array(vecs))


def test_fcd_matches_reference_and_time_windows():
    x = np.cumsum(np.random.default_rng(3).normal(size=(300, 5)), axis=0)
    out = metrics.fcd(jnp.asarray(x, jnp.float32), 40, 10)
    np.testing.assert_allclose(out, _fcd_reference(x, 40, 10), atol=5e-4)
    # windows given as times with the sampling interval: 40 samples of 720 ms
    out_t = metrics.fcd(jnp.asarray(x, jnp.float32), 28_800.0, 7_200.0, dt=720.0)
    np.testing.assert_allclose(out_t, out)
    with pytest.raises(ValueError, match="dt"):
        metrics.fcd(jnp.asarray(x, jnp.float32), 28_800.0, 10)
    with pytest.raises(ValueError, match="window"):
        metrics.fcd(jnp.asarray(x, jnp.float32), 1000, 10)


def test_ks_and_wasserstein_match_scipy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=200), rng.normal(0.3, 1.2, size=150)
    np.testing.assert_allclose(metrics.ks_distance(jnp.asarray(a), jnp.asarray(b)),
                               scipy.stats.ks_2samp(a, b).statistic, atol=1e-6)
    np.testing.assert_allclose(metrics.wasserstein_distance(jnp.asarray(a), jnp.asarray(b)),
                               scipy.stats.wasserstein_distance(a, b), rtol=1e-5)
    # FCD distributions of two signals, as used by the fcd objectives
    x = np.cumsum(rng.normal(size=(200, 4)), axis=0)
    y = rng.normal(size=(200, 4))
    fa = np.asarray(metrics.upper_triangle(metrics.fcd(jnp.asarray(x, jnp.float32), 30, 5)))
    fb = np.asarray(metrics.upper_triangle(metrics.fcd(jnp.asarray(y, jnp.float32), 30, 5)))
    np.testing.assert_allclose(metrics.ks_distance(fa, fb),
                               scipy.stats.ks_2samp(fa, fb).statistic, atol=1e-6)


def test_wasserstein_gradient_matches_finite_differences(x64):
    a = jnp.asarray(np.random.default_rng(5).normal(size=20))
    b = jnp.asarray(np.random.default_rng(6).normal(size=30))
    g = jax.grad(metrics.wasserstein_distance)(a, b)
    fd = finite_difference_grad(lambda v: metrics.wasserstein_distance(v, b), a, eps=1e-6)
    np.testing.assert_allclose(g, fd, atol=1e-6)


def test_welch_matches_scipy():
    x = np.random.default_rng(7).normal(size=(1000, 3))
    f, p = metrics.welch_psd(jnp.asarray(x, jnp.float32), 2.0, nperseg=128)
    fs, ps = scipy.signal.welch(x, fs=500.0, nperseg=128, axis=0)
    np.testing.assert_allclose(f, fs, rtol=1e-6)
    np.testing.assert_allclose(p, ps, rtol=1e-4, atol=1e-7)


def test_psd_peak_of_pure_sinusoid():
    dt = 1.0  # ms, fs = 1 kHz; 10 Hz is a bin centre for nperseg = 500
    t = np.arange(5000) * dt / 1000
    x = np.stack([np.sin(2 * np.pi * 10 * t), np.sin(2 * np.pi * 42 * t + 1)], axis=1)
    peak = metrics.peak_frequency(jnp.asarray(x, jnp.float32), dt, nperseg=500)
    np.testing.assert_allclose(peak, [10.0, 42.0])
    soft = metrics.peak_frequency(jnp.asarray(x, jnp.float32), dt, nperseg=500,
                                  temperature=0.05)
    np.testing.assert_allclose(soft, [10.0, 42.0], atol=0.05)


def test_analytic_signal_matches_scipy_and_phase_of_a_cosine():
    x = np.random.default_rng(8).normal(size=(257, 2))
    np.testing.assert_allclose(metrics.analytic_signal(jnp.asarray(x)),
                               scipy.signal.hilbert(x, axis=0), atol=1e-5)
    t = np.arange(1000) / 1000
    phase = metrics.instantaneous_phase(jnp.asarray(np.cos(2 * np.pi * 5 * t)[:, None]))
    # away from the ends the phase of cos(wt) is wt (mod 2 pi)
    err = np.angle(np.exp(1j * (np.asarray(phase[100:900, 0]) - 2 * np.pi * 5 * t[100:900])))
    assert np.max(np.abs(err)) < 1e-2


@given(hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 9)),
                  elements=st.floats(-100, 100, width=32)))
def test_order_parameter_in_unit_interval(phases):
    r = np.asarray(metrics.order_parameter(jnp.asarray(phases)))
    assert np.all((r >= 0) & (r <= 1))


def test_order_parameter_known_values_and_metastability():
    n = 12
    assert metrics.order_parameter(jnp.full((n,), 0.7)) == pytest.approx(1.0)
    spread = jnp.arange(n, dtype=jnp.float32) * (2 * np.pi / n)
    assert metrics.order_parameter(spread) == pytest.approx(0.0, abs=1e-6)
    # synchrony alternating between full and none has metastability 0.5; constant R has 0
    phases = jnp.stack([jnp.zeros(n), spread] * 5)
    assert metrics.metastability(phases) == pytest.approx(0.5, abs=1e-6)
    assert metrics.metastability(jnp.stack([spread + float(c) for c in range(5)])) == pytest.approx(
        0.0, abs=1e-6)
    # agrees with the Kuramoto model's own helper
    np.testing.assert_allclose(metrics.order_parameter(phases),
                               bmx.Kuramoto.order_parameter(phases), atol=1e-6)


def test_fc_corr_gradient_through_a_simulation_matches_finite_differences(x64):
    conn = bmx.Connectome(jnp.asarray([[0, 1.0, 0.2], [0.5, 0, 1.0], [0.3, 0.8, 0]]))
    node = bmx.Hopf(a=-0.05, omega=jnp.asarray([0.06, 0.063, 0.066]))
    target = jax.random.normal(jax.random.key(1), (200, 3))
    y0 = {"x": jnp.asarray([0.5, -0.3, 0.1]), "y": jnp.asarray([0.0, 0.4, -0.2])}

    @jax.jit
    def loss(k):
        net = bmx.Network(node, conn, coupling=bmx.DiffusiveCoupling(k=k))
        sim = bmx.simulate(net, 200.0, 1.0, y0=y0, solver=dfx.Heun(), monitors=["x"])
        return 1.0 - metrics.fc_correlation(sim["x"], target)

    k = jnp.asarray(0.3)
    g = jax.grad(loss)(k)
    fd = finite_difference_grad(loss, k, eps=1e-6)
    assert abs(float(g)) > 1e-4  # the loss does depend on k
    np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_fc_rmse_matches_numpy_upper_triangles():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(2, 300, 5))
    iu = np.triu_indices(5, 1)
    d = np.corrcoef(x.T)[iu] - np.corrcoef(y.T)[iu]
    expected = np.sqrt(np.mean(d**2))
    got = metrics.fc_rmse(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="square"):
        metrics.matrix_rmse(jnp.ones((2, 3)), jnp.ones((2, 3)))
