"""Priors (against scipy's densities and analytic moments), simulation banks (reproducible,
batch-size independent, resumable, failures counted) and the summary statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
import scipy.stats
from helpers import count_compilations
from hypothesis import given, settings, strategies as st

import brainmass_eqx as bmx
from brainmass_eqx import inference as inf


PRIORS = {
    "uniform": (inf.Uniform(-1.0, 3.0), scipy.stats.uniform(-1.0, 4.0)),
    "loguniform": (inf.LogUniform(0.1, 10.0), scipy.stats.loguniform(0.1, 10.0)),
    "normal": (inf.Normal(0.5, 2.0), scipy.stats.norm(0.5, 2.0)),
}


@pytest.mark.parametrize("name", PRIORS)
def test_prior_density_and_moments_match_scipy(name):
    prior, ref = PRIORS[name]
    x = np.asarray(ref.rvs(size=50, random_state=0))
    np.testing.assert_allclose(jax.vmap(prior.log_prob)(jnp.asarray(x)), ref.logpdf(x),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(prior.mean, ref.mean(), rtol=1e-5)
    np.testing.assert_allclose(prior.variance, ref.var(), rtol=1e-5)
    s = np.asarray(prior.sample(jax.random.key(0), 40_000))
    assert scipy.stats.kstest(s, ref.cdf).pvalue > 1e-3
    if name != "normal":  # outside the support: -inf, never NaN
        assert prior.log_prob(jnp.asarray(ref.support()[0] - 0.05)) == -jnp.inf
        assert prior.log_prob(jnp.asarray(ref.support()[1] + 0.05)) == -jnp.inf


@settings(max_examples=30, deadline=None)
@given(z=st.floats(-8, 8))
def test_unconstrained_map_round_trips_into_the_support(z):
    for prior, ref in PRIORS.values():
        theta = prior.from_unconstrained(jnp.asarray(z))
        lo, hi = ref.support()
        assert lo <= float(theta) <= hi
        back = prior.to_unconstrained(theta)
        np.testing.assert_allclose(back, z, atol=1e-3 * (1 + abs(z)) if abs(z) < 6 else 0.5)


def test_joint_prior_log_det_matches_autodiff():
    joint = inf.JointPrior([inf.Uniform(0.0, 2.0, shape=(3,)), inf.LogUniform(1e-3, 1.0),
                            inf.Normal(0.0, 3.0)])
    z = jnp.array([0.3, -1.2, 2.0, 0.7, -0.4])
    jac = jax.jacfwd(joint.from_unconstrained)(z)
    np.testing.assert_allclose(joint.log_det_jacobian(z), np.log(abs(np.linalg.det(jac))),
                               rtol=1e-5)
    assert joint.dim == 5 and joint.labels[:2] == ("theta0[0]", "theta0[1]")
    np.testing.assert_allclose(joint.to_unconstrained(joint.from_unconstrained(z)), z,
                               rtol=1e-4, atol=1e-5)


def test_joint_prior_writes_scalars_and_per_region_vectors_into_a_network():
    net = bmx.Network(bmx.Hopf(a=jnp.zeros(4)), bmx.Connectome.unconnected(4),
                      bmx.DiffusiveCoupling(k=0.1), noise=bmx.AdditiveNoise(sigma=0.01))
    prior = inf.JointPrior([inf.LogUniform(1e-3, 1.0), inf.Uniform(-0.1, 0.1, shape=(4,)),
                            inf.Uniform(-1.0, 1.0)],
                           where=lambda n: (n.coupling.k, n.node.a, n.node.omega),
                           names=("k", "a", "omega"))
    theta = prior.sample(jax.random.key(0))
    out = prior.apply(net, theta)
    assert float(out.coupling.k) == pytest.approx(float(theta[0]))
    np.testing.assert_allclose(out.node.a, theta[1:5])
    np.testing.assert_allclose(out.node.omega, np.full(4, float(theta[5])))  # broadcast
    assert prior.labels == ("k", "a[0]", "a[1]", "a[2]", "a[3]", "omega")
    with pytest.raises(ValueError, match="length 6"):
        prior.apply(net, theta[:3])
    with pytest.raises(ValueError, match="one prior per array"):
        inf.JointPrior([inf.Normal()], where=lambda n: (n.node.a, n.node.omega)).apply(
            net, jnp.zeros(1))


def test_prior_validation():
    with pytest.raises(ValueError, match="exceed"):
        inf.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        inf.LogUniform(0.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        inf.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="broadcast"):
        inf.Uniform(jnp.zeros(3), jnp.ones(2))
    with pytest.raises(TypeError, match="priors"):
        inf.JointPrior(["uniform"])


PRIOR2 = inf.JointPrior([inf.Uniform(-1.0, 1.0), inf.Normal(0.0, 1.0)])


def noisy(theta, key):
    return jnp.stack([theta[0] + 0.1 * jax.random.normal(key), theta[1] ** 2, theta[0] * theta[1]])


def failing(theta, key):
    """Fails (NaN) wherever theta[0] > 0.5: a quarter of the prior."""
    x = noisy(theta, key)
    return jnp.where(theta[0] > 0.5, jnp.nan, x)


def test_bank_is_reproducible_and_independent_of_batch_size():
    key = jax.random.key(3)
    a = inf.simulate_bank(noisy, PRIOR2, 50, key, batch_size=7, progress=False)
    b = inf.simulate_bank(noisy, PRIOR2, 50, key, batch_size=50, progress=False)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.x, b.x)
    # simulation i runs with fold_in(key, i); theta i from fold_in(fold_in(key, 2**32-1), i)
    th = PRIOR2.sample(jax.random.fold_in(jax.random.fold_in(key, 2**32 - 1), 13))
    np.testing.assert_allclose(a.theta[13], th)
    np.testing.assert_allclose(a.x[13], noisy(th, jax.random.fold_in(key, 13)), rtol=1e-6)
    assert len(np.unique(a.theta[:, 0])) == 50
    with count_compilations() as c:
        inf.simulate_bank(noisy, PRIOR2, 50, jax.random.key(4), batch_size=7, progress=False)
    assert c.compiles == 0


INTERRUPT = {"after": None, "seen": 0}


def _maybe_interrupt(_):
    INTERRUPT["seen"] += 1
    if INTERRUPT["after"] is not None and INTERRUPT["seen"] > INTERRUPT["after"]:
        raise KeyboardInterrupt("interrupted")


def interruptible(theta, key):
    """`noisy`, with a host callback that raises once `INTERRUPT["after"]` simulations ran."""
    jax.debug.callback(_maybe_interrupt, theta[0])
    return noisy(theta, key)


def test_interrupted_bank_resumes_to_the_straight_run(tmp_path):
    key = jax.random.key(5)
    straight = inf.simulate_bank(noisy, PRIOR2, 40, key, batch_size=8, progress=False)
    INTERRUPT.update(after=20, seen=0)  # dies in the third batch
    try:
        with pytest.raises(Exception, match="interrupted"):
            inf.simulate_bank(interruptible, PRIOR2, 40, key, batch_size=8, path=tmp_path,
                              progress=False)
    finally:
        INTERRUPT.update(after=None, seen=0)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 2  # the two finished batches
    resumed = inf.simulate_bank(interruptible, PRIOR2, 40, key, batch_size=8, path=tmp_path,
                                progress=False)
    assert INTERRUPT["seen"] == 24  # only the three missing batches ran
    np.testing.assert_array_equal(resumed.theta, straight.theta)
    np.testing.assert_allclose(resumed.x, straight.x, rtol=1e-6)
    assert len(list(tmp_path.glob("chunk-*.npz"))) == 5
    with pytest.raises(ValueError, match="other settings"):
        inf.simulate_bank(noisy, PRIOR2, 40, key, batch_size=10, path=tmp_path, progress=False)


def test_bank_records_and_excludes_failures():
    with pytest.warns(RuntimeWarning, match=r"\d+ of 400 simulations"):
        bank = inf.simulate_bank(failing, PRIOR2, 400, jax.random.key(6), batch_size=128,
                                 progress=False)
    assert bank.n + bank.n_failed == 400
    assert np.all(bank.failed_theta[:, 0] > 0.5) and np.all(bank.theta[:, 0] <= 0.5)
    assert 0.18 < bank.n_failed / 400 < 0.32  # a quarter of the uniform prior fails
    assert np.all(np.isfinite(bank.x))
    assert sorted(np.concatenate([bank.index, bank.failed_index]).tolist()) == list(range(400))


def test_bank_input_validation():
    with pytest.raises(ValueError, match="`n`"):
        inf.simulate_bank(noisy, PRIOR2, 0, jax.random.key(0))
    with pytest.raises(ValueError, match="shape"):
        inf.simulate_bank(noisy, PRIOR2, 4, jax.random.key(0), theta=np.zeros((4, 3)))
    with pytest.raises(TypeError, match="prior"):
        inf.simulate_bank(noisy, "uniform", 4, jax.random.key(0))


# ---- summaries ----------------------------------------------------------------------------

def test_fc_summaries_match_numpy():
    x = np.random.default_rng(0).standard_normal((500, 5)) @ np.triu(np.ones((5, 5)))
    fc = np.corrcoef(x.T)
    np.testing.assert_allclose(inf.fc_upper(jnp.asarray(x)), fc[np.triu_indices(5, 1)],
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(inf.fc_eigenvalues(jnp.asarray(x)),
                               np.sort(np.linalg.eigvalsh(fc))[::-1], rtol=1e-4, atol=1e-5)


def test_soft_histogram_approaches_numpy_histogram_and_has_gradients():
    v = np.random.default_rng(1).uniform(-0.9, 0.9, 20_000)
    soft = inf.soft_histogram(jnp.asarray(v), 10, (-1.0, 1.0), bandwidth=1e-3)
    hard = np.histogram(v, 10, (-1.0, 1.0))[0] / v.size
    np.testing.assert_allclose(soft, hard, atol=2e-3)
    g = jax.grad(lambda s: inf.soft_histogram(jnp.asarray(v[:50]) * s, 10)[3])(1.0)
    assert np.isfinite(g) and g != 0
    x = jnp.asarray(np.random.default_rng(2).standard_normal((300, 4)))
    h = inf.fcd_histogram(x, 60, 10)
    assert h.shape == (20,) and 0.95 < float(h.sum()) <= 1.0 + 1e-6


def test_spectral_summaries_of_a_sinusoid():
    dt, f0 = 1.0, 12.3  # ms, Hz: between Welch bins (resolution 1000/512 Hz)
    t = np.arange(20_000) * dt
    x = np.sin(2 * np.pi * f0 * t / 1000) + 0.1 * np.random.default_rng(3).standard_normal(
        t.size)
    f, p = inf.spectral_peak(jnp.asarray(x), dt, fmin=2.0, fmax=40.0, nperseg=512)
    assert abs(float(f) - f0) < 0.25  # far finer than a bin
    freqs, psd = scipy.signal.welch(x, fs=1000 / dt, nperseg=512)
    bp = inf.band_power(jnp.asarray(x), dt, [(8.0, 16.0), (20.0, 30.0)], nperseg=512)
    df = freqs[1] - freqs[0]
    np.testing.assert_allclose(bp[0], psd[(freqs >= 8) & (freqs < 16)].sum() * df, rtol=1e-3)
    rel = inf.band_power(jnp.asarray(x), dt, [(8.0, 16.0)], nperseg=512, relative=True)
    assert 0.9 < float(rel[0]) < 1.0  # a sinusoid holds nearly all the power
    g = jax.grad(lambda a: inf.spectral_peak(jnp.asarray(x) * a, dt, fmin=2.0, nperseg=512)[1])
    assert np.isfinite(g(1.0))


def test_moments_and_synchrony():
    x = np.random.default_rng(4).gamma(2.0, size=(40_000, 2))
    m = np.asarray(inf.moments(jnp.asarray(x)))
    np.testing.assert_allclose(m[0], x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(m[1], x.std(0), rtol=1e-4)
    np.testing.assert_allclose(m[2], scipy.stats.skew(x), rtol=1e-3)
    np.testing.assert_allclose(m[3], scipy.stats.kurtosis(x), rtol=1e-3)
    t = np.arange(2000) * 1.0
    inphase = np.tile(np.sin(2 * np.pi * t / 100)[:, None], (1, 5))
    s = inf.synchrony(jnp.asarray(inphase))
    assert float(s[0]) > 0.99 and float(s[1]) < 0.01
    rng = np.random.default_rng(5)
    phases = 2 * np.pi * rng.uniform(size=(2000, 200))  # incoherent: R ~ 1/sqrt(N)
    s = inf.synchrony(jnp.asarray(phases), phases=True)
    assert float(s[0]) < 3 / np.sqrt(200)


def test_bank_of_failing_solves_counts_them_with_throw_false_and_explains_otherwise():
    """A Hopf node whose explicit steps blow up for large `a`: with
    `throw=False` the failed solves become non-finite output and are counted; with the
    default the bank stops with a message pointing at `throw=False`."""
    node = bmx.Hopf(a=0.0, omega=0.0)
    prior = inf.JointPrior([inf.Uniform(0.0, 800.0)], where=lambda m: m.a)

    def make(throw):
        def sim(theta, key):
            s = bmx.simulate(prior.apply(node, theta), 20.0, 0.1, monitors=["x"], throw=throw)
            return s["x"][-1]

        return sim

    with pytest.warns(RuntimeWarning, match="non-finite"):
        bank = inf.simulate_bank(make(False), prior, 64, jax.random.key(0), batch_size=32,
                                 progress=False)
    assert bank.n_failed > 0 and bank.n > 0
    assert bank.failed_theta.min() > bank.theta.min()  # the large-a draws fail
    with pytest.raises(RuntimeError, match="throw=False"):
        inf.simulate_bank(make(True), prior, 64, jax.random.key(0), batch_size=32,
                          progress=False)
