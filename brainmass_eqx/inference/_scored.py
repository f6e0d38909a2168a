r"""Simulators that also return the joint score $\nabla_\theta \log p(x, z \mid \theta)$: the
differentiable-simulator advantage for posterior estimation (Brehmer et al. 2020, "mining
gold"), used by `NPE(score_weight=...)`."""

import abc
from collections.abc import Callable
from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractScoredSimulator(eqx.Module):
    """A simulator `simulator(theta, key) -> x` that can also return the joint score of its
    output (`with_score(theta, key) -> (x, score)`, the same `x` for the same key)."""

    @abc.abstractmethod
    def __call__(self, theta: Float[Array, " dim"], key: PRNGKeyArray) -> Array:
        """One simulation."""

    @abc.abstractmethod
    def with_score(self, theta: Float[Array, " dim"], key: PRNGKeyArray
                   ) -> tuple[Array, Float[Array, " dim"]]:
        """One simulation and its joint score."""


@final
class GaussianObservation(AbstractScoredSimulator):
    r"""A simulator observed with Gaussian measurement noise,
    $x = g(\theta, z) + s\,\varepsilon$, $\varepsilon \sim \mathcal N(0, I)$, where
    $g$ = `simulator` (any differentiable `simulator(theta, key)`, e.g. `simulate` + a
    summary) and its latent noise $z$ is drawn from the key, independently of $\theta$.

    Then $p(x, z \mid \theta) = p(z)\,\mathcal N(x; g(\theta, z), s^2 I)$ and the joint score
    is exact and costs one reverse pass through the simulator:

    $$t(x, z \mid \theta) = \nabla_\theta \log p(x, z \mid \theta)
      = J_g(\theta, z)^\top \frac{x - g(\theta, z)}{s^2}.$$

    Its expectation given $(x, \theta)$ is the likelihood score
    $\nabla_\theta \log p(x \mid \theta)$, which is what makes it a valid training target.
    `scale` ($s$, in the units of $g$'s output) is a number or one per feature (a tuple).
    """

    simulator: Callable = eqx.field(static=True)
    scale: float | tuple[float, ...] = eqx.field(static=True)

    def __init__(self, simulator: Callable, scale: float | tuple[float, ...]):
        if not callable(simulator):
            raise TypeError(f"`simulator` must be callable as simulator(theta, key), got "
                            f"{simulator!r}.")
        values = scale if isinstance(scale, tuple | list) else (scale,)
        if not all(float(v) > 0 for v in values):
            raise ValueError(f"`scale` must be positive, got {scale}.")
        self.simulator = simulator
        self.scale = tuple(float(v) for v in scale) if isinstance(scale, tuple | list) \
            else float(scale)

    def _noise(self, key: PRNGKeyArray, like: Array) -> tuple[Array, Array]:
        s = jnp.broadcast_to(jnp.asarray(self.scale, like.dtype), like.shape)
        return s, s * jax.random.normal(key, like.shape, like.dtype)

    def __call__(self, theta, key):
        k_sim, k_obs = jax.random.split(key)
        g = jnp.asarray(self.simulator(theta, k_sim))
        return g + self._noise(k_obs, g)[1]

    def with_score(self, theta, key):
        k_sim, k_obs = jax.random.split(key)
        g, pullback = jax.vjp(lambda th: jnp.asarray(self.simulator(th, k_sim)), theta)
        s, noise = self._noise(k_obs, g)
        (score,) = pullback(noise / s**2)  # (x - g) / s^2
        return g + noise, score
