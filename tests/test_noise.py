"""Noise processes: stationary statistics, sqrt(dt) scaling, strong convergence, spectra,
reproducibility."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal
from helpers import convergence_order

import brainmass_eqx as bmx


def independent(noise, n=400, tau=10.0):
    """`n` unconnected Linear nodes (dx = -x/tau dt + noise): n independent paths."""
    return bmx.Network(bmx.Linear(tau=tau), bmx.Connectome.unconnected(n), bmx.LinearCoupling(),
                       noise=noise)


def autocorrelation(x, lag):
    x = x - x.mean(axis=0)
    return float(np.mean(x[lag:] * x[:-lag]) / np.mean(x * x))


def test_ornstein_uhlenbeck_variance_and_correlation_time():
    sigma, tau = 0.5, 5.0
    net = independent(bmx.OrnsteinUhlenbeckNoise(sigma=sigma, tau=tau))
    sim = bmx.simulate(net, 1000.0, 0.1, transient=100.0, key=jax.random.key(0),
                       monitors=["ou_x"])
    eta = np.asarray(sim["ou_x"], np.float64)
    # ~400 paths x 900 ms / (2 tau) independent samples: relative error of the variance ~1 %
    assert np.var(eta) == pytest.approx(sigma**2, rel=0.05)
    assert autocorrelation(eta, 50) == pytest.approx(np.exp(-1), abs=0.03)
    assert autocorrelation(eta, 100) == pytest.approx(np.exp(-2), abs=0.03)


@pytest.mark.parametrize("dt", [0.2, 0.05])
def test_white_noise_intensity_does_not_depend_on_dt(dt):
    # dx = -x/tau dt + sigma dW has stationary variance sigma^2 tau / 2 for every dt: the
    # increments are sqrt(dt)-scaled (brainmass's GaussianNoise is not)
    sigma, tau = 0.2, 10.0
    net = independent(bmx.AdditiveNoise(sigma=sigma), tau=tau)
    sim = bmx.simulate(net, 1000.0, dt, transient=100.0, key=jax.random.key(1),
                       solver=dfx.Euler())
    x = np.asarray(sim["x"], np.float64)
    # Euler-Maruyama's stationary variance is sigma^2 dt / (1 - (1 - dt/tau)^2)
    exact_em = sigma**2 * dt / (1 - (1 - dt / tau) ** 2)
    assert np.var(x) == pytest.approx(exact_em, rel=0.05)
    assert np.var(x) == pytest.approx(sigma**2 * tau / 2, rel=0.05)


def test_euler_maruyama_strong_order_one_half(x64):
    """Geometric Brownian motion dX = -X/tau dt + sigma X dW; compare each Euler-Maruyama path
    with the exact solution X0 exp((-1/tau - sigma^2/2) T + sigma W_T) driven by the same
    Brownian increments (recovered from the Euler steps)."""
    tau, sigma, x0, big_t = 10.0, 0.3, 1.0, 20.0
    net = independent(bmx.MultiplicativeNoise(sigma=sigma), n=2000, tau=tau)
    y0 = {"x": jnp.full(2000, x0)}
    dts = (0.2, 0.1, 0.05, 0.025)
    errors = []
    for dt in dts:
        sim = bmx.simulate(net, big_t, dt, key=jax.random.key(7), solver=dfx.Euler(), y0=y0)
        x = np.concatenate([np.full((1, 2000), x0), np.asarray(sim["x"])])
        dw = (x[1:] - x[:-1] * (1 - dt / tau)) / (sigma * x[:-1])
        w_t = dw.sum(axis=0)
        exact = x0 * np.exp((-1 / tau - sigma**2 / 2) * big_t + sigma * w_t)
        errors.append(np.mean(np.abs(x[-1] - exact)))
    order = convergence_order(dts, errors)
    assert 0.35 < order < 0.7, (order, errors)


def test_pink_noise_spectrum_follows_power_law():
    noise = bmx.PinkNoise(sigma=1.0, alpha=1.0, f_min=1.0, f_max=100.0, n_poles=10)
    np.testing.assert_allclose(noise.fractions.sum(), 1.0)
    net = independent(noise, n=40)
    names = [f"pink_x_{p}" for p in range(10)]
    total = {"eta": lambda y: sum(y[k] for k in names)}
    dt = 0.5
    sim = bmx.simulate(net, 20_000.0, dt, transient=1000.0, key=jax.random.key(2),
                       monitors=total)
    eta = np.asarray(sim["eta"], np.float64)
    assert np.var(eta) == pytest.approx(1.0, rel=0.15)
    f, p = scipy.signal.welch(eta, fs=1000.0 / dt, nperseg=8192, axis=0)
    p = p.mean(axis=1)
    band = (f > 3) & (f < 40)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.15)


def test_noise_is_reproducible_from_the_key():
    net = independent(bmx.AdditiveNoise(sigma=0.1), n=5)
    a = bmx.simulate(net, 50.0, 0.1, key=jax.random.key(3))["x"]
    b = bmx.simulate(net, 50.0, 0.1, key=jax.random.key(3))["x"]
    c = bmx.simulate(net, 50.0, 0.1, key=jax.random.key(4))["x"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="needs an explicit PRNG `key`"):
        bmx.simulate(net, 50.0, 0.1)


def test_noise_validation():
    with pytest.raises(ValueError, match=r"`noise.states` names 'v'"):
        independent(bmx.AdditiveNoise(states="v"))
    with pytest.raises(ValueError, match=r"`AdditiveNoise.sigma` .* outside"):
        bmx.AdditiveNoise(sigma=-1.0)
    with pytest.raises(ValueError, match=r"alpha"):
        bmx.PinkNoise(alpha=2.5)
