"""`simulate_bank`: prior draws run through a simulator in compiled, vmapped batches, written to
disk in chunks, resumable, with per-index keys and failures counted (never silently kept)."""

import json
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._scale import sweep
from ._priors import JointPrior, as_joint
from ._scored import AbstractScoredSimulator


_FORMAT = 1
#: theta i is drawn with `fold_in(fold_in(key, THETA_STREAM), i)`; simulation i runs with
#: `fold_in(key, i)`.
THETA_STREAM = 2**32 - 1


@final
class Bank(eqx.Module):
    r"""A simulation bank: the parameters `theta` `(n, dim)` and simulator outputs `x`
    `(n, *features)` of the simulations that finished (finite), with their draw `index`; the
    failed draws (any non-finite output) are kept apart in `failed_theta` / `failed_index`.
    `score` holds each simulation's joint score $\nabla_\theta \log p(x, z\mid\theta)$
    when the bank was simulated with `scores=True`, else `None`."""

    theta: Float[np.ndarray, " n dim"]
    x: Float[np.ndarray, " n *features"]
    index: Int[np.ndarray, " n"]
    failed_theta: Float[np.ndarray, " n_failed dim"]
    failed_index: Int[np.ndarray, " n_failed"]
    score: Float[np.ndarray, " n dim"] | None = None

    @property
    def n(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_failed(self) -> int:
        return int(self.failed_theta.shape[0])

    def __len__(self) -> int:
        return self.n

    def subset(self, rows: Any) -> "Bank":
        """The bank restricted to `rows` (an index array or a boolean mask) of the finished
        simulations; the failures are kept."""
        rows = np.asarray(rows)
        return Bank(self.theta[rows], self.x[rows], self.index[rows], self.failed_theta,
                    self.failed_index, None if self.score is None else self.score[rows])

    def split(self, fraction: float, key: PRNGKeyArray) -> tuple["Bank", "Bank"]:
        """A random `(1 - fraction, fraction)` split, e.g. a held-out bank for diagnostics."""
        if not 0 < fraction < 1:
            raise ValueError(f"`fraction` must be in (0, 1), got {fraction}.")
        order = np.asarray(jax.random.permutation(key, self.n))
        cut = self.n - max(1, int(round(fraction * self.n)))
        return self.subset(np.sort(order[:cut])), self.subset(np.sort(order[cut:]))

    @staticmethod
    def concatenate(banks: "list[Bank]") -> "Bank":
        scored = all(b.score is not None for b in banks)
        return Bank(*(np.concatenate([getattr(b, f) for b in banks]) for f in
                      ("theta", "x", "index", "failed_theta", "failed_index")),
                    np.concatenate([b.score for b in banks]) if scored else None)


def _typed_key(key: PRNGKeyArray) -> PRNGKeyArray:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    try:
        return jax.random.wrap_key_data(jnp.asarray(key, dtype=jnp.uint32))
    except Exception as e:
        raise TypeError(f"`key` must be a JAX PRNG key (jax.random.key(0)), got {key!r}.") \
            from e


class _Member(eqx.Module):
    """Simulation `i` of a bank (its theta drawn unless given, its key folded from the bank's)."""

    simulator: Callable = eqx.field(static=True)
    prior: JointPrior
    key: PRNGKeyArray
    given: bool = eqx.field(static=True)
    scored: bool = eqx.field(static=True)

    def __call__(self, i: Array, theta: Array) -> tuple[Array, Array, Array]:
        if not self.given:
            theta = self.prior.sample(jax.random.fold_in(jax.random.fold_in(self.key,
                                                                            THETA_STREAM), i))
        k = jax.random.fold_in(self.key, i)
        if self.scored:
            x, t = self.simulator.with_score(theta, k)
            return theta, jnp.asarray(x), jnp.asarray(t)
        return theta, jnp.asarray(self.simulator(theta, k)), jnp.zeros((0,), theta.dtype)


@eqx.filter_jit
def _run_batch(member: _Member, idx: Array, theta: Array) -> tuple[Array, Array, Array]:
    # module level, the simulator static by identity: a second bank with the same simulator
    # and shapes compiles nothing
    return jax.vmap(member)(idx, theta)


def _chunk_path(root: pathlib.Path, start: int) -> pathlib.Path:
    return root / f"chunk-{start:09d}.npz"


def _read_chunk(path: pathlib.Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _simulate_chunk(member: _Member, start: int, stop: int, batch_size: int, theta: Any,
                    dim: int, dtype: Any, devices: Any) -> dict:
    idx = np.arange(start, stop)
    # pad the last batch to `batch_size` so every batch reuses one compiled program
    pad = np.concatenate([idx, np.full(batch_size - idx.size, idx[-1])])
    th = (jnp.asarray(theta[pad], dtype) if member.given
          else jnp.zeros((batch_size, dim), dtype))
    ids = jnp.asarray(pad, jnp.uint32)
    try:
        th, x, t = (_run_batch(member, ids, th) if devices is None
                    else sweep(member, ids, th, devices=devices))
    except eqx.EquinoxRuntimeError as e:
        raise RuntimeError(
            f"simulate_bank: a simulation in draws {start}-{stop - 1} raised instead of "
            "returning NaN; pass `throw=False` to `bmx.simulate` inside the simulator so "
            "that failed solves become non-finite outputs, which the bank counts and "
            "leaves out.") from e
    th, x, t = (np.asarray(a)[: idx.size] for a in (th, x, t))
    ok = (np.isfinite(x.reshape(idx.size, -1)).all(axis=1)
          & np.isfinite(th).all(axis=1) & np.isfinite(t).all(axis=1))
    return {"index": idx, "theta": th, "x": x, "ok": ok, "score": t}


def _write_chunk(path: pathlib.Path, **arrays: np.ndarray) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # atomic: an interrupted write leaves no half chunk


def _open_store(path: Any, meta: dict) -> pathlib.Path:
    root = pathlib.Path(path)
    root.mkdir(parents=True, exist_ok=True)
    meta_file = root / "bank.json"
    if meta_file.exists():
        old = json.loads(meta_file.read_text())
        if old != meta:
            diff = {k: (old.get(k), v) for k, v in meta.items() if old.get(k) != v}
            raise ValueError(f"`path` {root} holds a bank made with other settings {diff} "
                             "(stored, requested): pass another `path` or delete it to start "
                             "afresh.")
    else:
        meta_file.write_text(json.dumps(meta))
    return root


def simulate_bank(simulator: Callable[[Array, PRNGKeyArray], Array], prior: Any, n: int,
                  key: PRNGKeyArray, *, batch_size: int = 256, path: Any = None,
                  theta: Any = None, scores: bool = False, devices: Any = None,
                  progress: bool = True) -> Bank:
    r"""Draw `n` parameter vectors from `prior` and simulate each: `x_i = simulator(theta_i,
    fold_in(key, i))`, in compiled batches of `batch_size` (`jax.vmap` of `simulator`).

    **Arguments:**

    - `simulator`: `simulator(theta, key) -> x`, with `theta` a `(prior.dim,)` vector;
      typically `prior.apply(model, theta)`, `simulate(..., throw=False)`, then a summary.
      It must be jittable and vmappable (every `bmx.simulate` is); `throw=False` turns a
      failed solve into non-finite output instead of an error for the whole batch.
    - `prior`: a [`brainmass_eqx.inference.JointPrior`][] (or a single prior).
    - `n`: number of simulations; `key`: a JAX key.
    - `batch_size`: simulations per compiled batch (memory); results do not depend on it.
    - `path`: a folder to write each batch to (`chunk-*.npz`, atomically, and `bank.json`
      with the settings). Calling again with the same settings skips the batches already on
      disk, so an interrupted bank resumes where it stopped and equals one run straight
      through; other settings in the same folder raise a `ValueError`.
    - `theta`: `(n, dim)` parameters to simulate instead of prior draws (e.g. a truncated
      proposal).
    - `scores`: also record each simulation's joint score (`Bank.score`); the simulator
      must be an [`brainmass_eqx.inference.AbstractScoredSimulator`][] such as
      [`brainmass_eqx.inference.GaussianObservation`][]. For `NPE(score_weight=...)`.
    - `devices`: shard each batch over these (local) devices with
      [`brainmass_eqx.sweep`][] (e.g. `jax.local_devices()`); the result is the same.
    - `progress`: show a tqdm bar.

    After `jax.distributed.initialize` with several processes, the batches are split
    round-robin over the processes: each writes its own chunks to `path` (required, on a
    filesystem they share), waits for the others, and returns the whole bank.

    Draw $i$ takes $\theta_i$ from `fold_in(fold_in(key, 2**32 - 1), i)` and simulates with
    `fold_in(key, i)`: a bank is reproducible from its key, and its draws do not depend on
    `batch_size` (its outputs only to rounding: XLA may vectorise a reduction differently for
    another batch width).
    A simulation whose output (or parameters) holds any non-finite value is a failure: it is
    left out of `theta`/`x`, recorded in `failed_theta`/`failed_index`, and counted in a
    warning.
    """
    from tqdm.auto import tqdm

    prior = as_joint(prior)
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}.")
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    if scores and not isinstance(simulator, AbstractScoredSimulator):
        raise TypeError("`scores=True` needs a simulator that returns its joint score: wrap "
                        "it, e.g. `GaussianObservation(simulator, scale)`.")
    key = _typed_key(key)
    kd = np.asarray(jax.random.key_data(key)).ravel().tolist()
    given = theta is not None
    if given:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (n, prior.dim):
            raise ValueError(f"`theta` must have shape (n, dim) = ({n}, {prior.dim}), got "
                             f"{theta.shape}.")
    root = None
    if path is not None:
        meta = {"format": _FORMAT, "n": int(n), "batch_size": int(batch_size), "key": kd,
                "dim": prior.dim, "labels": list(prior.labels), "given_theta": given,
                "scores": bool(scores)}
        root = _open_store(path, meta)
    procs, me = jax.process_count(), jax.process_index()
    if procs > 1 and root is None:
        raise ValueError("a bank over several processes needs `path=`, a folder every process "
                         "can read: each writes its own chunks there.")
    if devices is not None and any(d.process_index != me for d in devices):
        raise ValueError("`devices` must be this process's own (jax.local_devices()): over "
                         "several processes the bank splits its batches between them.")
    dtype = jnp.zeros(()).dtype
    member = _Member(simulator, prior, key, given, bool(scores))
    chunks: dict[int, dict] = {}
    starts = list(range(0, n, batch_size))
    mine = [s for b, s in enumerate(starts) if b % procs == me]
    for start in tqdm(mine, desc="bank", disable=not progress, leave=False):
        file = None if root is None else _chunk_path(root, start)
        if file is not None and file.exists():
            chunks[start] = _read_chunk(file)
            continue
        chunks[start] = _simulate_chunk(member, start, min(start + batch_size, n), batch_size,
                                        theta, prior.dim, dtype, devices)
        if file is not None:
            _write_chunk(file, **chunks[start])
    if procs > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(f"simulate_bank {root}")
        chunks = {s: chunks[s] if s in chunks else _read_chunk(_chunk_path(root, s))
                  for s in starts}
    chunks = [chunks[s] for s in starts]
    cat = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    ok = cat["ok"].astype(bool)
    bank = Bank(cat["theta"][ok], cat["x"][ok], cat["index"][ok], cat["theta"][~ok],
                cat["index"][~ok], cat["score"][ok] if scores else None)
    if bank.n_failed:
        warnings.warn(f"simulate_bank: {bank.n_failed} of {n} simulations gave non-finite "
                      f"output and are left out (see `Bank.failed_theta`).", RuntimeWarning,
                      stacklevel=2)
    if bank.n == 0:
        raise RuntimeError(f"simulate_bank: all {n} simulations failed (non-finite output); "
                           "check the simulator and the prior's range.")
    return bank
