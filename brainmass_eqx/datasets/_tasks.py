"""Task datasets for training: `(inputs, targets)` with a train/validation split."""

from typing import NamedTuple, final

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._registry import register_dataset


@final
class TaskData(NamedTuple):
    """A supervised task: `inputs` `(examples, time, features)`, `targets` `(examples, ...)`,
    and the held-out `val_inputs`, `val_targets`."""

    inputs: Float[Array, "examples time features"]
    targets: Array
    val_inputs: Float[Array, "examples2 time features"]
    val_targets: Array


def delayed_match_task(n_samples: int = 512, *, seq_len: int = 8, n_symbols: int = 2,
                       validation_fraction: float = 0.25, seed: int = 0) -> TaskData:
    """Delayed match-to-sample (the HORN case study of brainmass): a cue symbol (one-hot) at
    the first step, a blank delay, a probe symbol at the last step; the target is 1 if the
    probe matches the cue, else 0.

    Deterministic given `seed`. Exactly half of the examples match (randomly placed); a
    non-matching probe is `(cue + k) mod n_symbols` with `k` uniform in `1..n_symbols-1`.
    The last `validation_fraction` of the examples are held out.

    **Returns:** a [`brainmass_eqx.datasets.TaskData`][] with float32 inputs
    `(n, seq_len, n_symbols)` and int32 targets `(n,)`.
    """
    if n_samples < 4 or seq_len < 2 or n_symbols < 2:
        raise ValueError("`delayed_match_task` needs n_samples >= 4, seq_len >= 2 and "
                         f"n_symbols >= 2; got {n_samples}, {seq_len}, {n_symbols}.")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in (0, 1), got {validation_fraction}.")
    rng = np.random.default_rng(seed)
    cue = rng.integers(0, n_symbols, n_samples)
    match = rng.permutation(np.arange(n_samples) < n_samples // 2)
    shift = rng.integers(1, n_symbols, n_samples)
    probe = np.where(match, cue, (cue + shift) % n_symbols)
    x = np.zeros((n_samples, seq_len, n_symbols), np.float32)
    x[np.arange(n_samples), 0, cue] = 1.0
    x[np.arange(n_samples), seq_len - 1, probe] = 1.0
    y = match.astype(np.int32)
    n_val = max(1, int(round(validation_fraction * n_samples)))
    n_tr = n_samples - n_val
    return TaskData(jnp.asarray(x[:n_tr]), jnp.asarray(y[:n_tr]), jnp.asarray(x[n_tr:]),
                    jnp.asarray(y[n_tr:]))


register_dataset("delayed_match_task", delayed_match_task,
                 "delayed match-to-sample: (inputs, targets) with a validation split")


