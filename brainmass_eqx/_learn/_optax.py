"""`Optax`: gradient descent with any optax transformation, through the whole solve."""

import math
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from ._checkpoint import load_checkpoint, save_checkpoint
from ._method import AbstractFitMethod
from ._problem import Checkpointing, FitOutcome, FitProblem, FitTracker, loss_of_params, or_default


def optax_update(optimizer, grads, opt_state, params):
    """One optax update: `(new_params, new_opt_state, updates)`. optax relies on standard dtype
    promotion (e.g. `b1 ** count` with an int count), so it runs under it whatever the
    user's setting."""
    with jax.numpy_dtype_promotion("standard"):
        updates, new_state = optimizer.update(grads, opt_state, params)
    return eqx.apply_updates(params, updates), new_state, updates


def all_finite(tree) -> jax.Array:
    """Whether every element of every array leaf of `tree` is finite (`True` for none)."""
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.asarray(leaves)) if leaves else jnp.asarray(True)


@eqx.filter_jit
def _grad_step(params, opt_state, static, loss_fn, optimizer, data):
    loss, grads = eqx.filter_value_and_grad(loss_of_params)(params, static, loss_fn, data)
    new_params, new_state, updates = optax_update(optimizer, grads, opt_state, params)
    finite = jnp.isfinite(loss) & all_finite(grads)
    return loss, finite, new_params, new_state, updates


@eqx.filter_jit
def _backtrack(params, updates, scale):
    return eqx.apply_updates(params, jax.tree.map(lambda u: u * scale.astype(u.dtype), updates))


@final
class Optax(AbstractFitMethod):
    """Gradient descent with an optax transformation (`optax.adam(1e-2)`, ...), fed the exact
    gradient of the loss through the whole simulation. A bare `optax.GradientTransformation`
    given to `fit` is wrapped in this.

    A non-finite loss or gradient retries from the last finite point with half the previous
    update, up to `max_nonfinite` consecutive times.

    **Fields:** `optimizer`, `max_nonfinite` (default 10).
    """

    optimizer: optax.GradientTransformation = eqx.field(static=True)
    max_nonfinite: int = eqx.field(default=10, static=True)

    def check(self, steps, checkpoint):
        if steps is None or steps < 1:
            raise ValueError("An optax fit needs `steps` >= 1.")

    def run(self, problem: FitProblem, tracker: FitTracker, *, steps, checkpoint: Checkpointing
            ) -> FitOutcome:
        opt, static, ckpt = self.optimizer, problem.static, checkpoint.path
        params = problem.params
        opt_state = opt.init(eqx.filter(params, eqx.is_inexact_array))
        start = 0
        if checkpoint.resume and ckpt is not None and ckpt.exists():
            params, opt_state, best, meta = load_checkpoint(ckpt, (params, opt_state, params))
            start = meta["step"]
            tracker.history = [float(h) for h in meta["history"]]
            tracker.best_loss = meta["best_loss"]
            tracker.best_params = best if math.isfinite(meta["best_loss"]) else None
            tracker.nonfinite = meta["nonfinite"]
        last_good = None
        consecutive = 0
        completed = start  # steps whose update and bookkeeping are complete
        reason = (f"completed {steps} steps" if start < steps
                  else f"already completed: the checkpoint holds all {steps} steps")

        def save(n):
            save_checkpoint(ckpt, (params, opt_state, or_default(tracker.best_params, params)),
                            tracker.meta(n))

        def snapshot():
            return (params, opt_state, len(tracker.history), tracker.best_loss,
                    tracker.best_params, tracker.nonfinite, tracker.worst_finite, last_good,
                    consecutive)

        state, step = snapshot(), start
        try:
            for step in range(start, steps):
                state = snapshot()
                try:
                    loss, finite, new_params, new_state, updates = _grad_step(
                        params, opt_state, static, problem.loss, opt, problem.data)
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
                        break
                    # retry from the last finite point with half the previous update
                    prev, prev_state, upd = last_good
                    params = _backtrack(prev, upd, jnp.asarray(0.5**consecutive))
                    opt_state = prev_state
                tracker.after_step(step, loss, lambda p=params: problem.model(p))
                completed = step + 1
                if ckpt is not None and completed % checkpoint.every == 0:
                    save(completed)
                if tracker.stop_reason:
                    reason = tracker.stop_reason
                    break
        except KeyboardInterrupt:
            if completed == step:  # interrupted inside a step: undo its partial bookkeeping
                (params, opt_state, n_history, tracker.best_loss, tracker.best_params,
                 tracker.nonfinite, tracker.worst_finite, last_good, consecutive) = state
                del tracker.history[n_history:]
            reason = f"interrupted after {completed} completed steps"
        finally:
            tracker.close()
        if ckpt is not None:
            save(completed)
        return FitOutcome(params, completed, reason)
