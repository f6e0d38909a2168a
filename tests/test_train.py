"""Trainer: learns tasks (HORN delayed match, Jansen-Rit target frequency), held-out metric on
held-out data only, fixed batch shapes, no recompilation, checkpoint/resume reproducibility."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import count_compilations

import brainmass_eqx as bmx
from brainmass_eqx._learn._train import _batches


class Linear1(eqx.Module):
    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return jnp.dot(self.w, x) + self.b


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(70, 3)), jnp.float32)
    y = x @ jnp.asarray([1.0, -2.0, 0.5]) + 0.3
    model = Linear1(jnp.zeros(3), jnp.zeros(()))
    return model, x[:50], y[:50], x[50:], y[50:]


def _metric(p, t):
    return -jnp.abs(p - t)


def test_loss_decreases_on_a_tiny_problem(regression):
    model, x, y, xv, yv = regression
    res = bmx.train(model, x, y, key=jax.random.key(0), validation=(xv, yv),
                    loss=bmx.objectives.mse(), metric=_metric, optimizer=optax.adam(0.1),
                    epochs=30, batch_size=16)
    tl = res.history["train_loss"]
    assert tl[-1] < 0.01 * tl[0]
    np.testing.assert_allclose(res.best_model.w, [1.0, -2.0, 0.5], atol=0.05)
    assert res.history["step_loss"].shape == (30 * 4,)  # 50 examples: 4 batches of 16


def test_validation_metric_uses_held_out_data_only(regression):
    model, x, y, xv, yv = regression
    trainer = bmx.Trainer(loss=bmx.objectives.mse(), metric=_metric,
                          optimizer=optax.adam(0.05), epochs=3, batch_size=16)
    res = trainer.fit(model, x, y, key=jax.random.key(0), validation=(xv, yv))
    v_loss, v_metric = trainer.evaluate(res.final_model, xv, yv)
    assert res.history["val_loss"][-1] == pytest.approx(v_loss, rel=1e-6)
    assert res.history["val_metric"][-1] == pytest.approx(v_metric, rel=1e-6)
    tr_loss, _ = trainer.evaluate(res.final_model, x, y)
    assert tr_loss != pytest.approx(v_loss, rel=1e-3)
    # a corrupted validation set changes the validation record, and never the training
    res_bad = trainer.fit(model, x, y, key=jax.random.key(0), validation=(xv, yv + 100.0))
    np.testing.assert_array_equal(res_bad.history["train_loss"], res.history["train_loss"])
    assert res_bad.history["val_loss"][-1] > 100 * res.history["val_loss"][-1]


def test_batches_have_fixed_shapes_and_cover_every_example():
    order = np.random.default_rng(1).permutation(10)
    batches = _batches(order, 4, drop_last=False)
    assert [b[0].shape for b in batches] == [(4,)] * 3
    used = np.concatenate([idx[mask] for idx, mask in batches])
    np.testing.assert_array_equal(np.sort(used), np.arange(10))
    assert len(_batches(order, 4, drop_last=True)) == 2


def test_no_recompilation_between_epochs_or_runs(regression):
    model, x, y, xv, yv = regression
    trainer = bmx.Trainer(loss=bmx.objectives.mse(), metric=_metric,
                          optimizer=optax.adam(0.05), epochs=1, batch_size=16)
    trainer.fit(model, x, y, key=jax.random.key(0), validation=(xv, yv))
    more = bmx.Trainer(loss=trainer.loss, metric=trainer.metric, optimizer=trainer.optimizer,
                       epochs=4, batch_size=16)
    with count_compilations() as c:
        more.fit(model, x, y, key=jax.random.key(3), validation=(xv, yv))
    assert c.compiles == 0


def test_resume_reproduces_an_uninterrupted_run(regression, tmp_path):
    model, x, y, xv, yv = regression
    kw = dict(key=jax.random.key(5), validation=(xv, yv), loss=bmx.objectives.mse(),
              metric=_metric, optimizer=optax.adam(0.05), batch_size=16)
    full = bmx.train(model, x, y, epochs=6, **kw)
    path = tmp_path / "train.eqx"
    bmx.train(model, x, y, epochs=3, checkpoint=path, **kw)
    resumed = bmx.train(model, x, y, epochs=6, checkpoint=path, resume=True, **kw)
    np.testing.assert_allclose(resumed.history["train_loss"], full.history["train_loss"],
                               rtol=1e-6)
    np.testing.assert_allclose(resumed.final_model.w, full.final_model.w, rtol=1e-6)
    assert resumed.best_epoch == full.best_epoch


def test_early_stopping_and_target_metric(regression):
    model, x, y, xv, yv = regression
    kw = dict(key=jax.random.key(0), validation=(xv, yv), loss=bmx.objectives.mse(),
              metric=_metric, batch_size=16)
    res = bmx.train(model, x, y, optimizer=optax.sgd(0.0), epochs=50, patience=3, **kw)
    assert res.epochs == 4 and "early stopping" in res.termination
    res = bmx.train(model, x, y, optimizer=optax.adam(0.1), epochs=200, target_metric=-0.05,
                    **kw)
    assert res.epochs < 200 and "reached the target" in res.termination
    with pytest.raises(ValueError, match="examples"):
        bmx.train(model, x, y[:10], key=jax.random.key(0))


def test_horn_learns_the_delayed_match_task():
    task = bmx.datasets.load_dataset("delayed_match_task", n_samples=512, seq_len=8,
                                     n_symbols=2)
    net = bmx.HORNSeqNetwork(2, 64, 2, key=jax.random.key(0), alpha=0.2)
    res = bmx.train(net, task.inputs, task.targets, key=jax.random.key(1),
                    validation=(task.val_inputs, task.val_targets),
                    optimizer=optax.adam(3e-2), epochs=20, batch_size=32,
                    where=bmx.HORNSeqNetwork.connection_weights, target_metric=0.99)
    assert res.history["val_metric"].max() >= 0.95
    assert res.history["val_metric"][0] < 0.9  # it starts near chance
    # the oscillator parameters were frozen
    assert float(res.best_model.layers[0].cell.omega) == float(net.layers[0].cell.omega)


def test_delayed_match_task_is_balanced_and_deterministic():
    a = bmx.datasets.delayed_match_task(100, seq_len=6, n_symbols=3, seed=4)
    b = bmx.datasets.delayed_match_task(100, seq_len=6, n_symbols=3, seed=4)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    y = np.concatenate([a.targets, a.val_targets])
    x = np.concatenate([a.inputs, a.val_inputs])
    assert y.sum() == 50 and x.shape == (100, 6, 3)
    cue, probe = x[:, 0].argmax(1), x[:, -1].argmax(1)
    np.testing.assert_array_equal(y, (cue == probe).astype(int))
    assert np.all(x[:, 1:-1] == 0)


class JRFrequency(eqx.Module):
    """A Jansen-Rit node driven at pulse density `p` (the example's input), returning the
    (soft) spectral peak of its EEG proxy in Hz."""

    node: bmx.JansenRit

    def __call__(self, p):
        node = eqx.tree_at(lambda n: n.p, self.node, p)
        sim = bmx.simulate(node, 1500.0, 0.5, transient=500.0, solver=dfx.Heun(),
                           monitors={"eeg": "eeg"})
        return bmx.metrics.peak_frequency(sim["eeg"][:, None], 0.5, fmin=2.0, fmax=30.0,
                                          nperseg=2000, temperature=0.5)


def test_jansen_rit_trained_to_a_target_frequency():
    rng = np.random.default_rng(0)
    drive = jnp.asarray(rng.uniform(150, 300, 24), jnp.float32)
    target = jnp.full((24, 1), 12.0, jnp.float32)
    model = JRFrequency(bmx.JansenRit())
    res = bmx.train(model, drive[:16], target[:16], key=jax.random.key(0),
                    validation=(drive[16:], target[16:]), loss=bmx.objectives.mse(),
                    metric=lambda p, t: -jnp.mean(jnp.abs(p - t)),
                    optimizer=optax.adam(0.05), epochs=5, batch_size=8,
                    where=lambda m: (m.node.a, m.node.b), constraints=bmx.Positive())
    assert res.history["val_metric"][0] < -0.3 or res.history["train_loss"][0] > 0.3
    assert res.history["val_metric"][res.best_epoch] > -0.3  # within 0.3 Hz of 12 Hz


def test_readout_on_a_horn_layer_learns_the_task():
    task = bmx.datasets.load_dataset("delayed_match_task", n_samples=256)
    k1, k2 = jax.random.split(jax.random.key(2))
    layer = bmx.HORNSeqLayer(2, 32, key=k1, alpha=0.2)
    model = bmx.Readout(layer, 32, 2, key=k2)
    assert jax.vmap(model)(task.inputs[:5]).shape == (5, 2)
    res = bmx.train(model, task.inputs, task.targets, key=jax.random.key(3),
                    validation=(task.val_inputs, task.val_targets), optimizer=optax.adam(3e-2),
                    epochs=25, batch_size=32, target_metric=0.99,
                    where=lambda m: (m.core.w_ih, m.core.b_ih, m.core.w_hh, m.core.b_hh,
                                     m.linear.weight, m.linear.bias))
    assert res.history["val_metric"].max() >= 0.95
    with pytest.raises(ValueError, match="Readout.core"):
        bmx.Readout(layer, 16, 2, key=k2)(task.inputs[0])
