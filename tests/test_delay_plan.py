"""The static delay plan: which connection is read at which level, from which slot; its
errors; and that the block structure is an optimisation only."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import numpy as np

import brainmass_eqx as bmx


def test_delay_plan_reads_every_connection_once_with_the_fewest_slots():
    """Slots per level are the prefix maxima of the per-target counts; no connection is read
    at a block longer than its delay allows; a fully connected connectome has no padding."""
    rng = np.random.default_rng(7)
    for n, density in ((12, 1.0), (20, 0.3)):
        w = rng.uniform(0.1, 1, (n, n)) * (rng.uniform(size=(n, n)) < density)
        np.fill_diagonal(w, 0)
        conn = bmx.Connectome(w, rng.uniform(1.0, 40.0, (n, n)))
        plan = bmx.DelayPlan.build(conn, 1.0, 0.1, exact=False, n_channels=1, itemsize=4)
        seen = []
        for size, g in zip(plan.levels, plan.groups):
            valid = g.valid.array
            targets = np.repeat(np.arange(n), g.per_target)[valid]
            lags = g.lags.array[valid]
            assert np.all(lags >= size)  # the window of a whole block is already in the buffer
            seen += list(zip(targets, g.sources.array[valid], lags))
        edges = conn.edges.array
        want = sorted(zip(edges[:, 0], edges[:, 1],
                          np.rint(conn.lengths.array[edges[:, 0], edges[:, 1]] / 0.1).astype(int)))
        assert sorted(seen) == want
        in_degree = np.bincount(edges[:, 0], minlength=n)
        assert sum(g.per_target for g in plan.groups) == in_degree.max()
        if density == 1.0:
            assert all(g.valid.array.all() for g in plan.groups)


def test_block_structure_does_not_change_the_result():
    """Reading long connections once per long block is an optimisation only."""
    from brainmass_eqx._monitors import make_monitor_set
    from brainmass_eqx._solve.engine import build_config, run_network

    rng = np.random.default_rng(3)
    w = rng.uniform(0, 1, (6, 6))
    lengths = rng.uniform(0.5, 6.0, (6, 6))
    net = bmx.Network(bmx.Hopf(a=0.1), bmx.Connectome(w, lengths), bmx.DiffusiveCoupling(k=0.2),
                      speed=1.0)
    y0 = net.initial_state(key=jax.random.key(0))
    mons = make_monitor_set(net, ["x"])
    outs = []
    for cap in (1, 10, 40):
        cfg = build_config(net, 0.1, 37, 500, jnp.float32, max_superblock=cap)
        assert cfg.levels[-1] <= max(cap, cfg.levels[0])
        outs.append(run_network(net, None, y0, None, mons, dfx.Heun(), None, cfg)["x"])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[0], outs[2], rtol=1e-5, atol=1e-6)
