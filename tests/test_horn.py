import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainmass_eqx as bmx


def test_cell_rings_at_the_damped_frequency(x64):
    omega, gamma = 0.3, 0.02
    cell = bmx.HORNCell(omega=omega, gamma=gamma)
    sim = bmx.simulate(cell, 200.0, 0.5, y0={"x": 1.0, "y": 0.0},
                       stepsize_controller=dfx.PIDController(rtol=1e-10, atol=1e-12))
    t = np.asarray(sim.ts)
    wd = np.sqrt(omega**2 - gamma**2)
    exact = np.exp(-gamma * t) * (np.cos(wd * t) + gamma / wd * np.sin(wd * t))
    np.testing.assert_allclose(sim["x"], exact, atol=1e-8)


def test_cell_rest_point_under_constant_drive():
    cell = bmx.HORNCell(alpha=0.2, omega=0.5, gamma=0.2)
    sim = bmx.simulate(cell, 300.0, 1.0, inputs=lambda t: {"x": 0.8})
    np.testing.assert_allclose(sim["x"][-1], 0.2 * np.tanh(0.8) / 0.25, rtol=1e-4)


def test_layer_is_the_symplectic_euler_recursion():
    layer = bmx.HORNSeqLayer(3, 5, key=jax.random.key(0), alpha=0.3, gamma=0.05, v=0.1,
                             dt=0.5)
    s = np.asarray(jax.random.normal(jax.random.key(1), (12, 3)))
    w_ih, w_hh = np.asarray(layer.w_ih), np.asarray(layer.w_hh)
    omega = float(layer.cell.omega)
    x = y = np.zeros(5)
    expected = []
    for st in s:  # the recursion written independently in numpy
        u = w_ih @ st + w_hh @ y
        y = y + 0.5 * (0.3 * np.tanh(u + 0.1 * x) - omega**2 * x - 2 * 0.05 * y)
        x = x + 0.5 * y
        expected.append(x)
    np.testing.assert_allclose(layer(jnp.asarray(s, jnp.float32)), np.array(expected),
                               rtol=1e-4, atol=1e-6)


def test_batches_come_from_vmap_with_any_batch_size():
    net = bmx.HORNSeqNetwork(2, [8, 4], 3, key=jax.random.key(0))
    fwd = eqx.filter_jit(lambda model, xs: jax.vmap(model)(xs))
    for batch in (1, 7, 32):  # brainmass's hidden state fails when the batch size changes
        xs = jax.random.normal(jax.random.key(batch), (batch, 9, 2))
        out = fwd(net, xs)
        assert out.shape == (batch, 3)
        np.testing.assert_allclose(out[0], net(xs[0]), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="batch with jax.vmap"):
        net.layers[0](jnp.zeros((4, 9, 2)))


def test_gradients_through_the_sequence_network():
    net = bmx.HORNSeqNetwork(2, 6, 2, key=jax.random.key(0), alpha=0.2)
    xs = jax.random.normal(jax.random.key(1), (4, 8, 2))
    labels = jnp.array([0, 1, 1, 0])

    def loss(model):
        logits = jax.vmap(model)(xs)
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(4), labels])

    grads = eqx.filter_grad(loss)(net)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert all(np.all(np.isfinite(g)) for g in leaves)
    assert float(jnp.abs(grads.layers[0].w_ih).sum()) > 0
