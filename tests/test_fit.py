"""fit / Fitter: parameter recovery for every method, best-params bookkeeping, NaN handling,
checkpoint round trip, constraints, and no recompilation."""

import math

import diffrax as dfx
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import count_compilations
from hypothesis import given

import brainmass_eqx as bmx


Y0 = {"x": jnp.full((1,), 0.5), "y": jnp.zeros(1)}


def amplitude(model):
    """Settled RMS amplitude of a Hopf node: sqrt(a) on the limit cycle (times sqrt(2) RMS)."""
    sim = bmx.simulate(model, 400.0, 0.1, monitors=["x"], transient=200.0, solver=dfx.Heun(),
                       y0=Y0)
    return jnp.sqrt(2.0 * jnp.mean(sim["x"] ** 2))


def amp_loss(model, target):
    return (amplitude(model) - target) ** 2


@pytest.fixture(scope="module")
def teaser():
    """The seeds' teaser (dt 0.1 ms, 400 ms, transient 200 ms): recover Hopf a = 1.5 from
    the settled amplitude."""
    a_true = 1.5
    target = amplitude(bmx.Hopf(a=a_true, omega=0.3))
    # the limit-cycle radius of the Hopf normal form is sqrt(a): an independent check
    assert float(target) == pytest.approx(math.sqrt(a_true), rel=2e-2)
    return bmx.Hopf(a=0.1, omega=0.3), target, a_true


@pytest.mark.parametrize("method,steps", [
    (optax.adam(0.1), 120),
    (bmx.Nevergrad("CMA", budget=96, num_workers=8), None),
    (bmx.Scipy("L-BFGS-B"), 50),
    (bmx.Scipy("Nelder-Mead"), 100),
], ids=["adam", "nevergrad", "lbfgsb", "nelder-mead"])
def test_teaser_recovers_a_with_every_method(teaser, method, steps):
    start, target, a_true = teaser
    res = bmx.fit(start, amp_loss, target, where=lambda m: m.a, method=method, steps=steps,
                  constraints=bmx.Positive())
    assert float(res.best_params[0]) == pytest.approx(a_true, rel=2e-2)
    assert float(res.best_model.a) == float(res.best_params[0])
    assert res.best_loss < 1e-5
    assert res.n_evaluations == len(res.history) and res.wall_time > 0
    # the best loss is the loss of the best model (not of the step after it)
    assert float(amp_loss(res.best_model, target)) == pytest.approx(res.best_loss, rel=1e-4,
                                                                    abs=1e-12)


def test_differential_evolution_in_a_box():
    target = jnp.asarray([0.3, -0.7])

    def loss(m, t):
        return jnp.sum((m.a - t) ** 2)

    res = bmx.fit(bmx.Hopf(a=jnp.zeros(2)), loss, target, where=lambda m: m.a,
                  method=bmx.Scipy("differential_evolution", seed=1, popsize=10), steps=60,
                  constraints=bmx.Bounded(-1.0, 1.0))
    np.testing.assert_allclose(res.best_params[0], target, atol=2e-2)
    with pytest.raises(ValueError, match="Bounded"):
        bmx.fit(bmx.Hopf(a=jnp.zeros(2)), loss, target, where=lambda m: m.a,
                method=bmx.Scipy("differential_evolution"), steps=5)


def test_per_region_vectors_and_two_parameter_groups():
    conn = bmx.Connectome(jnp.asarray([[0.0, 1.0, 0.5], [1.0, 0.0, 0.2], [0.5, 0.2, 0.0]]))
    net = bmx.Network(bmx.Hopf(a=jnp.zeros(3)), conn, coupling=bmx.DiffusiveCoupling(k=0.5))
    target_a, target_k = jnp.asarray([0.2, -0.4, 0.6]), jnp.asarray(1.3)

    def loss(m, ta, tk):
        return jnp.sum((m.node.a - ta) ** 2) + (m.coupling.k - tk) ** 2

    res = bmx.fit(net, loss, target_a, target_k, where=lambda m: (m.node.a, m.coupling.k),
                  constraints=(bmx.Bounded(-1.0, 1.0), bmx.Positive()),
                  method=optax.adam(0.05), steps=600)
    np.testing.assert_allclose(res.best_params[0], target_a, atol=1e-2)
    np.testing.assert_allclose(res.best_params[1], target_k, atol=1e-2)
    # everything else is frozen
    np.testing.assert_array_equal(res.best_model.node.omega, net.node.omega)
    np.testing.assert_array_equal(res.best_model.connectome.weights, net.connectome.weights)


def test_best_params_are_those_that_produced_the_best_loss():
    # plain SGD with a step that overshoots: the loss oscillates, so "one step later" differs
    def loss(m, t):
        return (m.a - t) ** 2

    res = bmx.fit(bmx.Hopf(a=0.0), loss, jnp.asarray(1.0), where=lambda m: m.a,
                  method=optax.sgd(0.95), steps=7)
    i = int(np.argmin(res.history))
    assert res.best_loss == res.history[i]
    assert float(loss(res.best_model, jnp.asarray(1.0))) == pytest.approx(res.best_loss)
    # SGD from 0 with lr 0.95: a_k = 1 - (-0.9)^k, so the best of steps 0..6 is step 6
    assert float(res.best_params[0]) == pytest.approx(1 - 0.9**6, rel=1e-5)


def test_nonfinite_losses_are_skipped_and_reported():
    def loss(m, t):
        # NaN beyond a = 0.8: the optimiser overshoots into it and must back off
        return jnp.where(m.a > 0.8, jnp.nan, (m.a - t) ** 2)

    res = bmx.fit(bmx.Hopf(a=0.0), loss, jnp.asarray(1.0), where=lambda m: m.a,
                  method=optax.sgd(0.6), steps=40)
    assert res.nonfinite > 0 and np.isnan(res.history).any()
    assert math.isfinite(res.best_loss)
    assert float(res.best_params[0]) <= 0.8
    assert float(res.best_params[0]) > 0.7  # it kept improving after the NaNs

    bad = bmx.fit(bmx.Hopf(a=0.0), lambda m, t: jnp.nan * m.a, jnp.asarray(1.0),
                  where=lambda m: m.a, steps=10)
    assert bad.best_loss == math.inf and "non-finite" in bad.termination
    assert "no evaluation gave a finite loss" in bad.termination
    np.testing.assert_array_equal(bad.best_model.a, 0.0)


def test_nonfinite_candidates_in_gradient_free_methods():
    def loss(m, t):
        return jnp.where(m.a > 1.0, jnp.inf, (m.a - t) ** 2)

    for method in [bmx.Nevergrad("TwoPointsDE", budget=48, num_workers=8),
                   bmx.Scipy("Nelder-Mead")]:
        res = bmx.fit(bmx.Hopf(a=0.0), loss, jnp.asarray(0.9), where=lambda m: m.a,
                      method=method, steps=100)
        assert math.isfinite(res.best_loss) and float(res.best_params[0]) <= 1.0


def test_checkpoint_and_resume_round_trip(tmp_path):
    def loss(m, t):
        return jnp.sum((m.a - t) ** 2)

    target = jnp.asarray([0.5, -0.5])
    kw = dict(where=lambda m: m.a, method=optax.adam(0.05))
    full = bmx.fit(bmx.Hopf(a=jnp.zeros(2)), loss, target, steps=20, **kw)
    path = tmp_path / "fit.eqx"
    first = bmx.fit(bmx.Hopf(a=jnp.zeros(2)), loss, target, steps=10, checkpoint=path,
                    checkpoint_every=5, **kw)
    assert path.exists() and len(first.history) == 10
    resumed = bmx.fit(bmx.Hopf(a=jnp.zeros(2)), loss, target, steps=20, checkpoint=path,
                      resume=True, **kw)
    np.testing.assert_allclose(resumed.history, full.history, rtol=1e-6)
    np.testing.assert_allclose(resumed.best_params[0], full.best_params[0], rtol=1e-6)
    np.testing.assert_allclose(resumed.final_model.a, full.final_model.a, rtol=1e-6)


def test_nevergrad_checkpoint_resume(tmp_path):
    def loss(m, t):
        return jnp.sum((m.a - t) ** 2)

    path = tmp_path / "ng.eqx"
    m = bmx.Hopf(a=jnp.zeros(3))
    first = bmx.fit(m, loss, jnp.ones(3), where=lambda m: m.a, checkpoint=path,
                    method=bmx.Nevergrad("CMA", budget=24, num_workers=8))
    more = bmx.fit(m, loss, jnp.ones(3), where=lambda m: m.a, checkpoint=path, resume=True,
                   method=bmx.Nevergrad("CMA", budget=48, num_workers=8))
    assert len(first.history) == 24 and len(more.history) == 48
    np.testing.assert_allclose(more.history[:24], first.history)
    assert more.best_loss <= first.best_loss


def test_callbacks_see_every_step_and_can_stop():
    seen = []

    def cb(info):
        seen.append((info.step, info.loss))
        return info.step >= 4

    res = bmx.fit(bmx.Hopf(a=0.0), lambda m, t: (m.a - t) ** 2, jnp.asarray(1.0),
                  where=lambda m: m.a, steps=50, callbacks=[cb])
    assert [s for s, _ in seen] == [0, 1, 2, 3, 4]
    assert "callback" in res.termination and len(res.history) == 5


def test_no_recompilation_across_steps_and_fits(teaser):
    start, target, _ = teaser
    fitter = bmx.Fitter(loss=amp_loss, where=lambda m: m.a, method=optax.adam(0.1),
                        constraints=bmx.Positive())
    fitter.fit(start, target, steps=2)
    other_start = bmx.Hopf(a=0.3, omega=0.3)
    other_target = target * 0.9
    with count_compilations() as c:
        res = fitter.fit(other_start, other_target, steps=6)
    assert c.compiles == 0 and len(res.history) == 6
    ng = bmx.Fitter(loss=amp_loss, where=lambda m: m.a, constraints=bmx.Positive(),
                    method=bmx.Nevergrad("CMA", budget=16, num_workers=8))
    ng.fit(start, target)
    with count_compilations() as c:
        ng.fit(other_start, other_target)
    assert c.compiles == 0


@given(st.floats(-30, 30), st.floats(-5, 5), st.floats(0.01, 10))
def test_constraints_round_trip(u, lo, width):
    u = jnp.asarray(u, jnp.float32)
    x = bmx.Positive().forward(u)
    assert float(x) >= 0
    n = bmx.Negative().forward(jnp.clip(u, -30, 30))
    assert float(n) <= 0
    if float(n) < 0:
        np.testing.assert_allclose(bmx.Negative().inverse(n), u, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="Negative"):
        bmx.Negative().inverse(jnp.asarray(0.5))
    with pytest.raises(ValueError, match="Negative"):
        bmx.Negative(margin=1.0).inverse(jnp.asarray(-0.5))
    assert float(bmx.Negative(margin=2.0).forward(u)) <= -2.0
    b = bmx.Bounded(lo, lo + width)
    y = b.forward(jnp.clip(u, -8, 8))
    assert lo <= float(y) <= lo + width
    np.testing.assert_allclose(b.inverse(y), jnp.clip(u, -8, 8), atol=2e-2)


def test_argument_errors():
    m = bmx.Hopf(a=0.0)
    loss = lambda m, t: (m.a - t) ** 2  # noqa: E731
    with pytest.raises(ValueError, match="Bounded"):
        bmx.fit(m, loss, 1.0, where=lambda m: m.a, constraints=bmx.Bounded(0.5, 1.0), steps=1)
    with pytest.raises(ValueError, match="Positive"):
        bmx.fit(m, loss, 1.0, where=lambda m: m.a, constraints=bmx.Positive(), steps=1)
    with pytest.raises(ValueError, match="one per parameter"):
        bmx.fit(m, loss, 1.0, where=lambda m: m.a, constraints=(None, None), steps=1)
    with pytest.raises(ValueError, match="steps"):
        bmx.fit(m, loss, 1.0, where=lambda m: m.a)
    with pytest.raises(ValueError, match="method"):
        bmx.fit(m, loss, 1.0, where=lambda m: m.a, method="adam", steps=1)
    with pytest.raises(ValueError, match="not supported"):
        bmx.Scipy("simplex")
    with pytest.raises(ValueError, match="hi > lo"):
        bmx.Bounded(1.0, 0.0)


def test_unwrap_and_constrain():
    net_like = {"a": jnp.asarray([0.5, 2.0]), "b": jnp.asarray(3.0)}
    wrapped, spec = bmx.constrain(net_like, lambda t: t["a"], bmx.Positive())
    assert isinstance(wrapped["a"], bmx.Constrained)
    np.testing.assert_allclose(bmx.unwrap(wrapped)["a"], net_like["a"], rtol=1e-6)
    assert spec["b"] is False and spec["a"].raw is True
    grads = jax.grad(lambda w: jnp.sum(bmx.unwrap(w)["a"]))(wrapped)
    np.testing.assert_allclose(grads["a"].raw, net_like["a"], rtol=1e-6)  # d exp(u)/du = x


def test_runtime_errors_in_the_loss_count_as_failed_evaluations():
    import equinox as eqx

    def loss(m, t):
        # a runtime check that fails for a > 1.0, like a solver reaching max_steps
        a = eqx.error_if(m.a, m.a > 1.0, "solver failed")
        return (a - t) ** 2

    for method, steps in [(optax.sgd(0.6), 30), (bmx.Nevergrad("TwoPointsDE", budget=32,
                                                                num_workers=8), None),
                          (bmx.Scipy("Nelder-Mead"), 60), (bmx.Scipy("L-BFGS-B"), 30)]:
        res = bmx.fit(bmx.Hopf(a=0.0), loss, jnp.asarray(0.95), where=lambda m: m.a,
                      method=method, steps=steps)
        assert math.isfinite(res.best_loss) and float(res.best_params[0]) <= 1.0, method
        assert float(res.best_params[0]) > 0.7, method


def test_flat_evaluations_of_one_problem_compile_once():
    """The gradient-free methods evaluate the loss at flat vectors: after the first call of
    each kind, further evaluations of the same problem compile nothing."""
    import equinox as eqx

    from brainmass_eqx._learn._constraints import constrain
    from brainmass_eqx._learn._problem import FitProblem

    wrapped, spec = constrain(bmx.Hopf(a=0.0), lambda m: m.a)
    params, static = eqx.partition(wrapped, spec)
    problem = FitProblem(params, static, wrapped, lambda m, t: (m.a - t) ** 2,
                         (jnp.asarray(0.3),))
    problem.value([0.1])
    problem.value_batch([[0.1], [0.2]])
    problem.unflatten([0.1])
    with count_compilations() as counter:
        problem.value([0.2])
        problem.value_batch([[0.3], [0.4]])
        problem.unflatten([0.5])
    assert (counter.compiles, counter.traces) == (0, 0)
