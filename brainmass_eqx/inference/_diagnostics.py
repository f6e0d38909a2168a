r"""Posterior diagnostics: simulation-based calibration, expected coverage (TARP), posterior
predictive checks, z-score and shrinkage, and a classifier two-sample test."""

from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._learn._optax import optax_update
from ._bank import Bank, simulate_bank
from ._npe import Posterior
from ._priors import as_joint


def _held_out(bank: Bank, posterior: Posterior, n_samples: int, key: PRNGKeyArray,
              batch: int = 256) -> np.ndarray:
    if not isinstance(bank, Bank):
        raise TypeError(f"`bank` must be a Bank, got {type(bank).__name__}.")
    if n_samples < 2:
        raise ValueError(f"`n_samples` must be at least 2, got {n_samples}.")
    out = []
    for start in range(0, bank.n, batch):
        xs = jnp.asarray(bank.x[start:start + batch])
        out.append(np.asarray(posterior.sample_many(xs, n_samples, jax.random.fold_in(key,
                                                                                      start))))
    return np.concatenate(out)


@final
class SBCResult(eqx.Module):
    r"""Simulation-based calibration (Talts et al. 2018): `ranks[i, d]` is the number of the
    `n_samples` posterior draws for simulation $i$ below its true $\theta_{i,d}$; for a
    calibrated posterior each column is uniform on $\{0, \dots, L\}$. `p_values` are
    per-parameter $\chi^2$ tests of that uniformity over `bins` bins."""

    ranks: Int[np.ndarray, " n dim"]
    n_samples: int
    p_values: Float[np.ndarray, " dim"]
    bins: int

    def coverage(self, level: float = 0.95) -> Float[np.ndarray, " dim"]:
        """Fraction of true values inside the central `level` credible interval of their
        marginal posterior (expected: `level`)."""
        lo, hi = (1 - level) / 2 * self.n_samples, (1 + level) / 2 * self.n_samples
        return np.mean((self.ranks >= lo) & (self.ranks <= hi), axis=0)


def sbc(posterior: Posterior, bank: Bank, key: PRNGKeyArray, *, n_samples: int = 100,
        bins: int = 10) -> SBCResult:
    """Simulation-based calibration over a held-out `bank` (draws the posterior never saw)."""
    samples = _held_out(bank, posterior, n_samples, key)
    ranks = np.sum(samples < np.asarray(bank.theta)[:, None, :], axis=1)
    edges = np.linspace(0, n_samples + 1, bins + 1)
    p = np.array([scipy.stats.chisquare(np.histogram(r, edges)[0]).pvalue for r in ranks.T])
    return SBCResult(ranks, n_samples, p, bins)


@final
class TARPResult(eqx.Module):
    r"""Tests of accuracy with random points (Lemos et al. 2023): `ecp[k]` is the expected
    coverage of the credible regions of level `alpha[k]` (balls around random reference
    points); calibrated posteriors lie on the diagonal. `f` holds each simulation's coverage
    fraction (uniform when calibrated; `ks_pvalue` tests that)."""

    alpha: Float[np.ndarray, " k"]
    ecp: Float[np.ndarray, " k"]
    f: Float[np.ndarray, " n"]
    ks_pvalue: float

    def band(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Pointwise binomial band of `level` around the diagonal for `len(f)` simulations."""
        n = len(self.f)
        return (scipy.stats.binom.ppf((1 - level) / 2, n, self.alpha) / n,
                scipy.stats.binom.ppf((1 + level) / 2, n, self.alpha) / n)


def tarp(posterior: Posterior, bank: Bank, key: PRNGKeyArray, *, n_samples: int = 100,
         n_alpha: int = 51) -> TARPResult:
    r"""Expected coverage by TARP: parameters standardised by the bank's mean and spread,
    one reference point per simulation drawn uniformly in the bank's box, and
    $f_i = (k_i + \tfrac12)/(L + 1)$ with
    $k_i = \sum_j [\lVert\theta_{ij} - r_i\rVert < \lVert\theta^*_i - r_i\rVert]$,
    $\mathrm{ECP}(\alpha) = \frac1n\sum_i [f_i < \alpha]$."""
    k_s, k_r = jax.random.split(key)
    samples = _held_out(bank, posterior, n_samples, k_s)
    theta = np.asarray(bank.theta)
    mean, std = theta.mean(0), np.where(theta.std(0) > 0, theta.std(0), 1.0)
    s, t = (samples - mean) / std, (theta - mean) / std
    lo, hi = t.min(0), t.max(0)
    ref = lo + (hi - lo) * np.asarray(jax.random.uniform(k_r, t.shape))
    d_s = np.linalg.norm(s - ref[:, None], axis=-1)
    d_t = np.linalg.norm(t - ref, axis=-1)
    # the rank among L + 1 points, centred: f lies in (0, 1), so ECP(0) = 0 and ECP(1) = 1
    f = (np.sum(d_s < d_t[:, None], axis=1) + 0.5) / (n_samples + 1)
    alpha = np.linspace(0, 1, n_alpha)
    ecp = np.mean(f[:, None] < alpha[None], axis=0)
    return TARPResult(alpha, ecp, f, float(scipy.stats.kstest(f, "uniform").pvalue))


@final
class PosteriorPredictive(eqx.Module):
    """Posterior predictive check: `x` holds simulations at posterior draws `theta`;
    `observed` is what they are compared with. `quantile` is, per feature, the fraction of
    predictions below the observation (near 0 or 1: the model cannot reproduce that feature)
    and `z` the observation's standardised distance from the predictive mean."""

    theta: Float[np.ndarray, " n dim"]
    x: Float[np.ndarray, " n *features"]
    observed: Float[np.ndarray, " *features"]
    n_failed: int

    @property
    def quantile(self) -> np.ndarray:
        return np.mean(self.x < self.observed[None], axis=0)

    @property
    def z(self) -> np.ndarray:
        return (self.observed - self.x.mean(0)) / self.x.std(0)


def posterior_predictive(posterior: Posterior, simulator: Callable, x_obs: Any, n: int,
                         key: PRNGKeyArray, *, observed: Any = None, batch_size: int = 256,
                         progress: bool = False) -> PosteriorPredictive:
    """Simulate `n` posterior draws given `x_obs` with `simulator(theta, key) -> x` (the
    bank's simulator, or one returning other features, e.g. a whole FC matrix) and compare
    them with `observed` (default `x_obs`: then the simulator must return the bank's
    summaries)."""
    k_s, k_x = jax.random.split(key)
    theta = np.asarray(posterior.sample(x_obs, n, k_s))
    bank = simulate_bank(simulator, posterior.prior, n, k_x, batch_size=batch_size, theta=theta,
                         progress=progress)
    observed = np.asarray(x_obs if observed is None else observed)
    if observed.shape != bank.x.shape[1:]:
        raise ValueError(f"the simulator returns shape {bank.x.shape[1:]} but `observed` has "
                         f"{observed.shape}: pass `observed=` of the simulator's output shape.")
    return PosteriorPredictive(bank.theta, bank.x, observed, bank.n_failed)


@final
class ZScoreShrinkage(eqx.Module):
    r"""Posterior z-score and shrinkage per parameter (Betancourt 2018; Schad et al. 2021):

    $$z = \frac{\lvert\bar\theta_{\text{post}} - \theta^*\rvert}{\sigma_{\text{post}}},
    \qquad s = 1 - \frac{\sigma^2_{\text{post}}}{\sigma^2_{\text{prior}}}.$$

    $z$ small and $s$ near 1: the data identify the parameter; $s$ near 0: the posterior is
    the prior. (Peers differ: some sign $z$, some scale it by the prior's spread; this is the
    unsigned, posterior-scaled form.)"""

    z: Float[np.ndarray, " *batch dim"]
    shrinkage: Float[np.ndarray, " *batch dim"]


def zscore_shrinkage(samples: Float[Array, " *batch n dim"],
                     theta_true: Float[Array, " *batch dim"], prior: Any) -> ZScoreShrinkage:
    """z-scores and shrinkages from posterior `samples` (the prior's variance is analytic)."""
    prior = as_joint(prior)
    samples, theta_true = np.asarray(samples), np.asarray(theta_true)
    if samples.shape[-1] != prior.dim or theta_true.shape[-1] != prior.dim:
        raise ValueError(f"`samples` and `theta_true` need a last axis of the prior's dim "
                         f"{prior.dim}, got {samples.shape} and {theta_true.shape}.")
    mean, var = samples.mean(axis=-2), samples.var(axis=-2)
    return ZScoreShrinkage(np.abs(mean - theta_true) / np.sqrt(var),
                           1 - var / np.asarray(prior.variance))


@eqx.filter_jit
def _train_classifier(model, x, y, w, steps, lr):
    opt = optax.adam(lr)
    params, static = eqx.partition(model, eqx.is_inexact_array)

    def loss(p):
        logits = jax.vmap(eqx.combine(p, static))(x)[:, 0]
        return jnp.sum(w * optax.sigmoid_binary_cross_entropy(logits, y)) / jnp.sum(w)

    def step(carry, _):
        p, s = carry
        p, s, _ = optax_update(opt, jax.grad(loss)(p), s, p)
        return (p, s), None

    (params, _), _ = jax.lax.scan(step, (params, opt.init(params)), None, length=steps)
    return eqx.combine(params, static)


def c2st(a: Float[Array, " n dim"], b: Float[Array, " m dim"], key: PRNGKeyArray, *,
         folds: int = 5, width: int = 64, steps: int = 500, learning_rate: float = 1e-2
         ) -> float:
    """Classifier two-sample test (Lopez-Paz & Oquab 2017): the cross-validated accuracy of an
    MLP telling samples `a` from samples `b` (the larger set is subsampled to the smaller).
    0.5 means indistinguishable; 1.0 fully separable."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"`a` and `b` must be (samples, dim) with the same dim, got {a.shape} "
                         f"and {b.shape}.")
    n = min(len(a), len(b)) // folds * folds
    if n < 2 * folds:
        raise ValueError(f"c2st needs at least {2 * folds} samples per set, got "
                         f"{min(len(a), len(b))}.")
    k_a, k_b, k_p, k_m = jax.random.split(key, 4)
    a = a[np.asarray(jax.random.permutation(k_a, len(a)))[:n]]
    b = b[np.asarray(jax.random.permutation(k_b, len(b)))[:n]]
    x = np.concatenate([a, b])
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    y = np.concatenate([np.zeros(n), np.ones(n)])
    order = np.asarray(jax.random.permutation(k_p, 2 * n))
    x, y = jnp.asarray(x[order]), jnp.asarray(y[order])
    fold = np.arange(2 * n) % folds
    acc = []
    for f in range(folds):
        test = fold == f
        model = eqx.nn.MLP(x.shape[1], 1, width, 2, activation=jax.nn.relu,
                           key=jax.random.fold_in(k_m, f))
        model = _train_classifier(model, x, y, jnp.asarray(~test, x.dtype), steps,
                                  learning_rate)
        pred = np.asarray(jax.vmap(model)(x[test])[:, 0] > 0)
        acc.append(np.mean(pred == np.asarray(y[test]).astype(bool)))
    return float(np.mean(acc))
