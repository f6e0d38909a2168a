"""The ring buffer and its delayed reads, through their own interface."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainmass_eqx as bmx


def _naive_read(data, plan, group, start, n_rows, weights):
    """Reference for `DelayBuffer.read`: each connection's value at each row by plain indexing
    of the first copy of the ring, `(rows, channels, nodes)`."""
    n = data.shape[1]
    src = group.sources.array.reshape(n, -1)
    lag = group.lags.array.reshape(n, -1)
    frac = group.fractions.array.reshape(1, 1, n, -1)
    p = (start + np.arange(n_rows)[:, None, None] - lag - 1) % plan.ring  # (rows, n, slots)
    values = data[:, src, p]  # (channels, rows, n, slots)
    if plan.exact:
        values = (1 - frac) * values + frac * data[:, src, (p + 1) % plan.ring]
    return jnp.einsum("ik,crik->rci", weights, values)


@pytest.mark.parametrize("exact", [False, True], ids=["rounded", "exact"])
def test_delay_read_and_its_gradient_match_a_naive_reference(x64, exact):
    rng = np.random.default_rng(5)
    n = 5
    w = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.7)
    conn = bmx.Connectome(w, rng.uniform(0.35, 3.0, (n, n)))
    plan = bmx.DelayPlan.build(conn, 1.0, 0.1, exact=exact, n_channels=2, itemsize=8)
    hist = jnp.asarray(rng.normal(size=(plan.ring, 2, n)))
    buf = bmx.DelayBuffer.from_history(plan, hist)
    weights = jnp.asarray(conn.weights)
    for depth, group in enumerate(plan.groups):
        if group.per_target == 0:
            continue
        gw = group.weights(weights)
        size = plan.levels[depth] + 1
        start = 3 * plan.levels[-1] + plan.levels[depth]
        got = buf.read(group, start, size, gw)
        want = _naive_read(buf.data, plan, group, start, size, gw)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

        ct = jnp.asarray(rng.normal(size=want.shape))

        def ours(data, gw, group=group, start=start, size=size):
            rows = bmx.DelayBuffer(data, plan).read(group, start, size, gw)
            return jnp.vdot(rows, ct)

        def naive(data, gw, group=group, start=start, size=size):
            rows = _naive_read(data, plan, group, start, size, gw)
            return jnp.vdot(rows, ct)

        (d_ours, w_ours), (d_naive, w_naive) = (jax.grad(f, (0, 1))(buf.data, gw)
                                                for f in (ours, naive))
        np.testing.assert_allclose(w_ours, w_naive, rtol=1e-12, atol=1e-12)
        # the buffer holds every value twice (a read may use either copy): compare the
        # gradient with respect to each stored value, i.e. summed over its two copies
        fold = lambda d: d[..., :plan.ring] + d[..., plan.ring:]  # noqa: E731
        np.testing.assert_allclose(fold(d_ours), fold(d_naive), rtol=1e-12, atol=1e-12)


def test_buffer_layout_history_and_writes():
    """The ring holds step s at position (s - 1) mod ring, twice (so windows never wrap):
    from the history (steps -ring + 1 .. 0) and after writing a block (steps start + 1 ..
    start + block)."""
    conn = bmx.Connectome(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.0, 2.0], [3.0, 0.0]]))
    plan = bmx.DelayPlan.build(conn, 1.0, 0.5, exact=False, n_channels=1, itemsize=4)
    ring = plan.ring
    steps = np.arange(-ring + 1, 1)
    hist = jnp.asarray(np.broadcast_to(np.stack([steps * 10.0 + 1, steps * 10.0 + 2], -1)[:, None],
                                       (ring, 1, 2)), jnp.float32)
    buf = bmx.DelayBuffer.from_history(plan, hist)
    assert buf.data.shape == (1, 2, 2 * ring)
    for s in steps:
        for copy in (0, ring):
            np.testing.assert_array_equal(buf.data[0, :, (s - 1) % ring + copy],
                                          [s * 10.0 + 1, s * 10.0 + 2])
    block = plan.levels[0]
    start = 3 * block
    vals = jnp.asarray(np.arange(block * 2, dtype=np.float32).reshape(block, 1, 2) + 1000)
    new = buf.write(jnp.asarray(start), vals)
    for m in range(block):
        s = start + 1 + m
        for copy in (0, ring):
            np.testing.assert_array_equal(new.data[0, :, (s - 1) % ring + copy], vals[m, 0])
