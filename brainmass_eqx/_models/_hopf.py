import math
from typing import ClassVar, final

from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


@final
class Hopf(AbstractNeuralMass):
    r"""The normal form of a supercritical Hopf bifurcation (a Stuart-Landau oscillator).

    $$\begin{aligned}
    \frac{\mathrm{d}x}{\mathrm{d}t} &= (a - x^2 - y^2)\,x - \omega y + u_x(t),\\
    \frac{\mathrm{d}y}{\mathrm{d}t} &= (a - x^2 - y^2)\,y + \omega x + u_y(t).
    \end{aligned}$$

    In polar form $\dot r = r(a - r^2)$, $\dot\theta = \omega$: for $a < 0$ the origin is a stable
    focus (damped oscillations, the noise-driven regime used for resting-state fMRI); for $a > 0$
    it is unstable and every trajectory except the origin settles on the limit cycle of radius
    $\sqrt{a}$, turning at angular frequency $\omega$ (frequency $\omega / 2\pi$).

    **State:** `x`, `y` (dimensionless). **Inputs:** `x`, `y` (per ms).

    **Parameters:**

    - `a`: bifurcation parameter, per ms (default 0.25: a limit cycle of amplitude 0.5).
    - `omega`: angular frequency, rad/ms (default $2\pi \cdot 10$ Hz $= 0.0628$ rad/ms, alpha
      band). Pass e.g. `unxt.Quantity(40, "rad/s")` to use other units.

    **Initial state:** `x = 0.1, y = 0` (off the fixed point, so an undriven node with `a > 0`
    oscillates: brainmass's zero default never leaves the origin); with a key,
    `x, y ~ U(-0.1, 0.1)`.

    **Reference:** Kuznetsov (2004), *Elements of Applied Bifurcation Theory*, 3rd ed., §3.4;
    whole-brain use: Deco et al. (2017), *The dynamics of resting fluctuations in the brain:
    metastability and its dynamical cortical core*, Sci. Rep. 7:3095,
    doi:10.1038/s41598-017-03073-5.
    """

    a: Float[Array, "*nodes"] = param(0.25, unit="1/ms", doc="bifurcation parameter")
    omega: Float[Array, "*nodes"] = param(2 * math.pi * 0.01, unit="rad/ms",
                                          doc="angular frequency")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    input_names: ClassVar[tuple[str, ...]] = ("x", "y")
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Oscillation onset, rhythm generation"
    reference: ClassVar[str] = "Kuznetsov (2004); Deco et al. (2017) Sci. Rep. 7:3095"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        return stuart_landau_field(self.a, self.omega, 0.0, y, inputs)

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        return oscillator_initial_state(self, n_nodes, key)


def stuart_landau_field(a: Array, omega: Array, beta: Array | float, y: State, inputs: Inputs
                        ) -> State:
    r"""$\dot z = (a + i\omega) z - (1 + i\beta)|z|^2 z + u$ in Cartesian coordinates (shared
    by `Hopf`, where $\beta = 0$, and `StuartLandau`)."""
    x, v = y["x"], y["y"]
    r2 = x * x + v * v
    rotation = omega - beta * r2
    return {"x": (a - r2) * x - rotation * v + inputs["x"],
            "y": (a - r2) * v + rotation * x + inputs["y"]}


def oscillator_initial_state(model: AbstractNeuralMass, n_nodes: NodeShape,
                             key: PRNGKeyArray | None) -> State:
    """`x = 0.1, y = 0` (off the fixed point), or `x, y ~ U(-0.1, 0.1)` with a key."""
    shape = model.nodes_shape(n_nodes)
    if key is None:
        return constant_state(shape, model.dtype, {"x": 0.1, "y": 0.0})
    return uniform_state(key, shape, model.dtype, {"x": (-0.1, 0.1), "y": (-0.1, 0.1)})
