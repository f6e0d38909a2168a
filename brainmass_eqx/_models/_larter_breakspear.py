from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


def _gate(v: Array, threshold: Array, width: Array) -> Array:
    return 0.5 * (1 + jnp.tanh((v - threshold) / width))


@final
class LarterBreakspear(AbstractNeuralMass):
    r"""The Larter-Breakspear conductance-based neural mass (Breakspear et al. 2003), in The
    Virtual Brain's form:

    $$\begin{aligned}
    \dot V &= t_s\big(-I_{Ca} - I_K - I_L - I_{Na} - a_{ie} Z Q_Z + a_{ne} I_\mathrm{ext}\big),\\
    \dot W &= t_s\,\phi\,\frac{m_K - W}{\tau_K},\qquad
    \dot Z = t_s\, b\,\big(a_{ni} I_\mathrm{ext} + a_{ei} V Q_V\big),
    \end{aligned}$$

    with gates $m_X = \tfrac12(1 + \tanh((V - T_X)/\delta_X))$, firing rates
    $Q_V = \tfrac12 Q_{V,\max}(1 + \tanh((V - V_T)/\delta_V))$ and
    $Q_Z = \tfrac12 Q_{Z,\max}(1 + \tanh((Z - Z_T)/\delta_Z))$, and currents

    $$\begin{aligned}
    I_{Ca} &= \big(g_{Ca} + (1 - C)\, r_{NMDA}\, a_{ee} Q_V + C\, r_{NMDA}\, a_{ee}\, u\big)\,
    m_{Ca} (V - V_{Ca}),\\
    I_{Na} &= \big(g_{Na} m_{Na} + (1 - C)\, a_{ee} Q_V + C\, a_{ee}\, u\big)(V - V_{Na}),\qquad
    I_K = g_K W (V - V_K),\qquad I_L = g_L (V - V_L).
    \end{aligned}$$

    The network input $u$ (the mean firing rate of the neighbours) replaces a fraction $C$ of the
    local excitatory drive. With the defaults the isolated node oscillates aperiodically
    (Breakspear et al. 2003, Fig. 2).

    **State:** `V` (mean pyramidal membrane potential), `W` (fraction of open K channels), `Z`
    (inhibitory membrane potential); dimensionless as in TVB. **Inputs:** `V`: the coupling
    $u$, entering only the $C$-weighted terms (not added to $\dot V$). **Observables:** `QV`,
    `QZ`.

    **Parameters** (TVB defaults): `gCa` 1.1, `gK` 2, `gL` 0.5, `gNa` 6.7, `TCa` -0.01, `TK` 0,
    `TNa` 0.3, `d_Ca` 0.15, `d_K` 0.3, `d_Na` 0.15, `VCa` 1, `VK` -0.7, `VL` -0.5, `VNa` 0.53,
    `phi` 0.7, `tau_K` 1, `aee` 0.4, `aei` 2, `aie` 2, `ane` 1, `ani` 0.4, `b` 0.1, `C` 0.1,
    `Iext` 0.3, `rNMDA` 0.25, `VT` 0, `d_V` 0.65, `ZT` 0, `d_Z` 0.7, `QV_max` 1, `QZ_max` 1,
    `t_scale` 1.

    **Initial state:** `V = W = Z = 0`; with a key, `V ~ U(-0.5, 0.5)`, `W ~ U(0, 0.5)`,
    `Z ~ U(-0.5, 0.5)`.

    **Reference:** Breakspear, Terry & Friston (2003), *Modulation of excitatory synaptic
    coupling facilitates synchronization and complex dynamics in a biophysical model of neuronal
    dynamics*, Network 14:703, doi:10.1088/0954-898X_14_4_305; Larter, Speelman & Worth (1999),
    Chaos 9:795.
    """

    gCa: Float[Array, "*nodes"] = param(1.1, doc="Ca conductance")
    gK: Float[Array, "*nodes"] = param(2.0, doc="K conductance")
    gL: Float[Array, "*nodes"] = param(0.5, doc="leak conductance")
    gNa: Float[Array, "*nodes"] = param(6.7, doc="Na conductance")
    TCa: Float[Array, "*nodes"] = param(-0.01, doc="Ca gate threshold")
    TK: Float[Array, "*nodes"] = param(0.0, doc="K gate threshold")
    TNa: Float[Array, "*nodes"] = param(0.3, doc="Na gate threshold")
    d_Ca: Float[Array, "*nodes"] = param(0.15, doc="Ca gate width")
    d_K: Float[Array, "*nodes"] = param(0.3, doc="K gate width")
    d_Na: Float[Array, "*nodes"] = param(0.15, doc="Na gate width")
    VCa: Float[Array, "*nodes"] = param(1.0, doc="Ca reversal potential")
    VK: Float[Array, "*nodes"] = param(-0.7, doc="K reversal potential")
    VL: Float[Array, "*nodes"] = param(-0.5, doc="leak reversal potential")
    VNa: Float[Array, "*nodes"] = param(0.53, doc="Na reversal potential")
    phi: Float[Array, "*nodes"] = param(0.7, doc="K relaxation temperature factor")
    tau_K: Float[Array, "*nodes"] = param(1.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="K relaxation time")
    aee: Float[Array, "*nodes"] = param(0.4, doc="excitatory-to-excitatory strength")
    aei: Float[Array, "*nodes"] = param(2.0, doc="excitatory-to-inhibitory strength")
    aie: Float[Array, "*nodes"] = param(2.0, doc="inhibitory-to-excitatory strength")
    ane: Float[Array, "*nodes"] = param(1.0, doc="non-specific-to-excitatory strength")
    ani: Float[Array, "*nodes"] = param(0.4, doc="non-specific-to-inhibitory strength")
    b: Float[Array, "*nodes"] = param(0.1, doc="inhibitory time-scale factor")
    C: Float[Array, "*nodes"] = param(0.1, bounds=(0.0, 1.0), doc="share of coupled drive")
    Iext: Float[Array, "*nodes"] = param(0.3, doc="non-specific external input")
    rNMDA: Float[Array, "*nodes"] = param(0.25, doc="NMDA to AMPA receptor ratio")
    VT: Float[Array, "*nodes"] = param(0.0, doc="excitatory firing threshold")
    d_V: Float[Array, "*nodes"] = param(0.65, doc="excitatory threshold spread")
    ZT: Float[Array, "*nodes"] = param(0.0, doc="inhibitory firing threshold")
    d_Z: Float[Array, "*nodes"] = param(0.7, doc="inhibitory threshold spread")
    QV_max: Float[Array, "*nodes"] = param(1.0, doc="maximal excitatory rate")
    QZ_max: Float[Array, "*nodes"] = param(1.0, doc="maximal inhibitory rate")
    t_scale: Float[Array, "*nodes"] = param(1.0, doc="time scale factor")

    state_names: ClassVar[tuple[str, ...]] = ("V", "W", "Z")
    input_names: ClassVar[tuple[str, ...]] = ("V",)
    default_cvar: ClassVar[str] = "V"
    observables: ClassVar[tuple[str, ...]] = ("QV", "QZ")
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Conductance-based limit cycles / chaos"
    reference: ClassVar[str] = "Breakspear, Terry & Friston (2003) Network 14:703"

    def QV(self, y: State) -> Array:
        """Excitatory firing rate $Q_V$."""
        return 0.5 * self.QV_max * (1 + jnp.tanh((y["V"] - self.VT) / self.d_V))

    def QZ(self, y: State) -> Array:
        """Inhibitory firing rate $Q_Z$."""
        return 0.5 * self.QZ_max * (1 + jnp.tanh((y["Z"] - self.ZT) / self.d_Z))

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        v, w, z, u = y["V"], y["W"], y["Z"], inputs["V"]
        qv, qz = self.QV(y), self.QZ(y)
        i_ca = ((self.gCa + (1 - self.C) * self.rNMDA * self.aee * qv
                 + self.C * self.rNMDA * self.aee * u)
                * _gate(v, self.TCa, self.d_Ca) * (v - self.VCa))
        i_na = ((self.gNa * _gate(v, self.TNa, self.d_Na) + (1 - self.C) * self.aee * qv
                 + self.C * self.aee * u) * (v - self.VNa))
        i_k = self.gK * w * (v - self.VK)
        i_l = self.gL * (v - self.VL)
        return {
            "V": self.t_scale * (-i_ca - i_k - i_l - i_na - self.aie * z * qz
                                 + self.ane * self.Iext),
            "W": self.t_scale * self.phi * (_gate(v, self.TK, self.d_K) - w) / self.tau_K,
            "Z": self.t_scale * self.b * (self.ani * self.Iext + self.aei * v * qv),
        }

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"V": 0.0, "W": 0.0, "Z": 0.0})
        return uniform_state(key, shape, self.dtype,
                             {"V": (-0.5, 0.5), "W": (0.0, 0.5), "Z": (-0.5, 0.5)})
