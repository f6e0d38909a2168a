from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


def _transfer(current: Array, a: Array, b: Array, d: Array) -> Array:
    r"""$H(I) = (aI - b) / (1 - e^{-d(aI - b)})$ in Hz (current in nA, `a` in /nC, `b` in Hz,
    `d` in ms), with the removable singularity at $aI = b$ handled (its limit is $1/d$)."""
    x = a * current - b
    d = d / 1000.0  # in s, against the rate in Hz
    small = jnp.abs(x) < 1e-6
    safe = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, 1.0 / d + x / 2, safe / -jnp.expm1(-d * safe))


@final
class WongWangExcInh(AbstractNeuralMass):
    r"""The reduced excitatory-inhibitory dynamic mean field of Deco et al. (2014), the standard
    node for resting-state BOLD/FC:

    $$\begin{aligned}
    I_E &= W_E I_0 + w_+ J_N S_E - J_i S_I + I_\mathrm{ext} + u_E,\qquad
    I_I = W_I I_0 + J_N S_E - S_I + u_I,\\
    r_X &= H_X(I_X) = \frac{a_X I_X - b_X}{1 - e^{-d_X (a_X I_X - b_X)}},\\
    \dot S_E &= -\frac{S_E}{\tau_E} + (1 - S_E)\,\gamma_E\, r_E,\qquad
    \dot S_I = -\frac{S_I}{\tau_I} + \gamma_I\, r_I.
    \end{aligned}$$

    Network input is a current (nA): `DiffusiveCoupling`/`LinearCoupling(a=G * J_N)` on
    `S_E` gives Deco's $G J_N \sum_j C_{ij} S_{E,j}$. There is no global coupling inside the
    node (brainmass's node-level `G` multiplies the network's `k`: catalog §16.15). With the
    default weights (no feedback-inhibition control, $J_i = 1$) the isolated node rests at an
    excitatory rate of a few Hz.

    **State:** `S_E`, `S_I` (synaptic gating, in [0, 1]). **Inputs:** `S_E`, `S_I`: currents in
    nA added to $I_E$ and $I_I$. **Observables:** `r_E`, `r_I` (Hz).

    **Parameters** (Deco et al. 2014): `a_E` 310 /nC, `b_E` 125 Hz, `d_E` 160 ms, `gamma_E`
    0.641e-3 /(ms Hz) (Deco's dimensionless 0.641), `tau_E` 100 ms, `w_p` 1.4, `W_E` 1,
    `a_I` 615 /nC, `b_I` 177 Hz, `d_I` 87 ms, `gamma_I` 1e-3 /(ms Hz), `tau_I` 10 ms, `W_I` 0.7,
    `J_N` 0.15 nA, `J_i` 1 nA, `I_0` 0.382 nA, `I_ext` 0 nA.

    **Initial state:** `S_E = S_I = 0.001`; with a key, `U(0, 0.1)`.

    **Reference:** Deco, Ponce-Alvarez, Hagmann, Romani, Mantini & Corbetta (2014), *How local
    excitation-inhibition ratio impacts the whole brain dynamics*, J. Neurosci. 34:7886,
    doi:10.1523/JNEUROSCI.5068-13.2014. TVB's `ReducedWongWangExcInh` is the same model.
    """

    a_E: Float[Array, "*nodes"] = param(310.0, unit="1/nC", doc="E gain")
    b_E: Float[Array, "*nodes"] = param(125.0, unit="Hz", doc="E threshold rate")
    d_E: Float[Array, "*nodes"] = param(160.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="E curvature")
    gamma_E: Float[Array, "*nodes"] = param(0.641e-3, unit="1/(ms Hz)", doc="E kinetic factor")
    tau_E: Float[Array, "*nodes"] = param(100.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="NMDA decay time")
    w_p: Float[Array, "*nodes"] = param(1.4, doc="local excitatory recurrence")
    W_E: Float[Array, "*nodes"] = param(1.0, doc="external input scaling onto E")
    a_I: Float[Array, "*nodes"] = param(615.0, unit="1/nC", doc="I gain")
    b_I: Float[Array, "*nodes"] = param(177.0, unit="Hz", doc="I threshold rate")
    d_I: Float[Array, "*nodes"] = param(87.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="I curvature")
    gamma_I: Float[Array, "*nodes"] = param(1e-3, unit="1/(ms Hz)", doc="I kinetic factor")
    tau_I: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="GABA decay time")
    W_I: Float[Array, "*nodes"] = param(0.7, doc="external input scaling onto I")
    J_N: Float[Array, "*nodes"] = param(0.15, unit="nA", doc="NMDA coupling")
    J_i: Float[Array, "*nodes"] = param(1.0, unit="nA", doc="inhibitory coupling onto E")
    I_0: Float[Array, "*nodes"] = param(0.382, unit="nA", doc="background current")
    I_ext: Float[Array, "*nodes"] = param(0.0, unit="nA", doc="external current onto E")

    state_names: ClassVar[tuple[str, ...]] = ("S_E", "S_I")
    input_names: ClassVar[tuple[str, ...]] = ("S_E", "S_I")
    default_cvar: ClassVar[str] = "S_E"
    observables: ClassVar[tuple[str, ...]] = ("r_E", "r_I")
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Resting-state BOLD/FC, E-I balance"
    reference: ClassVar[str] = "Deco et al. (2014) J. Neurosci. 34:7886"

    def currents(self, y: State, inputs: Inputs | None = None) -> tuple[Array, Array]:
        """The input currents $(I_E, I_I)$ in nA."""
        u_e = 0.0 if inputs is None else inputs["S_E"]
        u_i = 0.0 if inputs is None else inputs["S_I"]
        i_e = (self.W_E * self.I_0 + self.w_p * self.J_N * y["S_E"] - self.J_i * y["S_I"]
               + self.I_ext + u_e)
        i_i = self.W_I * self.I_0 + self.J_N * y["S_E"] - y["S_I"] + u_i
        return i_e, i_i

    def r_E(self, y: State) -> Array:
        """Excitatory rate $H_E(I_E)$ in Hz (without external input)."""
        return _transfer(self.currents(y)[0], self.a_E, self.b_E, self.d_E)

    def r_I(self, y: State) -> Array:
        """Inhibitory rate $H_I(I_I)$ in Hz (without external input)."""
        return _transfer(self.currents(y)[1], self.a_I, self.b_I, self.d_I)

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        i_e, i_i = self.currents(y, inputs)
        r_e = _transfer(i_e, self.a_E, self.b_E, self.d_E)
        r_i = _transfer(i_i, self.a_I, self.b_I, self.d_I)
        return {"S_E": -y["S_E"] / self.tau_E + (1 - y["S_E"]) * self.gamma_E * r_e,
                "S_I": -y["S_I"] / self.tau_I + self.gamma_I * r_i}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"S_E": 0.001, "S_I": 0.001})
        return uniform_state(key, shape, self.dtype, {"S_E": (0.0, 0.1), "S_I": (0.0, 0.1)})


@final
class WongWang(AbstractNeuralMass):
    r"""The reduced two-pool decision model of Wong & Wang (2006): two selective populations,
    each with an NMDA gating variable, competing through effective cross-inhibition.

    $$\begin{aligned}
    x_1 &= J_{11} S_1 - J_{12} S_2 + I_0 + J_\mathrm{ext}\,\mu_0 (1 + c) + u_1,\qquad
    x_2 = J_{22} S_2 - J_{21} S_1 + I_0 + J_\mathrm{ext}\,\mu_0 (1 - c) + u_2,\\
    r_i &= H(x_i) = \frac{a x_i - b}{1 - e^{-d(a x_i - b)}},\qquad
    \dot S_i = -\frac{S_i}{\tau_S} + (1 - S_i)\,\gamma\, r_i .
    \end{aligned}$$

    The motion coherence $c \in [-1, 1]$ biases the stimulus towards pool 1 ($c > 0$) or pool 2.
    Recurrent excitation makes the two "choice" attractors (one pool at 20-40 Hz, the other
    suppressed) coexist with the undecided low state; `decision` reads the outcome. Unlike
    brainmass's version (a threshold-linear $H$, catalog §3.4), $H$ is the paper's f-I curve.
    Noise breaks the symmetry at $c = 0$: e.g. a `Network` of unconnected nodes with
    `AdditiveNoise(states=("S1", "S2"))`. (The paper's Ornstein-Uhlenbeck noise acts on the
    currents $x_i$; a noise process feeding an input is not available yet.)

    **State:** `S1`, `S2` (gating, in [0, 1]). **Inputs:** `S1`, `S2`: currents (nA) added to
    $x_1$, $x_2$. **Observables:** `r1`, `r2` (Hz).

    **Parameters:** `a` 270 /nC, `b` 108 Hz, `d` 154 ms, `gamma` 0.641e-3 /(ms Hz),
    `tau_S` 100 ms, `J11 = J22` 0.2609 nA, `J12 = J21` 0.0497 nA, `I0` 0.3255 nA, `J_ext`
    0.2243e-3 nA/Hz, `mu0` 30 Hz, `c` 0 (coherence).

    **Initial state:** `S1 = S2 = 0.1`; with a key, `U(0, 0.2)`.

    **Reference:** Wong & Wang (2006), *A recurrent network mechanism of time integration in
    perceptual decisions*, J. Neurosci. 26:1314, doi:10.1523/JNEUROSCI.3733-05.2006.
    """

    a: Float[Array, "*nodes"] = param(270.0, unit="1/nC", doc="gain")
    b: Float[Array, "*nodes"] = param(108.0, unit="Hz", doc="threshold rate")
    d: Float[Array, "*nodes"] = param(154.0, unit="ms", bounds=(0.0, None),
                                      inclusive=(False, True), doc="curvature")
    gamma: Float[Array, "*nodes"] = param(0.641e-3, unit="1/(ms Hz)", doc="kinetic factor")
    tau_S: Float[Array, "*nodes"] = param(100.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="NMDA decay time")
    J11: Float[Array, "*nodes"] = param(0.2609, unit="nA", doc="self-excitation of pool 1")
    J22: Float[Array, "*nodes"] = param(0.2609, unit="nA", doc="self-excitation of pool 2")
    J12: Float[Array, "*nodes"] = param(0.0497, unit="nA", doc="inhibition onto pool 1 from pool 2")
    J21: Float[Array, "*nodes"] = param(0.0497, unit="nA", doc="inhibition onto pool 2 from pool 1")
    I0: Float[Array, "*nodes"] = param(0.3255, unit="nA", doc="background current")
    J_ext: Float[Array, "*nodes"] = param(0.2243e-3, unit="nA/Hz", doc="stimulus coupling")
    mu0: Float[Array, "*nodes"] = param(30.0, unit="Hz", doc="stimulus strength")
    c: Float[Array, "*nodes"] = param(0.0, bounds=(-1.0, 1.0), doc="coherence towards pool 1")

    state_names: ClassVar[tuple[str, ...]] = ("S1", "S2")
    input_names: ClassVar[tuple[str, ...]] = ("S1", "S2")
    default_cvar: ClassVar[str] = "S1"
    observables: ClassVar[tuple[str, ...]] = ("r1", "r2")
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Decision making (perceptual choice)"
    reference: ClassVar[str] = "Wong & Wang (2006) J. Neurosci. 26:1314"

    def _currents(self, y: State, inputs: Inputs | None = None) -> tuple[Array, Array]:
        stim = self.J_ext * self.mu0
        x1 = self.J11 * y["S1"] - self.J12 * y["S2"] + self.I0 + stim * (1 + self.c)
        x2 = self.J22 * y["S2"] - self.J21 * y["S1"] + self.I0 + stim * (1 - self.c)
        if inputs is not None:
            x1, x2 = x1 + inputs["S1"], x2 + inputs["S2"]
        return x1, x2

    def r1(self, y: State) -> Array:
        """Rate of pool 1 (Hz)."""
        return _transfer(self._currents(y)[0], self.a, self.b, self.d)

    def r2(self, y: State) -> Array:
        """Rate of pool 2 (Hz)."""
        return _transfer(self._currents(y)[1], self.a, self.b, self.d)

    def decision(self, y: State, threshold: float = 15.0) -> Array:
        """The choice in state `y`: `1` if only pool 1 fires above `threshold` (Hz), `-1` if
        only pool 2 does, `0` if undecided."""
        up1, up2 = self.r1(y) > threshold, self.r2(y) > threshold
        return jnp.where(up1 & ~up2, 1, jnp.where(up2 & ~up1, -1, 0))

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x1, x2 = self._currents(y, inputs)
        r1, r2 = (_transfer(x, self.a, self.b, self.d) for x in (x1, x2))
        return {"S1": -y["S1"] / self.tau_S + (1 - y["S1"]) * self.gamma * r1,
                "S2": -y["S2"] / self.tau_S + (1 - y["S2"]) * self.gamma * r2}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"S1": 0.1, "S2": 0.1})
        return uniform_state(key, shape, self.dtype, {"S1": (0.0, 0.2), "S2": (0.0, 0.2)})
