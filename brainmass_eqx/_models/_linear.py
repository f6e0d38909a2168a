from typing import ClassVar, final

from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


@final
class Linear(AbstractNeuralMass):
    r"""A leaky linear integrator: the simplest node, with a closed-form solution.

    $$\frac{\mathrm{d}x}{\mathrm{d}t} = -\frac{x}{\tau} + u_x(t).$$

    For a constant input $u$ and $x(0) = x_0$ the solution is

    $$x(t) = x_0 e^{-t/\tau} + u\tau\left(1 - e^{-t/\tau}\right),$$

    which makes it the reference for solver convergence and coupling sanity checks.

    **State:** `x` (arbitrary units). **Inputs:** `x` (units of $x$ per ms).

    **Parameters:**

    - `tau`: time constant, ms (default 10 ms, must be > 0).

    **Initial state:** `x = 0`; with a key, `x ~ U(-0.1, 0.1)`.

    The Virtual Brain's `Linear` model writes the same equation as $\dot x = \gamma x + u$ with
    $\gamma = -1/\tau$.

    **Reference:** the linear (first-order low-pass) neural field, e.g. Sanz-Leon et al. (2015),
    *Mathematical framework for large-scale brain network modeling in The Virtual Brain*,
    NeuroImage 111:385-430, doi:10.1016/j.neuroimage.2015.01.002.
    """

    tau: Float[Array, "*nodes"] = param(10.0, unit="ms", bounds=(0.0, None),
                                        inclusive=(False, True), doc="time constant")

    state_names: ClassVar[tuple[str, ...]] = ("x",)
    input_names: ClassVar[tuple[str, ...]] = ("x",)
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "phenomenological"
    use_case: ClassVar[str] = "Baseline node, analytic solution, coupling sanity checks"
    reference: ClassVar[str] = "Sanz-Leon et al. (2015) NeuroImage 111:385"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        return {"x": -y["x"] / self.tau + inputs["x"]}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"x": 0.0})
        return uniform_state(key, shape, self.dtype, {"x": (-0.1, 0.1)})
