"""`Trainer` / `train`: minibatch training of a model on an (inputs, targets) task."""

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
from jaxtyping import Array, PRNGKeyArray, PyTree

from .._core._units import check_key
from .._scale import sweep
from ..objectives import AbstractObjective, accuracy, cross_entropy
from ._checkpoint import load_checkpoint as _load, save_checkpoint as _save
from ._constraints import AbstractConstraint, constrain, unwrap
from ._optax import optax_update


@final
class TrainResult(eqx.Module):
    """What training returns.

    **Fields:**

    - `best_model`: the model at the epoch with the lowest validation loss (the final model
      when there is no validation data).
    - `final_model`: the model after the last epoch run.
    - `best_epoch`: the epoch of `best_model` (0-based).
    - `history`: per-epoch arrays `train_loss`, `val_loss`, `val_metric`, `epoch_time`
      (validation entries are NaN without validation data) and per-step `step_loss`.
    - `epochs`: epochs run; `wall_time`: seconds; `termination`: why it stopped.
    """

    best_model: PyTree
    final_model: PyTree
    best_epoch: int
    history: dict[str, np.ndarray]
    epochs: int
    wall_time: float
    termination: str


def _as_pair(data: Any, name: str) -> tuple[Array, Array]:
    if not (isinstance(data, tuple | list) and len(data) == 2):
        raise ValueError(f"`{name}` must be an (inputs, targets) pair.")
    x, y = jnp.asarray(data[0]), jnp.asarray(data[1])
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"`{name}`: inputs have {x.shape[0]} examples but targets have "
                         f"{y.shape[0]}.")
    if x.shape[0] < 1:
        raise ValueError(f"`{name}` is empty.")
    return x, y


def _per_example(model, loss_fn, x, y):
    return loss_fn(model(x), y)


class _Example(eqx.Module):
    """One example's loss (what a sharded batch maps over)."""

    model: Any
    loss_fn: Any

    def __call__(self, x, y):
        return _per_example(self.model, self.loss_fn, x, y)


def _over(fn, devices, *arrays):
    return jax.vmap(fn)(*arrays) if devices is None else sweep(fn, *arrays, devices=devices)


@eqx.filter_jit
def _train_step(params, opt_state, static, optimizer, loss_fn, xs, ys, idx, mask,
                devices=None):
    bx, by = jnp.take(xs, idx, axis=0), jnp.take(ys, idx, axis=0)
    w = mask.astype(jnp.result_type(float))

    def batch_loss(p):
        model = unwrap(eqx.combine(p, static))
        losses = _over(_Example(model, loss_fn), devices, bx, by)
        return jnp.sum(w.astype(losses.dtype) * losses) / jnp.sum(w).astype(losses.dtype)

    loss, grads = eqx.filter_value_and_grad(batch_loss)(params)
    new_params, opt_state, _ = optax_update(optimizer, grads, opt_state, params)
    return loss, new_params, opt_state


@eqx.filter_jit
def _eval_batch(params, static, loss_fn, metric_fn, xs, ys, idx, mask, devices=None):
    model = unwrap(eqx.combine(params, static))
    bx, by = jnp.take(xs, idx, axis=0), jnp.take(ys, idx, axis=0)
    preds = _over(model, devices, bx)
    losses = jax.vmap(loss_fn)(preds, by)
    metrics = jax.vmap(metric_fn)(preds, by)
    w = mask.astype(losses.dtype)
    return jnp.sum(w * losses), jnp.sum(w * metrics.astype(losses.dtype))


def _batches(order: np.ndarray, batch_size: int, drop_last: bool):
    """Fixed-size index batches and masks: the last partial batch is padded (masked) or
    dropped, so every batch has the same shape and nothing recompiles."""
    n = order.shape[0]
    n_full, rest = divmod(n, batch_size)
    out = [(order[i * batch_size:(i + 1) * batch_size], np.ones(batch_size, bool))
           for i in range(n_full)]
    if rest and not drop_last:
        idx = np.concatenate([order[n_full * batch_size:], np.repeat(order[:1],
                                                                     batch_size - rest)])
        out.append((idx, np.arange(batch_size) < rest))
    return out


@final
class Trainer(eqx.Module):
    r"""Train a model that maps one input example to a prediction, on a dataset of
    `(inputs, targets)`: minibatches (a new shuffle each epoch from `key`), epochs, a
    held-out metric per epoch, early stopping, optax schedules and clipping, `where=`
    selection and constraints (shared with [`brainmass_eqx.fit`][]), checkpoint/resume and a
    progress bar.

    The model is called on **one example** (`model(x)`, e.g. `(time, features) -> logits`)
    and batched with `jax.vmap`: hidden states are per example by construction, with no
    batch argument and no hand-broadcast state (brainmass's HORN workaround is unnecessary).
    Batches have a fixed size: the last partial batch is padded with masked examples
    (`drop_last=False`, the default: every example counts, weights exactly 1 / batch count) or
    dropped. Train and evaluation steps each compile once.

    **Arguments:**

    - `loss`: per-example `loss(prediction, target) -> scalar` (default
      [`brainmass_eqx.objectives.cross_entropy`][]); the batch loss is the mean.
    - `metric`: per-example held-out metric, higher is better (default `accuracy()`).
    - `optimizer`: an optax transformation (schedules welcome); default `optax.adam(1e-3)`.
    - `batch_size`, `epochs`.
    - `where`, `constraints`: what to train (default: every float array of the model).
    - `clip_norm`: clip gradients to this global norm (`None`: no clipping).
    - `patience`: stop after this many epochs without a lower validation loss (`None`: never).
    - `target_metric`: stop once the validation metric reaches it.
    - `drop_last`: drop the last partial batch instead of padding it.
    - `progress`: show a tqdm bar over epochs.
    - `callbacks`: `f(epoch, record: dict, model) -> bool | None`; `True` stops.
    - `devices`: shard each minibatch over these devices with [`brainmass_eqx.sweep`][]
      (`None`: one vmapped call on the default device).
    """

    loss: AbstractObjective | Callable = eqx.field(default_factory=cross_entropy, static=True)
    metric: AbstractObjective | Callable = eqx.field(default_factory=accuracy, static=True)
    optimizer: optax.GradientTransformation = eqx.field(
        default_factory=lambda: optax.adam(1e-3), static=True)
    batch_size: int = eqx.field(default=32, static=True)
    epochs: int = eqx.field(default=10, static=True)
    where: Callable | None = eqx.field(default=None, static=True)
    constraints: Any = None
    clip_norm: float | None = eqx.field(default=None, static=True)
    patience: int | None = eqx.field(default=None, static=True)
    target_metric: float | None = eqx.field(default=None, static=True)
    drop_last: bool = eqx.field(default=False, static=True)
    progress: bool = eqx.field(default=False, static=True)
    callbacks: tuple = eqx.field(default=(), static=True, converter=tuple)
    devices: tuple | None = eqx.field(default=None, static=True,
                                      converter=lambda d: None if d is None else tuple(d))

    def __check_init__(self):
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("`batch_size` and `epochs` must be >= 1.")
        if not isinstance(self.optimizer, optax.GradientTransformation):
            raise ValueError(f"`optimizer` must be an optax transformation, got "
                             f"{self.optimizer!r}.")

    def _optimizer(self) -> optax.GradientTransformation:
        if self.clip_norm is None:
            return self.optimizer
        return optax.chain(optax.clip_by_global_norm(self.clip_norm), self.optimizer)

    def _partition(self, model):
        if self.where is None:
            return eqx.partition(model, eqx.is_inexact_array)
        wrapped, spec = constrain(model, self.where, self.constraints)
        return eqx.partition(wrapped, spec)

    def fit(self, model: PyTree, inputs: Array, targets: Array, *, key: PRNGKeyArray,
            validation: tuple[Array, Array] | None = None,
            checkpoint: str | pathlib.Path | None = None, resume: bool = False
            ) -> TrainResult:
        """Train `model` on `(inputs, targets)` (examples first).

        **Arguments:** `model`; `inputs`, `targets`; `key` (shuffling; the same key gives the
        same run); `validation`: held-out `(inputs, targets)` used only for the per-epoch
        metric, early stopping and `best_model`; `checkpoint`: a path saved after every epoch
        (`resume=True` continues from it, reproducing an uninterrupted run).

        **Returns:** a [`brainmass_eqx.TrainResult`][].
        """
        t0 = time.perf_counter()
        check_key(key)
        xs, ys = _as_pair((inputs, targets), "(inputs, targets)")
        val = None if validation is None else _as_pair(validation, "validation")
        params, static = self._partition(model)
        _check_one_example(params, static, self.loss, xs, ys, "(inputs, targets)")
        if val is not None:
            _check_one_example(params, static, self.loss, *val, "validation")
        opt = self._optimizer()
        opt_state = opt.init(eqx.filter(params, eqx.is_inexact_array))
        n = xs.shape[0]
        bs = min(self.batch_size, n)
        hist: dict[str, list] = {"train_loss": [], "val_loss": [], "val_metric": [],
                                 "epoch_time": [], "step_loss": []}
        best = (math.inf, params, -1)
        start = 0
        ckpt = None if checkpoint is None else pathlib.Path(checkpoint)
        if resume:
            if ckpt is None:
                raise ValueError("`resume=True` needs the `checkpoint` path.")
            if ckpt.exists():
                params, opt_state, best_params, meta = _load(
                    ckpt, (params, opt_state, params),
                    keys=("step", "best_loss", "best_epoch", "train_history"))
                start = meta["step"]
                hist = {k: [math.nan if v is None else v for v in vals]
                        for k, vals in meta["train_history"].items()}
                best = (meta["best_loss"], best_params, meta["best_epoch"])
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.epochs, initial=start, desc="train", leave=False)
        reason = f"completed {self.epochs} epochs"
        since_best = 0 if best[2] < 0 else (start - 1 - best[2])
        epoch = start - 1
        done = start  # epochs whose update and bookkeeping are complete
        state = (params, opt_state, {k: len(v) for k, v in hist.items()}, best, since_best)
        try:
            for epoch in range(start, self.epochs):
                state = (params, opt_state, {k: len(v) for k, v in hist.items()}, best,
                         since_best)
                te = time.perf_counter()
                order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), n))
                losses = []
                for idx, mask in _batches(order, bs, self.drop_last):
                    loss, params, opt_state = _train_step(
                        params, opt_state, static, opt, self.loss, xs, ys, jnp.asarray(idx),
                        jnp.asarray(mask), self.devices)
                    losses.append(float(loss))
                hist["step_loss"].extend(losses)
                hist["train_loss"].append(float(np.mean(losses)))
                v_loss, v_metric = math.nan, math.nan
                if val is not None:
                    v_loss, v_metric = self._evaluate(params, static, *val, bs)
                hist["val_loss"].append(v_loss)
                hist["val_metric"].append(v_metric)
                hist["epoch_time"].append(time.perf_counter() - te)
                score = v_loss if val is not None else hist["train_loss"][-1]
                if math.isfinite(score) and score < best[0]:
                    best, since_best = (score, params, epoch), 0
                else:
                    since_best += 1
                if ckpt is not None:
                    _save(ckpt, (params, opt_state, best[1]),
                          dict(step=epoch + 1, history=[], best_loss=best[0],
                               best_epoch=best[2], train_history=hist))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{hist['train_loss'][-1]:.4g}",
                                    val=f"{v_metric:.3g}")
                done = epoch + 1
                record = {k: v[-1] for k, v in hist.items() if k != "step_loss"}
                if any(cb(epoch, record, unwrap(eqx.combine(params, static)))
                       for cb in self.callbacks):
                    reason = f"a callback stopped training after epoch {epoch}"
                    break
                if not math.isfinite(hist["train_loss"][-1]):
                    reason = f"the training loss became non-finite at epoch {epoch}"
                    break
                if self.target_metric is not None and v_metric >= self.target_metric:
                    reason = (f"validation metric {v_metric:.4g} reached the target "
                              f"{self.target_metric} at epoch {epoch}")
                    break
                if self.patience is not None and since_best >= self.patience:
                    reason = (f"early stopping: no lower validation loss for {self.patience} "
                              f"epochs (best at epoch {best[2]})")
                    break
        except KeyboardInterrupt:
            if done == epoch:  # inside an epoch: back to its start, as the checkpoint is
                params, opt_state, lengths, best, since_best = state
                for k, n_k in lengths.items():
                    del hist[k][n_k:]
            reason = f"interrupted after {done} completed epochs"
        finally:
            if bar is not None:
                bar.close()
        best_params = best[1] if best[2] >= 0 else params
        return TrainResult(
            best_model=unwrap(eqx.combine(best_params, static)),
            final_model=unwrap(eqx.combine(params, static)),
            best_epoch=best[2],
            history={k: np.asarray(v, float) for k, v in hist.items()},
            epochs=done,
            wall_time=time.perf_counter() - t0,
            termination=reason,
        )

    def _evaluate(self, params, static, xv, yv, bs) -> tuple[float, float]:
        total_loss = total_metric = 0.0
        for idx, mask in _batches(np.arange(xv.shape[0]), bs, drop_last=False):
            lsum, msum = _eval_batch(params, static, self.loss, self.metric, xv, yv,
                                     jnp.asarray(idx), jnp.asarray(mask), self.devices)
            total_loss += float(lsum)
            total_metric += float(msum)
        return total_loss / xv.shape[0], total_metric / xv.shape[0]

    def evaluate(self, model: PyTree, inputs: Array, targets: Array) -> tuple[float, float]:
        """Mean loss and metric of `model` on `(inputs, targets)`."""
        xs, ys = _as_pair((inputs, targets), "(inputs, targets)")
        params, static = eqx.partition(model, eqx.is_inexact_array)
        return self._evaluate(params, static, xs, ys, min(self.batch_size, xs.shape[0]))


def train(model: PyTree, inputs: Array, targets: Array, *, key: PRNGKeyArray,
          validation: tuple[Array, Array] | None = None,
          loss: Callable | None = None, metric: Callable | None = None,
          optimizer: optax.GradientTransformation | None = None, batch_size: int = 32,
          epochs: int = 10, where: Callable | None = None,
          constraints: AbstractConstraint | Sequence | None = None,
          clip_norm: float | None = None, patience: int | None = None,
          target_metric: float | None = None, drop_last: bool = False,
          progress: bool = False, callbacks: Sequence[Callable] = (),
          checkpoint: str | pathlib.Path | None = None, resume: bool = False) -> TrainResult:
    """Functional form of [`brainmass_eqx.Trainer`][]: build a trainer from the keyword
    arguments and call `fit`.

    !!! example

        ```python
        import jax, optax, brainmass_eqx as bmx
        task = bmx.datasets.load_dataset("delayed_match_task", n_samples=256)
        net = bmx.HORNSeqNetwork(2, 32, 2, key=jax.random.key(0), alpha=0.2)
        res = bmx.train(net, task.inputs, task.targets, key=jax.random.key(1),
                        validation=(task.val_inputs, task.val_targets),
                        optimizer=optax.adam(3e-2), epochs=5)
        res.history["val_metric"]
        ```
    """
    kw: dict[str, Any] = dict(batch_size=batch_size, epochs=epochs, where=where,
                              constraints=constraints, clip_norm=clip_norm, patience=patience,
                              target_metric=target_metric, drop_last=drop_last,
                              progress=progress, callbacks=tuple(callbacks))
    if loss is not None:
        kw["loss"] = loss
    if metric is not None:
        kw["metric"] = metric
    if optimizer is not None:
        kw["optimizer"] = optimizer
    return Trainer(**kw).fit(model, inputs, targets, key=key, validation=validation,
                             checkpoint=checkpoint, resume=resume)


def _check_one_example(params, static, loss_fn, xs, ys, name: str) -> None:
    """Apply the model and the loss to the first example (shapes only) before training, so a
    mismatch is a clear error up front."""
    def one(p):
        return _per_example(unwrap(eqx.combine(p, static)), loss_fn, xs[0], ys[0])

    try:
        out = jax.eval_shape(one, params)
    except Exception as e:  # the user's model or loss on these shapes: report it as theirs
        raise ValueError(
            f"The model and loss cannot be applied to one example of `{name}` (inputs "
            f"{tuple(xs.shape[1:])}, target {tuple(ys.shape[1:])}): {type(e).__name__}: {e}"
        ) from e
    if out.shape not in ((), (1,)):
        raise ValueError(f"The loss of one example of `{name}` must be a scalar, got shape "
                         f"{out.shape}.")
