"""`Scipy`: the optimisers of `scipy.optimize`, with exact gradients where they take them."""

import math
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._checkpoint import save_checkpoint
from ._constraints import Bounded, _is_constrained
from ._method import AbstractFitMethod
from ._problem import Checkpointing, FitOutcome, FitProblem, FitTracker, or_default


def _options(options) -> tuple:
    """scipy's `options` as a sorted tuple of pairs (hashable, so the method stays static)."""
    if not options:
        return ()
    try:
        return tuple(sorted(dict(options).items()))
    except (TypeError, ValueError):
        raise ValueError(f"`Scipy.options` must be a dict of scipy options, e.g. "
                         f"{{'maxiter': 200}}, got {options!r}.") from None


class _NonFiniteStart(Exception):
    """The loss or its gradient is non-finite at the initial parameters."""


@final
class Scipy(AbstractFitMethod):
    """Optimisation with `scipy.optimize`.

    - `"L-BFGS-B"`, `"BFGS"`, `"CG"`, `"TNC"`, `"SLSQP"`: gradient methods, fed the exact
      gradient of the compiled loss; they run on the unconstrained parameters.
    - `"Nelder-Mead"`, `"Powell"`, `"COBYLA"`: derivative-free, unconstrained parameters.
    - `"differential_evolution"`: a population search in the box given by the constraints
      (every fitted parameter must be `Bounded`); each generation is one vmapped call.

    **Fields:** `method`, `options` (passed to scipy, e.g. `{"maxiter": 200}`), `seed` (for
    differential evolution), `popsize` (DE population multiplier), `devices` (shard each DE
    population over these devices with [`brainmass_eqx.sweep`][]).
    """

    method: str = eqx.field(default="L-BFGS-B", static=True)
    options: tuple = eqx.field(default=(), static=True, converter=lambda o: _options(o))
    seed: int = eqx.field(default=0, static=True)
    popsize: int = eqx.field(default=15, static=True)
    devices: tuple | None = eqx.field(default=None, static=True,
                                      converter=lambda d: None if d is None else tuple(d))

    _GRADIENT: ClassVar[tuple[str, ...]] = ("L-BFGS-B", "BFGS", "CG", "TNC", "SLSQP",
                                            "Newton-CG", "trust-constr")
    _FREE: ClassVar[tuple[str, ...]] = ("Nelder-Mead", "Powell", "COBYLA")

    def __check_init__(self):
        for name, least in (("seed", 0), ("popsize", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"`Scipy.{name}` must be an int >= {least}, got {value!r}.")
        if self.method not in self._GRADIENT + self._FREE + ("differential_evolution",):
            raise ValueError(
                f"`Scipy(method={self.method!r})` is not supported; use one of "
                f"{self._GRADIENT + self._FREE + ('differential_evolution',)}."
            )

    def check(self, steps, checkpoint):
        if checkpoint.resume:
            raise ValueError("A scipy fit cannot resume mid-run; it checkpoints its best "
                             "parameters only (start a new fit from `best_model`).")

    def run(self, problem: FitProblem, tracker: FitTracker, *, steps, checkpoint: Checkpointing
            ) -> FitOutcome:
        import scipy.optimize

        flat0, _ = problem.flat
        options = dict(self.options)
        n_iter = [0]

        def fun(x):
            loss = problem.value(x)
            tracker.record(loss, problem.unflatten(x))
            return loss if math.isfinite(loss) else 1e300

        def fun_grad(x):
            try:
                loss, g = problem.value_and_grad(x)
                loss, g = float(loss), np.asarray(g, float)
            except eqx.EquinoxRuntimeError:  # e.g. max_steps reached: a failed evaluation
                loss, g = math.nan, np.zeros(np.shape(x))
            finite = tracker.record(loss, problem.unflatten(x))
            if not (finite and np.all(np.isfinite(g))):
                if len(tracker.history) == 1:
                    # at the start a huge value with a zero gradient would read as converged
                    raise _NonFiniteStart
                # steer the line search back: a huge value with a zero gradient
                return 1e300, np.zeros_like(g)
            return loss, g

        def callback(*args):
            n_iter[0] += 1
            tracker.after_step(n_iter[0], tracker.history[-1] if tracker.history else math.nan,
                               lambda: problem.model(
                                   or_default(tracker.best_params, problem.params)))
            if tracker.stop_reason:
                raise StopIteration

        try:
            if self.method == "differential_evolution":
                res = self._run_de(problem, tracker, steps, callback)
            else:
                if steps is not None:
                    options.setdefault("maxiter", steps)
                x0 = np.asarray(flat0, float)
                if self.method in Scipy._GRADIENT:
                    res = scipy.optimize.minimize(fun_grad, x0, jac=True, method=self.method,
                                                  options=options, callback=callback)
                else:
                    res = scipy.optimize.minimize(fun, x0, method=self.method,
                                                  options=options, callback=callback)
            reason = f"scipy {self.method}: {res.message}"
        except _NonFiniteStart:
            reason = (f"scipy {self.method} stopped at the start: the loss or its gradient is "
                      "non-finite at the initial parameters")
        except StopIteration:
            reason = tracker.stop_reason or "stopped by a callback"
        except KeyboardInterrupt:
            reason = "interrupted"
        finally:
            tracker.close()
        final = or_default(tracker.best_params, problem.params)
        if checkpoint.path is not None:
            save_checkpoint(checkpoint.path, final, tracker.meta(n_iter[0]))
        return FitOutcome(final, n_iter[0], reason)

    def _run_de(self, problem: FitProblem, tracker: FitTracker, steps, callback):
        import scipy.optimize

        # DE searches the box of the constrained values; every fitted array must be Bounded
        nodes = [x for x in jax.tree.leaves(problem.wrapped, is_leaf=_is_constrained)
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
            losses = (problem.value_batch(us.T) if self.devices is None else
                      problem.value_batch(us.T, devices=self.devices))
            for u, loss in zip(us.T, losses):
                tracker.record(float(loss), problem.unflatten(u))
            return np.where(np.isfinite(losses), losses, 1e300)

        kw = dict(self.options)
        if steps is not None:
            kw.setdefault("maxiter", steps)
        return scipy.optimize.differential_evolution(
            fun, list(zip(lo_v, hi_v)), vectorized=True, updating="deferred", seed=self.seed,
            popsize=self.popsize, polish=False, callback=lambda *a, **k: callback(), **kw)
