"""The engine's typed state: what a run differentiates (`Params`), what the scans over blocks carry
(`Carry`, with the reverse pass's `Tape`), and what the reverse pass carries (`Cotangents`)
and shares (`Adjoints`)."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, PyTree

from ..._monitors import MonitorSet
from ..._network import Network
from .._vector_field import Augmented
from ._buffer import DelayBuffer


@final
class Params(eqx.Module):
    """The differentiable parts of a run: the `system`, its `inputs` (a callable or `None`)
    and the `monitors`."""

    system: Network
    inputs: Any
    monitors: MonitorSet


@final
class Ends(eqx.Module):
    """The states a run reports besides its records: `first`, at the start of the recording
    (step `n_transient`; kept only when the run saves its initial sample), and `last`, at its
    last step."""

    first: Augmented
    last: Augmented

    @staticmethod
    def at(state: Augmented) -> "Ends":
        return Ends(state, state)


@final
class Tape(eqx.Module):
    """The inputs of every base block of one chunk, written by the reverse pass's recompute and
    read as it walks the chunk backwards: block `first + i` started from `state[i]`,
    `solver[i]` and `final[i]`, read the delayed sums `rows[i]` (`None` when the forward pass
    kept them) and wrote the pre-synaptic values `pres[:, :, i * block:(i + 1) * block]`
    (only when the weights are differentiated; time minor, as the adjoint reads contract
    them)."""

    first: Int[Array, ""]
    state: Augmented
    solver: PyTree
    final: Ends
    rows: Float[Array, "blocks rows channels nodes"] | None
    pres: Float[Array, "nodes channels steps"] | None

    def write(self, b: Int[Array, ""], state: Augmented, solver: PyTree, final: Ends,
              rows: Array, pres: Array) -> "Tape":
        """The tape with base block `b`'s inputs written."""
        def put(arrays, value):
            if arrays is None:
                return None
            return jax.tree.map(
                lambda a, v: jax.lax.dynamic_update_index_in_dim(a, v, b - self.first, 0),
                arrays, value)

        taped = self.pres
        if taped is not None:
            block = pres.shape[0]
            taped = jax.lax.dynamic_update_slice_in_dim(
                taped, pres.transpose(2, 1, 0), (b - self.first) * block, axis=2)
        return Tape(self.first, put(self.state, state), put(self.solver, solver),
                    put(self.final, final), put(self.rows, rows), taped)

    def read(self, b: Int[Array, ""]) -> tuple[Augmented, PyTree, Augmented, Array | None]:
        """Base block `b`'s `(state, solver state, final state, rows)`."""
        def pick(a):
            return jax.lax.dynamic_index_in_dim(a, b - self.first, keepdims=False)

        rows = None if self.rows is None else pick(self.rows)
        return (jax.tree.map(pick, self.state), jax.tree.map(pick, self.solver),
                jax.tree.map(pick, self.final), rows)


@final
class Carry(eqx.Module):
    """What the scans over blocks carry: the `state`, the delay `buffer` (`None` without
    delays, and in the reverse pass's recompute when the delayed sums were kept), the `solver`
    state, the `final` state (at the run's last step), and optionally the `records` of the
    recording (carried arrays of the kept samples), the `kept` delayed sums of every base
    block (see [`brainmass_eqx.DelayedAdjoint`][]) and the reverse pass's `tape`."""

    state: Augmented
    buffer: DelayBuffer | None
    solver: PyTree
    final: Ends
    records: dict[str, PyTree] | None = None
    kept: Float[Array, "blocks rows channels nodes"] | None = None
    tape: Tape | None = None


@final
class Adjoints(eqx.Module):
    """What every block of the reverse pass shares: the regions' in-`strength`, the slot
    weights of the transposed connectome per level (`weights`), and whether the connection
    weights are differentiated (`weight_grads`: then the adjoint reads also accumulate
    per-connection products)."""

    strength: Float[Array, " nodes"]
    weights: tuple[Float[Array, "nodes slots"], ...]
    weight_grads: bool = eqx.field(static=True)


@final
class Cotangents(eqx.Module):
    """The reverse pass's carry: the cotangents of the `state`, `solver` state and `final`
    state at the current block start; the `ring` of the delayed sums' cotangents (filled as the
    pass goes, read as a delayed read of the future), `row0`, the first row of the last block's
    sums' cotangent (shared with the next block), and the accumulated cotangents of the
    `params`, the in-`strength` and the adjoint slot `weights`."""

    state: Augmented
    solver: PyTree
    final: Ends
    ring: Float[Array, "channels nodes time"]
    row0: Float[Array, "channels nodes"]
    params: PyTree
    strength: Float[Array, " nodes"]
    weights: tuple[Float[Array, "nodes slots"], ...]


def add(a: PyTree, b: PyTree) -> PyTree:
    """Leafwise sum of two cotangent trees where either may hold `None`."""
    return jax.tree.map(lambda x, y: x if y is None else (y if x is None else x + y), a, b,
                        is_leaf=lambda x: x is None)


def zeros_like_inexact(tree: PyTree) -> PyTree:
    """Zero cotangents for the inexact arrays of `tree`, `None` elsewhere."""
    return jax.tree.map(lambda x: jnp.zeros_like(x) if eqx.is_inexact_array(x) else None, tree)


@final
class Stepping(eqx.Module):
    """What the steps of a base block carry from step to step: the `state`, the `solver`
    state and the `final` state (set at the run's last step)."""

    state: Augmented
    solver: PyTree
    final: Ends
