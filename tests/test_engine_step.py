"""One engine step: explicit Runge-Kutta methods stepped from their tableau equal diffrax's
own step."""

import diffrax as dfx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
import pytest

import brainmass_eqx as bmx
from brainmass_eqx._solve import engine


@pytest.mark.parametrize("solver", [dfx.Heun(), bmx.RK4(), dfx.Midpoint(), dfx.Ralston(),
                                    dfx.Bosh3(), dfx.Euler()], ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("stochastic", [False, True])
def test_engine_step_equals_the_solvers_own_step(x64, solver, stochastic):
    """The engine steps explicit Runge-Kutta methods from their tableau; it must give what
    diffrax's `step` gives (on a nonlinear field over a pytree state, with and without a
    Stratonovich noise term), and hand every other solver to its own `step`."""
    def drift(t, y, args):
        return {"x": -y["x"] * y["v"] + jnp.sin(t) * args, "v": y["x"] ** 2 - 0.3 * y["v"]}

    def diffusion(t, y, args):  # multiplicative, as the engine's (a diagonal operator)
        return lx.DiagonalLinearOperator({"x": 0.2 * y["v"], "v": 0.1 + 0.0 * y["v"]})

    y0 = {"x": jnp.linspace(0.2, 1.0, 5), "v": jnp.linspace(-0.5, 0.5, 5)}
    t0, t1, args = jnp.asarray(0.3), jnp.asarray(0.35), jnp.asarray(0.7)
    dw = jax.tree.map(lambda v: 0.2 * jnp.cos(3 * v), y0) if stochastic else None
    terms = engine.terms(drift, diffusion, stochastic, dw)
    ss = solver.init(terms, t0, t1, y0, args)
    expected, _, _, expected_ss, _ = solver.step(terms, t0, t1, y0, args, ss, made_jump=True)
    got, got_ss = engine.solver_step(solver, terms, t0, t1, y0, args, ss)
    for name in y0:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-13, atol=1e-15)
    assert jax.tree.structure(got_ss) == jax.tree.structure(expected_ss)
    # the step moved: a broken combination of stages could not pass by returning y0
    assert not np.allclose(got["x"], y0["x"])


@pytest.mark.parametrize("n", [0, 1, 2, 7, 9, 10, 26])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_scan_chunks_visits_every_block_once_in_order(n, reverse):
    """The one checkpointing helper: chunks of about sqrt(n) blocks cover `first .. first + n
    - 1` exactly once, in order (backwards with `reverse`), and pass each chunk its input."""
    from brainmass_eqx._solve.engine._checkpoint import chunk_size, scan_chunks

    first = 5
    size = chunk_size(n) if n else 1
    n_full, rest = divmod(n, size)

    def body(carry, idx, x):
        seen, k = carry
        seen = jax.lax.dynamic_update_slice_in_dim(seen, idx, k, 0)
        return (seen, k + idx.shape[0]), x

    xs = (jnp.arange(n_full), jnp.asarray(-1))
    (seen, k), (out_full, out_rest) = scan_chunks(
        body, (jnp.zeros(n + size, jnp.int32), jnp.asarray(0)), first, n, xs=xs,
        reverse=reverse)
    expected = np.arange(first, first + n)
    if reverse:  # the remainder first, then the full chunks from the last one down
        chunks = [expected[i * size:(i + 1) * size] for i in range(n_full)]
        expected = np.concatenate([expected[n_full * size:], *chunks[::-1]]) if n else expected
    assert int(k) == n
    np.testing.assert_array_equal(np.asarray(seen[:n]), expected)
    if n:
        assert abs(size - np.sqrt(n)) <= 0.5 + 1e-9
        if n_full:
            np.testing.assert_array_equal(out_full, np.arange(n_full))
        assert (out_rest is None) == (rest == 0)
