"""Each coupling against its formula, evaluated independently in numpy."""

import jax.numpy as jnp
import numpy as np
import pytest

import brainmass_eqx as bmx


N = 5
RNG = np.random.default_rng(1)
W = RNG.uniform(0, 1, (N, N)) * (RNG.uniform(size=(N, N)) < 0.7)
np.fill_diagonal(W, 0)
X = RNG.normal(size=N)
Y = RNG.normal(size=N)


def coupling_input(coupling, node=None, target="x"):
    """The coupling term c_i, read off the drift of a Linear node (dx = -x/tau + c)."""
    node = node if node is not None else bmx.Linear(tau=1.0)
    net = bmx.Network(node, bmx.Connectome(W), coupling)
    y = {"x": jnp.asarray(X, jnp.float32)}
    dy = net.vector_field(0.0, y, net.zero_inputs((N,)))
    return np.asarray(dy[target]) + X


def test_linear():
    c = coupling_input(bmx.LinearCoupling(a=0.7, b=0.2))
    np.testing.assert_allclose(c, 0.7 * W @ X + 0.2, rtol=1e-5, atol=1e-6)


def test_diffusive():
    c = coupling_input(bmx.DiffusiveCoupling(k=0.3))
    expected = 0.3 * np.array([sum(W[i, j] * (X[j] - X[i]) for j in range(N)) for i in range(N)])
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-6)


def test_sigmoidal():
    coupling = bmx.SigmoidalCoupling(cmin=-0.5, cmax=1.5, midpoint=0.2, a=2.0, sigma=0.8)
    s = W @ X
    expected = -0.5 + 2.0 / (1 + np.exp(-2.0 * (s - 0.2) / 0.8))
    np.testing.assert_allclose(coupling_input(coupling), expected, rtol=1e-5, atol=1e-6)


def test_tanh():
    coupling = bmx.TanhCoupling(a=0.5, b=2.0, midpoint=0.1, sigma=0.7)
    expected = W @ (0.5 * (1 + np.tanh((2.0 * X - 0.1) / 0.7)))
    np.testing.assert_allclose(coupling_input(coupling), expected, rtol=1e-5, atol=1e-6)


def test_kuramoto():
    c = coupling_input(bmx.KuramotoCoupling(k=2.0))
    expected = 2.0 / N * np.array([sum(W[i, j] * np.sin(X[j] - X[i]) for j in range(N))
                                   for i in range(N)])
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-6)
    unnormalised = coupling_input(bmx.KuramotoCoupling(k=2.0, normalise=False))
    np.testing.assert_allclose(unnormalised, expected * N, rtol=1e-5, atol=1e-6)


def test_sigmoidal_jansen_rit_reads_two_variables():
    # a Hopf node provides two state variables (x, y) standing in for (y1, y2)
    node = bmx.Hopf(a=0.0, omega=0.0)
    coupling = bmx.SigmoidalJansenRitCoupling(cvar=("x", "y"), target="x", a=3.0)
    net = bmx.Network(node, bmx.Connectome(W), coupling)
    y = {"x": jnp.asarray(X, jnp.float32), "y": jnp.asarray(Y, jnp.float32)}
    dy = net.vector_field(0.0, y, net.zero_inputs((N,)))
    c = np.asarray(dy["x"]) - (-(X**2 + Y**2) * X)
    rate = 0.005 / (1 + np.exp(0.56 * (6.0 - (X - Y))))
    np.testing.assert_allclose(c, 3.0 * W @ rate, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="must name two variables"):
        bmx.SigmoidalJansenRitCoupling(cvar="x")


def test_learnable_weights_start_identical_and_scale_edges():
    base = coupling_input(bmx.LinearCoupling())
    wrapped = coupling_input(bmx.LearnableWeights(bmx.LinearCoupling(), N))
    np.testing.assert_allclose(wrapped, base, rtol=1e-6)
    gain = np.log(RNG.uniform(0.5, 2.0, (N, N)))
    scaled = coupling_input(bmx.LearnableWeights(bmx.LinearCoupling(), log_gain=gain))
    np.testing.assert_allclose(scaled, (W * np.exp(gain)) @ X, rtol=1e-5, atol=1e-6)


def test_multiple_cvars_and_targets():
    node = bmx.Hopf(a=0.0, omega=0.0)
    net = bmx.Network(node, bmx.Connectome(W), bmx.LinearCoupling(cvar=("x", "y")))
    y = {"x": jnp.asarray(X, jnp.float32), "y": jnp.asarray(Y, jnp.float32)}
    dy = net.vector_field(0.0, y, net.zero_inputs((N,)))
    r2 = X**2 + Y**2
    np.testing.assert_allclose(np.asarray(dy["x"]) + r2 * X, W @ X, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(dy["y"]) + r2 * Y, W @ Y, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(coupling=bmx.LinearCoupling(cvar="v")), r"`coupling.cvar` names 'v'"),
        (dict(coupling=bmx.LinearCoupling(target="v")), r"`coupling.target` names 'v'"),
        (dict(coupling="linear"), r"`coupling` must be an AbstractCoupling"),
        (dict(node=bmx.Hopf(a=jnp.ones(3))), r"per-region parameters have shape \(3,\)"),
        (dict(speed=10.0), r"speed.* no tract lengths"),
    ],
)
def test_network_validation(kwargs, message):
    args = dict(node=bmx.Hopf(), connectome=bmx.Connectome(W),
                coupling=bmx.LinearCoupling())
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        bmx.Network(args.pop("node"), args.pop("connectome"), args.pop("coupling"), **args)


def test_lengths_without_speed_is_an_error():
    conn = bmx.Connectome(W, np.ones((N, N)))
    with pytest.raises(ValueError, match="no conduction `speed`"):
        bmx.Network(bmx.Hopf(), conn, bmx.LinearCoupling())
