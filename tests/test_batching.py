"""Batch-minor sweeps: `jax.vmap` of delayed networks (forward and gradients) equals single
runs."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from helpers import small_network

import brainmass_eqx as bmx


def test_vmap_over_parameters_keys_and_initial_states():
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.01))
    ks = jnp.array([0.1, 0.3, 0.6])
    keys = jax.random.split(jax.random.key(0), 3)
    y0s = jax.vmap(lambda k: net.initial_state(key=k))(keys)

    def run(k, key, y0):
        model = eqx.tree_at(lambda m: m.coupling.k, net, k)
        return bmx.simulate(model, 30.0, 0.1, key=key, y0=y0, monitors=["x"])["x"]

    batched = jax.vmap(run)(ks, keys, y0s)
    assert batched.shape == (3, 300, 6)
    for i in range(3):
        single = run(ks[i], keys[i], jax.tree.map(lambda v: v[i], y0s))
        np.testing.assert_allclose(batched[i], single, rtol=1e-5, atol=1e-6)


def test_vmapped_sweeps_match_single_runs(x64):
    """`jax.vmap` runs every member in one batch-minor buffer: each member equals its own
    run, whatever is batched (coupling, weights, history, key), and a vmap of a vmap too."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.02), exact_delays=True)
    y0 = net.initial_state(key=jax.random.key(1))

    def run(k, scale, level, key):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.connectome.weights), net,
                            (k, net.connectome.weights * scale))
        history = lambda t: {"x": jnp.full(6, level) + 0.01 * t, "y": jnp.zeros(6)}  # noqa: E731
        return bmx.simulate(model, 20.0, 0.1, key=key, y0=y0, history=history,
                            monitors=["x"])["x"]

    ks, scales = jnp.array([0.1, 0.4, 0.7]), jnp.array([1.0, 0.5, 1.5])
    levels, keys = jnp.array([0.0, 0.2, -0.3]), jax.random.split(jax.random.key(0), 3)
    batched = jax.vmap(run)(ks, scales, levels, keys)
    nested = jax.vmap(lambda k: jax.vmap(run, in_axes=(None, 0, 0, 0))(k, scales, levels, keys)
                      )(ks[:2])
    for i in range(3):
        single = run(ks[i], scales[i], levels[i], keys[i])
        np.testing.assert_allclose(batched[i], single, rtol=1e-12, atol=1e-12)
        for j in range(2):
            np.testing.assert_allclose(nested[j, i], run(ks[j], scales[i], levels[i], keys[i]),
                                       rtol=1e-12, atol=1e-12)


def test_gradients_under_vmap_match_single_runs(x64, reverse_policy):
    """`vmap(grad)` and `grad(vmap)` of a delayed SDE (with the weights differentiated) equal
    the gradients of single runs, in both reverse-pass regimes."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.02), exact_delays=True)
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(theta, key):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.node.a, m.connectome.weights), net,
                            (theta[0], jnp.full(6, theta[1]), net.connectome.weights * theta[2]))
        sim = bmx.simulate(model, 30.0, 0.1, key=key, y0=y0, transient=3.0, monitors=["x"],
                           adjoint=reverse_policy)
        return jnp.mean(sim["x"] ** 2)

    thetas = jnp.array([[0.3, -0.05, 1.0], [0.5, -0.1, 0.8]])
    keys = jax.random.split(jax.random.key(3), 2)
    grad = jax.jit(jax.grad(loss))
    single = jnp.stack([grad(thetas[i], keys[i]) for i in range(2)])
    np.testing.assert_allclose(jax.vmap(jax.grad(loss))(thetas, keys), single, rtol=1e-10)
    # a parameter shared by the batch gets the sum of the members' gradients
    shared = jax.grad(lambda th: jnp.sum(jax.vmap(loss, in_axes=(None, 0))(th, keys)))(thetas[0])
    np.testing.assert_allclose(shared, grad(thetas[0], keys[0]) + grad(thetas[0], keys[1]),
                               rtol=1e-10)
