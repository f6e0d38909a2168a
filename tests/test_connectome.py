import jax
import numpy as np
import pytest
import unxt as u
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import brainmass_eqx as bmx


def random_connectome(n=6, seed=0, density=0.6):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.1, 1.0, (n, n)) * (rng.uniform(size=(n, n)) < density)
    lengths = rng.uniform(5.0, 50.0, (n, n))
    return w, lengths


def test_weights_lengths_labels_and_zeroed_diagonal():
    w, lengths = random_connectome()
    conn = bmx.Connectome(w, lengths, labels=[f"r{i}" for i in range(6)])
    assert conn.n_regions == 6
    assert np.all(np.diag(conn.weights) == 0)
    np.testing.assert_allclose(conn.lengths.array, lengths)
    off = w.copy()
    np.fill_diagonal(off, 0)
    assert conn.n_edges == np.count_nonzero(off)
    kept = bmx.Connectome(w, zero_diagonal=False)
    np.testing.assert_allclose(np.diag(kept.weights), np.diag(w), rtol=1e-6)


def test_lengths_accept_quantities():
    w, lengths = random_connectome()
    conn = bmx.Connectome(w, u.Quantity(lengths / 1000.0, "m"))
    np.testing.assert_allclose(conn.lengths.array, lengths, rtol=1e-6)
    np.testing.assert_allclose(conn.delays(u.Quantity(5.0, "m/s")), lengths / 5.0, rtol=1e-6)


@pytest.mark.parametrize(
    "weights, lengths, kwargs, message",
    [
        (np.ones((3, 4)), None, {}, r"`weights` must be a square"),
        (-np.ones((3, 3)), None, {}, r"`weights` has negative entries"),
        (np.full((3, 3), np.nan), None, {}, r"`weights` contains NaN"),
        (np.ones((3, 3)), np.ones((2, 2)), {}, r"`lengths` has shape \(2, 2\)"),
        (np.ones((3, 3)), -np.ones((3, 3)), {}, r"`lengths` has negative entries"),
        (np.ones((3, 3)), np.full((3, 3), np.inf), {}, r"`lengths` contains NaN or inf"),
        (np.ones((3, 3)), None, {"labels": ["a"]}, r"`labels` has 1 names for 3 regions"),
        (np.ones((3, 3)), None, {"centres": np.ones((3, 2))}, r"`centres` must have shape"),
    ],
)
def test_validation_errors(weights, lengths, kwargs, message):
    with pytest.raises(ValueError, match=message):
        bmx.Connectome(weights, lengths, **kwargs)


@given(hnp.arrays(np.float64, (5, 5), elements=st.one_of(st.just(0.0), st.floats(1e-3, 10.0))))
def test_normalisations(w):
    conn = bmx.Connectome(w)
    off = w.copy()
    np.fill_diagonal(off, 0)
    if off.max() > 0:
        assert float(conn.normalise_max().weights.max()) == pytest.approx(1.0, rel=1e-6)
        rho = np.max(np.abs(np.linalg.eigvals(off)))
        if rho > 1e-3:
            w_rho = np.asarray(conn.normalise_spectral_radius(0.9).weights, np.float64)
            assert np.max(np.abs(np.linalg.eigvals(w_rho))) == pytest.approx(0.9, rel=1e-3)
    s = np.asarray(conn.normalise_in_strength().in_strength())
    rows = off.sum(axis=1) > 0
    np.testing.assert_allclose(s[rows], 1.0, rtol=1e-5)
    np.testing.assert_allclose(s[~rows], 0.0)


def test_weights_are_traced_data_and_structure_is_static():
    w, lengths = random_connectome()
    conn = bmx.Connectome(w, lengths)
    leaves = jax.tree.leaves(conn)
    assert len(leaves) == 1 and leaves[0] is conn.weights
    same = bmx.Connectome(w, lengths)
    assert jax.tree.structure(conn) == jax.tree.structure(same)
    other = bmx.Connectome(w, lengths * 2)
    assert jax.tree.structure(conn) != jax.tree.structure(other)


def test_without_lengths_and_delays():
    w, lengths = random_connectome()
    conn = bmx.Connectome(w, lengths)
    np.testing.assert_allclose(conn.delays(10.0), lengths / 10.0)
    assert conn.without_lengths().lengths is None
    with pytest.raises(ValueError, match="no `lengths`"):
        conn.without_lengths().delays(10.0)
    with pytest.raises(ValueError, match="`speed` must be a positive"):
        conn.delays(0.0)
