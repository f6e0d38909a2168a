"""Harmonic oscillator recurrent networks (HORN; Effenberger, Carvalho, Dubinin & Singer 2023)."""

import math
from typing import ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._types import Inputs, RealScalarLike, State
from .._core._units import param
from ._base import AbstractNeuralMass, Category, NodeShape, constant_state, uniform_state


@final
class HORNCell(AbstractNeuralMass):
    r"""One HORN unit: a damped harmonic oscillator driven through a saturating nonlinearity,

    $$\ddot x + 2\gamma\dot x + \omega^2 x = \alpha\tanh(u + v x),$$

    written as $\dot x = y$, $\dot y = \alpha\tanh(u + v x) - \omega^2 x - 2\gamma y$. Without
    drive the unit rings at the damped frequency $\sqrt{\omega^2 - \gamma^2}$ with amplitude
    decaying like $e^{-\gamma t}$; a constant drive $u$ shifts its rest point to
    $x^* = \alpha\tanh(u + v x^*)/\omega^2$.

    **State:** `x` (position), `y` (velocity, per ms). **Inputs:** `x`: the drive $u$ inside the
    nonlinearity (not added to $\dot x$).

    **Parameters:** `alpha` 0.04 (drive gain, per ms²), `omega` $2\pi/28$ rad/ms (natural
    frequency: period 28 ms), `gamma` 0.01 per ms (damping), `v` 0 (position feedback).

    **Initial state:** `x = y = 0`; with a key, `x ~ U(-0.1, 0.1)`, `y = 0`.

    **Reference:** Effenberger, Carvalho, Dubinin & Singer (2023), *A biology-inspired
    recurrent oscillator network for computations in high-dimensional state space*, bioRxiv,
    doi:10.1101/2022.11.29.518360.
    """

    alpha: Float[Array, "*nodes"] = param(0.04, unit="1/ms^2", doc="drive gain")
    omega: Float[Array, "*nodes"] = param(2 * math.pi / 28.0, unit="rad/ms",
                                          doc="natural angular frequency")
    gamma: Float[Array, "*nodes"] = param(0.01, unit="1/ms", bounds=(0.0, None), doc="damping")
    v: Float[Array, "*nodes"] = param(0.0, doc="position feedback into the drive")

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    input_names: ClassVar[tuple[str, ...]] = ("x",)
    default_cvar: ClassVar[str] = "x"
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[Category] = "network"
    use_case: ClassVar[str] = "Single coupled-oscillator step"
    reference: ClassVar[str] = "Effenberger et al. (2023) doi:10.1101/2022.11.29.518360"

    def vector_field(self, t: RealScalarLike, y: State, inputs: Inputs) -> State:
        del t
        x, vel = y["x"], y["y"]
        drive = self.alpha * jnp.tanh(inputs["x"] + self.v * x)
        return {"x": vel, "y": drive - self.omega**2 * x - 2 * self.gamma * vel}

    def initial_state(self, n_nodes: NodeShape = None, *, key: PRNGKeyArray | None = None
                      ) -> State:
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return constant_state(shape, self.dtype, {"x": 0.0, "y": 0.0})
        y = uniform_state(key, shape, self.dtype, {"x": (-0.1, 0.1)})
        y["y"] = jnp.zeros(shape, self.dtype)
        return y


def _kaiming(key: PRNGKeyArray, shape: tuple[int, int]) -> Array:
    return jax.random.normal(key, shape) * math.sqrt(2.0 / shape[1])


@final
class HORNSeqLayer(eqx.Module):
    r"""A layer of `n_hidden` HORN units reading an input sequence:

    $$\begin{aligned}
    u_t &= W_{ih} s_t + b_{ih} + W_{hh} y_t + b_{hh},\\
    y_{t+1} &= y_t + h\big(\alpha\tanh(u_t + v x_t) - \omega^2 x_t - 2\gamma y_t\big),\qquad
    x_{t+1} = x_t + h\,y_{t+1},
    \end{aligned}$$

    the symplectic-Euler discretisation of `HORNCell` used by Effenberger et al., with the
    recurrence reading the velocities $y$. `__call__` maps one sequence `(time, n_input)` to the
    positions `(time, n_hidden)`; there is no hidden state stored on the module and no batch
    argument: batch with `jax.vmap` (brainmass's batched initialisation bug cannot happen).

    **Arguments:** `n_input`, `n_hidden`, `key` (Kaiming-normal weights, zero biases), the cell
    parameters `alpha`, `omega`, `gamma`, `v` (scalars or one per unit) and `dt` (ms per
    sequence step, default 1).

    **Reference:** Effenberger et al. (2023), doi:10.1101/2022.11.29.518360.
    """

    w_ih: Float[Array, "hidden input"]
    b_ih: Float[Array, " hidden"]
    w_hh: Float[Array, "hidden hidden"]
    b_hh: Float[Array, " hidden"]
    cell: HORNCell
    dt: float = eqx.field(static=True)

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    category: ClassVar[Category] = "network"
    use_case: ClassVar[str] = "Sequential HORN layer"

    def __init__(self, n_input: int, n_hidden: int, *, key: PRNGKeyArray, alpha=0.04,
                 omega=2 * math.pi / 28.0, gamma=0.01, v=0.0, dt: float = 1.0):
        if n_input < 1 or n_hidden < 1:
            raise ValueError("`n_input` and `n_hidden` must be positive.")
        k_ih, k_hh = jax.random.split(key)
        self.w_ih = _kaiming(k_ih, (n_hidden, n_input))
        self.b_ih = jnp.zeros(n_hidden)
        self.w_hh = _kaiming(k_hh, (n_hidden, n_hidden))
        self.b_hh = jnp.zeros(n_hidden)
        self.cell = HORNCell(alpha=alpha, omega=omega, gamma=gamma, v=v)
        self.dt = float(dt)

    @property
    def n_hidden(self) -> int:
        return self.b_ih.shape[0]

    def __call__(self, inputs: Float[Array, "time input"]) -> Float[Array, "time hidden"]:
        if inputs.ndim != 2 or inputs.shape[1] != self.w_ih.shape[1]:
            raise ValueError(
                f"`inputs` must have shape (time, {self.w_ih.shape[1]}), got {inputs.shape}; "
                "batch with jax.vmap."
            )
        c, h = self.cell, self.dt
        zero = jnp.zeros(self.n_hidden, inputs.dtype)

        def step(carry, s):
            x, y = carry
            u = self.w_ih @ s + self.b_ih + self.w_hh @ y + self.b_hh
            y = y + h * (c.alpha * jnp.tanh(u + c.v * x) - c.omega**2 * x - 2 * c.gamma * y)
            x = x + h * y
            return (x, y), x

        _, xs = jax.lax.scan(step, (zero, zero), inputs)
        return xs


@final
class HORNSeqNetwork(eqx.Module):
    """Stacked `HORNSeqLayer`s (each layer reads the previous layer's positions) and a linear
    readout of the last layer's final positions: `(time, n_input) -> (n_output,)` logits.

    **Arguments:** `n_input`, `n_hidden` (an int or a list, one per layer), `n_output`, `key`,
    and the layer keyword arguments. Batch with `jax.vmap`.
    """

    layers: tuple[HORNSeqLayer, ...]
    readout: eqx.nn.Linear

    state_names: ClassVar[tuple[str, ...]] = ("x", "y")
    category: ClassVar[Category] = "network"
    use_case: ClassVar[str] = "Multi-layer HORN sequence network"

    def __init__(self, n_input: int, n_hidden: int | list[int], n_output: int, *,
                 key: PRNGKeyArray, **layer_kwargs):
        sizes = [n_hidden] if isinstance(n_hidden, int) else list(n_hidden)
        keys = jax.random.split(key, len(sizes) + 1)
        layers, n_in = [], n_input
        for k, n in zip(keys[:-1], sizes):
            layers.append(HORNSeqLayer(n_in, n, key=k, **layer_kwargs))
            n_in = n
        self.layers = tuple(layers)
        self.readout = eqx.nn.Linear(n_in, n_output, key=keys[-1])

    @staticmethod
    def connection_weights(net: "HORNSeqNetwork") -> tuple[Array, ...]:
        """Every weight and bias (input, recurrent, readout), not the oscillator parameters:
        the usual trainable set, e.g. `bmx.train(net, ..., where=HORNSeqNetwork.
        connection_weights)` (training `omega`/`gamma` as well tends to destabilise the
        oscillators)."""
        out: list[Array] = []
        for layer in net.layers:
            out += [layer.w_ih, layer.b_ih, layer.w_hh, layer.b_hh]
        out.append(net.readout.weight)
        if net.readout.bias is not None:
            out.append(net.readout.bias)
        return tuple(out)

    def hidden(self, inputs: Float[Array, "time input"]) -> list[Float[Array, "time hidden"]]:
        """Every layer's position sequence."""
        out, h = [], inputs
        for layer in self.layers:
            h = layer(h)
            out.append(h)
        return out

    def __call__(self, inputs: Float[Array, "time input"]) -> Float[Array, " output"]:
        return self.readout(self.hidden(inputs)[-1][-1])
