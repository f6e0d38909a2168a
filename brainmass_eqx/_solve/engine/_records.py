"""The records of a delayed run, written block by block straight into carried arrays of the
kept samples: subsampling monitors keep only their samples, averaging monitors accumulate
their window means (see [`brainmass_eqx.AbstractMonitor`][]), every other monitor every step.
`read_records` is the transpose of `write_records`, for the reverse pass."""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Int, PyTree

from ._context import Run


def record_rows(run: Run, name: str) -> tuple[int, int]:
    """`(samples kept of record `name`, rows of its carried array)`: a base block writes a
    window of up to `ceil(block / stride)` samples (one more for window means), so the array
    has at least that many."""
    stride = run.record_strides[name]
    n = run.cfg.n_record // stride
    return n, max(n, -(-run.cfg.levels[0] // stride) + (name in run.record_means))


def empty_records(run: Run, shapes: dict[str, PyTree]) -> dict[str, PyTree]:
    """Zero carried arrays for records of the given per-step `shapes`."""
    return {name: jax.tree.map(lambda s: jnp.zeros((record_rows(run, name)[1], *s.shape),
                                                   s.dtype), shapes[name]) for name in shapes}


def trim_records(run: Run, records: dict[str, PyTree]) -> dict[str, PyTree]:
    """The kept samples of the carried arrays (without their spare rows)."""
    return {name: jax.tree.map(lambda r: r[:record_rows(run, name)[0]], r_name)
            for name, r_name in records.items()}


def _write(r: Array, o: Array, first: Array, block: int, stride: int) -> Array:
    # one in-place window write (a scatter would leave XLA's fused loop): the window is clamped
    # into the array, and its rows without a sample of this block keep their old values
    width = -(-block // stride)
    at = jnp.clip((first + stride) // stride - 1, 0, r.shape[0] - width)
    k = (at + jnp.arange(width, dtype=jnp.int32) + 1) * stride - 1 - first
    inside = ((k >= 0) & (k < block)).reshape(width, *(1,) * (r.ndim - 1))
    old = jax.lax.dynamic_slice_in_dim(r, at, width)
    new = jnp.take(o.astype(r.dtype), jnp.clip(k, 0, block - 1), axis=0)
    return jax.lax.dynamic_update_slice_in_dim(r, jnp.where(inside, new, old), at, 0)


def _accumulate(r: Array, o: Array, first: Array, block: int, stride: int, n: int) -> Array:
    # add the block's steps, over `stride`, to the means of their windows (a trailing partial
    # window is dropped): one in-place window update, as in `_write`
    width = -(-block // stride) + 1
    at = jnp.clip(first // stride, 0, r.shape[0] - width)
    steps = first + jnp.arange(block, dtype=jnp.int32)
    window = steps // stride
    valid = (steps >= 0) & (window < n)
    mask = (window[None] - at == jnp.arange(width, dtype=jnp.int32)[:, None]) & valid[None]
    sums = jnp.tensordot(mask.astype(r.dtype), o.astype(r.dtype), axes=1) / stride
    old = jax.lax.dynamic_slice_in_dim(r, at, width)
    return jax.lax.dynamic_update_slice_in_dim(r, old + sums, at, 0)


def write_records(run: Run, records: dict[str, PyTree], start: Int[Array, ""],
                  outs: dict[str, PyTree]) -> dict[str, PyTree]:
    """Store the per-step outputs `outs` of the base block from step `start` in the run's
    record arrays: sample `j` of a record kept every `s` steps is step
    `n_transient + (j + 1) s` (`s = 1`: every step); steps outside the recording, or between
    samples, are dropped."""
    block = run.cfg.levels[0]
    first = start - run.cfg.n_transient  # the recording's step index of the block start

    def store(name, r, o):
        stride = run.record_strides[name]
        if name in run.record_means:
            return _accumulate(r, o, first, block, stride, record_rows(run, name)[0])
        return _write(r, o, first, block, stride)

    return {name: jax.tree.map(lambda r, o: store(name, r, o), records[name], outs[name])
            for name in records}


def read_records(run: Run, ct: dict[str, PyTree], start: Int[Array, ""]) -> dict[str, PyTree]:
    """The cotangents of the base block's per-step outputs from those of the kept samples
    `ct` (the transpose of `write_records`): zero for steps outside the recording or between
    samples; a window mean's cotangent spread over its `stride` steps."""
    block = run.cfg.levels[0]
    r = start - run.cfg.n_transient + jnp.arange(block, dtype=jnp.int32)

    def read(c, stride, mean):
        if mean:
            j, valid = r // stride, r >= 0
        else:
            j = (r + 1) // stride - 1
            valid = ((r + 1) % stride == 0) & (j >= 0)
        valid = valid & (j < c.shape[0])
        v = jnp.take(c, jnp.clip(j, 0, c.shape[0] - 1), axis=0, mode="clip")
        v = v / stride if mean else v
        return jnp.where(valid.reshape(block, *(1,) * (c.ndim - 1)), v, jnp.zeros((), c.dtype))

    return {name: jax.tree.map(
        lambda c: read(c, run.record_strides[name], name in run.record_means), ct[name])
        for name in ct}
