"""The contract every simulated system implements (`AbstractSystem`: single models and
networks alike), and the base class of neural-mass models (`AbstractNeuralMass`)."""

import abc
import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import check_key, name_param_converters


Category = Literal["phenomenological", "physiological", "network"]
NodeShape = int | tuple[int, ...] | None


class AbstractSystem(eqx.Module):
    r"""The contract that `simulate`, the monitors, the delay engine and `analysis` rely on,
    implemented by every neural-mass model and by [`brainmass_eqx.Network`][].

    A system has a state, a `dict` mapping each of `state_names` to an array shaped like its
    nodes, inputs named by `input_names`, and the dynamics

    $$\frac{\mathrm{d}y}{\mathrm{d}t} = f_\theta(t, y, u(t))$$

    (`vector_field`, $t$ in ms). `default_cvar` is the variable a network couples through and
    monitors read by default; `observables` name derived signals that `observe` evaluates.

    Subclass [`brainmass_eqx.AbstractNeuralMass`][] to write a model (it implements everything
    here but `vector_field` and `initial_state`); implement this class directly only for a new
    kind of composite system.
    """

    state_names: eqx.AbstractVar[tuple[str, ...]]
    input_names: eqx.AbstractVar[tuple[str, ...]]
    default_cvar: eqx.AbstractVar[str]
    observables: eqx.AbstractVar[tuple[str, ...]]

    @abc.abstractmethod
    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        """The right-hand side $f_\\theta(t, y, u)$: the time derivative (per ms) of each state
        variable, given the time `t` (ms), the state `y` and the `inputs` (every input name
        present)."""

    @abc.abstractmethod
    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        """An initial state: deterministic without `key`, a reproducible random one with it."""

    @property
    @abc.abstractmethod
    def node_shape(self) -> tuple[int, ...]:
        """The shape of every state array (the nodes)."""

    @property
    @abc.abstractmethod
    def dtype(self) -> Any:
        """The floating dtype of the parameters (the state is created in it)."""

    @abc.abstractmethod
    def nodes_shape(self, n_nodes: NodeShape = None) -> tuple[int, ...]:
        """Resolve an `n_nodes` argument (int, shape or `None`) to the node shape, checking
        it against the parameters; raise a `ValueError` naming `n_nodes` otherwise."""

    @abc.abstractmethod
    def observe(self, name: str, y: State) -> Array:
        """Read a state variable or a derived observable by `name`."""

    @abc.abstractmethod
    def zero_inputs(self, shape: tuple[int, ...] = ()) -> Inputs:
        """Every input set to zero (the undriven system)."""


class AbstractNeuralMass(AbstractSystem):
    r"""Base class of every neural-mass model: parameters as data, a pure vector field.

    A model is an immutable pytree of parameters. Each parameter is a field declared with
    [`brainmass_eqx.param`][], so it accepts a `unxt.Quantity` or a plain number in the canonical
    unit (ms, mV, Hz, mm, rad/ms), is stored as a float array, and may be one value per node.

    The state is a `dict` mapping each name in `state_names` to an array shaped like the nodes
    (`Float[Array, "*nodes"]`). The dynamics are

    $$\frac{\mathrm{d}y}{\mathrm{d}t} = f_\theta(t, y, u(t)),$$

    with $t$ in ms and $u$ the inputs (external drive or network coupling), a `dict` keyed by
    `input_names`; every input name is always present (zero when not driven).

    **Class metadata** (each concrete model sets all of them):

    - `state_names`: the state variables, in order.
    - `input_names`: the inputs accepted by `vector_field` (usually a subset of `state_names`:
      the input adds to that variable's derivative).
    - `default_cvar`: the variable a network couples through by default.
    - `observables`: names of methods `f(y) -> array` giving derived signals (e.g. an EEG proxy).
    - `category`: `"phenomenological"`, `"physiological"` or `"network"`.
    - `use_case`: one line for the catalogue.
    - `reference`: the primary reference.

    **Extending:** subclass, declare parameter fields with `param(...)`, set the metadata and
    implement `vector_field` and `initial_state`. Mark the class `@typing.final`.
    """

    state_names: eqx.AbstractClassVar[tuple[str, ...]]
    input_names: eqx.AbstractClassVar[tuple[str, ...]]
    default_cvar: eqx.AbstractClassVar[str]
    observables: eqx.AbstractClassVar[tuple[str, ...]]
    category: eqx.AbstractClassVar[Category]
    use_case: eqx.AbstractClassVar[str]
    reference: eqx.AbstractClassVar[str]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)

    def __check_init__(self):
        for f in dataclasses.fields(self):
            if f.metadata.get("flag") and not isinstance(getattr(self, f.name), bool):
                raise TypeError(f"`{type(self).__name__}.{f.name}` must be True or False, got "
                                f"{getattr(self, f.name)!r}.")
        shapes = {name: jnp.shape(v) for name, v in self.parameters().items()}
        try:
            jnp.broadcast_shapes(*shapes.values())
        except ValueError:
            per_node = {k: v for k, v in shapes.items() if v != ()}
            raise ValueError(
                f"The per-node parameters of {type(self).__name__} do not broadcast together: "
                f"{per_node}. Give each parameter a scalar or one value per node, with the same "
                "number of nodes."
            ) from None

    @abc.abstractmethod
    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        """The right-hand side $f_\\theta(t, y, u)$.

        **Arguments:**

        - `t`: time in ms.
        - `y`: the state, one array per name in `state_names`.
        - `inputs`: one array per name in `input_names` (broadcastable to the nodes).

        **Returns:** the time derivative of each state variable (per ms), same structure as `y`.
        """

    @abc.abstractmethod
    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        """An initial state for `n_nodes` nodes.

        **Arguments:**

        - `n_nodes`: an int, a shape tuple, or `None` for the shape the parameters broadcast to.
        - `key`: `None` gives the model's documented deterministic default; a PRNG key gives a
          reproducible random state around it.

        **Returns:** a `dict` of float arrays, one per `state_names` entry.
        """

    # ---------------------------------------------------------------- concrete helpers

    @classmethod
    def param_fields(cls) -> dict[str, Mapping[str, Any]]:
        """Metadata (`unit`, `bounds`, `doc`) of every parameter field, in declaration order."""
        return {f.name: f.metadata for f in dataclasses.fields(cls) if f.metadata.get("param")}

    def parameters(self) -> dict[str, Float[Array, "*nodes"]]:
        """The current parameter values (canonical units), keyed by field name."""
        return {name: getattr(self, name) for name in self.param_fields()}

    @property
    def node_shape(self) -> tuple[int, ...]:
        """The shape all parameters broadcast to (`()` when every parameter is a scalar)."""
        return jnp.broadcast_shapes(*(jnp.shape(v) for v in self.parameters().values()))

    def nodes_shape(self, n_nodes: NodeShape = None) -> tuple[int, ...]:
        """Resolve `n_nodes` (int, tuple or `None`) to a node shape, checking that the
        per-node parameters broadcast against it."""
        if n_nodes is None:
            return self.node_shape
        shape = node_shape_of(n_nodes)
        try:
            out = jnp.broadcast_shapes(shape, self.node_shape)
        except ValueError as e:
            raise ValueError(
                f"`n_nodes`={n_nodes!r} does not match the per-node parameters of "
                f"{type(self).__name__}, which have shape {self.node_shape}."
            ) from e
        if out != shape:
            raise ValueError(
                f"`n_nodes`={n_nodes!r} is smaller than the per-node parameters of "
                f"{type(self).__name__} (shape {self.node_shape})."
            )
        return shape

    @property
    def dtype(self) -> jnp.dtype:
        """The floating dtype of the parameters (the state is created in it)."""
        values = list(self.parameters().values())
        return jnp.result_type(*values) if values else jnp.result_type(float)

    def observe(self, name: str, y: State) -> Float[Array, "*nodes"]:
        """Read a state variable or a derived observable by name."""
        if name in self.state_names:
            return y[name]
        if name in self.observables:
            return getattr(self, name)(y)
        raise ValueError(
            f"{type(self).__name__} has no state or observable named {name!r}. "
            f"States: {self.state_names}; observables: {self.observables}."
        )

    def zero_inputs(self, shape: tuple[int, ...] = ()) -> Inputs:
        """All inputs set to zero (the undriven node)."""
        return {k: jnp.zeros(shape, self.dtype) for k in self.input_names}


def flag(default: bool, *, doc: str) -> Any:
    """Declare a static on/off switch of a model's equations (e.g. `shift_sigmoid`): part of the
    compiled structure, not a differentiable parameter; anything but a `bool` is a `TypeError`.
    `doc` is one line for the docs."""
    return eqx.field(default=default, static=True, metadata=dict(flag=True, doc=doc))


def node_shape_of(n_nodes: Any) -> tuple[int, ...]:
    """`n_nodes` (a positive int or a tuple of them) as a shape; a `ValueError` naming
    `n_nodes` otherwise."""
    def whole(x):
        return isinstance(x, int | np.integer) and not isinstance(x, bool) and x >= 1

    if whole(n_nodes):
        return (int(n_nodes),)
    if isinstance(n_nodes, tuple | list) and all(whole(s) for s in n_nodes):
        return tuple(int(s) for s in n_nodes)
    raise ValueError(f"`n_nodes` must be a positive int or a tuple of them (a shape), got "
                     f"{n_nodes!r}.")


def uniform_state(key: PRNGKeyArray, shape: tuple[int, ...], dtype: Any,
                  bounds: Mapping[str, tuple[float, float]]) -> State:
    """Independent uniform draws for each state variable (helper for `initial_state`)."""
    check_key(key)
    keys = jax.random.split(key, len(bounds))
    return {
        name: jax.random.uniform(k, shape, dtype, minval=lo, maxval=hi)
        for k, (name, (lo, hi)) in zip(keys, bounds.items())
    }


def constant_state(shape: tuple[int, ...], dtype: Any, values: Mapping[str, float]) -> State:
    """Each state variable filled with a constant (helper for `initial_state`)."""
    return {name: jnp.full(shape, v, dtype) for name, v in values.items()}


