"""Plot helpers render headlessly to PNG and return their figure and axes."""

import io

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax
import pytest

import brainmass_eqx as bmx
from brainmass_eqx import metrics, viz


matplotlib.use("Agg")


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=60)
    plt.close(fig)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000
    return data


@pytest.fixture(scope="module")
def sim():
    return bmx.simulate(bmx.Hopf(a=jnp.asarray([0.1, 0.2, 0.3])), 500.0, 0.5,
                        key=jax.random.key(0))


def test_timeseries_matrix_fc_fcd_psd(sim):
    fig, ax = viz.plot_timeseries(sim.ts, sim["x"], labels=["a", "b", "c"], offset=1.0)
    assert ax.get_xlabel() == "time (ms)" and len(ax.lines) == 3
    _png(fig)
    fc = metrics.fc(sim["x"])
    _png(viz.plot_matrix(fc, labels=["a", "b", "c"], title="FC")[0])
    fig, axes = viz.plot_fc_comparison(fc, jnp.eye(3))
    assert len(axes) == 3 and axes[2].get_title().startswith("r = ")
    _png(fig)
    _png(viz.plot_fcd(metrics.fcd(sim["x"], 100, 50))[0])
    fig, ax = viz.plot_power_spectrum(sim["x"], 0.5, nperseg=256, fmax=50)
    assert ax.get_xlabel() == "frequency (Hz)"
    _png(fig)


def test_phase_plane_and_fit_history(sim):
    fig, ax = viz.plot_phase_plane(bmx.Hopf(a=0.2), trajectory=(sim["x"][:, 1], sim["y"][:, 1]))
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    _png(fig)
    with pytest.raises(ValueError, match="state_names"):
        viz.plot_phase_plane(bmx.JansenRit())
    res = bmx.fit(bmx.Hopf(a=0.0), lambda m, t: (m.a - t) ** 2, jnp.asarray(1.0),
                  where=lambda m: m.a, method=optax.adam(0.1), steps=20)
    fig, ax = viz.plot_fit_history(res)
    assert len(ax.lines) == 2
    _png(fig)
    hist = np.asarray(ax.lines[1].get_ydata())
    assert np.all(np.diff(hist) <= 0)  # best so far never increases


def test_bifurcation_and_spectrum_plots(x64):
    from brainmass_eqx import analysis

    node = bmx.Hopf(a=-0.5, omega=0.3)
    branch = analysis.continuation(node, lambda m: m.a, -0.5, 0.5, steps=10,
                                   y0={"x": jnp.asarray(0.0), "y": jnp.asarray(0.0)})
    fig, ax = bmx.viz.plot_bifurcation_diagram(branch, of="x")
    assert len(ax.lines) >= 3  # stable, unstable, the Hopf point
    cycles = analysis.cycle_continuation(node, lambda m: m.a, branch.bifurcations[0], 0.5,
                                         steps=5)
    fig, ax = bmx.viz.plot_bifurcation_diagram(branch, of="x", cycles=cycles)
    top = np.asarray(ax.lines[-4].get_ydata())  # the stable cycles' maxima: sqrt(a)
    np.testing.assert_allclose(top, np.sqrt(np.asarray(cycles.params)), rtol=1e-4)
    _png(fig)
    with pytest.raises(TypeError, match="CycleBranch"):
        bmx.viz.plot_bifurcation_diagram(branch, cycles=[branch])
    fig, ax = bmx.viz.plot_spectrum(analysis.eigenvalues(node, {"x": 0.0, "y": 0.0}))
    assert ax.lines[-1].get_xdata().shape == (2,)
    with pytest.raises(ValueError, match="`of`"):
        bmx.viz.plot_bifurcation_diagram(branch, of="zz")


def test_inference_plots_render():
    from brainmass_eqx import inference as inf

    rng = np.random.default_rng(0)
    samples = rng.multivariate_normal([0, 1, 2], np.eye(3) * 0.2, 2000)
    fig, axes = viz.plot_corner(samples, labels=["k", "sigma", "a"], truths=[0, 1, 2],
                                reference=rng.multivariate_normal([0, 1, 2], np.eye(3) * 0.2,
                                                                  2000))
    assert axes.shape == (3, 3)
    _png(fig)
    ranks = rng.integers(0, 101, size=(300, 2))
    sbc = inf.SBCResult(ranks, 100, np.ones(2), 10)
    fig, axes = viz.plot_sbc_ranks(sbc, labels=["a", "b"])
    _png(fig)
    f = rng.uniform(size=300)
    alpha = np.linspace(0, 1, 21)
    tarp = inf.TARPResult(alpha, np.mean(f[:, None] < alpha, axis=0), f, 0.5)
    fig, ax = viz.plot_coverage(tarp)
    _png(fig)
    with pytest.raises(ValueError, match="n_samples, dim"):
        viz.plot_corner(np.zeros(5))
    with pytest.raises(TypeError, match="SBCResult"):
        viz.plot_sbc_ranks(np.zeros(3))
