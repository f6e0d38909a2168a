"""Objective builders: values equal the metrics, weights compose, jit/grad/vmap-safe, and the
target is an argument (a new target does not recompile)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import count_compilations

from brainmass_eqx import metrics, objectives


@pytest.fixture
def pair():
    k1, k2 = jax.random.split(jax.random.key(0))
    p = jnp.cumsum(jax.random.normal(k1, (240, 5)), axis=0)
    t = jnp.cumsum(jax.random.normal(k2, (240, 5)), axis=0)
    return p, t


def test_values_match_the_metrics(pair):
    p, t = pair
    assert objectives.timeseries_rmse()(p, t) == pytest.approx(
        float(jnp.sqrt(jnp.mean((p - t) ** 2))), rel=1e-6)
    r = float(metrics.fc_correlation(p, t))
    assert objectives.fc_corr()(p, t) == pytest.approx(1 - r, rel=1e-6)
    assert objectives.fc_corr(as_loss=False)(p, t) == pytest.approx(r, rel=1e-6)
    assert objectives.fc_corr(precomputed_target=True)(p, metrics.fc(t)) == pytest.approx(
        1 - r, rel=1e-6)
    assert objectives.fc_rmse()(p, t) == pytest.approx(float(metrics.fc_rmse(p, t)), rel=1e-6)
    cos = float(jnp.vdot(p, t) / (jnp.linalg.norm(p) * jnp.linalg.norm(t)))
    assert objectives.cosine(as_loss=False)(p, t) == pytest.approx(cos, rel=1e-5)
    fa = metrics.upper_triangle(metrics.fcd(p, 40, 10))
    fb = metrics.upper_triangle(metrics.fcd(t, 40, 10))
    assert objectives.fcd_ks(40, 10)(p, t) == pytest.approx(float(metrics.ks_distance(fa, fb)))
    assert objectives.fcd_wasserstein(40, 10)(p, t) == pytest.approx(
        float(metrics.wasserstein_distance(fa, fb)), rel=1e-5)
    assert objectives.psd_distance(1.0)(p, p) == 0.0
    assert objectives.psd_distance(1.0)(p, t) > 0.0


def test_spectral_peak_objective_measures_frequency_difference():
    time = jnp.arange(4000, dtype=jnp.float32) / 1000.0
    a = jnp.sin(2 * jnp.pi * 10.0 * time)[:, None]
    b = jnp.sin(2 * jnp.pi * 12.0 * time)[:, None]
    obj = objectives.spectral_peak(1.0, nperseg=1000, temperature=0.01)
    assert obj(a, b) == pytest.approx(2.0, abs=0.02)
    assert obj(a, jnp.asarray([12.0])) == pytest.approx(2.0, abs=0.02)


def test_weighted_sum_composes(pair):
    p, t = pair
    a, b = objectives.fc_corr(), objectives.timeseries_rmse()
    both = objectives.weighted_sum((0.7, a), (0.3, b))
    assert both(p, t) == pytest.approx(0.7 * float(a(p, t)) + 0.3 * float(b(p, t)), rel=1e-6)
    terms = both.terms(p, t)
    assert sum(float(v) for v in terms.values()) == pytest.approx(float(both(p, t)), rel=1e-6)
    with pytest.raises(ValueError, match="pair"):
        objectives.weighted_sum(a)
    with pytest.raises(ValueError, match="at least one"):
        objectives.weighted_sum()


def test_target_is_an_argument_new_targets_do_not_recompile(pair):
    p, t = pair
    obj = objectives.weighted_sum((1.0, objectives.fc_corr()), (0.5, objectives.fc_rmse()))
    f = eqx.filter_jit(lambda o, p, t: o(p, t))
    f(obj, p, t)
    t2, p2 = t + 1.0, p * 2.0  # (eager ops compile their own small kernels: do them first)
    obj2 = objectives.weighted_sum((2.0, objectives.fc_corr()), (0.1, objectives.fc_rmse()))
    with count_compilations() as c:
        f(obj, p, t2)
        f(obj2, p2, t)
    assert c.compiles == 0


def test_objectives_grad_and_vmap(pair):
    p, t = pair
    for obj in [objectives.fc_corr(), objectives.fc_rmse(), objectives.cosine(),
                objectives.timeseries_rmse(), objectives.fcd_wasserstein(40, 10),
                objectives.psd_distance(1.0, nperseg=64),
                objectives.spectral_peak(1.0, nperseg=64)]:
        g = jax.grad(obj)(p, t)
        assert g.shape == p.shape and np.all(np.isfinite(g)), obj
        batch = jnp.stack([p, 2 * p, p + t])
        vals = jax.vmap(obj, in_axes=(0, None))(batch, t)
        np.testing.assert_allclose(vals[2], obj(p + t, t), rtol=1e-5)


def test_shape_errors(pair):
    p, t = pair
    with pytest.raises(ValueError, match="same shape"):
        objectives.timeseries_rmse()(p, t[:10])
    with pytest.raises(ValueError, match="time, regions"):
        objectives.fc_corr()(p[:, 0], t[:, 0])
