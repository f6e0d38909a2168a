"""`fit` / `Fitter`: one loss, minimised by optax, nevergrad or scipy; nothing lost."""

import json
import math
import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

from ._params import AbstractConstraint, Bounded, _is_constrained, constrain, unwrap


# ------------------------------------------------------------------------------------ methods


@final
class Nevergrad(eqx.Module):
    """Gradient-free optimisation with [nevergrad](https://facebookresearch.github.io/nevergrad/).

    Each generation asks `num_workers` candidates and evaluates them in **one** vmapped,
    compiled call of the loss (the population shares one compilation; brainmass re-traces each
    candidate). The search runs on the unconstrained parameters (so `Positive`/`Bounded` hold),
    starting at the model's current values.

    **Fields:** `optimizer` (a nevergrad optimiser name: `"CMA"` (default), `"TwoPointsDE"`,
    `"DE"`, `"PSO"`, `"OnePlusOne"`, `"NgIohTuned"`, ...; note that `"NGOpt"` fails in
    nevergrad 1.0.12 with numpy 2 inside its metamodel), `budget` (total loss evaluations),
    `num_workers` (candidates per generation), `sigma` (initial mutation scale in
    unconstrained units), `seed`.
    """

    optimizer: str = eqx.field(default="CMA", static=True)
    budget: int = eqx.field(default=200, static=True)
    num_workers: int = eqx.field(default=8, static=True)
    sigma: float = eqx.field(default=1.0, static=True)
    seed: int = eqx.field(default=0, static=True)

    def __check_init__(self):
        if self.budget < 1 or self.num_workers < 1:
            raise ValueError("`Nevergrad` needs budget >= 1 and num_workers >= 1.")


@final
class Scipy(eqx.Module):
    """Optimisation with `scipy.optimize`.

    - `"L-BFGS-B"`, `"BFGS"`, `"CG"`, `"TNC"`, `"SLSQP"`: gradient methods, fed the exact
      gradient of the compiled loss; they run on the unconstrained parameters.
    - `"Nelder-Mead"`, `"Powell"`, `"COBYLA"`: derivative-free, unconstrained parameters.
    - `"differential_evolution"`: a population search in the box given by the constraints
      (every fitted parameter must be `Bounded`); each generation is one vmapped call.

    **Fields:** `method`, `options` (passed to scipy, e.g. `{"maxiter": 200}`), `seed` (for
    differential evolution), `popsize` (DE population multiplier).
    """

    method: str = eqx.field(default="L-BFGS-B", static=True)
    options: tuple = eqx.field(default=(), static=True, converter=lambda o: tuple(
        sorted(dict(o).items())) if o else ())
    seed: int = eqx.field(default=0, static=True)
    popsize: int = eqx.field(default=15, static=True)

    _GRADIENT = ("L-BFGS-B", "BFGS", "CG", "TNC", "SLSQP", "Newton-CG", "trust-constr")
    _FREE = ("Nelder-Mead", "Powell", "COBYLA")

    def __check_init__(self):
        if self.method not in self._GRADIENT + self._FREE + ("differential_evolution",):
            raise ValueError(
                f"`Scipy(method={self.method!r})` is not supported; use one of "
                f"{self._GRADIENT + self._FREE + ('differential_evolution',)}."
            )


Method = optax.GradientTransformation | Nevergrad | Scipy


# ------------------------------------------------------------------------------------ results


@final
class FitResult(eqx.Module):
    """What a fit returns (also when it stops early or fails: nothing is lost).

    **Fields:**

    - `best_model`: the model at the best loss (constraints applied, plain arrays: pass it to
      `simulate` directly).
    - `best_params`: the fitted arrays at the best loss, in the order `where` selected them.
    - `best_loss`: the best finite loss seen (`inf` if none was finite).
    - `history`: the loss of every step (optax) or evaluation (nevergrad, scipy), `NaN`
      where non-finite.
    - `n_evaluations`: number of loss evaluations; `n_steps`: optimiser steps/generations.
    - `wall_time`: seconds, including compilation.
    - `termination`: why it stopped (a sentence).
    - `nonfinite`: how many evaluations were NaN/inf (skipped, never taken as best).
    - `final_model`: the model where the optimiser stopped (may differ from the best).
    """

    best_model: PyTree
    best_params: tuple[Array, ...]
    best_loss: float
    history: np.ndarray
    n_evaluations: int
    n_steps: int
    wall_time: float
    termination: str
    nonfinite: int
    final_model: PyTree


class StepInfo(eqx.Module):
    """Passed to callbacks after each step: `step`, `loss`, `best_loss`, `model` (the model
    that produced `loss`). A callback returning `True` stops the fit."""

    step: int
    loss: float
    best_loss: float
    model: PyTree


# ------------------------------------------------------------------------ compiled functions


def _loss_u(params, static, loss_fn, data):
    return loss_fn(unwrap(eqx.combine(params, static)), *data)


def optax_update(optimizer, grads, opt_state, params):
    """One optax update: `(new_params, new_opt_state, updates)`. optax relies on standard dtype
    promotion (e.g. `b1 ** count` with an int count), so it runs under it whatever the
    user's setting."""
    with jax.numpy_dtype_promotion("standard"):
        updates, new_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(params, updates), new_state, updates


@eqx.filter_jit
def _grad_step(params, opt_state, static, loss_fn, optimizer, data):
    loss, grads = eqx.filter_value_and_grad(_loss_u)(params, static, loss_fn, data)
    new_params, new_state, updates = optax_update(optimizer, grads, opt_state, params)
    finite = jnp.isfinite(loss) & jnp.all(jnp.asarray(
        [jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    return loss, finite, new_params, new_state, updates


@eqx.filter_jit
def _backtrack(params, updates, scale):
    return eqx.apply_updates(params, jax.tree.map(lambda u: u * scale.astype(u.dtype), updates))


@eqx.filter_jit
def _value_flat(flat, unravel, static, loss_fn, data):
    return _loss_u(unravel(flat), static, loss_fn, data)


@eqx.filter_jit
def _value_and_grad_flat(flat, unravel, static, loss_fn, data):
    return jax.value_and_grad(lambda f: _loss_u(unravel(f), static, loss_fn, data))(flat)


@eqx.filter_jit
def _value_batch(flats, unravel, static, loss_fn, data):
    return jax.vmap(lambda f: _loss_u(unravel(f), static, loss_fn, data))(flats)


def _safe_value(x, unravel, static, loss_fn, data, dtype) -> float:
    """One loss evaluation; a failed runtime check (e.g. `max_steps` reached) counts as NaN."""
    try:
        return float(_value_flat(jnp.asarray(x, dtype), unravel, static, loss_fn, data))
    except eqx.EquinoxRuntimeError:
        return math.nan


# ------------------------------------------------------------------------------- bookkeeping


def _or(x: Any, default: Any) -> Any:
    return default if x is None else x


class _Tracker:
    """Best-so-far, history and stop conditions, shared by all methods."""

    def __init__(self, callbacks, progress_total, progress):
        self.history: list[float] = []
        self.best_loss = math.inf
        self.best_params: Any = None
        self.nonfinite = 0
        self.worst_finite = 0.0  # largest |loss| seen: nevergrad's penalty for failures
        self.stop_reason: str | None = None
        self.callbacks = tuple(callbacks)
        self.bar = None
        if progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=progress_total, desc="fit", leave=False)

    def record(self, loss: float, params: Any) -> bool:
        """Record one evaluation; returns whether it was finite."""
        if not math.isfinite(loss):
            self.nonfinite += 1
            self.history.append(float("nan"))
            return False
        self.history.append(loss)
        self.worst_finite = max(self.worst_finite, abs(loss))
        if loss < self.best_loss:
            self.best_loss, self.best_params = loss, params
        return True

    def after_step(self, step: int, loss: float, model_fn: Callable[[], Any]) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4g}", best=f"{self.best_loss:.4g}")
        if self.callbacks:
            info = StepInfo(step=step, loss=loss, best_loss=self.best_loss, model=model_fn())
            for cb in self.callbacks:
                if cb(info):
                    self.stop_reason = f"a callback stopped the fit after step {step}"

    def close(self):
        if self.bar is not None:
            self.bar.close()


# ------------------------------------------------------------------------------------ Fitter


class Fitter(eqx.Module):
    """Fit the parameters selected by `where` to minimise `loss(model, *data)`.

    Build it once and call [`brainmass_eqx.Fitter.fit`][] for each model or data set: the loss
    is compiled once per shape and reused (a second fit with the same shapes compiles
    nothing), and the data are *arguments* of the compiled loss, never constants.

    **Arguments:**

    - `loss`: `loss(model, *data) -> scalar`, differentiable for gradient methods. It
      receives the model with the constraints applied (plain arrays).
    - `where`: `lambda m: (m.node.a, m.coupling.k)`: the arrays to fit (per-region vectors
      are first-class); everything else is frozen.
    - `method`: an optax `GradientTransformation` (e.g. `optax.adam(1e-2)`),
      [`brainmass_eqx.Nevergrad`][] or [`brainmass_eqx.Scipy`][].
    - `constraints`: `None`, one [`brainmass_eqx.AbstractConstraint`][] for every selected
      array, or a tuple with one per array (`bmx.Positive()`, `bmx.Bounded(lo, hi)`,
      `None`).
    - `callbacks`: callables of a [`brainmass_eqx.StepInfo`][]; returning `True` stops.
    - `progress`: show a tqdm progress bar.
    - `max_nonfinite`: for optax, the number of consecutive non-finite losses tolerated (each
      retries from the last finite point with half the previous update) before stopping.
    """

    loss: Callable[..., Any] = eqx.field(static=True)
    where: Callable[[Any], Any] = eqx.field(static=True)
    method: Any = eqx.field(static=True)
    constraints: Any = None
    callbacks: tuple = eqx.field(default=(), static=True, converter=tuple)
    progress: bool = eqx.field(default=False, static=True)
    max_nonfinite: int = eqx.field(default=10, static=True)

    def __check_init__(self):
        if not callable(self.loss):
            raise ValueError("`loss` must be a callable loss(model, *data) -> scalar.")
        if not callable(self.where):
            raise ValueError("`where` must be a callable, e.g. `lambda m: (m.node.a,)`.")
        if not isinstance(self.method, optax.GradientTransformation | Nevergrad | Scipy):
            raise ValueError(
                "`method` must be an optax GradientTransformation (e.g. optax.adam(1e-2)), "
                f"bmx.Nevergrad(...) or bmx.Scipy(...); got {self.method!r}."
            )

    def fit(self, model: PyTree, *data: Any, steps: int | None = None,
            checkpoint: str | pathlib.Path | None = None, checkpoint_every: int = 50,
            resume: bool = False) -> FitResult:
        """Run the fit.

        **Arguments:**

        - `model`: the starting model (its current values are the initial guess).
        - `*data`: passed to `loss` after the model (targets, keys, ...).
        - `steps`: optimiser steps (optax; required) or maximum iterations (scipy gradient
          and simplex methods; generations for differential evolution). Nevergrad uses its
          `budget`.
        - `checkpoint`: a file path: the state is saved every `checkpoint_every` steps and at
          the end (equinox serialisation + a JSON sidecar). With `resume=True` a fit restarts
          from it and continues to `steps` (optax and nevergrad).

        **Returns:** a [`brainmass_eqx.FitResult`][].
        """
        wrapped, spec = constrain(model, self.where, self.constraints)
        params, static = eqx.partition(wrapped, spec)
        data = tuple(data)
        ckpt = None if checkpoint is None else pathlib.Path(checkpoint)
        if resume and ckpt is None:
            raise ValueError("`resume=True` needs the `checkpoint` path to resume from.")
        if isinstance(self.method, optax.GradientTransformation):
            if steps is None or steps < 1:
                raise ValueError("An optax fit needs `steps` >= 1.")
            return self._fit_optax(params, static, data, steps, ckpt, checkpoint_every, resume)
        if isinstance(self.method, Nevergrad):
            return self._fit_nevergrad(params, static, data, ckpt, checkpoint_every, resume)
        if resume:
            raise ValueError("A scipy fit cannot resume mid-run; it checkpoints its best "
                             "parameters only (start a new fit from `best_model`).")
        return self._fit_scipy(params, static, wrapped, data, steps, ckpt)

    # ----------------------------------------------------------------------------- helpers

    def _model(self, params, static):
        return unwrap(eqx.combine(params, static))

    def _result(self, tracker, params_final, static, n_evals, n_steps, t0, reason):
        best = tracker.best_params if tracker.best_params is not None else params_final
        best_model = self._model(best, static)
        selected = self.where(best_model)
        best_params = tuple(selected) if isinstance(selected, tuple | list) else (selected,)
        if tracker.best_params is None:
            reason = reason + "; no evaluation gave a finite loss (best_model is the start)"
        return FitResult(best_model=best_model, best_params=best_params,
                         best_loss=tracker.best_loss, history=np.asarray(tracker.history),
                         n_evaluations=n_evals, n_steps=n_steps,
                         wall_time=time.perf_counter() - t0, termination=reason,
                         nonfinite=tracker.nonfinite,
                         final_model=self._model(params_final, static))

    # ------------------------------------------------------------------------------- optax

    def _fit_optax(self, params, static, data, steps, ckpt, every, resume):
        t0 = time.perf_counter()
        opt = self.method
        opt_state = opt.init(eqx.filter(params, eqx.is_inexact_array))
        tracker = _Tracker(self.callbacks, steps, self.progress)
        start = 0
        if resume and ckpt is not None and ckpt.exists():
            params, opt_state, best, meta = _load(ckpt, (params, opt_state, params))
            start = meta["step"]
            tracker.history = [float(h) for h in meta["history"]]
            tracker.best_loss = meta["best_loss"]
            tracker.best_params = best if math.isfinite(meta["best_loss"]) else None
            tracker.nonfinite = meta["nonfinite"]
        last_good = None
        consecutive = 0
        reason = f"completed {steps} steps"
        step = start
        try:
            for step in range(start, steps):
                try:
                    loss, finite, new_params, new_state, updates = _grad_step(
                        params, opt_state, static, self.loss, opt, data)
                    loss = float(loss)
                except eqx.EquinoxRuntimeError:
                    # a runtime check inside the loss failed (e.g. the solver reached
                    # max_steps): a non-finite evaluation, handled like NaN below
                    loss, finite = math.nan, False
                if bool(finite):  # `finite` covers the loss and its gradient
                    tracker.record(loss, params)
                    consecutive = 0
                    last_good = (params, new_state, updates)
                    params, opt_state = new_params, new_state
                else:
                    tracker.record(math.nan, params)
                    consecutive += 1
                    if last_good is None or consecutive > self.max_nonfinite:
                        where = "at the start" if last_good is None else \
                            f"for {consecutive} consecutive steps"
                        reason = (f"stopped at step {step}: the loss or its gradient was "
                                  f"non-finite {where}")
                        step -= 1
                        break
                    # retry from the last finite point with half the previous update
                    prev, state, upd = last_good
                    params = _backtrack(prev, upd, jnp.asarray(0.5**consecutive))
                    opt_state = state
                tracker.after_step(step, loss, lambda p=params: self._model(p, static))
                if ckpt is not None and (step + 1) % every == 0:
                    _save(ckpt, (params, opt_state, _or(tracker.best_params, params)),
                          dict(step=step + 1, history=tracker.history,
                               best_loss=tracker.best_loss, nonfinite=tracker.nonfinite))
                if tracker.stop_reason:
                    reason = tracker.stop_reason
                    break
        except KeyboardInterrupt:
            reason = f"interrupted at step {step}"
        finally:
            tracker.close()
        n_done = step + 1
        if ckpt is not None:
            _save(ckpt, (params, opt_state, _or(tracker.best_params, params)),
                  dict(step=n_done, history=tracker.history, best_loss=tracker.best_loss,
                       nonfinite=tracker.nonfinite))
        return self._result(tracker, params, static, len(tracker.history), n_done, t0, reason)

    # ---------------------------------------------------------------------------- nevergrad

    def _fit_nevergrad(self, params, static, data, ckpt, every, resume):
        import nevergrad as ng

        t0 = time.perf_counter()
        m: Nevergrad = self.method
        flat0, unravel = ravel_pytree(params)
        dtype = flat0.dtype
        opt = None
        tracker = _Tracker(self.callbacks, -(-m.budget // m.num_workers), self.progress)
        if resume and ckpt is not None and ckpt.with_suffix(".ng").exists():
            opt = ng.optimizers.base.Optimizer.load(ckpt.with_suffix(".ng"))
            meta = json.loads(ckpt.with_suffix(".json").read_text())
            tracker.history = [math.nan if h is None else float(h) for h in meta["history"]]
            tracker.best_loss = meta["best_loss"]
            tracker.nonfinite = meta["nonfinite"]
            tracker.worst_finite = max([0.0] + [abs(h) for h in tracker.history
                                                if math.isfinite(h)])
            if meta.get("best_flat") is not None:
                tracker.best_params = unravel(jnp.asarray(meta["best_flat"], dtype))
        if opt is None:
            param = ng.p.Array(init=np.asarray(flat0, float)).set_mutation(sigma=m.sigma)
            param.random_state = np.random.RandomState(m.seed)
            opt = ng.optimizers.registry[m.optimizer](parametrization=param, budget=m.budget,
                                                      num_workers=m.num_workers)
        reason = f"used the budget of {m.budget} evaluations"
        gen = 0
        try:
            while opt.num_ask < m.budget:
                n = min(m.num_workers, m.budget - opt.num_ask)
                cands = [opt.ask() for _ in range(n)]
                xs = np.stack([c.value for c in cands])
                pad = np.concatenate([xs, np.repeat(xs[-1:], m.num_workers - n, 0)])
                try:
                    losses = np.asarray(_value_batch(jnp.asarray(pad, dtype), unravel, static,
                                                     self.loss, data), float)[:n]
                except eqx.EquinoxRuntimeError:
                    # a runtime check failed (e.g. the solver hit max_steps) for some
                    # candidate: evaluate them one by one so that only the culprits fail
                    losses = np.array([_safe_value(x, unravel, static, self.loss, data, dtype)
                                       for x in xs])
                # nevergrad cannot take NaN/inf: a non-finite candidate is told a loss worse
                # than any seen
                worst = max([tracker.worst_finite] + [abs(float(v)) for v in losses
                                                      if math.isfinite(v)])
                penalty = 10.0 * max(1.0, worst)
                for c, x, loss in zip(cands, xs, losses):
                    finite = tracker.record(float(loss), unravel(jnp.asarray(x, dtype)))
                    opt.tell(c, float(loss) if finite else penalty)
                gen += 1
                best_gen = float(np.nanmin(np.where(np.isfinite(losses), losses, np.nan))) \
                    if np.any(np.isfinite(losses)) else float("nan")
                tracker.after_step(gen, best_gen,
                                   lambda: self._model(_or(tracker.best_params, params), static))
                if ckpt is not None and gen % every == 0:
                    self._save_ng(ckpt, opt, tracker)
                if tracker.stop_reason:
                    reason = tracker.stop_reason
                    break
        except KeyboardInterrupt:
            reason = f"interrupted after {gen} generations"
        finally:
            tracker.close()
        if ckpt is not None:
            self._save_ng(ckpt, opt, tracker)
        final = tracker.best_params if tracker.best_params is not None else params
        return self._result(tracker, final, static, len(tracker.history), gen, t0, reason)

    @staticmethod
    def _save_ng(ckpt, opt, tracker):
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        opt.dump(ckpt.with_suffix(".ng"))
        best = None
        if tracker.best_params is not None:
            best = np.asarray(ravel_pytree(tracker.best_params)[0]).tolist()
        ckpt.with_suffix(".json").write_text(json.dumps(dict(
            history=[None if not math.isfinite(h) else h for h in tracker.history],
            best_loss=tracker.best_loss, nonfinite=tracker.nonfinite, best_flat=best)))

    # -------------------------------------------------------------------------------- scipy

    def _fit_scipy(self, params, static, wrapped, data, steps, ckpt):
        import scipy.optimize

        t0 = time.perf_counter()
        m: Scipy = self.method
        flat0, unravel = ravel_pytree(params)
        dtype = flat0.dtype
        tracker = _Tracker(self.callbacks, steps, self.progress)
        options = dict(m.options)
        n_iter = [0]

        def fun(x):
            loss = _safe_value(x, unravel, static, self.loss, data, dtype)
            tracker.record(loss, unravel(jnp.asarray(x, dtype)))
            return loss if math.isfinite(loss) else 1e300

        def fun_grad(x):
            try:
                loss, g = _value_and_grad_flat(jnp.asarray(x, dtype), unravel, static,
                                               self.loss, data)
                loss, g = float(loss), np.asarray(g, float)
            except eqx.EquinoxRuntimeError:  # e.g. max_steps reached: a failed evaluation
                loss, g = math.nan, np.zeros(np.shape(x))
            finite = tracker.record(loss, unravel(jnp.asarray(x, dtype)))
            if not (finite and np.all(np.isfinite(g))):
                # steer the line search back: a huge value with a zero gradient
                return 1e300, np.zeros_like(g)
            return loss, g

        def callback(*args):
            n_iter[0] += 1
            tracker.after_step(n_iter[0], tracker.history[-1] if tracker.history else math.nan,
                               lambda: self._model(_or(tracker.best_params, params), static))
            if tracker.stop_reason:
                raise StopIteration

        try:
            if m.method == "differential_evolution":
                res = self._run_de(wrapped, static, data, unravel, dtype, tracker, steps,
                                   callback)
            else:
                if steps is not None:
                    options.setdefault("maxiter", steps)
                x0 = np.asarray(flat0, float)
                if m.method in Scipy._GRADIENT:
                    res = scipy.optimize.minimize(fun_grad, x0, jac=True, method=m.method,
                                                  options=options, callback=callback)
                else:
                    res = scipy.optimize.minimize(fun, x0, method=m.method, options=options,
                                                  callback=callback)
            reason = f"scipy {m.method}: {res.message}"
        except StopIteration:
            reason = tracker.stop_reason or "stopped by a callback"
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            tracker.close()
        final = tracker.best_params if tracker.best_params is not None else params
        result = self._result(tracker, final, static, len(tracker.history), n_iter[0], t0,
                              reason)
        if ckpt is not None:
            _save(ckpt, final, dict(step=n_iter[0], history=tracker.history,
                                    best_loss=tracker.best_loss, nonfinite=tracker.nonfinite))
        return result

    def _run_de(self, wrapped, static, data, unravel, dtype, tracker, steps, callback):
        import scipy.optimize

        m: Scipy = self.method
        # DE searches the box of the constrained values; every fitted array must be Bounded
        nodes = [x for x in jax.tree.leaves(wrapped, is_leaf=_is_constrained)
                 if _is_constrained(x)]
        lo, hi = [], []
        for node in nodes:
            if not isinstance(node.constraint, Bounded):
                raise ValueError(
                    "`Scipy('differential_evolution')` searches a box: give every fitted "
                    "parameter a `bmx.Bounded(lo, hi)` constraint."
                )
            shape = jnp.shape(node.raw)
            lo.append(np.broadcast_to(np.asarray(node.constraint.lo), shape).ravel())
            hi.append(np.broadcast_to(np.asarray(node.constraint.hi), shape).ravel())
        lo_v, hi_v = np.concatenate(lo), np.concatenate(hi)
        span = hi_v - lo_v
        eps = 1e-6

        def to_u(xs):  # constrained box -> unconstrained raw values (logit)
            p = np.clip((xs - lo_v[:, None]) / span[:, None], eps, 1 - eps)
            return np.log(p) - np.log1p(-p)

        def fun(xs):  # vectorized: xs has shape (n_params, population)
            us = to_u(np.atleast_2d(xs.T).T if xs.ndim == 1 else xs)
            losses = np.asarray(_value_batch(jnp.asarray(us.T, dtype), unravel, static,
                                             self.loss, data), float)
            for u, loss in zip(us.T, losses):
                tracker.record(float(loss), unravel(jnp.asarray(u, dtype)))
            return np.where(np.isfinite(losses), losses, 1e300)

        kw = dict(m.options)
        if steps is not None:
            kw.setdefault("maxiter", steps)
        return scipy.optimize.differential_evolution(
            fun, list(zip(lo_v, hi_v)), vectorized=True, updating="deferred", seed=m.seed,
            popsize=m.popsize, polish=False, callback=lambda *a, **k: callback(), **kw)


def fit(model: PyTree, loss: Callable[..., Any], *data: Any, where: Callable[[Any], Any],
        method: Method | None = None, steps: int | None = None,
        constraints: AbstractConstraint | Sequence[AbstractConstraint | None] | None = None,
        callbacks: Sequence[Callable[[StepInfo], Any]] = (), progress: bool = False,
        checkpoint: str | pathlib.Path | None = None, checkpoint_every: int = 50,
        resume: bool = False, max_nonfinite: int = 10) -> FitResult:
    r"""Fit the parameters of `model` selected by `where` to minimise `loss(model, *data)`.

    One loss, three kinds of optimiser: gradient descent with any optax transformation through
    the whole simulation (exact gradients), [`brainmass_eqx.Nevergrad`][] (population per
    generation in one vmapped call), or [`brainmass_eqx.Scipy`][] (L-BFGS-B with exact
    gradients, Nelder-Mead, differential evolution). A shortcut for
    `Fitter(loss, where, method, ...).fit(model, *data, steps=...)`; see
    [`brainmass_eqx.Fitter`][] for every argument.

    Default `method`: `optax.adam(1e-2)`.

    !!! example

        ```python
        import jax.numpy as jnp, optax, brainmass_eqx as bmx

        def loss(model, target):
            return (model.a - target) ** 2        # any differentiable function of the model

        res = bmx.fit(bmx.Hopf(a=0.0), loss, jnp.asarray(0.5), where=lambda m: m.a,
                      method=optax.adam(0.1), steps=200)
        res.best_params[0]   # ~0.5
        ```
    """
    method = optax.adam(1e-2) if method is None else method
    fitter = Fitter(loss=loss, where=where, method=method, constraints=constraints,
                    callbacks=tuple(callbacks), progress=progress, max_nonfinite=max_nonfinite)
    return fitter.fit(model, *data, steps=steps, checkpoint=checkpoint,
                      checkpoint_every=checkpoint_every, resume=resume)


# -------------------------------------------------------------------------------- checkpoint


def _save(path: pathlib.Path, tree: Any, meta: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    eqx.tree_serialise_leaves(tmp, tree)
    tmp.replace(path)  # atomic: an interrupted save never corrupts the last checkpoint
    meta = dict(meta, history=[None if not math.isfinite(h) else h for h in meta["history"]])
    path.with_suffix(".json").write_text(json.dumps(meta))


def _load(path: pathlib.Path, like: Any) -> tuple:
    tree = eqx.tree_deserialise_leaves(path, like)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["history"] = [math.nan if h is None else h for h in meta["history"]]
    return (*tree, meta)
