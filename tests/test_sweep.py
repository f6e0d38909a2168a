"""`bmx.sweep`: a vmap in chunks with the batch sharded over devices, equal to a compiled
`jax.vmap` member by member; uneven batches padded and trimmed; banks sharded the same way.
Several devices are forced on the host (`--xla_force_host_platform_device_count=4`) in a
subprocess, so the rest of the suite keeps one device."""

import os
import pathlib
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainmass_eqx as bmx


ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_sweep_on_one_device_equals_vmap_and_validates():
    f = lambda x, y: {"a": jnp.sin(x) * y.sum(), "b": x**2}  # noqa: E731
    x, y = jnp.arange(10.0), jnp.ones((10, 3))
    out = bmx.sweep(f, x, y, chunk_size=3)
    ref = eqx.filter_jit(jax.vmap(f))(x, y)
    for k in ("a", "b"):
        np.testing.assert_array_equal(np.asarray(out[k]), np.asarray(ref[k]))
    with pytest.raises(ValueError, match="same leading"):
        bmx.sweep(f, x, jnp.ones((9, 3)))
    with pytest.raises(ValueError, match="no arrays"):
        bmx.sweep(f, 1.0, 2.0)
    with pytest.raises(ValueError, match="chunk_size"):
        bmx.sweep(f, x, y, chunk_size=0)
    with pytest.raises(TypeError, match="devices"):
        bmx.sweep(f, x, y, devices=["cpu"])


SCRIPT = textwrap.dedent('''
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    sys.path.insert(0, {tests!r})
    import equinox as eqx, jax, jax.numpy as jnp, numpy as np
    import brainmass_eqx as bmx
    from brainmass_eqx import inference as inf
    from helpers import small_network

    assert len(jax.devices()) == 4
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.05), n=4)

    def sim(k, key):  # the delay engine's batch-minor vmap rule runs inside the sweep
        n = eqx.tree_at(lambda m: m.coupling.k, net, k)
        return bmx.simulate(n, 30.0, 0.1, key=key, monitors=["x"])["x"]

    ks = jnp.linspace(0.1, 0.5, 7)
    keys = jax.random.split(jax.random.key(0), 7)
    ref = np.asarray(eqx.filter_jit(jax.vmap(sim))(ks, keys))
    for chunk in (None, 1, 2):  # 7 members on 4 devices: padded to 8, 8 or 8
        out = bmx.sweep(sim, ks, keys, chunk_size=chunk)
        assert out.shape == ref.shape, (chunk, out.shape)
        assert np.array_equal(np.asarray(out), ref), chunk
    out = bmx.sweep(sim, ks, keys, chunk_size=1, progress=True)
    assert np.array_equal(np.asarray(out), ref)
    two = bmx.sweep(sim, ks, keys, devices=jax.devices()[:2])
    assert np.array_equal(np.asarray(two), ref)

    prior = inf.JointPrior([inf.LogUniform(0.05, 0.5)], where=lambda m: m.coupling.k)
    def summary(theta, key):
        x = bmx.simulate(prior.apply(net, theta), 30.0, 0.1, key=key, monitors=["x"])["x"]
        return jnp.std(x, axis=0)
    plain = inf.simulate_bank(summary, prior, 13, jax.random.key(1), batch_size=5,
                              progress=False)
    sharded = inf.simulate_bank(summary, prior, 13, jax.random.key(1), batch_size=5,
                                devices=jax.devices(), progress=False)
    assert np.array_equal(plain.theta, sharded.theta)  # draws per index
    assert np.allclose(plain.x, sharded.x, rtol=1e-6, atol=1e-7)  # chunk widths 5 and 2

    # a sharded nevergrad generation and a sharded DE population equal the unsharded ones
    target = np.asarray(sim(jnp.asarray(0.3), keys[0]))
    def loss(m):
        x = bmx.simulate(m, 30.0, 0.1, key=keys[0], monitors=["x"])["x"]
        return jnp.mean((x - target) ** 2)
    start = eqx.tree_at(lambda m: m.coupling.k, net, jnp.asarray(0.1))
    fits = [bmx.fit(start, loss, where=lambda m: m.coupling.k,
                    method=bmx.Nevergrad(budget=16, num_workers=6, devices=d), progress=False)
            for d in (None, jax.devices())]
    assert np.allclose(fits[0].history, fits[1].history, rtol=1e-5, atol=1e-9), [
        f.history for f in fits]
    des = [bmx.fit(start, loss, where=lambda m: m.coupling.k,
                   constraints=bmx.Bounded(0.0, 1.0),
                   method=bmx.Scipy("differential_evolution", popsize=3, devices=d),
                   steps=2, progress=False) for d in (None, jax.devices())]
    assert np.allclose(des[0].history, des[1].history, rtol=1e-5, atol=1e-9)

    # a multi-subject loss sharded over the subjects: same value and gradient
    rng = np.random.default_rng(0)
    w = np.asarray(net.connectome.weights)
    weights = jnp.asarray(w[None] * rng.uniform(0.5, 1.5, (5, 4, 4)), jnp.float32)
    targets = jnp.asarray(np.stack([np.corrcoef(rng.standard_normal((4, 50))) for _ in
                                    range(5)]), jnp.float32)
    def subject_loss(m, target, key):
        x = bmx.simulate(m, 30.0, 0.1, key=key, monitors=["x"])["x"]
        return bmx.metrics.matrix_rmse(bmx.metrics.fc(x), target)
    losses = [bmx.PerSubjectLoss(subject_loss, devices=d) for d in (None, jax.devices())]
    vg = [eqx.filter_jit(jax.value_and_grad(lambda k, l=l: l(eqx.tree_at(
        lambda m: m.coupling.k, net, k), weights, targets, keys[0])))(jnp.asarray(0.3))
          for l in losses]
    assert np.allclose(vg[0][0], vg[1][0], rtol=1e-5) and np.allclose(vg[0][1], vg[1][1],
                                                                        rtol=1e-4)

    # Trainer minibatches sharded over the devices: the same training
    import optax
    class Line(eqx.Module):
        w: jax.Array
        def __call__(self, x):
            return jnp.dot(self.w, x)
    x = jnp.asarray(rng.standard_normal((40, 3)), jnp.float32)
    y = x @ jnp.array([1.0, -2.0, 0.5])
    runs = [bmx.Trainer(loss=bmx.objectives.mse(), metric=lambda p, t: -jnp.abs(p - t),
                        optimizer=optax.adam(0.1), epochs=5, batch_size=10,
                        devices=d).fit(Line(jnp.zeros(3)), x, y, key=jax.random.key(0),
                                       validation=(x, y)) for d in (None, jax.devices())]
    for k in ("train_loss", "val_loss"):
        assert np.allclose(runs[0].history[k], runs[1].history[k], rtol=1e-5), k
    print("ok")
''')


@pytest.mark.slow
def test_sharded_sweep_and_bank_equal_the_unsharded_ones_on_four_host_devices():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(tests=str(ROOT / "tests"))],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
