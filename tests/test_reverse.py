"""The delayed reverse pass: gradients against float64 finite differences in both memory
regimes (`DelayedAdjoint`), the weights' gradient, memory, and the kept-sums budget."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import finite_difference_grad, small_network

import brainmass_eqx as bmx
from brainmass_eqx._solve import engine


@pytest.mark.parametrize("noise, exact", [(None, False), (bmx.AdditiveNoise(sigma=0.02), False),
                                          (None, True)], ids=["ode", "sde", "ode-exact-delays"])
def test_gradient_through_delays_matches_finite_differences(x64, noise, exact, reverse_policy):
    net = small_network(noise=noise, exact_delays=exact)
    key = jax.random.key(2)
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(theta):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.node.a), net,
                            (theta[0], jnp.full(6, theta[1])))
        sim = bmx.simulate(model, 40.0, 0.1, key=key, y0=y0, transient=5.0, monitors=["x"],
                           adjoint=reverse_policy)
        return jnp.mean(sim["x"] ** 2)

    theta = jnp.array([0.3, -0.05])
    np.testing.assert_allclose(jax.grad(loss)(theta), finite_difference_grad(loss, theta),
                               rtol=1e-5)


def test_gradient_with_respect_to_connectome_weights(x64, reverse_policy):
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(w):
        model = eqx.tree_at(lambda m: m.connectome.weights, net, w)
        return jnp.mean(bmx.simulate(model, 20.0, 0.1, y0=y0, monitors=["x"],
                                     adjoint=reverse_policy)["x"] ** 2)

    w = net.connectome.weights
    g = jax.grad(loss)(w)
    # directional derivative along a random direction vs central differences
    v = jnp.where(w != 0, jnp.asarray(np.random.default_rng(0).normal(size=w.shape)), 0.0)
    eps = 1e-5
    fd = (loss(w + eps * v) - loss(w - eps * v)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g, v), fd, rtol=1e-5)


@pytest.mark.parametrize("exact", [False, True], ids=["grid-delays", "exact-delays"])
def test_weights_gradient_of_a_dense_network_with_many_slots_per_level(x64, exact):
    """Levels with many slots take the weights' products in passes of their own (and fold
    them over the rows): checked against central differences on a dense 24-region network
    whose plan has levels of both kinds."""
    from brainmass_eqx._solve.engine._buffer import _SEPARATE_DOTS

    net = small_network(n=24, seed=3, exact_delays=exact)
    plan = bmx.DelayPlan.build(net.connectome, 2.0, 0.1, exact=exact, n_channels=net.n_channels,
                               itemsize=8)
    slots = [g.per_target for g in plan.adjoint]
    assert max(slots) >= _SEPARATE_DOTS and min(slots) < _SEPARATE_DOTS, slots
    y0 = net.initial_state(key=jax.random.key(1))

    @jax.jit
    def loss(w):
        model = eqx.tree_at(lambda m: m.connectome.weights, net, w)
        return jnp.mean(bmx.simulate(model, 30.0, 0.1, y0=y0, monitors=["x"])["x"] ** 2)

    w = net.connectome.weights
    g = jax.jit(jax.grad(loss))(w)
    for seed in range(2):
        v = jnp.where(w != 0, jnp.asarray(np.random.default_rng(seed).normal(size=w.shape)),
                      0.0)
        eps = 1e-5
        fd = (loss(w + eps * v) - loss(w - eps * v)) / (2 * eps)
        np.testing.assert_allclose(jnp.vdot(g, v), fd, rtol=1e-5)


def test_gradient_with_respect_to_learnt_gains_and_coupling_strength(x64):
    """A `LearnableWeights` coupling's gains are connection weights (the reverse pass's
    per-connection products); its wrapped coupling's strength is not."""
    base = small_network()
    net = eqx.tree_at(lambda m: m.coupling, base,
                      bmx.LearnableWeights(base.coupling, base.connectome.n_regions))
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(gain, k):
        model = eqx.tree_at(lambda m: (m.coupling.log_gain, m.coupling.coupling.k), net,
                            (gain, k))
        return jnp.mean(bmx.simulate(model, 20.0, 0.1, y0=y0, monitors=["x"])["x"] ** 2)

    gain, k = net.coupling.log_gain, jnp.asarray(0.3)
    g_gain, g_k = jax.grad(loss, (0, 1))(gain, k)
    v = jnp.asarray(np.random.default_rng(1).normal(size=gain.shape))
    eps = 1e-5
    fd = (loss(gain + eps * v, k) - loss(gain - eps * v, k)) / (2 * eps)
    np.testing.assert_allclose(jnp.vdot(g_gain, v), fd, rtol=1e-5)
    np.testing.assert_allclose(g_k, finite_difference_grad(lambda k: loss(gain, k), k),
                               rtol=1e-5)


def test_reverse_mode_memory_grows_sublinearly():
    """Chunked checkpointing: 16x the simulated time costs far less than 16x the memory (the
    regime of runs whose delayed sums exceed `DelayedAdjoint.keep_sums_bytes`)."""
    net = small_network(noise=bmx.AdditiveNoise(sigma=0.01), n=8)
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def temp_bytes(duration):
        def loss(p):
            sim = bmx.simulate(eqx.combine(p, static), duration, 0.1, key=jax.random.key(0),
                               monitors={"m": lambda y: jnp.mean(y["x"] ** 2)},
                               adjoint=bmx.DelayedAdjoint(keep_sums_bytes=0))
            return jnp.mean(sim["m"])

        compiled = jax.jit(jax.grad(loss)).lower(params).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    short, long = temp_bytes(500.0), temp_bytes(8000.0)
    assert long / short < 6, (short, long)


def test_delayed_sums_are_kept_for_the_reverse_pass_within_the_budget():
    """The forward pass keeps the delayed sums (one value per region, channel and step, plus
    a row per base block) exactly when they fit `DelayedAdjoint.keep_sums_bytes`."""
    net = small_network(n=8)
    cfg = engine.build_config(net, 0.1, 0, 1000, jnp.float32)
    block, top = cfg.levels[0], cfg.levels[-1]
    n_steps = -(-1000 // top) * top  # whole superblocks
    nbytes = n_steps // block * (block + 1) * 8 * 4
    for budget, kept in ((nbytes, True), (nbytes - 1, False)):
        adjoint = bmx.DelayedAdjoint(keep_sums_bytes=budget)
        assert engine.build_config(net, 0.1, 0, 1000, jnp.float32,
                                   adjoint=adjoint).store_rows is kept


def test_a_vmapped_gradient_keeps_each_members_sums_as_an_unbatched_run():
    """`jax.vmap` of a differentiated delayed run whose members' kept sums together exceed the
    budget (one member's fits): the gradients equal the unbatched ones (the batched residuals
    used to drop the sums, which broke the batching rule's output structure)."""
    net = small_network(n=8)
    cfg = engine.build_config(net, 0.1, 0, 1000, jnp.float32)
    adjoint = bmx.DelayedAdjoint(keep_sums_bytes=2 * cfg.rows_bytes())
    keys = jax.random.split(jax.random.key(0), 4)
    noisy = eqx.tree_at(lambda n: n.noise, net, bmx.AdditiveNoise(sigma=0.01),
                        is_leaf=lambda x: x is None)

    def loss(k, key):
        n = eqx.tree_at(lambda n: n.coupling.k, noisy, k)
        x = bmx.simulate(n, 100.0, 0.1, key=key, monitors=["x"], adjoint=adjoint)["x"]
        return jnp.mean(x**2)

    k0 = jnp.asarray(net.coupling.k)
    batched = jax.vmap(jax.grad(loss), in_axes=(None, 0))(k0, keys)
    single = jnp.stack([jax.grad(loss)(k0, key) for key in keys])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-9)
