from typing import ClassVar, final

import jax.numpy as jnp
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


@final
class Epileptor(AbstractNeuralMass):
    r"""The Epileptor: a phenomenological model of seizure onset and offset (Jirsa et al. 2014),
    in The Virtual Brain's form, with every parameter of TVB's `Epileptor`:

    $$\begin{aligned}
    \dot x_1 &= t_t\big(y_1 - f_1(x_1, x_2, z) - z + I_{\mathrm{ext}} + K_{vf} u_{x_1}\big),\qquad
    \dot y_1 = t_t\,(c - d x_1^2 - y_1),\\
    \dot z &= t_t\,r\,\big(h(x_1, z) - z + K_s u_z\big),\\
    \dot x_2 &= t_t\big(-y_2 + x_2 - x_2^3 + I_{\mathrm{ext}2} + b_b\, g - 0.3(z - 3.5)
    + K_f u_{x_2}\big),\qquad
    \dot y_2 = t_t\,\frac{-y_2 + f_2(x_2)}{\tau},\\
    \dot g &= -0.01\,t_t\,(g - 0.1 x_1),
    \end{aligned}$$

    with $f_1 = a x_1^3 - b x_1^2$ for $x_1 < 0$ and $(x_2 - 0.6(z - 4)^2 - s)\,x_1$ otherwise
    ($s$ the `slope`), $f_2 = a_a(x_2 + 0.25)$ for $x_2 \ge -0.25$ and 0 otherwise, and
    $h = 4(x_1 - x_0) + z_{nl}$, $z_{nl} = -0.1 z^7$ for $z < 0$ — or, with `modification`,
    the nonlinear $h = x_0 + 3 / (1 + e^{-(x_1 + 0.5)/0.1})$ (Proix et al. 2014). The slow
    permittivity variable $z$ (time scale $1/r$) drives the fast subsystem through seizure onset
    (saddle-node) and offset (homoclinic) bifurcations: with the excitability $x_0$ above about
    $-2.05$ seizure-like events recur; below it the node stays interictal. The LFP proxy is
    $x_2 - x_1$ (observable `lfp`); `tt` rescales time as a whole.

    Network coupling enters through the inputs, each with its gain `Kvf`, `Ks`, `Kf` at the
    place TVB (and Proix et al. 2014) put it — the slow coupling inside the $r(\cdot)$ of
    $\dot z$. The gains default to 1, not to TVB's 0: zero gains silently discard coupling
    (brainmass inherits them, catalog §16.14), so to reproduce TVB set them to TVB's values.
    Couple the slow variable (Proix et al. 2014) with `DiffusiveCoupling(k=-K, cvar="x1",
    target="z")`, or the fast ones through `x1`/`x2`.

    **State:** `x1`, `y1`, `z`, `x2`, `y2`, `g` (dimensionless; time in ms as in TVB).
    **Inputs:** `x1`, `x2` (per ms), `z` (dimensionless: a shift of the slow equation's
    target).

    **Parameters** (TVB defaults but the gains): `x0` -1.6, `Iext` 3.1, `Iext2` 0.45, `r`
    0.00035 /ms, `a` 1, `b` 3, `c` 1, `d` 5, `aa` 6, `bb` 2, `tau` 10 ms, `slope` 0, `tt` 1,
    `Kvf` 1, `Ks` 1, `Kf` 1 (TVB: 0), `modification` False.

    **Initial state:** `(x1, y1, z, x2, y2, g) = (-1.5, -10, 3, -1, 0, 0)`; with a key, a
    uniform perturbation of ±0.1.

    **Reference:** Jirsa, Stacey, Quilichini, Ivanov & Bernard (2014), *On the nature of
    seizure dynamics*, Brain 137:2210, doi:10.1093/brain/awu133; coupling and the modification:
    Proix, Bartolomei, Chauvel, Bernard & Jirsa (2014), J. Neurosci. 34:15009,
    doi:10.1523/JNEUROSCI.1570-14.2014.
    """

    x0: Float[Array, "*nodes"] = param(-1.6, doc="excitability")
    Iext: Float[Array, "*nodes"] = param(3.1, doc="external input, first subsystem")
    Iext2: Float[Array, "*nodes"] = param(0.45, doc="external input, second subsystem")
    r: Float[Array, "*nodes"] = param(0.00035, unit="1/ms", bounds=(0.0, None),
                                      doc="rate of the slow variable")
    a: Float[Array, "*nodes"] = param(1.0, doc="cubic coefficient of f1")
    b: Float[Array, "*nodes"] = param(3.0, doc="quadratic coefficient of f1")
    c: Float[Array, "*nodes"] = param(1.0, doc="y1 constant")
    d: Float[Array, "*nodes"] = param(5.0, doc="y1 quadratic coefficient")
    aa: Float[Array, "*nodes"] = param(6.0, doc="slope of f2")
    bb: Float[Array, "*nodes"] = param(2.0, doc="g feedback onto x2")
    tau: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="time constant of y2")
    slope: Float[Array, "*nodes"] = param(0.0, doc="linear term of f1 for x1 >= 0")
    tt: Float[Array, "*nodes"] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                       doc="time scaling of the whole system")
    Kvf: Float[Array, "*nodes"] = param(1.0, doc="gain of the x1 input (TVB default 0)")
    Ks: Float[Array, "*nodes"] = param(1.0, doc="gain of the slow z input (TVB default 0)")
    Kf: Float[Array, "*nodes"] = param(1.0, doc="gain of the x2 input (TVB default 0)")
    modification: bool = flag(False, doc="the nonlinear slow target h = x0 + 3/(1 + "
                              "exp(-(x1 + 0.5)/0.1)) of Proix et al. (2014)")

    state_names: ClassVar[tuple[str, ...]] = ("x1", "y1", "z", "x2", "y2", "g")
    input_names: ClassVar[tuple[str, ...]] = ("x1", "z", "x2")
    default_cvar: ClassVar[str] = "x1"
    observables: ClassVar[tuple[str, ...]] = ("lfp",)
    category: ClassVar[Category] = "physiological"
    use_case: ClassVar[str] = "Seizure onset/offset, epilepsy"
    reference: ClassVar[str] = "Jirsa et al. (2014) Brain 137:2210"

    _init: ClassVar[dict[str, float]] = {"x1": -1.5, "y1": -10.0, "z": 3.0, "x2": -1.0,
                                         "y2": 0.0, "g": 0.0}

    def lfp(self, y: State) -> Array:
        """The LFP proxy $x_2 - x_1$."""
        return y["x2"] - y["x1"]

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x1, y1, z, x2, y2, g = (y[k] for k in self.state_names)
        f1 = jnp.where(x1 < 0, self.a * x1**3 - self.b * x1**2,
                       (x2 - 0.6 * (z - 4.0) ** 2 - self.slope) * x1)
        if self.modification:
            h = self.x0 + 3.0 / (1.0 + jnp.exp(-(x1 + 0.5) / 0.1))
        else:
            h = 4 * (x1 - self.x0) + jnp.where(z < 0, -0.1 * z**7, jnp.zeros_like(z))
        f2 = jnp.where(x2 >= -0.25, self.aa * (x2 + 0.25), jnp.zeros_like(x2))
        tt = self.tt
        return {
            "x1": tt * (y1 - f1 - z + self.Iext + self.Kvf * inputs["x1"]),
            "y1": tt * (self.c - self.d * x1**2 - y1),
            "z": tt * self.r * (h - z + self.Ks * inputs["z"]),
            "x2": tt * (-y2 + x2 - x2**3 + self.Iext2 + self.bb * g - 0.3 * (z - 3.5)
                        + self.Kf * inputs["x2"]),
            "y2": tt * (-y2 + f2) / self.tau,
            "g": -0.01 * tt * (g - 0.1 * x1),
        }

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, self._init)
        return uniform_state(key, shape, self.dtype,
                             {k: (v - 0.1, v + 0.1) for k, v in self._init.items()})
