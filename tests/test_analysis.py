"""Dynamics analysis against closed forms and independent computations: the Hopf normal form,
the instability of a linear network at k lambda_max(W) = 1/tau, the delayed self-feedback
threshold d* = arccos(-1/(b tau)) / sqrt(b^2 - 1/tau^2), the Lorenz equilibria, the Lyapunov
covariance against scipy, delayed covariances and BOLD FC against simulation, and gradients
against float64 finite differences."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.linalg
from helpers import finite_difference_grad

import brainmass_eqx as bmx
from brainmass_eqx import analysis


@pytest.mark.parametrize("a, omega", [(-0.1, 0.3), (0.05, 0.2), (-0.02, 1.0)])
def test_hopf_normal_form_eigenvalues_are_a_plus_minus_i_omega(x64, a, omega):
    node = bmx.Hopf(a=a, omega=omega)
    fp = analysis.fixed_point(node, {"x": jnp.asarray(0.3), "y": jnp.asarray(-0.2)})
    assert bool(fp.converged) and float(fp.residual) < 1e-12
    np.testing.assert_allclose([float(fp.state["x"]), float(fp.state["y"])], 0.0, atol=1e-12)
    values = np.sort_complex(np.asarray(analysis.eigenvalues(node, fp.state).values))
    np.testing.assert_allclose(values, [a - 1j * omega, a + 1j * omega], atol=1e-12)


@pytest.mark.parametrize("ratio", [0.8, 0.99, 1.01, 1.3])
def test_a_linear_network_loses_stability_at_k_lambda_max_equal_one_over_tau(x64, ratio):
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (6, 6))
    np.fill_diagonal(w, 0)
    lam_max = np.max(np.real(np.linalg.eigvals(w)))
    tau = 10.0
    k = ratio / (tau * lam_max)
    net = bmx.Network(bmx.Linear(tau=tau), bmx.Connectome(w), bmx.LinearCoupling(a=k))
    spec = analysis.eigenvalues(net, analysis.fixed_point(net).state)
    assert float(jnp.real(spec.rightmost)) == pytest.approx(-1 / tau + k * lam_max, abs=1e-12)
    assert bool(spec.stable) == (ratio < 1)


def _self_feedback(b, tau, d):
    conn = bmx.Connectome(np.array([[1.0]]), np.array([[d]]), zero_diagonal=False)
    return bmx.Network(bmx.Linear(tau=tau), conn, bmx.LinearCoupling(a=-b), speed=1.0,
                       exact_delays=True)


def test_delayed_self_feedback_crosses_the_axis_at_the_closed_form_delay(x64):
    r"""$\dot x = -x/\tau - b\,x(t - d)$ with $b > 1/\tau$: the rightmost root crosses the
    imaginary axis at $d^* = \arccos(-1/(b\tau))/\sqrt{b^2 - 1/\tau^2}$ with frequency
    $\sqrt{b^2 - 1/\tau^2}$."""
    b, tau = 0.3, 10.0
    omega = np.sqrt(b**2 - 1 / tau**2)
    d_star = np.arccos(-1 / (b * tau)) / omega
    zero = {"x": jnp.zeros(1)}
    at = analysis.eigenvalues(_self_feedback(b, tau, d_star), zero, n=2, degree=16)
    np.testing.assert_allclose(np.real(at.values), 0.0, atol=1e-10)
    np.testing.assert_allclose(np.abs(np.imag(at.values)), omega, rtol=1e-10)
    assert np.all(np.asarray(at.errors) < 1e-8)
    below = analysis.eigenvalues(_self_feedback(b, tau, 0.95 * d_star), zero, n=2, degree=16)
    above = analysis.eigenvalues(_self_feedback(b, tau, 1.05 * d_star), zero, n=2, degree=16)
    assert bool(below.stable) and not bool(above.stable)
    # each refined root satisfies the characteristic equation lambda + 1/tau + b e^{-lambda d}
    lam = complex(above.rightmost)
    assert abs(lam + 1 / tau + b * np.exp(-lam * 1.05 * d_star)) < 1e-10


def test_delayed_spectrum_predicts_the_decay_rate_of_a_simulated_perturbation(x64):
    """A 4-region delayed linear network: the rightmost root's real part is the decay rate of
    a small perturbation in an independent simulation (the engine, exact delays)."""
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 1, (4, 4))
    np.fill_diagonal(w, 0)
    lengths = rng.uniform(2.0, 6.0, (4, 4))
    net = bmx.Network(bmx.Linear(tau=5.0), bmx.Connectome(w, lengths),
                      bmx.LinearCoupling(a=0.05), speed=1.0, exact_delays=True)
    spec = analysis.eigenvalues(net, {"x": jnp.zeros(4)}, n=4, degree=20)
    rate = float(jnp.real(spec.rightmost))
    sim = bmx.simulate(net, 400.0, 0.01, solver=bmx.RK4(), y0={"x": jnp.ones(4) * 1e-3},
                       history=lambda t: {"x": jnp.ones(4) * 1e-3}, monitors=["x"])
    amplitude = np.max(np.abs(np.asarray(sim["x"])), axis=1)
    t = np.asarray(sim.ts)
    late = t > 200.0
    measured = np.polyfit(t[late], np.log(amplitude[late]), 1)[0]
    assert measured == pytest.approx(rate, rel=0.02)


def test_lorenz_equilibria_from_a_batch_of_guesses(x64):
    sigma, rho, beta = 10.0, 28.0, 8.0 / 3.0
    node = bmx.Lorenz(sigma=sigma, rho=rho, beta=beta)
    grid = np.stack(np.meshgrid(np.linspace(-12, 12, 4), np.linspace(-12, 12, 4),
                                np.linspace(0, 40, 3)), -1).reshape(-1, 3)
    guesses = {k: jnp.asarray(grid[:, i]) for i, k in enumerate(("x", "y", "z"))}
    found = analysis.fixed_points(node, guesses)
    got = sorted(np.round([[float(found.state[k][i]) for k in "xyz"]
                           for i in range(found.state["x"].shape[0])], 8).tolist())
    c = np.sqrt(beta * (rho - 1))
    want = sorted(np.round([[-c, -c, rho - 1], [0, 0, 0], [c, c, rho - 1]], 8).tolist())
    assert got == want


def test_fixed_point_gradient_by_implicit_differentiation(x64):
    """d E*/d(theta_E, drive) of a Wilson-Cowan node, by implicit differentiation through the
    root find, against central finite differences."""
    def e_star(theta):
        node = bmx.WilsonCowan(theta_E=theta[0])
        return analysis.fixed_point(node, {"E": jnp.asarray(0.1), "I": jnp.asarray(0.1)},
                                    inputs={"E": theta[1]}).state["E"]

    theta = jnp.array([4.0, 1.5])
    assert float(e_star(theta)) > 0.01  # an equilibrium the drive moves
    np.testing.assert_allclose(jax.grad(e_star)(theta), finite_difference_grad(e_star, theta),
                               rtol=1e-6)


def _noisy_linear_network(k=0.05, sigma=0.1):
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (5, 5))
    np.fill_diagonal(w, 0)
    return bmx.Network(bmx.Linear(tau=10.0), bmx.Connectome(w), bmx.LinearCoupling(a=k),
                       noise=bmx.AdditiveNoise(sigma=sigma))


def test_lyapunov_covariance_matches_scipy_and_its_gradient_matches_fd(x64):
    net = _noisy_linear_network()
    lin = analysis.linearise(net, {"x": jnp.zeros(5)})
    j = np.asarray(lin.jacobian.instantaneous())
    expected = scipy.linalg.solve_continuous_lyapunov(j, -np.asarray(lin.noise))
    np.testing.assert_allclose(lin.covariance(), expected, rtol=1e-10, atol=1e-14)

    def total(k):
        n = _noisy_linear_network(k=k)
        return jnp.sum(analysis.linearise(n, {"x": jnp.zeros(5)}).covariance())

    k = jnp.asarray(0.05)
    np.testing.assert_allclose(jax.grad(total)(k), finite_difference_grad(total, k), rtol=1e-6)
    # an unstable equilibrium has no stationary covariance
    unstable = analysis.linearise(_noisy_linear_network(k=1.0), {"x": jnp.zeros(5)})
    assert np.all(np.isnan(unstable.covariance()))


def test_the_spectrum_integrates_to_the_covariance(x64):
    lin = analysis.linearise(_noisy_linear_network(), {"x": jnp.zeros(5)})
    freqs = jnp.linspace(0.0, 2000.0, 40001)
    s = np.real(np.asarray(lin.cross_spectrum(freqs)))
    integral = 2 * scipy.integrate.trapezoid(s, np.asarray(freqs), axis=0)
    # the tail above 2 kHz, where H = 1/(i omega): 2 int Q 1000 / (4 pi^2 f^2) df
    integral += np.asarray(lin.noise) * 1000 / (2 * np.pi**2 * 2000.0)
    np.testing.assert_allclose(integral, lin.covariance(), rtol=1e-4, atol=1e-8)


@pytest.mark.slow
def test_delayed_covariance_matches_a_long_simulation():
    """Delayed self-feedback with additive noise: the linear-noise variance against the sample
    variance of a long simulation (statistical tolerance)."""
    b, tau, d, sigma = 0.1, 10.0, 4.0, 0.1
    conn = bmx.Connectome(np.array([[1.0]]), np.array([[d]]), zero_diagonal=False)
    net = bmx.Network(bmx.Linear(tau=tau), conn, bmx.LinearCoupling(a=-b), speed=1.0,
                      noise=bmx.AdditiveNoise(sigma=sigma))
    lin = analysis.linearise(net, {"x": jnp.zeros(1)})
    predicted = float(lin.covariance(fmax=200.0, n_freqs=20001)[0, 0])
    sim = bmx.simulate(net, 400_000.0, 0.1, key=jax.random.key(0), transient=1000.0,
                       monitors=[bmx.Subsample("x", 2.0)])
    measured = float(np.var(np.asarray(sim["sub_x"])))
    assert measured == pytest.approx(predicted, rel=0.05)


def test_bold_fc_by_quadrature_matches_the_augmented_lyapunov_solution(x64):
    """Undelayed: the BOLD covariance from the frequency-domain quadrature equals the
    time-domain Lyapunov solution of the network augmented with its linearised
    Balloon-Windkessel states (scipy), as an FC."""
    from brainmass_eqx.analysis._linearise import _monitor_blocks

    net = _noisy_linear_network(k=0.03, sigma=0.05)
    assert bool(analysis.eigenvalues(net, {"x": jnp.zeros(5)}).stable)
    lin = analysis.linearise(net, {"x": jnp.zeros(5)})
    a, b, c, e = (np.asarray(v) for v in _monitor_blocks(bmx.BalloonWindkessel(),
                                                          jnp.zeros(5)))
    n, k = b.shape
    j = np.asarray(lin.jacobian.instantaneous())
    big = np.zeros((5 + n * k, 5 + n * k))
    big[:5, :5] = j
    for i in range(n):
        s = slice(5 + i * k, 5 + (i + 1) * k)
        big[s, s] = a[i]
        big[s, i] = b[i]  # the signal is x itself
    q = np.zeros_like(big)
    q[:5, :5] = np.asarray(lin.noise)
    p = scipy.linalg.solve_continuous_lyapunov(big, -q)
    out = np.zeros((n, 5 + n * k))
    for i in range(n):
        out[i, 5 + i * k:5 + (i + 1) * k] = c[i]
        out[i, i] += e[i]
    cov = out @ p @ out.T
    expected = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    # the default quadrature (32 Gauss-Legendre frequencies up to 1 Hz) and a fine one
    np.testing.assert_allclose(lin.bold_fc(), expected, atol=1e-7)
    np.testing.assert_allclose(lin.bold_fc(fmax=3.0, n_freqs=64), expected, atol=1e-9)


@pytest.mark.slow
def test_linear_noise_bold_fc_matches_simulated_bold_fc():
    net = _noisy_linear_network(k=0.03, sigma=0.05)
    assert bool(analysis.eigenvalues(net, {"x": jnp.zeros(5)}).stable)
    lin = analysis.linearise(net, {"x": jnp.zeros(5)})
    predicted = np.asarray(lin.bold_fc())
    sim = bmx.simulate(net, 3_000_000.0, 1.0, key=jax.random.key(1), transient=20_000.0,
                       solver=dfx.Heun(), monitors={"bold": bmx.BalloonWindkessel(period=720.0)})
    measured = np.asarray(bmx.metrics.fc(sim["bold"]))
    iu = np.triu_indices(5, 1)
    np.testing.assert_allclose(measured[iu], predicted[iu], atol=0.06)


def test_continuation_locates_the_hopf_point_of_the_normal_form(x64):
    branch = analysis.continuation(bmx.Hopf(a=-0.5, omega=0.3), lambda m: m.a, -0.5, 0.5,
                                   steps=40, y0={"x": jnp.asarray(0.0), "y": jnp.asarray(0.0)})
    (hopf,) = branch.bifurcations
    assert hopf.kind == "hopf"
    assert abs(hopf.param) < 1e-7
    assert hopf.frequency == pytest.approx(0.3 * 1000 / (2 * np.pi), rel=1e-8)
    np.testing.assert_array_equal(np.asarray(branch.stable), np.asarray(branch.params) < 0)


def test_continuation_follows_an_s_shaped_branch_around_both_folds(x64):
    r"""$\dot x = -x + \tanh(g x + u)$, $g = 2$: saddle-nodes where $g\,\mathrm{sech}^2 = 1$, at
    $x_f = \pm\sqrt{1 - 1/g}$, $u_f = \mathrm{atanh}(x_f) - g x_f$."""
    from typing import ClassVar

    from jaxtyping import Array, Float

    class Bistable(bmx.AbstractNeuralMass):
        u: Float[Array, "*nodes"] = bmx.param(-1.0, doc="drive")
        g: Float[Array, "*nodes"] = bmx.param(2.0, doc="gain")
        state_names: ClassVar[tuple[str, ...]] = ("x",)
        input_names: ClassVar[tuple[str, ...]] = ("x",)
        default_cvar: ClassVar[str] = "x"
        observables: ClassVar[tuple[str, ...]] = ()
        category: ClassVar[str] = "phenomenological"
        use_case: ClassVar[str] = "test"
        reference: ClassVar[str] = "test"

        def vector_field(self, t, y, inputs):
            return {"x": -y["x"] + jnp.tanh(self.g * y["x"] + self.u) + inputs["x"]}

        def initial_state(self, n_nodes=None, *, key=None):
            return {"x": jnp.full(self.nodes_shape(n_nodes), -0.9, self.dtype)}

    branch = analysis.continuation(Bistable(), lambda m: m.u, -1.0, 1.0, steps=60)
    folds = sorted(b.param for b in branch.bifurcations if b.kind == "fold")
    x_f = np.sqrt(1 - 1 / 2.0)
    u_f = np.arctanh(x_f) - 2.0 * x_f
    np.testing.assert_allclose(folds, [u_f, -u_f], atol=1e-6)
    # the middle branch (between the folds, turned back) is unstable, the outer ones stable
    x = np.asarray(branch.states["x"])
    middle = np.abs(x) < x_f - 1e-3
    assert not np.any(np.asarray(branch.stable)[middle])
    assert np.all(np.asarray(branch.stable)[np.abs(x) > x_f + 1e-3])


def test_the_node_reduced_spectrum_equals_the_full_solve(x64):
    """A delayed network of two-state Hopf nodes: the signal spectrum computed node by node (an
    N x N solve) equals Z Delta(i w)^-1 Q Delta(i w)^-* Z^T from the full characteristic
    matrix, away from and near a node's resonance."""
    rng = np.random.default_rng(5)
    w = rng.uniform(0, 1, (6, 6))
    np.fill_diagonal(w, 0)
    net = bmx.Network(bmx.Hopf(a=-0.05, omega=jnp.linspace(0.03, 0.08, 6)),
                      bmx.Connectome(w, rng.uniform(5, 40, (6, 6))),
                      bmx.DiffusiveCoupling(k=0.2), speed=2.0,
                      noise=bmx.AdditiveNoise(sigma=jnp.linspace(0.01, 0.02, 6)))
    lin = analysis.linearise(net, {"x": jnp.zeros(6), "y": jnp.zeros(6)})
    omega = jnp.asarray([0.0, 1e-3, 0.05], jnp.complex128)
    rows = jnp.eye(12, dtype=jnp.complex128)[:6]  # the coupled variable x
    reduced = np.asarray(lin._signal_spectrum(omega, rows))
    q = np.asarray(lin.noise)
    for f, w_ in enumerate(np.asarray(omega)):
        h = np.linalg.inv(np.asarray(lin.jacobian.characteristic(1j * w_)))
        expected = h[:6] @ q @ h[:6].conj().T / 1000.0
        np.testing.assert_allclose(reduced[f], expected, rtol=1e-10, atol=1e-16)
