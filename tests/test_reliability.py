"""Reliability: every bad input a clear `ValueError`/`TypeError` naming the argument, every
failure reported, NaN in -> NaN out, fits that lose nothing and count right, a command line
without tracebacks. One test per class of defect (and per example), then property-based
checks over the public constructors, `simulate`, `Network`, the metrics and `fit`."""

import json
import math
import pathlib

import diffrax as dfx
import equinox as eqx
import hypothesis.extra.numpy as hnp
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given

import brainmass_eqx as bmx
from brainmass_eqx import cli, metrics, objectives


CONN3 = bmx.Connectome(np.ones((3, 3)) - np.eye(3))


def nan_after(t0):
    """An input that turns NaN after `t0` ms."""
    def inputs(t):
        return jnp.where(t > t0, jnp.nan, 0.0)
    return inputs


# -------------------------------------------------- 1. shapes checked where they are built


@pytest.mark.parametrize("build, names", [
    (lambda: bmx.Hopf(a=jnp.ones(3), omega=jnp.full(2, 0.06)), ("Hopf", "'a'", "'omega'")),
    (lambda: bmx.Network(bmx.Hopf(), CONN3, bmx.DiffusiveCoupling(),
                         noise=bmx.AdditiveNoise(sigma=jnp.full(5, 0.01))), ("noise", "sigma")),
    (lambda: bmx.simulate(bmx.Hopf(a=jnp.ones(3)), 10.0, 0.1,
                          y0={"x": jnp.ones((3, 1)), "y": jnp.ones((3, 1))}), ("`y0`",)),
    (lambda: bmx.simulate(bmx.Hopf(a=jnp.ones(3)), 10.0, 0.1, inputs=lambda t: jnp.ones(2)),
     ("`inputs`", "(2,)")),
    (lambda: bmx.simulate(bmx.Hopf(), 10.0, 0.1, n_nodes=2.5), ("`n_nodes`",)),
    (lambda: bmx.simulate(bmx.Hopf(), 10.0, 0.1, max_steps=-1), ("`max_steps`",)),
    (lambda: bmx.simulate(bmx.Hopf(), 10.0, 0.1, throw="yes"), ("`throw`",)),
], ids=["params", "noise", "y0", "inputs", "n_nodes", "max_steps", "throw"])
def test_shapes_and_arguments_are_checked_where_they_are_given(build, names):
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    for name in names:
        assert name in str(info.value), str(info.value)


def test_a_y0_the_parameters_broadcast_to_is_accepted():
    sim = bmx.simulate(bmx.Hopf(), 2.0, 0.1, y0={"x": jnp.ones((2, 3)), "y": jnp.zeros(())})
    assert sim["x"].shape == (20, 2, 3)


# ------------------------------------------------------------ 2. failures reported, not buried


@pytest.mark.parametrize("path", ["ode-fixed", "engine"])
def test_a_fixed_step_run_that_turns_non_finite_is_reported_with_its_time(path):
    if path == "ode-fixed":
        model, kw = bmx.Hopf(), dict(solver=dfx.Heun())
    else:
        conn = bmx.Connectome(np.array([[0, 1.0], [1.0, 0]]), np.array([[0, 2.0], [2.0, 0]]))
        model, kw = bmx.Network(bmx.Hopf(), conn, bmx.DiffusiveCoupling(), speed=1.0), {}
    sim = bmx.simulate(model, 100.0, 0.5, inputs=nan_after(50.0), throw=False, **kw)
    assert sim.result == dfx.RESULTS.nonfinite
    # the first step that reads the NaN input ends at 50.5 ms
    assert float(sim.stats["nonfinite_time"]) == pytest.approx(50.5)
    assert np.all(np.isfinite(sim["x"][:100])) and np.isnan(sim["x"][-1]).all()
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"non-finite value is at t = 50.5 ms"):
        bmx.simulate(model, 100.0, 0.5, inputs=nan_after(50.0), **kw)
    # finite runs say so
    ok = bmx.simulate(model, 100.0, 0.5, **kw)
    assert ok.result == dfx.RESULTS.successful and ok.stats["nonfinite_time"] == np.inf


def test_an_adaptive_solve_stalled_on_nan_is_not_blamed_on_max_steps():
    sim = bmx.simulate(bmx.Hopf(), 100.0, 0.5, inputs=nan_after(50.0), throw=False)
    assert sim.result == dfx.RESULTS.nonfinite
    assert float(sim.stats["nonfinite_time"]) == pytest.approx(50.0, abs=1e-3)
    with pytest.raises(eqx.EquinoxRuntimeError) as info:
        bmx.simulate(bmx.Hopf(), 100.0, 0.5, inputs=nan_after(50.0))
    assert "max_steps" not in str(info.value).split("Pass")[0]
    # a genuine shortage of steps still says so
    short = bmx.simulate(bmx.Hopf(), 100.0, 1.0, max_steps=3, throw=False)
    assert short.result == dfx.RESULTS.max_steps_reached


def test_a_failure_inside_jit_raises_at_run_time():
    run = eqx.filter_jit(lambda m: bmx.simulate(m, 100.0, 0.5, solver=dfx.Heun(),
                                                inputs=nan_after(50.0))["x"])
    with pytest.raises(eqx.EquinoxRuntimeError, match="Nonfinite"):
        jax.block_until_ready(run(bmx.Hopf()))


def test_parameters_built_under_jit_are_checked():
    build = eqx.filter_jit(lambda tau: bmx.Linear(tau=tau).tau)
    assert float(build(jnp.asarray(2.0))) == 2.0
    with pytest.raises(eqx.EquinoxRuntimeError, match=r"`Linear.tau` is NaN, inf or outside"):
        jax.block_until_ready(build(jnp.asarray(-1.0)))


# ------------------------------------------------------------------------ 3. NaN in, NaN out


def test_metrics_and_objectives_propagate_nan():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    x[17, 2] = np.nan
    c = np.asarray(metrics.fc(x))
    assert np.isnan(c[2]).all() and np.isnan(c[:, 2]).all()
    clean = np.delete(np.delete(c, 2, 0), 2, 1)
    np.testing.assert_allclose(clean, np.corrcoef(np.delete(x, 2, 1).T), atol=1e-5)
    target = rng.normal(size=(200, 4)).astype(np.float32)
    assert np.isnan(objectives.fc_corr()(jnp.full((200, 4), jnp.nan), target))
    assert np.isnan(objectives.fc_corr()(jnp.asarray(x), target))
    assert np.isnan(objectives.fc_rmse()(jnp.asarray(x), target))
    assert np.isnan(metrics.ks_distance(jnp.array([0.1, jnp.nan]), jnp.ones(3)))
    assert np.isnan(metrics.wasserstein_distance(jnp.array([0.1, jnp.nan]), jnp.ones(3)))
    assert np.isnan(metrics.pearson(jnp.array([1.0, jnp.nan, 3.0]), jnp.ones(3)))


@pytest.mark.parametrize("call, name", [
    (lambda: metrics.ks_distance(jnp.zeros(0), jnp.ones(3)), "`a`"),
    (lambda: metrics.wasserstein_distance(jnp.ones(3), jnp.zeros(0)), "`b`"),
    (lambda: metrics.fc(jnp.ones((1, 3))), "`x`"),
    (lambda: bmx.simulate(bmx.Hopf(), 0.2, 0.1, transient=0.1,
                          monitors={"fc": bmx.StreamingFC(on="x")}), "StreamingFC"),
], ids=["ks-empty", "wasserstein-empty", "fc-one-sample", "streaming-fc-one-sample"])
def test_empty_and_single_sample_inputs_raise(call, name):
    with pytest.raises(ValueError, match=name):
        call()


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=9),
                  elements=st.floats(-1e4, 1e4, width=32)))
def test_fc_is_symmetric_with_a_unit_diagonal_by_construction(x):
    c = np.asarray(metrics.fc(jnp.asarray(x)))
    np.testing.assert_array_equal(c, c.T)
    np.testing.assert_array_equal(np.diag(c), 1.0)


# ------------------------------------------------------------- 4. fits lose nothing, count right


def quadratic(model, target):
    return jnp.sum((model.a - target) ** 2)


@pytest.mark.parametrize("method", [optax.adam(0.1), bmx.Nevergrad(budget=8, num_workers=4),
                                    bmx.Scipy("L-BFGS-B"), bmx.Scipy("Nelder-Mead")],
                         ids=["optax", "nevergrad", "lbfgsb", "nelder-mead"])
def test_a_vector_loss_is_rejected_up_front_by_every_method(method):
    with pytest.raises(ValueError, match="`loss` must return a scalar"):
        bmx.fit(bmx.Hopf(a=jnp.zeros(3)), lambda m: m.a, where=lambda m: m.a, method=method,
                steps=3)


def test_lbfgsb_at_a_nan_start_says_so():
    res = bmx.fit(bmx.Hopf(a=0.0), lambda m: jnp.log(m.a - 1.0) ** 2, where=lambda m: m.a,
                  method=bmx.Scipy("L-BFGS-B"), steps=10)
    assert "non-finite at the initial parameters" in res.termination
    assert "CONVERGENCE" not in res.termination.upper()


def test_fit_arguments_are_checked():
    with pytest.raises(ValueError, match="same array twice"):
        bmx.fit(bmx.Hopf(), quadratic, 0.3, where=lambda m: (m.a, m.a), steps=2,
                constraints=(bmx.Positive(), None))
    with pytest.raises(ValueError, match="`checkpoint_every`"):
        bmx.fit(bmx.Hopf(), quadratic, 0.3, where=lambda m: m.a, steps=2, checkpoint_every=0,
                checkpoint="unused.eqx")
    with pytest.raises(ValueError, match="`steps`"):
        bmx.fit(bmx.Hopf(), quadratic, 0.3, where=lambda m: m.a, steps=2.5)


@pytest.mark.parametrize("name, match", [("CMAA", "did you mean"),
                                         ("NGOpt", "NgIohTuned")])
def test_nevergrad_names_are_checked_when_the_method_is_made(name, match):
    with pytest.raises(ValueError, match=match):
        bmx.Nevergrad(name)


def test_an_interrupted_fit_resumes_to_the_uninterrupted_result(tmp_path):
    """Ctrl-C inside step 3 (raised by a callback, after the step's loss was recorded):
    the interrupted step is undone, the checkpoint holds 3 steps, and resuming gives the
    uninterrupted run exactly. Resuming a finished fit changes nothing and counts right."""
    kw = dict(where=lambda m: m.a, method=optax.adam(0.05), steps=8)
    straight = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, **kw)

    def interrupt(info):
        if info.step == 3:
            raise KeyboardInterrupt

    ckpt = tmp_path / "fit.eqx"
    cut = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, checkpoint_every=1,
                  callbacks=[interrupt], **kw)
    assert cut.n_steps == 3 and len(cut.history) == 3 and "after 3 completed" in cut.termination
    assert json.loads(ckpt.with_suffix(".json").read_text())["step"] == 3
    resumed = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, resume=True, **kw)
    assert resumed.n_steps == 8
    np.testing.assert_array_equal(resumed.history, straight.history)
    assert float(resumed.final_model.a) == float(straight.final_model.a)
    again = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, resume=True, **kw)
    assert again.n_steps == 8 and "already completed" in again.termination
    np.testing.assert_array_equal(again.history, straight.history)


@pytest.mark.parametrize("where", ["between", "inside"])
def test_an_interrupted_nevergrad_fit_resumes_to_the_uninterrupted_result(tmp_path, where):
    """Ctrl-C after generation 3 is told (a callback) or inside generation 4 (its evaluation,
    before its candidates are told): resuming from the checkpoint gives the uninterrupted
    history."""
    method = bmx.Nevergrad("CMA", budget=40, num_workers=4, seed=3)
    kw = dict(where=lambda m: m.a, method=method)
    straight = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, **kw)
    ckpt = tmp_path / "ng.eqx"
    calls = {"n": 0}

    def interrupt(info):
        if where == "between" and info.step == 3:
            raise KeyboardInterrupt

    if where == "inside":
        real = bmx.Nevergrad.run

        def run_and_interrupt(self, problem, tracker, *, steps, checkpoint):
            value_batch = problem.value_batch

            def counted(xs):
                calls["n"] += 1
                if calls["n"] == 4:
                    raise KeyboardInterrupt
                return value_batch(xs)

            object.__setattr__(problem, "value_batch", counted)
            return real(self, problem, tracker, steps=steps, checkpoint=checkpoint)

        cut = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, checkpoint_every=1,
                      **dict(kw, method=_Interrupting(run_and_interrupt)))
        assert len(cut.history) == 12 and "completed generations" in cut.termination
    else:
        cut = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, checkpoint_every=1,
                      callbacks=[interrupt], **kw)
        assert "after 3 completed generations" in cut.termination
    resumed = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, checkpoint=ckpt, resume=True, **kw)
    np.testing.assert_array_equal(resumed.history, straight.history)
    assert float(resumed.best_loss) == float(straight.best_loss)


class _Interrupting(bmx.AbstractFitMethod):
    """A Nevergrad fit whose `run` is wrapped (to raise Ctrl-C inside a generation)."""

    wrapped: object = eqx.field(static=True)

    def run(self, problem, tracker, *, steps, checkpoint):
        return self.wrapped(bmx.Nevergrad("CMA", budget=40, num_workers=4, seed=3), problem,
                            tracker, steps=steps, checkpoint=checkpoint)


@pytest.mark.parametrize("damage", ["truncated", "no-sidecar", "bad-sidecar", "other-shape"])
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, damage):
    ckpt = tmp_path / "fit.eqx"
    kw = dict(where=lambda m: m.a, method=optax.adam(0.05), steps=3, checkpoint=ckpt)
    bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, **kw)
    model = bmx.Hopf(a=0.0)
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:5])
    elif damage == "no-sidecar":
        ckpt.with_suffix(".json").unlink()
    elif damage == "bad-sidecar":
        ckpt.with_suffix(".json").write_text("{not json")
    else:
        model = bmx.Hopf(a=jnp.zeros(4))
    with pytest.raises(ValueError, match=str(ckpt.name)):
        bmx.fit(model, quadratic, 0.3, resume=True, **kw)


def test_resume_without_a_checkpoint_says_so(tmp_path):
    with pytest.warns(UserWarning, match="no checkpoint"):
        res = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, where=lambda m: m.a, steps=2,
                      checkpoint=tmp_path / "none.eqx", resume=True)
    assert "started afresh" in res.termination


# ----------------------------------------------------------------- 5. the command line


@pytest.mark.parametrize("text, match", [
    ('[model]\nname = "Hopf"\n[simulate]\nduration = 10.0\ndt = 0.1\ntransiant = 0.5\n',
     r"unknown key `transiant` in \[simulate\].*transient"),
    ('[model]\nname = "Hopf"\n[netwrok]\nspeed = 1\n', r"unknown table \[netwrok\].*\[network\]"),
    ('[model]\nname = "Hopf"\n[simulate]\nduration = "ten"\ndt = 0.1\n',
     r"\[simulate\] duration must be a number"),
    ('[model]\nname = "Hopf"\nparams = 5\n', r"\[model\] params must be a table"),
], ids=["key-typo", "table-typo", "wrong-type", "params-type"])
def test_the_cli_rejects_bad_configs_without_a_traceback(tmp_path, capsys, text, match):
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    with pytest.raises(SystemExit) as info:
        cli.main(["simulate", "--config", str(cfg), "--out", str(tmp_path / "o.npz")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert __import__("re").search(match, err), err


def test_a_fit_config_that_cannot_match_its_target_is_rejected_before_simulating(tmp_path,
                                                                                  capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text('[model]\nname = "Hopf"\n[network]\nconnectome = "example_connectome"\n'
                   '[simulate]\nduration = 100.0\ndt = 1.0\n[fit]\nparameters = ["coupling.k"]\n')
    with pytest.raises(SystemExit) as info:
        cli.main(["fit", "--config", str(cfg), "--no-progress"])
    assert info.value.code == 2 and "80 regions" in capsys.readouterr().err


# ------------------------------------------------------------------- 6. training and the rest


def test_train_checks_the_model_on_one_example_first():
    model = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    x, y = jnp.ones((8, 4)), jnp.zeros(8, jnp.int32)
    with pytest.raises(ValueError, match="one example of `\\(inputs, targets\\)`"):
        bmx.train(model, x, y, key=jax.random.key(1), epochs=1)


def test_an_interrupted_training_reports_its_completed_epochs():
    model = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    x = jax.random.normal(jax.random.key(2), (16, 3))
    y = (x[:, 0] > 0).astype(jnp.int32)

    def interrupt(epoch, record, model):  # called after epoch `epoch` is complete
        if epoch == 2:
            raise KeyboardInterrupt

    res = bmx.train(model, x, y, key=jax.random.key(1), epochs=5, batch_size=8,
                    callbacks=[interrupt])
    assert res.epochs == 3 and len(res.history["train_loss"]) == 3
    assert "after 3 completed epochs" in res.termination


@pytest.mark.parametrize("call, match", [
    (lambda: CONN3.normalise_spectral_radius(-1.0), "`radius`"),
    (lambda: bmx.simulate(bmx.Network(bmx.Hopf(), bmx.Connectome(
        np.array([[0, 1.0], [1.0, 0]]), np.array([[0, 0.0], [1.0, 0]])),
        bmx.DiffusiveCoupling(), speed=1.0), 10.0, 0.1), "has length 0"),
    (lambda: bmx.Hopf(a=1e39), "overflows float32"),
    (lambda: bmx.viz.plot_matrix(np.ones((2, 3))), "square"),
    (lambda: bmx.viz.plot_fc_comparison(np.eye(3), np.eye(4)), "same shape"),
    (lambda: bmx.viz.plot_timeseries(np.arange(5), np.ones((4, 2))), "time axis"),
], ids=["spectral-radius", "zero-tract", "float32-overflow", "viz-matrix", "viz-fc",
        "viz-series"])
def test_the_rest_gives_clear_errors(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_delays_shorter_than_a_step_round_up_to_one_step_when_asked():
    lengths = np.array([[0, 0.03], [1.0, 0]])  # 0.03 mm at 1 mm/ms: a third of a step
    w = np.array([[0, 1.0], [1.0, 0]])
    kw = dict(coupling=bmx.LinearCoupling(a=0.5), speed=1.0)
    node = bmx.Linear(tau=jnp.array([5.0, 3.0]))
    with pytest.raises(ValueError, match="at_least_one_step"):
        bmx.simulate(bmx.Network(node, bmx.Connectome(w, lengths), **kw), 5.0, 0.1)
    short = bmx.Network(node, bmx.Connectome(w, lengths), at_least_one_step=True, **kw)
    one_step = bmx.Network(node, bmx.Connectome(w, np.array([[0, 0.1], [1.0, 0]])), **kw)
    y0 = {"x": jnp.array([1.0, -1.0])}
    np.testing.assert_array_equal(bmx.simulate(short, 5.0, 0.1, y0=y0)["x"],
                                  bmx.simulate(one_step, 5.0, 0.1, y0=y0)["x"])


# ---------------------------------------------------------------- property-based: the classes


def _assert_clear(error: Exception, *names: str) -> None:
    assert isinstance(error, ValueError | TypeError), repr(error)
    text = str(error)
    assert any(n in text for n in names), text


values = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                   st.integers(-3, 3), st.booleans(), st.none(), st.text(max_size=3),
                   hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=4)))


@given(st.sampled_from([bmx.Hopf, bmx.Linear, bmx.WilsonCowan, bmx.JansenRit, bmx.Kuramoto,
                        bmx.FitzHughNagumo]), st.data())
def test_model_constructors_accept_or_name_the_field(cls, data):
    name = data.draw(st.sampled_from(list(cls.param_fields())))
    value = data.draw(values)
    try:
        model = cls(**{name: value})
    except Exception as e:  # noqa: BLE001 - the assertion is on the kind of error
        _assert_clear(e, f"{cls.__name__}.{name}", f"{cls.__name__}")
        return
    assert np.all(np.isfinite(np.asarray(getattr(model, name))))


@given(duration=st.one_of(st.floats(-5, 30, width=32), st.integers(-2, 30), st.none(),
                          st.text(max_size=2)),
       dt=st.one_of(st.floats(-1, 2, width=32), st.sampled_from([0.1, 0.25, 0.5]), st.none()),
       transient=st.one_of(st.floats(-1, 20, width=32), st.just(0.0)),
       n_nodes=st.one_of(st.none(), st.integers(-1, 3), st.floats(0, 3), st.tuples(
           st.integers(0, 2))))
def test_simulate_runs_or_names_the_argument(duration, dt, transient, n_nodes):
    try:
        sim = bmx.simulate(bmx.Linear(), duration, dt, transient=transient, n_nodes=n_nodes,
                           solver=dfx.Euler())
    except Exception as e:  # noqa: BLE001
        _assert_clear(e, "`duration`", "`dt`", "`transient`", "`n_nodes`")
        return
    assert sim.result == dfx.RESULTS.successful and np.all(np.isfinite(sim["x"]))


@given(n=st.integers(1, 4), sigma_len=st.integers(0, 5), a_len=st.integers(0, 5),
       k=st.floats(-1, 1, width=32))
def test_network_constructor_accepts_or_names_the_part(n, sigma_len, a_len, k):
    conn = bmx.Connectome(np.ones((n, n)) - np.eye(n))
    sigma = 0.01 if sigma_len == 0 else jnp.full(sigma_len, 0.01)
    a = -0.1 if a_len == 0 else jnp.full(a_len, -0.1)
    try:
        net = bmx.Network(bmx.Hopf(a=a), conn, bmx.DiffusiveCoupling(k=k),
                          noise=bmx.AdditiveNoise(sigma=sigma))
    except Exception as e:  # noqa: BLE001
        _assert_clear(e, "sigma", "per-region parameters", "`k`", "DiffusiveCoupling.k")
        return
    sim = bmx.simulate(net, 5.0, 0.1, key=jax.random.key(0))
    assert sim["x"].shape == (50, n) and np.all(np.isfinite(sim["x"]))


@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
                  elements=st.floats(-10, 10, width=32)))
def test_metrics_give_numbers_or_name_the_argument(x):
    for fn, args in ((metrics.fc, (x,)), (metrics.ks_distance, (x, x)),
                     (metrics.wasserstein_distance, (x, x)),
                     (metrics.welch_psd, (x, 1.0))):
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001
            _assert_clear(e, "`x`", "`a`", "`b`", "`nperseg`")
            continue
        assert all(np.all(np.isfinite(np.asarray(o))) for o in jax.tree.leaves(out))


@given(steps=st.one_of(st.integers(-1, 3), st.floats(0, 3), st.none()),
       every=st.one_of(st.integers(-1, 3), st.just(2.5)))
def test_fit_runs_or_names_the_argument(tmp_path_factory, steps, every):
    path = pathlib.Path(tmp_path_factory.mktemp("fit")) / "c.eqx"
    try:
        res = bmx.fit(bmx.Hopf(a=0.0), quadratic, 0.3, where=lambda m: m.a, steps=steps,
                      checkpoint=path, checkpoint_every=every)
    except Exception as e:  # noqa: BLE001
        _assert_clear(e, "`steps`", "`checkpoint_every`")
        return
    assert res.n_steps == steps and math.isfinite(res.best_loss)
