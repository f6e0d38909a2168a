"""Fitting losses that do not drown in sampling noise: the linear-noise BOLD FC loss recovers a
known effective connectivity from the model's own FC, its gradient through delays and BOLD
matches float64 finite differences; the multi-key FC's sampling variance shrinks like 1/keys."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import finite_difference_grad
from hypothesis import given, settings, strategies as st

import brainmass_eqx as bmx


# a chain of five regions with one chord: five undirected connections
PAIRS = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 3)]


_BASES = {}


def _base(*, delays=False, sigma=0.02):
    """Built once per precision (a connectome is concrete data: never built under a trace)."""
    key = (delays, sigma, jnp.zeros(()).dtype)
    if key not in _BASES:
        _BASES[key] = _build(delays, sigma)
    return _BASES[key]


def _build(delays, sigma):
    n = 5
    w = np.zeros((n, n))
    for i, j in PAIRS:
        w[i, j] = w[j, i] = 1.0
    lengths = np.where(w > 0, 20.0, 0.0) if delays else None
    return bmx.Network(bmx.Hopf(a=-0.05, omega=jnp.linspace(0.04, 0.07, n)),
                       bmx.Connectome(w, lengths),
                       bmx.LearnableWeights(bmx.DiffusiveCoupling(k=0.03), n_regions=n),
                       noise=bmx.AdditiveNoise(sigma=sigma), **(dict(speed=2.0) if delays else {}))


def _ec_network(sym_gain, *, delays=False, sigma=0.02):
    """The chain with symmetric log-gains `sym_gain` on its five connections (traceable)."""
    net = _base(delays=delays, sigma=sigma)
    g = jnp.zeros((5, 5), jnp.asarray(sym_gain).dtype)
    for k, (i, j) in enumerate(PAIRS):
        g = g.at[i, j].set(sym_gain[k]).at[j, i].set(sym_gain[k])
    return eqx.tree_at(lambda n: n.coupling.log_gain, net, g)


REST = {"x": jnp.zeros(5), "y": jnp.zeros(5)}


def test_the_linear_noise_loss_recovers_a_known_effective_connectivity(x64):
    truth = jnp.asarray([0.6, -0.4, 0.3, -0.2, 0.5])
    loss = bmx.LinearNoiseFCLoss(state=REST, objective=bmx.objectives.fc_rmse(
        precomputed_target=True, precomputed_prediction=True))
    target = loss.fc(_ec_network(truth))

    def ec_loss(gains, target):
        return loss(_ec_network(gains), target)

    res = bmx.fit(jnp.zeros(5), ec_loss, target, where=lambda g: g,
                  method=bmx.Scipy("L-BFGS-B", options={"maxiter": 300, "gtol": 1e-12}),
                  steps=300)
    assert res.best_loss < 1e-7
    np.testing.assert_allclose(np.asarray(res.best_model), np.asarray(truth), atol=2e-3)


def test_the_linear_noise_loss_gradient_through_delays_and_bold_matches_fd(x64):
    loss = bmx.LinearNoiseFCLoss(state=REST)
    target = jnp.asarray(np.corrcoef(np.random.default_rng(0).normal(size=(5, 40))))

    def f(gains):
        return loss(_ec_network(gains, delays=True), target)

    x = jnp.asarray([0.1, -0.2, 0.3, 0.0, 0.2])
    np.testing.assert_allclose(np.asarray(jax.grad(f)(x)), finite_difference_grad(f, x),
                               rtol=1e-6, atol=1e-9)


def test_the_linear_noise_loss_finds_the_equilibrium_itself(x64):
    net = _ec_network(jnp.zeros(5))
    np.testing.assert_allclose(bmx.LinearNoiseFCLoss().fc(net),
                               bmx.LinearNoiseFCLoss(state=REST).fc(net), atol=1e-10)


def test_multi_key_fc_variance_shrinks_like_one_over_keys():
    net = _ec_network(jnp.zeros(5), sigma=0.05)
    monitor = bmx.TemporalAverage(on="x", period=5.0)

    def spread(n_keys, n_sets=24):
        loss = bmx.MultiKeyFCLoss(n_keys, 2000.0, 0.5, monitor=monitor)
        fcs = [loss.fc(net, jax.random.key(s)) for s in range(n_sets)]
        iu = np.triu_indices(5, 1)
        return np.mean(np.var(np.stack([np.asarray(f)[iu] for f in fcs]), axis=0))

    ratio = spread(1) / spread(4)
    assert 2.5 < ratio < 6.0  # 4 in expectation


def test_multi_key_loss_rejects_bad_keys():
    with pytest.raises(ValueError, match="n_keys"):
        bmx.MultiKeyFCLoss(0, 100.0, 1.0)


def test_adam_on_the_linear_noise_loss_improves_the_fc_fit():
    """float32, the default: a few Adam steps on the gains raise the FC correlation."""
    truth = jnp.asarray([0.6, -0.4, 0.3, -0.2, 0.5], jnp.float32)
    loss = bmx.LinearNoiseFCLoss(state=REST)
    target = loss.fc(_ec_network(truth))
    start = float(loss(_ec_network(jnp.zeros(5)), target))
    res = bmx.fit(jnp.zeros(5), lambda g, t: loss(_ec_network(g), t), target,
                  where=lambda g: g, method=optax.adam(0.05), steps=60)
    assert res.best_loss < 0.2 * start


# -- held-out validation ------------------------------------------------------------------------

@settings(max_examples=40)
@given(n=st.integers(2, 40), data=st.data(), seed=st.integers(0, 2**31 - 1))
def test_a_subject_split_never_leaks_a_test_subject_into_training(n, data, seed):
    n_test = data.draw(st.integers(1, n - 1))
    for key in (None, jax.random.key(seed)):
        split = bmx.split_subjects(n, n_test, key=key)
        assert not set(split.train) & set(split.test)
        assert sorted(split.train + split.test) == list(range(n))
        assert len(split.test) == n_test


def test_split_and_validate_reject_bad_input():
    with pytest.raises(ValueError, match="both"):
        bmx.SubjectSplit((0, 1), (1, 2))
    with pytest.raises(ValueError, match="n_test"):
        bmx.split_subjects(4, 4)


class _Subjects(eqx.Module):
    fc: jax.Array
    bold: jax.Array
    tr: float = eqx.field(static=True)


def test_validate_scores_fresh_runs_against_train_and_held_out_subjects():
    """Synthetic 'subjects' are simulations of the model itself with other keys: the report's
    correlations equal those computed here from the same fresh runs, the held-out FCD and
    spectra are close (the same model), and over-fitting is not invented."""
    net = _base(sigma=0.05)
    monitor = bmx.TemporalAverage(on="x", period=20.0)

    def bold(key):
        return bmx.simulate(net, 40_000.0, 0.5, key=key, transient=1000.0,
                            monitors={"b": monitor})["b"]

    subject_bold = jnp.stack([bold(jax.random.key(100 + s)) for s in range(4)])
    subjects = _Subjects(jnp.stack([bmx.metrics.fc(b) for b in subject_bold]), subject_bold,
                         20.0)
    split = bmx.split_subjects(4, 2)
    key = jax.random.key(7)
    report = bmx.validate(net, subjects, split, key, duration=40_000.0, dt=0.5,
                          transient=1000.0, n_runs=2, monitor=monitor, psd_band=(1.0, 10.0))
    runs = [bmx.simulate(net, 40_000.0, 0.5, key=k, transient=1000.0,
                         monitors={"b": monitor})["b"] for k in jax.random.split(key, 2)]
    test_fc = jnp.mean(subjects.fc[jnp.asarray(split.test)], axis=0)
    expected = [float(bmx.metrics.matrix_correlation(bmx.metrics.fc(r), test_fc))
                for r in runs]
    np.testing.assert_allclose(report.heldout_runs, expected, rtol=1e-4)
    assert report.heldout_r > 0.8 and abs(report.gap) < 0.1
    assert 0 <= report.fcd_ks < 0.5
    assert "held-out FC" in report.table()


@pytest.mark.slow
def test_per_subject_loss_is_the_mean_of_each_subjects_loss(x64):
    net = _base()
    rng = np.random.default_rng(2)
    pattern = np.asarray(net.connectome.weights) != 0
    weights = jnp.asarray(rng.uniform(0.5, 1.5, (3, 5, 5)) * pattern)
    targets = jnp.stack([jnp.asarray(np.corrcoef(rng.normal(size=(5, 30)))) for _ in range(3)])
    loss = bmx.LinearNoiseFCLoss(state=REST)
    batched = bmx.PerSubjectLoss(loss)(net, weights, targets)
    each = [loss(eqx.tree_at(lambda m: m.connectome.weights, net, weights[s]), targets[s])
            for s in range(3)]
    assert float(batched) == pytest.approx(float(np.mean(each)), rel=1e-12)
    grad = jax.grad(lambda g: bmx.PerSubjectLoss(loss)(
        eqx.tree_at(lambda n: n.coupling.log_gain, net, g), weights, targets))(
        jnp.zeros((5, 5)))
    assert np.all(np.isfinite(np.asarray(grad))) and float(jnp.max(jnp.abs(grad))) > 0
    with pytest.raises(ValueError, match="same subjects"):
        bmx.PerSubjectLoss(loss)(net, weights, targets[:2])


@pytest.mark.slow
def test_simulated_loss_averages_a_combined_objective_over_keys():
    """FC + FCD + spectrum against a target signal, averaged over keys: equal to the mean of
    the objective on separately simulated runs with the same split keys, and differentiable."""
    net = _base(sigma=0.05)
    monitor = bmx.TemporalAverage(on="x", period=20.0)
    objective = bmx.objectives.weighted_sum(
        (1.0, bmx.objectives.fc_corr()),
        (0.5, bmx.objectives.fcd_wasserstein(20, 5)),
        (0.5, bmx.objectives.psd_distance(20.0, log=False)))
    target = bmx.simulate(net, 20_000.0, 0.5, key=jax.random.key(9),
                          monitors={"b": monitor})["b"]
    loss = bmx.SimulatedLoss(objective, 3, 20_000.0, 0.5, monitor=monitor)
    key = jax.random.key(4)
    expected = np.mean([float(objective(bmx.simulate(net, 20_000.0, 0.5, key=k,
                                                     monitors={"b": monitor})["b"], target))
                        for k in jax.random.split(key, 3)])
    assert float(loss(net, target, key)) == pytest.approx(expected, rel=1e-4)
    grad = jax.grad(lambda g: loss(eqx.tree_at(lambda n: n.coupling.log_gain, net, g), target,
                                   key))(jnp.zeros((5, 5)))
    assert np.all(np.isfinite(np.asarray(grad)))


@pytest.mark.slow
def test_check_linear_noise_confirms_a_stable_weakly_noisy_model():
    """The chain of Hopf nodes 50 ms from their bifurcation: the check reports the rightmost
    growth rate of the analysis and a simulated BOLD FC that agrees with the linear-noise one."""
    net = _ec_network(jnp.asarray([0.6, -0.4, 0.3, -0.2, 0.5]))
    check = bmx.check_linear_noise(net, jax.random.key(0), duration=300_000.0,
                                   transient=10_000.0,
                                   loss=bmx.LinearNoiseFCLoss(state=REST))
    expected = float(jnp.real(bmx.analysis.eigenvalues(net, REST).rightmost))
    assert check.growth == pytest.approx(expected, rel=1e-5) and check.growth < 0
    assert check.fc_r > 0.9 and check.valid
