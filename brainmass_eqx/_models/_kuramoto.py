from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


@final
class Kuramoto(AbstractNeuralMass):
    r"""A Kuramoto phase oscillator; coupled through `KuramotoCoupling` in a `Network` it gives

    $$\dot\theta_i = \omega_i + \frac{K}{N}\sum_j w_{ij}\sin\big(\theta_j(t - \tau_{ij}) -
    \theta_i\big) + u_i.$$

    The order parameter $R = |\frac1N\sum_j e^{i\theta_j}|$ (`order_parameter`) measures
    synchrony: for all-to-all coupling and natural frequencies drawn from a density $g$, the
    incoherent state $R \approx 0$ loses stability at $K_c = 2 / (\pi g(0))$ and $R \to 1$
    well above it (Kuramoto 1984; for a Gaussian of standard deviation $\sigma$,
    $K_c = 2\sqrt{2\pi}\,\sigma/\pi \approx 1.60\,\sigma$).

    The phase is not wrapped (wrapping would make it discontinuous); observables use it through
    $\sin$ and $\cos$ only.

    **State:** `theta` (rad). **Inputs:** `theta` (rad/ms).

    **Parameters:** `omega` natural angular frequency, rad/ms (default $2\pi \cdot 10$ Hz); one
    value per node for a frequency distribution.

    **Initial state:** `theta = 0`; with a key, `theta ~ U(0, 2 pi)`.

    **Reference:** Kuramoto (1984), *Chemical Oscillations, Waves, and Turbulence*, Springer;
    Strogatz (2000), *From Kuramoto to Crawford*, Physica D 143:1,
    doi:10.1016/S0167-2789(00)00094-4.
    """

    omega: Float[Array, "*nodes"] = param(2 * jnp.pi * 0.01, unit="rad/ms",
                                          doc="natural angular frequency")

    state_names: ClassVar[tuple[str, ...]] = ("theta",)
    input_names: ClassVar[tuple[str, ...]] = ("theta",)
    default_cvar: ClassVar[str] = "theta"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "network"
    use_case: ClassVar[str] = "Phase synchronization"
    reference: ClassVar[str] = "Kuramoto (1984); Strogatz (2000) Physica D 143:1"

    @staticmethod
    def order_parameter(theta: Float[Array, "*batch nodes"]) -> Float[Array, "*batch"]:
        r"""Kuramoto order parameter $R = |\langle e^{i\theta_j}\rangle_j|$ over the last axis,
        in $[0, 1]$."""
        return jnp.hypot(jnp.mean(jnp.cos(theta), axis=-1), jnp.mean(jnp.sin(theta), axis=-1))

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        return {"theta": jnp.broadcast_to(self.omega, y["theta"].shape) + inputs["theta"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"theta": 0.0})
        return uniform_state(key, shape, self.dtype, {"theta": (0.0, 2 * jnp.pi)})
