r"""The linearisation of a system about a state: the Jacobian of its vector field, and for a
delayed network the instantaneous part and the delayed part, sparse over the connectome's edges.

A network's drift is $f(y(t), S(t))$ with $S_{c,i}(t) = \sum_j w_{ij}\,p_c(x_j(t - \tau_{ij}))$
the (delayed) sums of the pre-synaptic values $p = \mathrm{pre}(x)$. About a state $y^*$,

$$\dot{\delta y}(t) = J_0\,\delta y(t) + \sum_{(i, j)} A_{:, i}\,w_{ij}\,B_{j, :}\;
\delta y(t - \tau_{ij}),$$

with $J_0 = \partial f / \partial y$ (at fixed sums), $A = \partial f / \partial S$ and
$B = \partial p / \partial y$, both block-diagonal over regions. Without delays the sum collapses
into one matrix, $J = J_0 + A\,(I_C \otimes W)\,B$. The characteristic matrix of the delayed
system is $\Delta(\lambda) = \lambda I - J_0 - A\,(I_C \otimes (W \circ e^{-\lambda \tau}))\,B$.
"""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._core._types import State
from .._models import AbstractSystem
from .._network import Network
from ._state_vector import StateLayout, complex_dtype


def constant_inputs(system: AbstractSystem, inputs: Any, shape: tuple[int, ...], dtype: Any
                    ) -> dict[str, Array]:
    """Every input of `system`: the constant `inputs` (a dict keyed by input names, or a bare
    array for the first input; `None` for none), zero for the others."""
    full = {k: jnp.zeros(shape, dtype) for k in system.input_names}
    if inputs is None:
        return full
    if not isinstance(inputs, dict):
        inputs = {system.input_names[0]: inputs}
    unknown = set(inputs) - set(system.input_names)
    if unknown:
        raise ValueError(f"`inputs` names {sorted(unknown)}, which {type(system).__name__} "
                         f"does not accept; its inputs are {system.input_names}.")
    for k, v in inputs.items():
        full[k] = jnp.broadcast_to(jnp.asarray(v, dtype), shape)
    return full


@final
class Jacobian(eqx.Module):
    r"""The linearisation of a system about a state (see the module docstring).

    **Fields:** `local` $J_0$ `(d, d)` (for a network, the part at fixed coupling sums);
    `into` $A$ `(d, C N)` and `out_of` $B$ `(C N, d)` (networks only, `None` otherwise);
    `weights` $W$ `(N, N)` and `delays` $\tau$ `(N, N)` in ms (`None` without delays); `layout`
    of the state vector (state-major).
    """

    local: Float[Array, "d d"]
    into: Float[Array, "d cn"] | None
    out_of: Float[Array, "cn d"] | None
    weights: Float[Array, "nodes nodes"] | None
    delays: Float[Array, "nodes nodes"] | None
    layout: StateLayout
    n_channels: int = eqx.field(static=True, default=1)

    @property
    def has_delays(self) -> bool:
        return self.delays is not None

    def _coupling(self, weights: Array) -> Array:
        block = jnp.kron(jnp.eye(self.n_channels, dtype=weights.dtype), weights)
        return self.into.astype(block.dtype) @ block @ self.out_of.astype(block.dtype)

    def instantaneous(self) -> Float[Array, "d d"]:
        r"""$J_0 + A (I_C \otimes W) B$: the whole Jacobian of an undelayed system (for a delayed
        one, the Jacobian its delays would have at zero length)."""
        if self.into is None:
            return self.local
        return self.local + self._coupling(self.weights)

    def characteristic(self, lam: Complex[Array, ""]) -> Complex[Array, "d d"]:
        r"""$\Delta(\lambda) = \lambda I - J_0 - A\,(I_C \otimes (W \circ e^{-\lambda\tau}))\,B$."""
        d = self.local.shape[0]
        lam = jnp.asarray(lam, complex_dtype(self.local.dtype))
        eye = jnp.eye(d, dtype=lam.dtype)
        if self.into is None:
            return lam * eye - self.local
        w = self.weights.astype(lam.dtype)
        if self.delays is not None:
            w = w * jnp.exp(-lam * self.delays.astype(lam.dtype))
        return lam * eye - self.local.astype(lam.dtype) - self._coupling(w)

    def characteristic_derivative(self, lam: Complex[Array, ""]) -> Complex[Array, "d d"]:
        r"""$\Delta'(\lambda) = I + A\,(I_C \otimes (W \circ \tau \circ e^{-\lambda\tau}))\,B$."""
        d = self.local.shape[0]
        lam = jnp.asarray(lam, complex_dtype(self.local.dtype))
        eye = jnp.eye(d, dtype=lam.dtype)
        if self.delays is None:
            return eye
        tau = self.delays.astype(lam.dtype)
        return eye + self._coupling(self.weights.astype(lam.dtype) * tau * jnp.exp(-lam * tau))

    def delay_parts(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The distinct delays (ms, ascending) and, for each, the connections `(target,
        source)` that have it: $J_k = \\sum_{(i, j) \\in k} A_{:, i} w_{ij} B_{j, :}$."""
        if self.delays is None:
            return np.zeros(0), []
        tau = np.asarray(self.delays)
        w = np.asarray(self.weights)
        i, j = np.nonzero(w)
        values, index = np.unique(tau[i, j], return_inverse=True)
        groups = [list(zip(i[index == k].tolist(), j[index == k].tolist()))
                  for k in range(len(values))]
        return values, groups


def _network_pieces(net: Network, y: State, u: dict[str, Array], t: Any):
    """`(local, into, out_of)` of a network about `y`."""
    layout = StateLayout.of(net)
    weights = net.effective_weights().astype(jax.tree.leaves(y)[0].dtype)
    strength = jnp.sum(weights, axis=-1)
    sums0 = net.instantaneous_sums(y, weights)

    def drift(v, sums):
        return layout.flatten(net.drift(t, layout.unflatten(v), u, sums, strength))

    def pre(v):
        return net.coupling.pre(net.coupled(layout.unflatten(v))).ravel()

    v = layout.flatten(y)
    local = jax.jacfwd(drift, argnums=0)(v, sums0)
    into = jax.jacfwd(drift, argnums=1)(v, sums0).reshape(v.shape[0], -1)
    out_of = jax.jacfwd(pre)(v)
    return local, into, out_of, weights


def jacobian(system: AbstractSystem, y: State, *, inputs: Any = None, t: float = 0.0
             ) -> Jacobian:
    r"""The Jacobian of `system`'s vector field about the state `y` (a state dict), with
    constant `inputs` (a dict keyed by input names, or an array for the first input).

    For a [`brainmass_eqx.Network`][] the result keeps the coupling apart (`into`, `out_of`,
    `weights`), and, with conduction delays, the delays $\tau_{ij} = \ell_{ij}/v$ of its
    connections (exact, not rounded to a step: the continuous delay equation). Noise does not
    enter (the drift is linearised). Differentiable and vmappable.
    """
    layout = StateLayout.of(system)
    dtype = max((jnp.dtype(system.dtype), *(jnp.asarray(v).dtype for v in y.values())),
                key=lambda d: d.itemsize)
    y = {k: jnp.broadcast_to(jnp.asarray(y[k], dtype), layout.shape) for k in layout.names}
    u = constant_inputs(system, inputs, layout.shape, dtype)
    t = jnp.asarray(t, dtype)
    if isinstance(system, Network):
        local, into, out_of, weights = _network_pieces(system, y, u, t)
        delays = None
        if system.has_delays:
            delays = jnp.asarray(system.connectome.lengths.array / system.speed, dtype)
        return Jacobian(local, into, out_of, weights, delays, layout, system.n_channels)

    def field(v):
        return layout.flatten(system.vector_field(t, layout.unflatten(v), u))

    return Jacobian(jax.jacfwd(field)(layout.flatten(y)), None, None, None, None, layout)
