"""Known dynamics from the literature, one or more per model."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, strategies as st

import brainmass_eqx as bmx


@given(a=st.floats(0.05, 1.0), beta=st.floats(-1.0, 1.0))
def test_stuart_landau_radius_and_shear_frequency(a, beta):
    omega = 0.2
    sim = bmx.simulate(bmx.StuartLandau(a=a, omega=omega, beta=beta), 600.0, 0.2,
                       transient=300.0)
    x, y = np.asarray(sim["x"]), np.asarray(sim["y"])
    np.testing.assert_allclose(np.hypot(x, y), np.sqrt(a), rtol=1e-3)
    slope = np.polyfit(np.asarray(sim.ts), np.unwrap(np.arctan2(y, x)), 1)[0]
    np.testing.assert_allclose(slope, omega - beta * a, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("mu", [10.0, 20.0])
def test_van_der_pol_relaxation_period(mu):
    sim = bmx.simulate(bmx.VanDerPol(mu=mu), 20 * mu, 0.05, transient=5 * mu)
    x = np.asarray(sim["x"])
    t = np.asarray(sim.ts)
    up = t[1:][(x[:-1] < 0) & (x[1:] >= 0)]
    period = np.mean(np.diff(up))
    asymptotic = (3 - 2 * np.log(2)) * mu + 7.014 * mu ** (-1 / 3)
    assert period == pytest.approx(asymptotic, rel=0.03)


def test_fitzhugh_nagumo_is_excitable():
    model = bmx.FitzHughNagumo()

    class Pulse(eqx.Module):
        amplitude: jax.Array

        def __call__(self, t):
            return {"v": jnp.where((t >= 10.0) & (t < 11.0), self.amplitude, 0.0)}

    def peak(amplitude):
        sim = bmx.simulate(model, 200.0, 0.05, solver=dfx.Heun(), inputs=Pulse(amplitude))
        v = np.asarray(sim["v"])
        crossings = np.sum((v[:-1] < 1.0) & (v[1:] >= 1.0))
        return v.max(), crossings

    rest_peak, rest_spikes = peak(jnp.asarray(0.0, jnp.float32))
    sub_peak, sub_spikes = peak(jnp.asarray(0.3, jnp.float32))
    supra_peak, supra_spikes = peak(jnp.asarray(1.5, jnp.float32))
    assert rest_spikes == sub_spikes == 0 and sub_peak < 0
    assert supra_spikes == 1 and supra_peak > 1.5
    # rest state is a fixed point of the vector field
    y = model.initial_state()
    dy = model.vector_field(0.0, y, model.zero_inputs())
    assert abs(float(dy["v"])) < 1e-3 and abs(float(dy["w"])) < 1e-3


def test_generic_2d_oscillator_settles_on_the_nullcline_intersection():
    model = bmx.Generic2dOscillator()
    sim = bmx.simulate(model, 3000.0, 1.0, y0={"V": 0.5, "W": 0.0})
    # V-nullcline: W = f V^3 - e V^2 (g = 0, alpha = 1, I = 0); W-nullcline: W = a + b V
    roots = np.roots([1.0, -3.0, 10.0, 2.0])  # V^3 - 3V^2 = -2 - 10V
    v_star = roots[np.abs(roots.imag) < 1e-9].real[0]
    np.testing.assert_allclose(sim["V"][-1], v_star, atol=1e-3)
    np.testing.assert_allclose(sim["W"][-1], -2.0 - 10.0 * v_star, atol=1e-2)


def test_lorenz_sensitive_dependence_on_initial_conditions(x64):
    model = bmx.Lorenz()
    y0 = {"x": jnp.array([1.0, 1.0 + 1e-9]), "y": jnp.ones(2), "z": jnp.ones(2) * 20.0}
    sim = bmx.simulate(model, 25.0, 0.01, y0=y0,
                       stepsize_controller=dfx.PIDController(rtol=1e-11, atol=1e-13),
                       solver=dfx.Tsit5(), max_steps=200_000)
    d = np.sqrt(sum((np.asarray(sim[k])[:, 0] - np.asarray(sim[k])[:, 1]) ** 2
                    for k in ("x", "y", "z")))
    t = np.asarray(sim.ts)
    window = (d > 1e-7) & (d < 1e-2)
    rate = np.polyfit(t[window], np.log(d[window]), 1)[0]
    assert rate == pytest.approx(0.906, abs=0.25)
    assert d[-1] > 1.0  # separated to the size of the attractor


@given(u_e=st.floats(-5.0, 50.0), u_i=st.floats(-5.0, 50.0))
def test_threshold_linear_relaxes_to_rectified_gain(u_e, u_i):
    model = bmx.ThresholdLinear()
    sim = bmx.simulate(model, 100.0, 0.5, inputs=lambda t: {"E": u_e, "I": u_i},
                       y0={"E": 1.0, "I": 1.0})
    t = np.asarray(sim.ts)
    e_star, i_star = 0.066 * max(u_e, 0.0), 0.351 * max(u_i, 0.0)
    np.testing.assert_allclose(sim["E"], e_star + (1 - e_star) * np.exp(-t / 20.0),
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sim["I"], i_star + (1 - i_star) * np.exp(-t / 10.0),
                               rtol=1e-4, atol=1e-5)
