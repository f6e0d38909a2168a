"""The engine's records: subsampling monitors keep only their samples, averaging monitors
accumulate their window means, and the reverse pass reads their cotangents back."""

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import finite_difference_grad, small_network

import brainmass_eqx as bmx
from brainmass_eqx._monitors import make_monitor_set
from brainmass_eqx._solve import engine
from brainmass_eqx._solve.engine import _records
from brainmass_eqx._solve.engine._context import Run
from brainmass_eqx._solve.engine._state import Params


@pytest.mark.parametrize("period", [0.3, 2.5], ids=["stride-below-block", "stride-above-block"])
def test_subsampling_monitors_keep_only_their_samples_in_the_engine(period):
    """A delayed run stores only a subsampling monitor's samples (not every step); they equal
    the every-step record of the same run subsampled afterwards, after a transient that ends
    inside a block."""
    net = small_network()  # shortest delay 1 ms: a base block of 10 steps
    stride = round(period / 0.1)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x", "sub": bmx.Subsample("x", period)})
    assert sim["sub"].shape == (400 // stride, 6)
    np.testing.assert_array_equal(sim["sub"], sim["raw"][stride - 1::stride])


@pytest.mark.parametrize("period", [0.3, 2.5], ids=["window-below-block", "window-above-block"])
def test_averaging_monitors_accumulate_their_window_means_in_the_engine(x64, period):
    """A delayed run accumulates a `TemporalAverage`'s window means block by block; they equal
    the every-step record of the same run averaged afterwards (a trailing partial window
    dropped), after a transient that ends inside a block."""
    net = small_network()  # a base block of 10 steps
    stride = round(period / 0.1)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x",
                                                "mean": bmx.TemporalAverage("x", period)})
    n = 400 // stride
    assert sim["mean"].shape == (n, 6)
    want = np.asarray(sim["raw"])[:n * stride].reshape(n, stride, 6).mean(axis=1)
    np.testing.assert_allclose(sim["mean"], want, rtol=1e-12, atol=1e-14)


def test_hrf_bold_accumulates_its_downsampling_means_in_the_engine(x64):
    """`HRFBold` starts from window means of `downsample`: a delayed run accumulates them
    (no every-step record) and gives what the monitor gives post hoc on the same run's
    every-step trace."""
    net = small_network()
    fast = bmx.Gamma(tau=0.002, n=2.0, duration=0.05)  # peaks at 2 ms: a 40 ms run responds
    bold = bmx.HRFBold("x", period=5.0, kernel=fast, downsample=0.5)
    sim = bmx.simulate(net, 47.3, 0.1, y0=net.initial_state(key=jax.random.key(1)),
                       transient=7.3, monitors={"raw": "x", "bold": bold})
    assert sim["bold"].shape == (8, 6)
    np.testing.assert_allclose(sim["bold"], bold(sim["raw"], 0.1), rtol=1e-10, atol=1e-14)
    assert np.abs(np.asarray(sim["bold"])).max() > 1e-3  # not trivially zero


def test_subsampling_monitors_do_not_hold_every_step():
    """A delayed run's working memory does not hold a subsampling or averaging monitor's
    (or `HRFBold`'s) every-step trace (storing it and reducing it after the run took 486 kB
    here)."""
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    # HRFBold's FFT convolution with its 32 s kernel needs ~1 MB of its own: a longer run
    for monitor, duration, share in ((bmx.Subsample("x", 2.5), 2000.0, 0.1),
                                     (bmx.TemporalAverage("x", 2.5), 2000.0, 0.1),
                                     (bmx.HRFBold("x", period=100.0, downsample=2.5), 20_000.0,
                                      0.5)):
        def run(y0, monitor=monitor, duration=duration):
            return bmx.simulate(net, duration, 0.1, y0=y0, monitors={"m": monitor})

        every_step_bytes = round(duration / 0.1) * 6 * 4
        temp = jax.jit(run).lower(y0).compile().memory_analysis().temp_size_in_bytes
        assert temp < every_step_bytes * share, (monitor, temp)


@pytest.mark.parametrize("monitor", [bmx.Subsample("x", 1.3), bmx.TemporalAverage("x", 1.3),
                                     bmx.HRFBold("x", period=6.5, downsample=1.3,
                                                 kernel=bmx.Gamma(tau=0.002, n=2.0,
                                                                  duration=0.05))],
                         ids=["subsample", "average", "hrf-bold"])
def test_gradient_through_a_subsampling_or_averaging_monitor(x64, reverse_policy, monitor):
    net = small_network()
    y0 = net.initial_state(key=jax.random.key(1))

    def loss(k):
        model = eqx.tree_at(lambda m: m.coupling.k, net, k)
        sim = bmx.simulate(model, 30.0, 0.1, y0=y0, transient=2.3, monitors={"m": monitor},
                           adjoint=reverse_policy)
        return jnp.mean(sim["m"] ** 2)

    k = jnp.array(0.3)
    np.testing.assert_allclose(jax.grad(loss)(k), finite_difference_grad(loss, k), rtol=1e-5)


@pytest.mark.parametrize("transient", [0, 37], ids=["no-transient", "transient-mid-block"])
def test_read_records_is_the_transpose_of_write_records(x64, transient):
    """For every kind of record (every step, subsampled, window means), the reverse pass's
    `read_records` is the exact transpose of the forward pass's `write_records` over a whole
    run: <write(o), c> = sum over base blocks of <o_b, read(c)_b>."""
    net = small_network()
    monitors = make_monitor_set(net, {"raw": "x", "sub": bmx.Subsample("x", 0.3),
                                      "avg": bmx.TemporalAverage("x", 0.7)})
    cfg = engine.build_config(net, 0.1, transient, 500, jnp.float64)
    y0 = net.initial_state()
    run = Run.build(Params(net, None, monitors), dfx.Heun(), None, cfg, y0)
    block = cfg.levels[0]
    shapes = jax.eval_shape(lambda: monitors.record(net, y0, {}))
    rng = np.random.default_rng(0)
    outs = [{k: jnp.asarray(rng.normal(size=(block, *s.shape))) for k, s in shapes.items()}
            for _ in range(cfg.n_base_blocks)]
    records = _records.empty_records(run, shapes)
    for b, o in enumerate(outs):
        records = _records.write_records(run, records, jnp.asarray(b * block), o)
    records = _records.trim_records(run, records)
    assert records["sub"].shape[0] == 500 // 3 and records["avg"].shape[0] == 500 // 7
    ct = {k: jnp.asarray(rng.normal(size=v.shape)) for k, v in records.items()}
    forward = sum(float(jnp.vdot(records[k], ct[k])) for k in records)
    backward = sum(float(jnp.vdot(o[k], _records.read_records(run, ct, jnp.asarray(b * block))[k]))
                   for b, o in enumerate(outs) for k in o)
    np.testing.assert_allclose(forward, backward, rtol=1e-12)
