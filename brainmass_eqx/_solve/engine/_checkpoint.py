r"""The one chunked-checkpointing helper: a scan over the top-level blocks of a run in chunks
of about $\sqrt{n}$, so that reverse-mode memory grows as $O(\sqrt{n})$, not $O(n)$. The
noise-only path rematerialises each chunk with `jax.checkpoint`; the delayed path saves each
chunk's starting carry and its own reverse pass recomputes from it (`_reverse.py`)."""

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def chunk_size(n: int) -> int:
    """Top-level blocks per chunk: about $\\sqrt{n}$ (at least one)."""
    return max(1, int(round(math.sqrt(n))))


def scan_chunks(body: Callable[[Any, jax.Array, Any], tuple[Any, Any]], carry: Any, first: int,
                n: int, *, xs: tuple[Any, Any] = (None, None), reverse: bool = False
                ) -> tuple[Any, tuple[Any, Any]]:
    """Blocks `first .. first + n - 1` in chunks: `body(carry, indices, x) -> (carry, out)`
    runs once per chunk with the chunk's block indices, the full chunks in a `lax.scan` and a
    shorter remainder after them (before them when `reverse`).

    `xs = (per full chunk, for the remainder)` are the chunks' inputs (e.g. saved carries);
    returns the carry and `(stacked outputs of the full chunks, output of the remainder)`,
    `None` where there is no such chunk."""
    if n == 0:
        return carry, (None, None)
    size = chunk_size(n)
    n_chunks, rest = divmod(n, size)
    full_xs, rest_x = xs

    def chunk(carry, inp):
        c, x = inp
        return body(carry, first + c * size + jnp.arange(size, dtype=jnp.int32), x)

    def run_full(carry):
        if not n_chunks:
            return carry, None
        return jax.lax.scan(chunk, carry, (jnp.arange(n_chunks, dtype=jnp.int32), full_xs),
                            reverse=reverse)

    def run_rest(carry):
        if not rest:
            return carry, None
        return body(carry, first + n_chunks * size + jnp.arange(rest, dtype=jnp.int32), rest_x)

    if reverse:
        carry, out_rest = run_rest(carry)
        carry, out_full = run_full(carry)
    else:
        carry, out_full = run_full(carry)
        carry, out_rest = run_rest(carry)
    return carry, (out_full, out_rest)
