"""`fit` / `Fitter`: one loss, minimised by any `AbstractFitMethod` (optax, nevergrad, scipy,
or your own); nothing lost."""

import pathlib
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PyTree

from ._constraints import AbstractConstraint, constrain
from ._method import AbstractFitMethod
from ._optax import Optax
from ._problem import Checkpointing, FitProblem, FitTracker, StepInfo, loss_of_params


#: What `fit` takes as `method`: an `AbstractFitMethod`, or a bare optax transformation.
Method = AbstractFitMethod | optax.GradientTransformation


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


@final
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
    - `method`: an [`brainmass_eqx.AbstractFitMethod`][]: [`brainmass_eqx.Optax`][] (or a
      bare optax `GradientTransformation`, e.g. `optax.adam(1e-2)`, which is wrapped in it),
      [`brainmass_eqx.Nevergrad`][], [`brainmass_eqx.Scipy`][], or your own subclass.
    - `constraints`: `None`, one [`brainmass_eqx.AbstractConstraint`][] for every selected
      array, or a tuple with one per array (`bmx.Positive()`, `bmx.Bounded(lo, hi)`,
      `None`).
    - `callbacks`: callables of a [`brainmass_eqx.StepInfo`][]; returning `True` stops.
    - `progress`: show a tqdm progress bar.
    - `max_nonfinite`: for optax, the number of consecutive non-finite losses tolerated (each
      retries from the last finite point with half the previous update) before stopping.
    """

    loss: Callable[..., Any]  # a pytree field: a loss module may hold arrays (a state, keys)
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
        bad = [cb for cb in self.callbacks if not callable(cb)]
        if bad:
            raise ValueError(f"`callbacks` must be callables of a StepInfo, got {bad!r}.")
        if not isinstance(self.method, AbstractFitMethod | optax.GradientTransformation):
            raise ValueError(
                "`method` must be a bmx.AbstractFitMethod (bmx.Optax(...), bmx.Nevergrad(...), "
                "bmx.Scipy(...) or your own) or an optax GradientTransformation (e.g. "
                f"optax.adam(1e-2)); got {self.method!r}."
            )

    @property
    def fit_method(self) -> AbstractFitMethod:
        """The method as an `AbstractFitMethod` (a bare optax transformation wrapped)."""
        if isinstance(self.method, AbstractFitMethod):
            return self.method
        return Optax(self.method, max_nonfinite=self.max_nonfinite)

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
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int | np.integer)
                                  or steps < 1):
            raise ValueError(f"`steps` must be a positive int (or None), got {steps!r}.")
        if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) \
                or checkpoint_every < 1:
            raise ValueError(f"`checkpoint_every` must be a positive int (steps between saves), "
                             f"got {checkpoint_every!r}.")
        wrapped, spec = constrain(model, self.where, self.constraints)
        params, static = eqx.partition(wrapped, spec)
        ckpt = None if checkpoint is None else pathlib.Path(checkpoint)
        if resume and ckpt is None:
            raise ValueError("`resume=True` needs the `checkpoint` path to resume from.")
        note = ""
        if resume and not (ckpt.exists() or ckpt.with_suffix(".ng").exists()):
            note = f"; no checkpoint at {ckpt} to resume from, so the fit started afresh"
            warnings.warn(f"`resume=True` but there is no checkpoint at {ckpt}: the fit starts "
                          "afresh.", stacklevel=2)
        checkpointing = Checkpointing(ckpt, checkpoint_every, resume)
        method = self.fit_method
        method.check(steps, checkpointing)
        problem = FitProblem(params, static, wrapped, self.loss, tuple(data))
        _check_scalar_loss(problem)
        t0 = time.perf_counter()
        tracker = FitTracker(self.callbacks, method.progress_total(steps), self.progress)
        outcome = method.run(problem, tracker, steps=steps, checkpoint=checkpointing)
        best = tracker.best_params if tracker.best_params is not None else outcome.params
        best_model = problem.model(best)
        selected = self.where(best_model)
        best_params = tuple(selected) if isinstance(selected, tuple | list) else (selected,)
        reason = outcome.reason + note
        if tracker.best_params is None:
            reason = reason + "; no evaluation gave a finite loss (best_model is the start)"
        return FitResult(best_model=best_model, best_params=best_params,
                         best_loss=tracker.best_loss, history=np.asarray(tracker.history),
                         n_evaluations=len(tracker.history), n_steps=outcome.n_steps,
                         wall_time=time.perf_counter() - t0, termination=reason,
                         nonfinite=tracker.nonfinite,
                         final_model=problem.model(outcome.params))


def fit(model: PyTree, loss: Callable[..., Any], *data: Any, where: Callable[[Any], Any],
        method: Method | None = None, steps: int | None = None,
        constraints: AbstractConstraint | Sequence[AbstractConstraint | None] | None = None,
        callbacks: Sequence[Callable[[StepInfo], Any]] = (), progress: bool = False,
        checkpoint: str | pathlib.Path | None = None, checkpoint_every: int = 50,
        resume: bool = False, max_nonfinite: int = 10) -> FitResult:
    r"""Fit the parameters of `model` selected by `where` to minimise `loss(model, *data)`.

    One loss, any [`brainmass_eqx.AbstractFitMethod`][]: gradient descent with any optax
    transformation through the whole simulation (exact gradients,
    [`brainmass_eqx.Optax`][]), [`brainmass_eqx.Nevergrad`][] (population per generation in
    one vmapped call), [`brainmass_eqx.Scipy`][] (L-BFGS-B with exact gradients, Nelder-Mead,
    differential evolution), or a method of your own. A shortcut for
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


def _check_scalar_loss(problem: FitProblem) -> None:
    """The loss must return one real number: checked on its shapes before anything runs."""
    try:
        out = jax.eval_shape(lambda p: loss_of_params(p, problem.static, problem.loss,
                                                      problem.data), problem.params)
    except TypeError as e:
        if "returned a value of type" not in str(e):
            raise
        raise ValueError("`loss` must return a scalar (one float), got a value that is not an "
                         "array.") from None
    leaves = jax.tree.leaves(out)
    if len(leaves) != 1 or leaves[0].shape not in ((), (1,)) \
            or not jnp.issubdtype(leaves[0].dtype, jnp.floating):
        got = jax.tree.map(lambda x: f"{x.dtype}{list(x.shape)}", out)
        raise ValueError(
            f"`loss` must return a scalar (one float), got {got}: reduce it, e.g. with "
            "`jnp.mean(...)`, or combine terms with `bmx.objectives.weighted_sum`."
        )
