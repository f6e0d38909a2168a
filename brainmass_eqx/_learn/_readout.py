"""`Readout`: a linear readout on top of a sequence model, for task training."""

from collections.abc import Callable
from typing import final

import equinox as eqx
from jaxtyping import Array, PRNGKeyArray


@final
class Readout(eqx.Module):
    r"""A linear readout on top of a sequence model: `core(inputs)` gives a
    `(time, features)` trajectory (e.g. a [`brainmass_eqx.HORNSeqLayer`][]), `pool` reduces it
    over time (default: the last time step), and a linear layer maps it to `n_output` logits or
    values. Call it on one example; batch with `jax.vmap` (or let `train` do it).

    **Arguments:** `core`, `n_features` (its output width), `n_output`, `key`, and `pool`, a
    callable `(time, features) -> (features,)`, e.g. `lambda h: h.mean(0)`.
    """

    core: Callable
    linear: eqx.nn.Linear
    pool: Callable = eqx.field(static=True)

    def __init__(self, core: Callable, n_features: int, n_output: int, *, key: PRNGKeyArray,
                 pool: Callable | None = None):
        for name, value in (("n_features", n_features), ("n_output", n_output)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        if not callable(core):
            raise ValueError(f"`core` must be a callable sequence model, got {core!r}.")
        self.core = core
        self.linear = eqx.nn.Linear(n_features, n_output, key=key)
        self.pool = _last if pool is None else pool

    def __call__(self, inputs: Array) -> Array:
        h = self.core(inputs)
        if h.ndim != 2 or h.shape[1] != self.linear.in_features:
            raise ValueError(f"`Readout.core` must return (time, {self.linear.in_features}), "
                             f"got shape {h.shape}.")
        return self.linear(self.pool(h))


def _last(h: Array) -> Array:
    return h[-1]
