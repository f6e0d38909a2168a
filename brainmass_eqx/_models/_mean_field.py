"""Physiological mean-field models: Jansen-Rit, Montbrio-Pazo-Roxin, Coombes-Byrne."""

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


@final
class JansenRit(AbstractNeuralMass):
    r"""The Jansen-Rit cortical column: pyramidal cells with excitatory and inhibitory
    interneurons, each population a second-order synaptic kernel and a sigmoid.

    $$\begin{aligned}
    \dot y_0 &= y_3, \quad \dot y_1 = y_4, \quad \dot y_2 = y_5,\\
    \dot y_3 &= A a\,S(y_1 - y_2) - 2a\,y_3 - a^2 y_0,\\
    \dot y_4 &= A a\,\big(p + u + C_2 S(C_1 y_0)\big) - 2a\,y_4 - a^2 y_1,\\
    \dot y_5 &= B b\,C_4 S(C_3 y_0) - 2b\,y_5 - b^2 y_2,
    \end{aligned}\qquad S(v) = \frac{2 e_0}{1 + e^{r(v_0 - v)}},$$

    with $C_k = a_k C$: by default $C_1 = C$, $C_2 = 0.8C$, $C_3 = C_4 = 0.25C$ (Jansen & Rit's
    ratios; `a_1`..`a_4` as in TVB, where $C$ is `J`). The EEG proxy is the pyramidal membrane
    potential $y_1 - y_2$ (observable `eeg`). With $p$ drawn uniformly in 120-320 Hz the model
    produces alpha-band (about 10 Hz) activity (Jansen & Rit 1995).

    **State:** `y0`, `y1`, `y2` (mV, post-synaptic potentials), `y3`, `y4`, `y5` (mV/ms).
    **Inputs:** `y4`, an extra pulse density onto the pyramidal cells' excitatory input, per ms
    (it joins $p$; this is where TVB's `SigmoidalJansenRit` coupling enters).

    **Parameters** (Jansen & Rit 1995): `A` 3.25 mV, `B` 22 mV, `a` 100 Hz, `b` 50 Hz,
    `C` 135, `a_1` 1, `a_2` 0.8, `a_3` 0.25, `a_4` 0.25 (the connectivity ratios), `e0`
    2.5 Hz, `v0` 6 mV, `r` 0.56 /mV, `p` 220 Hz (mean input pulse density).

    **Initial state:** all zero; with a key, the PSPs `~ U(0, 1)` mV.

    **Reference:** Jansen & Rit (1995), *Electroencephalogram and visual evoked potential
    generation in a mathematical model of coupled cortical columns*, Biol. Cybern. 73:357,
    doi:10.1007/BF00199471. TVB's `JansenRit` uses the same equations.
    """

    A: Float[Array, "*nodes"] = param(3.25, unit="mV", doc="excitatory synaptic gain")
    B: Float[Array, "*nodes"] = param(22.0, unit="mV", doc="inhibitory synaptic gain")
    a: Float[Array, "*nodes"] = param(100.0, unit="Hz", bounds=(0.0, None),
                                      inclusive=(False, True), doc="excitatory rate constant")
    b: Float[Array, "*nodes"] = param(50.0, unit="Hz", bounds=(0.0, None),
                                      inclusive=(False, True), doc="inhibitory rate constant")
    C: Float[Array, "*nodes"] = param(135.0, bounds=(0.0, None), doc="connectivity constant")
    a_1: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None),
                                        doc="C_1 / C: pyramidal to excitatory interneurons")
    a_2: Float[Array, "*nodes"] = param(0.8, bounds=(0.0, None),
                                        doc="C_2 / C: excitatory interneurons to pyramidal")
    a_3: Float[Array, "*nodes"] = param(0.25, bounds=(0.0, None),
                                        doc="C_3 / C: pyramidal to inhibitory interneurons")
    a_4: Float[Array, "*nodes"] = param(0.25, bounds=(0.0, None),
                                        doc="C_4 / C: inhibitory interneurons to pyramidal")
    e0: Float[Array, "*nodes"] = param(2.5, unit="Hz", doc="half the maximal firing rate")
    v0: Float[Array, "*nodes"] = param(6.0, unit="mV", doc="firing threshold")
    r: Float[Array, "*nodes"] = param(0.56, unit="1/mV", doc="sigmoid steepness")
    p: Float[Array, "*nodes"] = param(220.0, unit="Hz", doc="mean external pulse density")

    state_names: ClassVar[tuple[str, ...]] = ("y0", "y1", "y2", "y3", "y4", "y5")
    input_names: ClassVar[tuple[str, ...]] = ("y4",)
    default_cvar: ClassVar[str] = "y0"
    observables: ClassVar[tuple[str, ...]] = ("eeg",)
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "EEG generation, alpha rhythms"
    reference: ClassVar[str] = "Jansen & Rit (1995) Biol. Cybern. 73:357"

    def sigmoid(self, v: Array) -> Array:
        """$S(v)$, the population firing rate (per ms) at mean membrane potential `v` (mV)."""
        return 2 * self.e0 / 1000.0 / (1 + jnp.exp(self.r * (self.v0 - v)))

    def eeg(self, y: State) -> Array:
        """The EEG proxy $y_1 - y_2$ (mV)."""
        return y["y1"] - y["y2"]

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        a, b = self.a / 1000.0, self.b / 1000.0  # per ms
        c1, c2, c3, c4 = (k * self.C for k in (self.a_1, self.a_2, self.a_3, self.a_4))
        s = self.sigmoid
        return {
            "y0": y["y3"],
            "y1": y["y4"],
            "y2": y["y5"],
            "y3": self.A * a * s(y["y1"] - y["y2"]) - 2 * a * y["y3"] - a * a * y["y0"],
            "y4": self.A * a * (self.p / 1000.0 + inputs["y4"] + c2 * s(c1 * y["y0"]))
            - 2 * a * y["y4"] - a * a * y["y1"],
            "y5": self.B * b * c4 * s(c3 * y["y0"]) - 2 * b * y["y5"] - b * b * y["y2"],
        }

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        zeros = dict.fromkeys(self.state_names, 0.0)
        if key is None:
            return constant_state(shape, self.dtype, zeros)
        y = uniform_state(key, shape, self.dtype, {"y0": (0, 1), "y1": (0, 1), "y2": (0, 1)})
        y.update(constant_state(shape, self.dtype, {"y3": 0.0, "y4": 0.0, "y5": 0.0}))
        return {k: y[k] for k in self.state_names}


def _qif_rate(r_hz: Array, tau: Array) -> Array:
    """Dimensionless rate $R = \\tau r$ for $r$ in Hz and $\\tau$ in ms."""
    return tau * r_hz / 1000.0


@final
class MontbrioPazoRoxin(AbstractNeuralMass):
    r"""The exact mean field of a population of quadratic integrate-and-fire neurons with
    Lorentzian-distributed excitabilities (Montbrió, Pazó & Roxin 2015):

    $$\tau\dot r = \frac{\Delta}{\pi\tau} + 2 r v,\qquad
    \tau\dot v = v^2 + \bar\eta + J\tau r - (\pi\tau r)^2 + I(t).$$

    Every term of the rate equation is divided by $\tau$ (brainmass divides the $2rv$ term by
    1 ms instead, which is wrong for $\tau \ne 1$ ms: catalog §16.6). With the defaults
    ($\bar\eta = -5$, $\Delta = 1$, $J = 15$) the model is bistable: a low-activity focus and a
    high-activity state coexist (the paper's Fig. 1).

    **State:** `r` (Hz, population firing rate), `v` (dimensionless mean membrane potential).
    **Inputs:** `r` (Hz/ms) and `v` (per ms; a current $I$ enters as $u_v = I/\tau$).

    **Parameters:** `tau` 10 ms, `eta` -5 (mean excitability), `delta` 1 (half-width of the
    excitability distribution), `J` 15 (synaptic weight).

    **Initial state:** `r = 10 Hz, v = -2`; with a key, `r ~ U(0, 20)` Hz, `v ~ U(-2, 0)`.

    **Reference:** Montbrió, Pazó & Roxin (2015), *Macroscopic description for networks of
    spiking neurons*, Phys. Rev. X 5:021028, doi:10.1103/PhysRevX.5.021028.
    """

    tau: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="membrane time constant")
    eta: Float[Array, "*nodes"] = param(-5.0, doc="mean excitability")
    delta: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                          doc="half-width of the excitabilities")
    J: Float[Array, "*nodes"] = param(15.0, doc="recurrent synaptic weight")

    state_names: ClassVar[tuple[str, ...]] = ("r", "v")
    input_names: ClassVar[tuple[str, ...]] = ("r", "v")
    default_cvar: ClassVar[str] = "r"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Exact QIF mean-field (theta neurons)"
    reference: ClassVar[str] = "Montbrio, Pazo & Roxin (2015) Phys. Rev. X 5:021028"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        big_r, v = _qif_rate(y["r"], self.tau), y["v"]
        d_big_r = (self.delta / jnp.pi + 2 * big_r * v) / self.tau
        dv = (v * v + self.eta + self.J * big_r - (jnp.pi * big_r) ** 2) / self.tau
        return {"r": 1000.0 * d_big_r / self.tau + inputs["r"], "v": dv + inputs["v"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"r": 10.0, "v": -2.0})
        return uniform_state(key, shape, self.dtype, {"r": (0.0, 20.0), "v": (-2.0, 0.0)})


@final
class CoombesByrne(AbstractNeuralMass):
    r"""The next-generation neural mass of Coombes & Byrne: the QIF mean field with
    conductance-based synapses, in the units of `MontbrioPazoRoxin`:

    $$\tau\dot r = \frac{\Delta}{\pi\tau} + 2 r v - g r,\qquad
    \tau\dot v = v^2 - (\pi\tau r)^2 + \bar\eta + (v_\mathrm{syn} - v)\,g,\qquad
    g = k\pi\tau r.$$

    The synaptic drive is a conductance $g$ that pulls $v$ towards the reversal potential
    $v_\mathrm{syn}$ (shunting for $v_\mathrm{syn} < 0$). With $k = 0$ it is
    `MontbrioPazoRoxin` with $J = 0$ (tested).

    **State:** `r` (Hz), `v`. **Inputs:** `r` (Hz/ms), `v` (per ms).

    **Parameters:** `tau` 10 ms, `eta` 2, `delta` 1, `k` 1 (synaptic conductance scale),
    `v_syn` -4 (reversal potential).

    **Initial state:** `r = 10 Hz, v = 0`; with a key, `r ~ U(0, 20)` Hz, `v ~ U(-1, 1)`.

    **Reference:** Coombes & Byrne (2019), *Next generation neural mass models*, in Nonlinear
    Dynamics in Computational Neuroscience, Springer, doi:10.1007/978-3-319-71048-8_1.
    """

    tau: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="membrane time constant")
    eta: Float[Array, "*nodes"] = param(2.0, doc="mean excitability")
    delta: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                          doc="half-width of the excitabilities")
    k: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), doc="synaptic conductance scale")
    v_syn: Float[Array, "*nodes"] = param(-4.0, doc="synaptic reversal potential")

    state_names: ClassVar[tuple[str, ...]] = ("r", "v")
    input_names: ClassVar[tuple[str, ...]] = ("r", "v")
    default_cvar: ClassVar[str] = "r"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Next-gen mean-field, conductance synapses"
    reference: ClassVar[str] = "Coombes & Byrne (2019) doi:10.1007/978-3-319-71048-8_1"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        big_r, v = _qif_rate(y["r"], self.tau), y["v"]
        g = self.k * jnp.pi * big_r
        d_big_r = (self.delta / jnp.pi + 2 * big_r * v - g * big_r) / self.tau
        dv = (v * v - (jnp.pi * big_r) ** 2 + self.eta + (self.v_syn - v) * g) / self.tau
        return {"r": 1000.0 * d_big_r / self.tau + inputs["r"], "v": dv + inputs["v"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"r": 10.0, "v": 0.0})
        return uniform_state(key, shape, self.dtype, {"r": (0.0, 20.0), "v": (-1.0, 1.0)})
