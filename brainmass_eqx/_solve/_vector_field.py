r"""The one vector-field builder: the drift and diffusion of a system *augmented* with its
monitors' states, used by the ODE path (`diffrax.diffeqsolve`) and by the delay engine alike.

$$\frac{\mathrm{d}}{\mathrm{d}t}\begin{pmatrix} y \\ m \end{pmatrix}
= \begin{pmatrix} f_\theta(t, y, u(t) + c(t)) \\ r(m, z(y)) \end{pmatrix},$$

with $u$ the external inputs, $c$ the network coupling (from instantaneous or delayed sums),
$m$ the monitors' states and $r$ their rates (see [`brainmass_eqx.AbstractMonitor`][]).
"""

from collections.abc import Callable, Mapping
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float, PyTree

from .._core._types import Inputs, State
from .._models import AbstractSystem
from .._monitors import MonitorSet
from .._network import Network


InputsLike = None | Callable[[Any], Any]


@final
class Augmented(eqx.Module):
    """The state the solver steps: the system's state `y` and the states of its stateful
    monitors (`monitors`, keyed by monitor name), integrated together."""

    y: State
    monitors: dict[str, PyTree]


def evaluate_inputs(system: AbstractSystem, inputs: InputsLike, t: Any, dtype: Any,
                    shape: tuple[int, ...] = ()) -> Inputs:
    """Every input of `system` at time `t` (ms): the values `inputs(t)` returns (a dict keyed by
    input names, or a bare array for the first input), zero for the others. Each value must
    broadcast to the node `shape`."""
    full = {k: v.astype(dtype) for k, v in system.zero_inputs().items()}
    if inputs is None:
        return full
    value = inputs(t)
    if not isinstance(value, Mapping):
        # A bare array drives the first input (the default coupled variable of most models).
        value = {system.input_names[0]: value}
    unknown = set(value) - set(system.input_names)
    if unknown:
        raise ValueError(
            f"`inputs` returned keys {sorted(unknown)}, which {type(system).__name__} does not "
            f"accept; its inputs are {system.input_names}."
        )
    for k, v in value.items():
        try:
            v = jnp.asarray(v, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(f"`inputs` returned {type(v).__name__} for input {k!r}; return a "
                            "number or a float array per input.") from e
        try:
            ok = jnp.broadcast_shapes(v.shape, shape) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"`inputs` returned an array of shape {v.shape} for input {k!r}, which does not "
                f"broadcast to the node shape {tuple(shape)}: return a scalar or one value per "
                "node."
            )
        full[k] = v
    return full


def drift(system: AbstractSystem, inputs: InputsLike, monitors: MonitorSet, t: Any,
          state: Augmented, sums: Float[Array, "channels nodes"] | None = None,
          strength: Float[Array, " nodes"] | None = None) -> Augmented:
    """The augmented drift at time `t` (ms). With `sums` (a network's weighted sums of its
    pre-synaptic values, delayed or not) and `strength` (the in-strengths), the network's
    coupling is applied to them; without, the system's own `vector_field`."""
    y = state.y
    dtype = jnp.result_type(*jax.tree.leaves(y))
    u = evaluate_inputs(system, inputs, t, dtype, jnp.shape(jax.tree.leaves(y)[0]))
    if sums is None:
        dy = system.vector_field(t, y, u)
    else:
        assert isinstance(system, Network)
        dy = system.drift(t, y, u, sums, strength)
    return Augmented(dy, monitors.rate(system, y, state.monitors))


def diffusion(system: Network, state: Augmented) -> lx.DiagonalLinearOperator:
    """The diagonal diffusion of a noisy network's augmented state (zero for the monitors)."""
    return lx.DiagonalLinearOperator(
        Augmented(system.diffusion(state.y), jax.tree.map(jnp.zeros_like, state.monitors)))
