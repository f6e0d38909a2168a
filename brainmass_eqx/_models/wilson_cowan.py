from typing import ClassVar, final

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .._custom_types import Inputs, RealScalarLike, State
from .._units import param
from .base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


def wilson_cowan_sigmoid(x: Array, a: Array, theta: Array) -> Array:
    r"""$F(x) = \sigma(a(x - \theta)) - \sigma(-a\theta)$: the logistic response shifted so that
    $F(0) = 0$ (Wilson & Cowan 1972, eq. 13)."""
    return jax.nn.sigmoid(a * (x - theta)) - jax.nn.sigmoid(-a * theta)


@final
class WilsonCowan(AbstractNeuralMass):
    r"""The Wilson-Cowan excitatory-inhibitory population model:

    $$\begin{aligned}
    \tau_E \dot E &= -E + (1 - rE)\,F_E\big(w_{ee} E - w_{ei} I + u_E\big),\\
    \tau_I \dot I &= -I + (1 - rI)\,F_I\big(w_{ie} E - w_{ii} I + u_I\big),
    \end{aligned}$$

    with $F_X(x) = \sigma(a_X(x - \theta_X)) - \sigma(-a_X\theta_X)$. **Weight subscripts are
    target first**: `w_ei` is the weight *onto E from I* (brainmass's `wIE`/`wEI` mean opposite
    things in different variants, catalog §16.13; here they cannot). The refractory factor
    $(1 - rX)$ is the original model's.

    The defaults are the original paper's hysteresis parameters (Fig. 5 there; also brainmass's):
    with a constant drive $u_E = P$ in an intermediate range a low- and a high-activity state
    coexist.

    **State:** `E`, `I` (dimensionless fractions of active cells). **Inputs:** `E`, `I` (inside
    the sigmoids, dimensionless).

    **Parameters:** `tau_E` 1 ms, `tau_I` 1 ms, `a_E` 1.2, `theta_E` 2.8, `a_I` 1,
    `theta_I` 4, `w_ee` 12, `w_ei` 4 (onto E from I), `w_ie` 13 (onto I from E), `w_ii` 11,
    `r` 1 (refractoriness).

    **Initial state:** `E = I = 0`; with a key, `U(0, 0.1)`.

    **Reference:** Wilson & Cowan (1972), *Excitatory and inhibitory interactions in localized
    populations of model neurons*, Biophys. J. 12:1, doi:10.1016/S0006-3495(72)86068-5.
    """

    tau_E: Float[Array, "*nodes"] = param(1.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="E time constant")
    tau_I: Float[Array, "*nodes"] = param(1.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="I time constant")
    a_E: Float[Array, "*nodes"] = param(1.2, doc="E sigmoid slope")
    theta_E: Float[Array, "*nodes"] = param(2.8, doc="E sigmoid threshold")
    a_I: Float[Array, "*nodes"] = param(1.0, doc="I sigmoid slope")
    theta_I: Float[Array, "*nodes"] = param(4.0, doc="I sigmoid threshold")
    w_ee: Float[Array, "*nodes"] = param(12.0, doc="weight onto E from E")
    w_ei: Float[Array, "*nodes"] = param(4.0, doc="weight onto E from I")
    w_ie: Float[Array, "*nodes"] = param(13.0, doc="weight onto I from E")
    w_ii: Float[Array, "*nodes"] = param(11.0, doc="weight onto I from I")
    r: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), doc="refractoriness")

    state_names: ClassVar[tuple[str, ...]] = ("E", "I")
    input_names: ClassVar[tuple[str, ...]] = ("E", "I")
    default_cvar: ClassVar[str] = "E"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "E-I population firing-rate dynamics"
    reference: ClassVar[str] = "Wilson & Cowan (1972) Biophys. J. 12:1"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        e, i = y["E"], y["I"]
        fe = wilson_cowan_sigmoid(self.w_ee * e - self.w_ei * i + inputs["E"], self.a_E,
                                  self.theta_E)
        fi = wilson_cowan_sigmoid(self.w_ie * e - self.w_ii * i + inputs["I"], self.a_I,
                                  self.theta_I)
        return {"E": (-e + (1 - self.r * e) * fe) / self.tau_E,
                "I": (-i + (1 - self.r * i) * fi) / self.tau_I}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0})
        return uniform_state(key, shape, self.dtype, {"E": (0.0, 0.1), "I": (0.0, 0.1)})
