"""What every fit method works on: the `FitProblem` (the trainable parameters, the compiled
loss and its data), the `FitTracker` of best-so-far, history and stop conditions, `StepInfo`
for callbacks and the `FitOutcome` a method returns."""

import dataclasses
import functools
import math
import pathlib
from collections.abc import Callable
from typing import Any, NamedTuple, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, PyTree

from .._scale import sweep
from ._constraints import unwrap


@final
class StepInfo(eqx.Module):
    """Passed to callbacks after each step: `step`, `loss`, `best_loss`, `model` (the model
    that produced `loss`). A callback returning `True` stops the fit."""

    step: int
    loss: float
    best_loss: float
    model: PyTree


@final
class FitOutcome(NamedTuple):
    """What a fit method returns: the unconstrained `params` where it stopped, the number of
    optimiser steps (or generations) `n_steps` and the `reason` it stopped (a sentence)."""

    params: PyTree
    n_steps: int
    reason: str


@final
@dataclasses.dataclass(frozen=True)
class Checkpointing:
    """Where a fit saves its state (`path`, `None` for nowhere), every how many steps
    (`every`), and whether it resumes from it (`resume`)."""

    path: pathlib.Path | None
    every: int
    resume: bool


# ------------------------------------------------------------------------ compiled functions


def loss_of_params(params: PyTree, static: PyTree, loss_fn: Callable, data: tuple) -> Array:
    """The loss as a function of the unconstrained trainable parameters."""
    return loss_fn(unwrap(eqx.combine(params, static)), *data)


@eqx.filter_jit
def _value_flat(flat, unravel, static, loss_fn, data):
    return loss_of_params(unravel(flat), static, loss_fn, data)


@eqx.filter_jit
def _value_and_grad_flat(flat, unravel, static, loss_fn, data):
    return jax.value_and_grad(lambda f: loss_of_params(unravel(f), static, loss_fn, data))(flat)


@eqx.filter_jit
def _value_batch(flats, unravel, static, loss_fn, data):
    return jax.vmap(lambda f: loss_of_params(unravel(f), static, loss_fn, data))(flats)


class _FlatLoss(eqx.Module):
    """The loss of one flat parameter vector (what a sharded population sweep maps)."""

    unravel: Callable
    static: PyTree
    loss_fn: Callable
    data: tuple

    def __call__(self, flat: Array) -> Array:
        return loss_of_params(self.unravel(flat), self.static, self.loss_fn, self.data)


@final
@dataclasses.dataclass(frozen=True)
class FitProblem:
    """The problem a fit method solves: minimise `loss(model, *data)` over the trainable
    `params` (unconstrained arrays; `static` holds the rest of the `wrapped` model, whose
    `Constrained` nodes map them to the model's values). The helpers evaluate the compiled
    loss on the parameters or on their flat vector (`flat0`, `unravel`)."""

    params: PyTree
    static: PyTree
    wrapped: PyTree
    loss: Callable[..., Any]
    data: tuple

    def model(self, params: PyTree) -> PyTree:
        """The model (constraints applied, plain arrays) at `params`."""
        return unwrap(eqx.combine(params, self.static))

    @functools.cached_property
    def flat(self) -> tuple[Array, Callable[[Array], PyTree]]:
        """`(flat0, unravel)`: the parameters as one vector, and back (flattened once per
        problem, not at every evaluation)."""
        return ravel_pytree(self.params)

    def value(self, x: Any) -> float:
        """One loss evaluation at the flat vector `x`; a failed runtime check (e.g. `max_steps`
        reached) counts as NaN."""
        flat0, unravel = self.flat
        try:
            return float(_value_flat(jnp.asarray(x, flat0.dtype), unravel, self.static,
                                     self.loss, self.data))
        except eqx.EquinoxRuntimeError:
            return math.nan

    def value_and_grad(self, x: Any) -> tuple[Array, Array]:
        """The loss and its gradient at the flat vector `x` (raises
        `eqx.EquinoxRuntimeError` when a runtime check fails)."""
        flat0, unravel = self.flat
        return _value_and_grad_flat(jnp.asarray(x, flat0.dtype), unravel, self.static,
                                    self.loss, self.data)

    def value_batch(self, xs: Any, devices: Any = None) -> np.ndarray:
        """The losses of a batch of flat vectors `xs` `(batch, n)`, in one vmapped call (with
        `devices`, sharded over them by [`brainmass_eqx.sweep`][])."""
        flat0, unravel = self.flat
        xs = jnp.asarray(xs, flat0.dtype)
        if devices is not None:
            return np.asarray(sweep(_FlatLoss(unravel, self.static, self.loss, self.data), xs,
                                    devices=devices), float)
        return np.asarray(_value_batch(xs, unravel, self.static, self.loss, self.data), float)

    def unflatten(self, x: Any) -> PyTree:
        flat0, unravel = self.flat
        return unravel(jnp.asarray(x, flat0.dtype))


def or_default(x: Any, default: Any) -> Any:
    return default if x is None else x


@final
class FitTracker:
    """Best-so-far, history and stop conditions, shared by every method."""

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

    def meta(self, step: int) -> dict:
        """The bookkeeping a checkpoint saves."""
        return dict(step=step, history=self.history, best_loss=self.best_loss,
                    nonfinite=self.nonfinite)

    def close(self):
        if self.bar is not None:
            self.bar.close()
