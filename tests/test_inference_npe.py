"""Neural posterior estimation against analytic posteriors (linear-Gaussian), calibration (SBC
ranks uniform, TARP on the diagonal), identification of a Hopf node's `a` and `omega`,
truncated sequential rounds, learned embeddings, and the diagnostics' formulas."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from helpers import count_compilations, small_network

import brainmass_eqx as bmx
from brainmass_eqx import inference as inf


A = np.array([[1.0, 0.5], [0.0, 1.0], [0.3, -0.2]])
SIGMA = 0.5
PRIOR = inf.JointPrior([inf.Normal(0.0, 1.0, shape=(2,))])


def linear_gaussian(theta, key):
    return jnp.asarray(A, theta.dtype) @ theta + SIGMA * jax.random.normal(key, (3,),
                                                                          theta.dtype)


def analytic(x, prior_var=1.0):
    """The exact posterior of x = A theta + SIGMA eps under theta ~ N(0, prior_var I)."""
    cov = np.linalg.inv(np.eye(2) / prior_var + A.T @ A / SIGMA**2)
    return cov @ A.T @ np.asarray(x) / SIGMA**2, cov


@pytest.fixture(scope="module")
def trained():
    bank = inf.simulate_bank(linear_gaussian, PRIOR, 4000, jax.random.key(0), batch_size=1000,
                             progress=False)
    train, test = bank.split(0.05, jax.random.key(1))
    return inf.NPE(PRIOR, progress=False).fit(train, jax.random.key(2)), test


def test_npe_recovers_the_analytic_linear_gaussian_posterior(trained):
    post, _ = trained
    for x0 in ([1.0, -0.5, 0.7], [-1.5, 0.2, -0.3]):
        mu, cov = analytic(x0)
        s = np.asarray(post.sample(jnp.asarray(x0), 20_000, jax.random.key(3)))
        sd = np.sqrt(np.diag(cov))
        assert np.all(np.abs(s.mean(0) - mu) < 0.15 * sd), (s.mean(0), mu)
        np.testing.assert_allclose(np.cov(s.T), cov, rtol=0.2, atol=0.1 * sd.min() ** 2)
        ref = np.random.default_rng(0).multivariate_normal(mu, cov, 200)
        lq = np.asarray(post.log_prob(jnp.asarray(ref), jnp.asarray(x0)))
        lp = scipy.stats.multivariate_normal(mu, cov).logpdf(ref)
        assert np.median(np.abs(lq - lp)) < 0.15
    assert np.isfinite(post.history["val"]).all() and len(post.history["train"]) >= 5
    a = post.sample(jnp.asarray([1.0, 0.0, 0.0]), 5, jax.random.key(9))
    post.log_prob(a, jnp.asarray([1.0, 0.0, 0.0]))
    with count_compilations() as c:  # same shapes: nothing compiles, same key: same draws
        b = post.sample(jnp.asarray([0.0, 2.0, 0.0]), 5, jax.random.key(9))
        post.log_prob(b, jnp.asarray([0.0, 2.0, 0.0]))
        np.testing.assert_array_equal(a, post.sample(jnp.asarray([1.0, 0.0, 0.0]), 5,
                                                     jax.random.key(9)))
    assert c.compiles == 0


def test_npe_is_calibrated_sbc_and_tarp(trained):
    post, test = trained
    result = inf.sbc(post, test, jax.random.key(4), n_samples=100)
    assert result.ranks.shape == (test.n, 2)
    assert np.all(result.p_values > 1e-3), result.p_values
    lo, hi = scipy.stats.binom.ppf([0.0005, 0.9995], test.n, 0.95) / test.n
    assert np.all((result.coverage(0.95) >= lo) & (result.coverage(0.95) <= hi))
    t = inf.tarp(post, test, jax.random.key(5), n_samples=100)
    band_lo, band_hi = t.band(0.999)
    assert np.all((t.ecp >= band_lo - 1e-9) & (t.ecp <= band_hi + 1e-9))
    assert t.ks_pvalue > 1e-3


def test_diagnostics_detect_a_miscalibrated_posterior(trained):
    """A posterior that ignores the data (the prior) has SBC ranks uniform but no shrinkage;
    an overconfident one (shifted) fails SBC and TARP."""
    post, test = trained
    shifted = inf.Bank(test.theta + 1.0, test.x, test.index, test.failed_theta,
                       test.failed_index)
    assert np.min(inf.sbc(post, shifted, jax.random.key(6)).p_values) < 1e-6
    assert inf.tarp(post, shifted, jax.random.key(7)).ks_pvalue < 1e-6


def test_posterior_respects_a_bounded_prior():
    prior = inf.JointPrior([inf.Uniform(0.0, 1.0), inf.LogUniform(0.1, 10.0)])

    def sim(theta, key):
        return jnp.stack([theta[0], jnp.log(theta[1])]) + 0.3 * jax.random.normal(key, (2,))

    bank = inf.simulate_bank(sim, prior, 1500, jax.random.key(10), batch_size=500,
                             progress=False)
    post = inf.NPE(prior, progress=False, max_epochs=40).fit(bank, jax.random.key(11))
    x0 = jnp.array([1.2, 2.5])  # beyond the support's edge: mass piles up at the bounds
    s = np.asarray(post.sample(x0, 5000, jax.random.key(12)))
    assert np.all((s[:, 0] >= 0) & (s[:, 0] <= 1) & (s[:, 1] >= 0.1) & (s[:, 1] <= 10))
    lp = post.log_prob(jnp.array([[1.5, 1.0], [0.5, 20.0], [0.5, 1.0]]), x0)
    assert lp[0] == -jnp.inf and lp[1] == -jnp.inf and np.isfinite(lp[2])


def test_zscore_and_shrinkage_formulas():
    prior = inf.JointPrior([inf.Uniform(0.0, 12.0)])  # variance 12
    samples = np.random.default_rng(0).normal(3.0, 0.5, size=(100_000, 1))
    r = inf.zscore_shrinkage(samples, np.array([4.0]), prior)
    np.testing.assert_allclose(r.z, [2.0], rtol=1e-2)  # |3 - 4| / 0.5
    np.testing.assert_allclose(r.shrinkage, [1 - 0.25 / 12], rtol=1e-3)


def test_c2st_separates_shifted_samples_only():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2))
    assert inf.c2st(a, b, jax.random.key(0)) < 0.56
    assert inf.c2st(a, b + 1.0, jax.random.key(0)) > 0.65


def test_npe_input_validation(trained):
    post, test = trained
    with pytest.raises(ValueError, match="too few"):
        inf.NPE(PRIOR, progress=False).fit(test.subset(np.arange(50)), jax.random.key(0))
    with pytest.raises(ValueError, match="output shape"):
        post.sample(jnp.zeros(4), 3, jax.random.key(0))
    with pytest.raises(TypeError, match="AbstractFlow"):
        inf.NPE(PRIOR, flow="maf")
    with pytest.raises(ValueError, match="two parameters"):
        inf.SplineCouplingFlow().build(jax.random.key(0), 1, 3)


@pytest.mark.slow
def test_hopf_node_posterior_identifies_a_and_omega():
    """Amplitude and spectral peak identify a single noisy Hopf node's `a` and `omega`: true
    values fall inside their 95 % credible intervals at the expected rate on a held-out
    bank, and the posterior shrinks far from the prior."""
    net = bmx.Network(bmx.Hopf(a=jnp.zeros(1), omega=jnp.full(1, 0.06)),
                      bmx.Connectome.unconnected(1), bmx.LinearCoupling(),
                      noise=bmx.AdditiveNoise(sigma=0.02))
    prior = inf.JointPrior([inf.Uniform(-0.05, 0.05),
                            inf.Uniform(2 * np.pi * 0.006, 2 * np.pi * 0.014)],
                           where=lambda n: (n.node.a, n.node.omega), names=("a", "omega"))

    def sim(theta, key):
        x = bmx.simulate(prior.apply(net, theta), 3000.0, 1.0, key=key, transient=500.0,
                         monitors=["x"])["x"][:, 0]
        f, _ = inf.spectral_peak(x, 1.0, fmin=2.0, fmax=30.0, nperseg=1024)
        return jnp.stack([jnp.log(jnp.std(x)), f])

    bank = inf.simulate_bank(sim, prior, 3000, jax.random.key(0), batch_size=500,
                             progress=False)
    train, test = bank.split(0.1, jax.random.key(1))
    post = inf.NPE(prior, progress=False).fit(train, jax.random.key(2))
    r = inf.sbc(post, test, jax.random.key(4), n_samples=200)
    lo, hi = scipy.stats.binom.ppf([0.0005, 0.9995], test.n, 0.95) / test.n
    cov = r.coverage(0.95)
    assert np.all((cov >= lo) & (cov <= hi)), cov
    zs = inf.zscore_shrinkage(post.sample_many(jnp.asarray(test.x[:50]), 200,
                                               jax.random.key(5)), test.theta[:50], prior)
    assert np.all(np.median(zs.shrinkage, axis=0) > 0.6)


@pytest.mark.slow
def test_truncated_sequential_npe_matches_the_analytic_posterior():
    prior = inf.JointPrior([inf.Normal(0.0, 3.0, shape=(2,))])  # wide: rounds must truncate
    x0 = jnp.array([2.0, -1.0, 1.5])
    npe = inf.NPE(prior, progress=False)
    result = npe.fit_sequential(linear_gaussian, x0, jax.random.key(20), rounds=2,
                                n_per_round=1500, batch_size=500)
    assert len(result.banks) == 2 and result.kept[0] < 0.5
    mu, cov = analytic(x0, prior_var=9.0)
    s = np.asarray(result.posterior.sample(x0, 2000, jax.random.key(21)))
    ref = np.random.default_rng(2).multivariate_normal(mu, cov, 2000)
    assert inf.c2st(s, ref, jax.random.key(22)) < 0.6


@pytest.mark.slow
def test_learned_embedding_trains_jointly_with_the_flow():
    prior = inf.JointPrior([inf.Normal(0.0, 1.0, shape=(2,))])
    mix = np.random.default_rng(3).standard_normal((30, 2))

    def sim(theta, key):  # 30 noisy mixtures of two parameters
        return jnp.tanh(jnp.asarray(mix, theta.dtype) @ theta) + 0.2 * jax.random.normal(
            key, (30,), theta.dtype)

    bank = inf.simulate_bank(sim, prior, 3000, jax.random.key(30), batch_size=1000,
                             progress=False)
    train, test = bank.split(0.1, jax.random.key(31))
    emb = inf.EmbeddingNet(30, 4, width=32, key=jax.random.key(32))
    post = inf.NPE(prior, embedding=emb, progress=False).fit(train, jax.random.key(33))
    assert not np.allclose(post.density.embedding.mlp.layers[0].weight,
                           emb.mlp.layers[0].weight)  # trained, not frozen
    r = inf.sbc(post, test, jax.random.key(34), n_samples=100)
    assert np.all(r.p_values > 1e-3)
    zs = inf.zscore_shrinkage(post.sample_many(jnp.asarray(test.x[:50]), 200,
                                               jax.random.key(35)), test.theta[:50], prior)
    assert np.all(np.median(zs.shrinkage, axis=0) > 0.8)


D4 = 4
A4 = np.random.default_rng(0).standard_normal((6, D4)) / 2.0


def _linear4(theta, key):
    return jnp.asarray(A4, theta.dtype) @ theta


def test_gaussian_observation_gives_the_exact_joint_score():
    sim = inf.GaussianObservation(_linear4, 0.5)
    theta, key = jnp.array([0.3, -1.0, 0.5, 2.0]), jax.random.key(0)
    x, t = sim.with_score(theta, key)
    np.testing.assert_allclose(x, sim(theta, key), rtol=1e-6)
    # the likelihood score of x ~ N(A theta, 0.25 I): A^T (x - A theta) / 0.25
    np.testing.assert_allclose(t, A4.T @ (np.asarray(x) - A4 @ np.asarray(theta)) / 0.25,
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError, match="joint score"):
        inf.simulate_bank(_linear4, inf.Normal(0.0, 1.0, shape=(D4,)), 4, key, scores=True)
    bank = inf.simulate_bank(sim, inf.Normal(0.0, 1.0, shape=(D4,)), 300, key, progress=False)
    assert bank.score is None
    with pytest.raises(ValueError, match="scores=True"):
        inf.NPE(inf.Normal(0.0, 1.0, shape=(D4,)), score_weight=1.0).fit(bank, key)


@pytest.mark.slow
def test_joint_score_through_a_delayed_stochastic_network_matches_finite_differences(x64):
    """Through `simulate` (delays, process noise, BOLD-free summaries): the joint score is
    J^T (x - g) / s^2 with J the Jacobian at the simulation's own noise path."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.05), n=4)
    prior = inf.JointPrior([inf.LogUniform(0.05, 1.0), inf.Uniform(-0.2, -0.01)],
                           where=lambda m: (m.coupling.k, m.node.a))

    def summary(theta, key):
        x = bmx.simulate(prior.apply(net, theta), 200.0, 0.1, key=key, transient=50.0,
                         monitors=["x"])["x"]
        return jnp.concatenate([jnp.std(x, axis=0), bmx.metrics.upper_triangle(
            bmx.metrics.fc(x))])

    sim = inf.GaussianObservation(summary, 0.1)
    theta, key = jnp.array([0.3, -0.05]), jax.random.key(3)
    x, t = sim.with_score(theta, key)
    k_sim, _ = jax.random.split(key)
    r = (np.asarray(x) - np.asarray(summary(theta, k_sim))) / 0.01
    fd = np.stack([(np.asarray(summary(theta + h, k_sim)) - np.asarray(summary(theta - h, k_sim)))
                   / (2e-5) for h in jnp.eye(2) * 1e-5], axis=1)
    np.testing.assert_allclose(t, fd.T @ r, rtol=1e-4)


@pytest.mark.slow
def test_joint_scores_make_npe_more_accurate_per_simulation():
    """The differentiable-simulator advantage, measured: with 200 simulations of a 4-parameter
    linear-Gaussian model, training on the joint scores as well lowers the KL divergence from
    the analytic posterior (averaged over seeds and 20 observations)."""
    prior = inf.JointPrior([inf.Normal(0.0, 1.0, shape=(D4,))])
    sim = inf.GaussianObservation(_linear4, 0.5)
    cov = np.linalg.inv(np.eye(D4) + A4.T @ A4 / 0.25)
    chol, entropy = np.linalg.cholesky(cov), 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov))
    rng = np.random.default_rng(1)
    test_x = (rng.standard_normal((20, D4)) @ A4.T) + 0.5 * rng.standard_normal((20, 6))

    def kl(post):  # KL(p || q) = E_p[-log q] - H(p)
        out = []
        for x in test_x:
            th = cov @ A4.T @ x / 0.25 + rng.standard_normal((1000, D4)) @ chol.T
            out.append(-float(np.mean(post.log_prob(jnp.asarray(th), jnp.asarray(x)))))
        return np.mean(out) - entropy

    bank = inf.simulate_bank(sim, prior, 200, jax.random.key(7), scores=True, progress=False)
    assert bank.score.shape == (200, D4)
    plain = [kl(inf.NPE(prior, progress=False).fit(bank, jax.random.key(s))) for s in range(3)]
    scored = [kl(inf.NPE(prior, score_weight=1.0, progress=False).fit(bank, jax.random.key(s)))
              for s in range(3)]
    assert np.mean(scored) < 0.7 * np.mean(plain), (plain, scored)
