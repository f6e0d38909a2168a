"""`fit_each`: many independent gradient fits (one per subject, per data set or per start) in
one compiled, vmapped optax step."""

import time
from collections.abc import Callable, Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PyTree

from ._constraints import AbstractConstraint, constrain, unwrap
from ._optax import all_finite, optax_update
from ._problem import loss_of_params


@final
class BatchFitResult(eqx.Module):
    """What [`brainmass_eqx.fit_each`][] returns: one independent fit per member.

    **Fields:**

    - `best_params`: the fitted arrays at each member's best loss, in the order `where`
      selected them, each stacked over members `(S, ...)`.
    - `best_loss`: `(S,)` each member's best finite loss (`inf` if none was).
    - `history`: `(steps, S)` every step's loss, `NaN` where non-finite.
    - `n_steps`: the steps run; `wall_time`: seconds, including compilation.
    - `termination`: one sentence per member (why it stopped).
    - `nonfinite`: `(S,)` 1 for a member stopped by a non-finite loss or gradient, else 0.

    `model(i)` is member `i`'s best model (constraints applied, plain arrays).
    """

    best_params: tuple[Array, ...]
    best_loss: np.ndarray
    history: np.ndarray
    n_steps: int
    wall_time: float
    termination: tuple[str, ...]
    nonfinite: np.ndarray
    _params: PyTree
    _static: PyTree

    @property
    def n_members(self) -> int:
        return int(self.best_loss.shape[0])

    def model(self, i: int) -> PyTree:
        """Member `i`'s model at its best loss."""
        if not 0 <= i < self.n_members:
            raise IndexError(f"member {i} out of range: the batch has {self.n_members}.")
        params = jax.tree.map(lambda p: p[i], self._params)
        return unwrap(eqx.combine(params, self._static))


def _select(flag: Array, a: PyTree, b: PyTree) -> PyTree:
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


@eqx.filter_jit
def _batch_step(params, opt_state, best, best_loss, live, static, loss_fn, optimizer, data,
                in_axes):
    def one(p, s, b, bl, alive, *d):
        loss, grads = eqx.filter_value_and_grad(loss_of_params)(p, static, loss_fn, d)
        new_p, new_s, _ = optax_update(optimizer, grads, s, p)
        ok = alive & jnp.isfinite(loss) & all_finite(grads)
        better = ok & (loss < bl)
        return (jnp.where(ok, loss, jnp.nan), ok, _select(ok, new_p, p), _select(ok, new_s, s),
                _select(better, p, b), jnp.where(better, loss, bl))

    return jax.vmap(one, in_axes=(0, 0, 0, 0, 0) + in_axes)(
        params, opt_state, best, best_loss, live, *data)


def _batch_size(data: tuple, in_axes: tuple) -> int:
    sizes = {jnp.shape(leaf)[0] for d, ax in zip(data, in_axes) if ax == 0
             for leaf in jax.tree.leaves(d)}
    if not sizes:
        raise ValueError("`fit_each` needs at least one batched data argument (`in_axes` 0): "
                         "it fits one member per entry of its leading axis.")
    if len(sizes) > 1:
        raise ValueError(f"The batched data arguments have different leading sizes "
                         f"{sorted(sizes)}: stack every member's data on the first axis.")
    return sizes.pop()


def fit_each(model: PyTree, loss: Callable[..., Any], *data: Any, where: Callable[[Any], Any],
             steps: int, optimizer: optax.GradientTransformation | None = None,
             constraints: AbstractConstraint | Sequence[AbstractConstraint | None] | None = None,
             in_axes: int | None | Sequence[int | None] = 0,
             progress: bool = False) -> BatchFitResult:
    r"""Independent gradient fits of `model`, one per member of the data's leading axis (e.g.
    each subject's FC), run together: every optax step of every member is one compiled,
    vmapped call, so $S$ fits cost one compilation and run as a batch.

    Member $s$ minimises `loss(model, *data_s)` over the arrays selected by `where`, from the
    same starting model, with its own optimiser state. The arguments are those of
    [`brainmass_eqx.fit`][], plus `in_axes`: for each data argument, `0` (stacked over
    members, the default) or `None` (shared by all, e.g. a key). A member whose loss or
    gradient becomes non-finite keeps its last finite parameters and stops (its `termination`
    says at which step); the others go on. Interrupting (Ctrl-C) returns what was fitted so
    far.

    Default `optimizer`: `optax.adam(1e-2)`.

    **Returns:** a [`brainmass_eqx.BatchFitResult`][].

    **Raises:** `ValueError` for `steps` < 1, no batched data, batched data of different
    leading sizes, or `in_axes` of the wrong length.
    """
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"`steps` must be a positive int, got {steps!r}.")
    optimizer = optax.adam(1e-2) if optimizer is None else optimizer
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an optax GradientTransformation (e.g. "
                        f"optax.adam(1e-2)), got {optimizer!r}.")
    axes = (in_axes,) * len(data) if in_axes is None or isinstance(in_axes, int) \
        else tuple(in_axes)
    if len(axes) != len(data) or any(a not in (0, None) for a in axes):
        raise ValueError(f"`in_axes` must be 0, None, or one 0/None per data argument "
                         f"({len(data)}), got {in_axes!r}.")
    n = _batch_size(data, axes)
    wrapped, spec = constrain(model, where, constraints)
    params, static = eqx.partition(wrapped, spec)
    params = jax.tree.map(lambda p: jnp.broadcast_to(p, (n,) + jnp.shape(p)), params)
    opt_state = jax.vmap(optimizer.init)(params)
    best, best_loss = params, jnp.full((n,), jnp.inf, jnp.result_type(float))
    live = jnp.ones((n,), bool)
    history: list[np.ndarray] = []
    stopped = [""] * n
    failed = np.zeros(n, bool)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="fit_each", leave=False)
    t0, done = time.perf_counter(), 0
    try:
        for step in range(steps):
            loss_s, ok, params, opt_state, best, best_loss = _batch_step(
                params, opt_state, best, best_loss, live, static, loss, optimizer,
                tuple(data), axes)
            ok_np, was = np.asarray(ok), np.asarray(live)
            for i in np.flatnonzero(was & ~ok_np):
                stopped[i] = f"stopped at step {step}: the loss or its gradient was non-finite"
                failed[i] = True
            live = jnp.asarray(was & ok_np)
            history.append(np.asarray(loss_s, float))
            done = step + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{float(jnp.min(best_loss)):.4g}")
            if not bool(jnp.any(live)):
                break
    except KeyboardInterrupt:
        stopped = [s or f"interrupted after {done} completed steps" for s in stopped]
    finally:
        if bar is not None:
            bar.close()
    best_loss_np = np.asarray(best_loss, float)
    termination = tuple(
        (s or f"completed {done} steps")
        + ("" if np.isfinite(b) else "; no finite loss (the start is returned)")
        for s, b in zip(stopped, best_loss_np))
    selected = jax.vmap(lambda p: where(unwrap(eqx.combine(p, static))))(best)
    best_params = tuple(selected) if isinstance(selected, tuple | list) else (selected,)
    hist = np.stack(history) if history else np.zeros((0, n))
    return BatchFitResult(best_params=best_params, best_loss=best_loss_np, history=hist,
                          n_steps=done, wall_time=time.perf_counter() - t0,
                          termination=termination,
                          nonfinite=failed.astype(int),
                          _params=best, _static=static)
