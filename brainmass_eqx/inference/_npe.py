r"""Neural posterior estimation: a conditional normalizing flow (flowjax) $q_\phi(\theta \mid x)$
trained on a simulation bank by maximum likelihood, in the prior's unconstrained space, with a
validation split and early stopping; truncated sequential rounds (TSNPE) for one observation.

References: Papamakarios & Murray 2016; Greenberg et al. 2019 (NPE); Deistler et al. 2022
(truncated sequential NPE).
"""

import abc
import functools
from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flowjax import bijections as fb, distributions as fd, flows
from flowjax.train import fit_to_data
from jaxtyping import Array, Float, PRNGKeyArray

from ._bank import Bank, simulate_bank
from ._priors import JointPrior, as_joint


def _flowjax(fn: Callable) -> Callable:
    """Run `fn` with numpy's implicit rank and dtype promotion: flowjax relies on them, and a
    user's `jax_numpy_rank_promotion="raise"` or strict dtype promotion must not break the
    flows."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with jax.numpy_rank_promotion("allow"), jax.numpy_dtype_promotion("standard"):
            return fn(*args, **kwargs)

    return wrapped


class AbstractFlow(eqx.Module):
    """How to build the conditional flow: `build(key, dim, cond_dim)` returns a flowjax
    distribution over `(dim,)` conditioned on `(cond_dim,)`."""

    @abc.abstractmethod
    def build(self, key: PRNGKeyArray, dim: int, cond_dim: int) -> fd.AbstractDistribution:
        """The untrained flow."""


@final
class MaskedAutoregressiveFlow(AbstractFlow):
    """A masked autoregressive flow (Papamakarios et al. 2017) with affine transformers
    (`flowjax.flows.masked_autoregressive_flow`)."""

    layers: int = 5
    width: int = 50
    depth: int = 1

    @_flowjax
    def build(self, key, dim, cond_dim):
        return flows.masked_autoregressive_flow(
            key, base_dist=fd.Normal(jnp.zeros(dim)), cond_dim=cond_dim,
            flow_layers=self.layers, nn_width=self.width, nn_depth=self.depth)


@final
class SplineCouplingFlow(AbstractFlow):
    """A coupling flow with rational-quadratic spline transformers (Durkan et al. 2019) on
    `[-interval, interval]` (identity outside), `knots` knots; needs `dim >= 2`."""

    layers: int = 5
    knots: int = 8
    interval: float = 5.0
    width: int = 50
    depth: int = 1

    @_flowjax
    def build(self, key, dim, cond_dim):
        if dim < 2:
            raise ValueError("SplineCouplingFlow needs at least two parameters; use "
                             "MaskedAutoregressiveFlow for one.")
        return flows.coupling_flow(
            key, base_dist=fd.Normal(jnp.zeros(dim)), cond_dim=cond_dim,
            transformer=fb.RationalQuadraticSpline(knots=self.knots, interval=self.interval),
            flow_layers=self.layers, nn_width=self.width, nn_depth=self.depth)


class _Density(eqx.Module):
    flow: fd.AbstractDistribution
    embedding: Callable | None

    def condition(self, xs: Array) -> Array:
        xs = xs.reshape(xs.shape[0], -1) if xs.ndim > 1 else xs.reshape(1, -1)
        return xs if self.embedding is None else jax.vmap(self.embedding)(xs)

    def log_prob(self, zs: Array, xs: Array) -> Array:
        return self.flow.log_prob(zs, self.condition(xs))


class _Loss(eqx.Module):
    r"""$-\overline{\log q(z\mid x)}$, plus `score_weight` times the mean squared distance
    between the flow's score $\nabla_z \log q(z\mid x)$ and the target score when the data
    carry one (a third array)."""

    score_weight: float = 0.0

    def __call__(self, params, static, zs, xs, *target, key=None):
        density = eqx.combine(params, static)
        cond = density.condition(xs)
        nll = -jnp.mean(density.flow.log_prob(zs, cond))
        if not target:
            return nll
        score = jax.vmap(jax.grad(lambda z, c: density.flow.log_prob(z, c)))(zs, cond)
        return nll + self.score_weight * jnp.mean(jnp.sum((score - target[0]) ** 2, axis=1))


def _target_scores(prior: JointPrior, z_scale: "_Standardise", zs: Array, t: Array) -> Array:
    r"""The posterior score in the flow's variables $u$ (standardised unconstrained):
    $\nabla_u[\log p_u(u)] + J^\top t$, with $p_u$ the prior carried to $u$ and
    $J = \partial\theta/\partial u$, from the joint score $t$ in $\theta$."""

    def one(u, t_i):
        def f(u):
            z = z_scale.undo(u)
            theta = prior.from_unconstrained(z)
            return (prior.log_prob(theta) + prior.log_det_jacobian(z)
                    + jnp.dot(jax.lax.stop_gradient(t_i), theta))

        return jax.grad(f)(u)

    return jax.jit(jax.vmap(one))(zs, t)


class _Standardise(eqx.Module):
    mean: Array
    std: Array

    @staticmethod
    def of(a: np.ndarray) -> "_Standardise":
        mean, std = a.mean(axis=0), a.std(axis=0)
        return _Standardise(jnp.asarray(mean), jnp.asarray(np.where(std > 0, std, 1.0)))

    def __call__(self, a: Array) -> Array:
        return (a - jnp.broadcast_to(self.mean, a.shape)) / jnp.broadcast_to(self.std, a.shape)

    def undo(self, a: Array) -> Array:
        return a * jnp.broadcast_to(self.std, a.shape) + jnp.broadcast_to(self.mean, a.shape)


@final
class Posterior(eqx.Module):
    r"""An amortized posterior $q(\theta \mid x)$: `sample(x_obs, n, key)` and
    `log_prob(theta, x_obs)` for any observation of the bank's shape; samples always lie in
    the prior's support (the flow lives in its unconstrained space $z$, and
    $\log q(\theta\mid x) = \log q_z(z\mid x) - \log\lvert\det\partial\theta/\partial z\rvert$).

    `history` holds the training and validation losses per epoch.
    """

    prior: JointPrior
    density: _Density
    x_scale: _Standardise
    z_scale: _Standardise
    x_shape: tuple[int, ...] = eqx.field(static=True)
    history: dict

    def _x(self, x_obs: Any) -> Array:
        x = jnp.asarray(x_obs)
        if x.shape != self.x_shape:
            raise ValueError(f"`x_obs` must have the bank's output shape {self.x_shape}, got "
                             f"{x.shape}; vmap over several observations.")
        return self.x_scale(x.reshape(-1))

    def sample(self, x_obs: Float[Array, " *features"], n: int, key: PRNGKeyArray
               ) -> Float[Array, " n dim"]:
        r"""`n` draws from $q(\theta \mid x_\text{obs})$ (compiled once per shape)."""
        self._x(x_obs)  # shape check outside the compiled function: a clear error
        return _sample(self, jnp.asarray(x_obs), n, key)

    def log_prob(self, theta: Float[Array, " *batch dim"], x_obs: Float[Array, " *features"]
                 ) -> Float[Array, " *batch"]:
        r"""$\log q(\theta \mid x_\text{obs})$; $-\infty$ outside the prior's support."""
        theta = jnp.asarray(theta)
        if theta.ndim < 1 or theta.shape[-1] != self.prior.dim:
            raise ValueError(f"`theta` must end in the prior's dim {self.prior.dim}, got shape "
                             f"{theta.shape}.")
        self._x(x_obs)
        return _log_prob(self, theta, jnp.asarray(x_obs))

    @_flowjax
    def _sample(self, x_obs: Array, n: int, key: PRNGKeyArray) -> Array:
        cond = self.density.condition(self._x(x_obs)[None])[0]
        zs = self.density.flow.sample(key, (n,), condition=cond)
        z = self.z_scale.undo(zs)
        return jax.vmap(self.prior.from_unconstrained)(z)

    @_flowjax
    def _log_prob(self, theta: Array, x_obs: Array) -> Array:
        flat = theta.reshape(-1, self.prior.dim)
        cond = self.density.condition(self._x(x_obs)[None])[0]

        def one(th):
            inside = self.prior.in_support(th)
            safe = jnp.where(inside, th, self.prior.mean)
            z = self.prior.to_unconstrained(safe)
            lq = self.density.flow.log_prob(self.z_scale(z), cond) - jnp.sum(
                jnp.log(self.z_scale.std)) - self.prior.log_det_jacobian(z)
            return jnp.where(inside, lq, -jnp.inf)

        return jax.vmap(one)(flat).reshape(theta.shape[:-1])

    def sample_many(self, xs: Float[Array, " m *features"], n: int, key: PRNGKeyArray
                    ) -> Float[Array, " m n dim"]:
        """`n` samples for each of `m` observations (one compiled, vmapped call)."""
        xs = jnp.asarray(xs)
        if xs.shape[1:] != self.x_shape:
            raise ValueError(f"`xs` must be (m, *{self.x_shape}), got shape {xs.shape}.")
        return _sample_many(self, jnp.asarray(xs), n, jax.random.split(key, xs.shape[0]))


@eqx.filter_jit
def _log_prob(posterior: Posterior, theta: Array, x: Array) -> Array:
    return posterior._log_prob(theta, x)


@eqx.filter_jit
def _sample(posterior: Posterior, x: Array, n: int, key: PRNGKeyArray) -> Array:
    return posterior._sample(x, n, key)


@eqx.filter_jit
def _sample_many(posterior: Posterior, xs: Array, n: int, keys: Array) -> Array:
    return jax.vmap(lambda x, k: posterior._sample(x, n, k))(xs, keys)


@final
class SequentialResult(eqx.Module):
    """What `NPE.fit_sequential` returns: the final `posterior`, the `banks` of each round
    and the fraction of the prior's mass kept in each round's truncation (`kept`)."""

    posterior: Posterior
    banks: list
    kept: list


@final
class NPE(eqx.Module):
    r"""Neural posterior estimation with a conditional normalizing flow.

    **Arguments:**

    - `prior`: the [`brainmass_eqx.inference.JointPrior`][] the bank was drawn from.
    - `flow`: [`brainmass_eqx.inference.MaskedAutoregressiveFlow`][] (default) or
      [`brainmass_eqx.inference.SplineCouplingFlow`][] (or your own `AbstractFlow`).
    - `embedding`: an equinox module mapping the flattened, standardised output to
      features (e.g. [`brainmass_eqx.inference.EmbeddingNet`][]), trained jointly with the
      flow; `None` conditions on the standardised output itself.
    - `learning_rate`, `batch_size`, `max_epochs`: Adam settings.
    - `patience`: stop when the validation loss has not improved for this many epochs (the
      best parameters are kept); `validation_fraction`: the share of the bank held out for it.
    - `score_weight`: $\lambda \ge 0$; with a bank simulated with `scores=True` (a
      differentiable simulator's joint scores, e.g. through
      [`brainmass_eqx.inference.GaussianObservation`][]), training adds
      $\lambda\,\overline{\lVert \nabla_u \log q(u\mid x) - s(u, x)\rVert^2}$, where $s$ is
      the joint score carried to the flow's variables plus the prior's score: its minimiser
      is still the true posterior, and the gradients carry information a sample alone does
      not (measured: fewer simulations for the same accuracy, `docs/inference.md`).
    - `progress`: tqdm bars.

    `fit(bank, key)` minimises $-\frac1n\sum_i \log q_\phi(u_i \mid x_i)$ with $u_i$ the
    standardised unconstrained parameters; it returns a [`brainmass_eqx.inference.Posterior`][].
    """

    prior: JointPrior
    flow: AbstractFlow
    embedding: Any
    learning_rate: float
    batch_size: int
    max_epochs: int
    patience: int
    validation_fraction: float
    score_weight: float
    progress: bool

    def __init__(self, prior: Any, *, flow: AbstractFlow = MaskedAutoregressiveFlow(),
                 embedding: Any = None, learning_rate: float = 1e-3, batch_size: int = 128,
                 max_epochs: int = 300, patience: int = 15, validation_fraction: float = 0.1,
                 score_weight: float = 0.0, progress: bool = True):
        if not score_weight >= 0:
            raise ValueError(f"`score_weight` must be >= 0, got {score_weight}.")
        self.score_weight = float(score_weight)
        if not isinstance(flow, AbstractFlow):
            raise TypeError(f"`flow` must be an AbstractFlow (MaskedAutoregressiveFlow(), "
                            f"SplineCouplingFlow()), got {type(flow).__name__}.")
        if not 0 < validation_fraction < 1:
            raise ValueError(f"`validation_fraction` must be in (0, 1), got "
                             f"{validation_fraction}.")
        self.prior, self.flow, self.embedding = as_joint(prior), flow, embedding
        self.learning_rate, self.batch_size, self.max_epochs = learning_rate, batch_size, \
            max_epochs
        self.patience, self.validation_fraction, self.progress = patience, \
            validation_fraction, progress

    @_flowjax
    def fit(self, bank: Bank, key: PRNGKeyArray) -> Posterior:
        if not isinstance(bank, Bank):
            raise TypeError(f"`bank` must be a Bank (from simulate_bank), got "
                            f"{type(bank).__name__}.")
        if bank.theta.shape[1] != self.prior.dim:
            raise ValueError(f"the bank's theta has {bank.theta.shape[1]} columns but the prior "
                             f"has dim {self.prior.dim}.")
        n_val = int(round(self.validation_fraction * bank.n))
        if bank.n - n_val < max(2, self.batch_size) or n_val < 1:
            raise ValueError(f"the bank has {bank.n} simulations: too few for batch_size "
                             f"{self.batch_size} and a validation share of "
                             f"{self.validation_fraction}; simulate more or lower them.")
        theta = np.asarray(bank.theta, dtype=float)
        z = np.asarray(jax.vmap(self.prior.to_unconstrained)(jnp.asarray(theta)))
        x = np.asarray(bank.x, dtype=float).reshape(bank.n, -1)
        z_scale, x_scale = _Standardise.of(z), _Standardise.of(x)
        k_flow, k_fit = jax.random.split(key)
        cond_dim = x.shape[1] if self.embedding is None else _out_size(self.embedding, x[0])
        density = _Density(self.flow.build(k_flow, self.prior.dim, cond_dim), self.embedding)
        dtype = jnp.zeros(()).dtype
        arrays = (jnp.asarray(z_scale(z), dtype), jnp.asarray(x_scale(x), dtype))
        if self.score_weight > 0:
            if bank.score is None:
                raise ValueError("`score_weight` > 0 needs a bank with joint scores: simulate "
                                 "it with `scores=True` and a scored simulator "
                                 "(e.g. GaussianObservation).")
            arrays += (_target_scores(self.prior, z_scale, arrays[0],
                                      jnp.asarray(bank.score, dtype)),)
        density, losses = fit_to_data(
            k_fit, density, arrays, loss_fn=_Loss(self.score_weight),
            optimizer=optax.adam(self.learning_rate),
            max_epochs=self.max_epochs, max_patience=self.patience,
            batch_size=self.batch_size, val_prop=self.validation_fraction,
            show_progress=self.progress)
        return Posterior(self.prior, density, x_scale, z_scale, tuple(bank.x.shape[1:]),
                         {k: np.asarray(v) for k, v in losses.items()})

    def fit_sequential(self, simulator: Callable, x_obs: Any, key: PRNGKeyArray, *,
                       rounds: int = 3, n_per_round: int = 1000, batch_size: int = 256,
                       quantile: float = 1e-4, n_quantile: int = 10_000) -> SequentialResult:
        r"""Truncated sequential NPE (Deistler et al. 2022) for one observation `x_obs`.

        Round 1 simulates `n_per_round` prior draws; each later round draws from the prior
        truncated to the current posterior's highest-probability region
        $\{\theta : \log q(\theta\mid x_o) \ge \text{quantile}_{\epsilon}\}$ ($\epsilon$ =
        `quantile`, estimated from `n_quantile` posterior samples) by rejection, and the flow
        is retrained on all rounds with the plain NPE loss (valid under truncated proposals).
        """
        if rounds < 1:
            raise ValueError(f"`rounds` must be at least 1, got {rounds}.")
        banks, kept, posterior = [], [], None
        for r in range(rounds):
            k_round, k_sim, k_fit, key = jax.random.split(key, 4)
            theta = None
            if posterior is not None:
                theta, frac = _truncated_draws(posterior, x_obs, n_per_round, k_round,
                                               quantile, n_quantile)
                kept.append(frac)
            banks.append(simulate_bank(simulator, self.prior, n_per_round, k_sim,
                                       batch_size=batch_size, theta=theta,
                                       progress=self.progress))
            posterior = self.fit(Bank.concatenate(banks), k_fit)
        return SequentialResult(posterior, banks, kept)


def _out_size(embedding: Any, x0: np.ndarray) -> int:
    out = jax.eval_shape(embedding, jnp.asarray(x0))
    if len(out.shape) != 1:
        raise ValueError(f"`embedding` must map one flattened output to a vector, got shape "
                         f"{out.shape}.")
    return int(out.shape[0])


def _truncated_draws(posterior: Posterior, x_obs: Any, n: int, key: PRNGKeyArray,
                     quantile: float, n_quantile: int) -> tuple[np.ndarray, float]:
    k_q, key = jax.random.split(key)
    lp = functools.partial(_log_prob, posterior)
    samples = posterior.sample(x_obs, n_quantile, k_q)
    threshold = jnp.quantile(lp(samples, x_obs), quantile)
    out, tried = [], 0
    while sum(len(o) for o in out) < n:
        k, key = jax.random.split(key)
        cand = posterior.prior.sample(k, max(4 * n, 1000))
        keep = np.asarray(lp(cand, x_obs) >= threshold)
        out.append(np.asarray(cand)[keep])
        tried += cand.shape[0]
        if tried > 1000 * n:
            raise RuntimeError("fit_sequential: the truncated region holds less than 0.1 % of "
                               "the prior; lower `quantile` or simulate more per round.")
    accepted = sum(len(o) for o in out)
    return np.concatenate(out)[:n], accepted / tried
