"""Objective builders: `fn(prediction, target) -> scalar`, composable with weights."""

import abc
from collections.abc import Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._units import to_ms
from ._fc import (
    fc,
    fcd,
    ks_distance,
    matrix_correlation,
    matrix_rmse,
    upper_triangle,
    wasserstein_distance,
)
from ._spectral import _band, _welch, peak_frequency


class AbstractObjective(eqx.Module):
    """An objective `fn(prediction, target) -> scalar` (lower is better for losses).

    Objectives are pytrees: the target is always an *argument*, never a closed-over constant
    (a constant target is folded by XLA at every compilation, which brainmass pays for in
    seconds per fit), and configuration is static. Add them with weights through
    [`brainmass_eqx.objectives.weighted_sum`][]. Subclass and implement `__call__` for your
    own.
    """

    @abc.abstractmethod
    def __call__(self, prediction: Array, target: Array) -> Float[Array, ""]:
        """The scalar objective."""


def _same_shape(p: Array, t: Array) -> None:
    if jnp.shape(p) != jnp.shape(t):
        raise ValueError(f"`prediction` {jnp.shape(p)} and `target` {jnp.shape(t)} must have "
                         "the same shape.")


@final
class _TimeseriesRMSE(AbstractObjective):
    def __call__(self, prediction, target):
        _same_shape(prediction, target)
        d = prediction - target
        return jnp.sqrt(jnp.mean(d * d))


@final
class _FCCorrelation(AbstractObjective):
    as_loss: bool = eqx.field(static=True)
    precomputed_target: bool = eqx.field(static=True)

    def __call__(self, prediction, target):
        target_fc = target if self.precomputed_target else fc(target)
        r = matrix_correlation(fc(prediction), target_fc)
        return 1.0 - r if self.as_loss else r


@final
class _FCRMSE(AbstractObjective):
    precomputed_target: bool = eqx.field(static=True)

    def __call__(self, prediction, target):
        target_fc = target if self.precomputed_target else fc(target)
        return matrix_rmse(fc(prediction), target_fc)


@final
class _Cosine(AbstractObjective):
    as_loss: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __call__(self, prediction, target):
        _same_shape(prediction, target)
        p, t = jnp.ravel(prediction), jnp.ravel(target)
        c = jnp.dot(p, t) / jnp.maximum(jnp.linalg.norm(p) * jnp.linalg.norm(t), self.eps)
        return 1.0 - c if self.as_loss else c


@final
class _FCDDistance(AbstractObjective):
    window: Any = eqx.field(static=True)
    step: Any = eqx.field(static=True)
    dt: float | None = eqx.field(static=True)
    distance: Any = eqx.field(static=True)

    def __call__(self, prediction, target):
        a = upper_triangle(fcd(prediction, self.window, self.step, dt=self.dt))
        b = upper_triangle(fcd(target, self.window, self.step, dt=self.dt))
        return self.distance(a, b)


@final
class _PSDDistance(AbstractObjective):
    dt: float = eqx.field(static=True)
    nperseg: int | None = eqx.field(static=True)
    fmin: float | None = eqx.field(static=True)
    fmax: float | None = eqx.field(static=True)
    log: bool = eqx.field(static=True)

    def __call__(self, prediction, target):
        f, pp = _welch(prediction, self.dt, self.nperseg, None)
        _, pt = _welch(target, self.dt, self.nperseg, None)
        mask = _band(f, self.fmin, self.fmax)
        pp, pt = pp[mask], pt[mask]
        if self.log:
            tiny = jnp.finfo(pp.dtype).tiny
            pp, pt = jnp.log10(pp + tiny), jnp.log10(pt + tiny)
        else:
            pp = pp / jnp.sum(pp, axis=0, keepdims=True)
            pt = pt / jnp.sum(pt, axis=0, keepdims=True)
        return jnp.sqrt(jnp.mean((pp - pt) ** 2))


@final
class _SpectralPeak(AbstractObjective):
    dt: float = eqx.field(static=True)
    fmin: float | None = eqx.field(static=True)
    fmax: float | None = eqx.field(static=True)
    nperseg: int | None = eqx.field(static=True)
    temperature: float = eqx.field(static=True)

    def __call__(self, prediction, target):
        kw = dict(fmin=self.fmin, fmax=self.fmax, nperseg=self.nperseg,
                  temperature=self.temperature)
        fp = peak_frequency(prediction, self.dt, **kw)
        target = jnp.asarray(target)
        ft = target if target.ndim <= 1 and target.shape != prediction.shape \
            else peak_frequency(target, self.dt, **kw)
        return jnp.mean(jnp.abs(fp - ft))


@final
class _WeightedSum(AbstractObjective):
    objectives: tuple[AbstractObjective, ...]
    weights: Float[Array, " terms"]

    def __call__(self, prediction, target):
        values = jnp.stack([jnp.asarray(o(prediction, target)) for o in self.objectives])
        return jnp.sum(self.weights.astype(values.dtype) * values)

    def terms(self, prediction: Array, target: Array) -> dict[str, Array]:
        """Each weighted term, keyed by position and objective name (for logging)."""
        return {f"{i}:{type(o).__name__.strip('_')}": w * o(prediction, target)
                for i, (w, o) in enumerate(zip(self.weights, self.objectives))}


# ---------------------------------------------------------------------------------- builders


def timeseries_rmse() -> AbstractObjective:
    r"""$\sqrt{\mathrm{mean}((p - t)^2)}$ over all entries (same shapes)."""
    return _TimeseriesRMSE()


def fc_corr(*, as_loss: bool = True, precomputed_target: bool = False) -> AbstractObjective:
    r"""Correlation $r$ between the upper triangles of `fc(prediction)` and the target FC
    (`1 - r` when `as_loss`, the default). `precomputed_target=True` takes the target as an
    FC matrix `(regions, regions)` (e.g. an empirical FC) instead of a time series."""
    return _FCCorrelation(as_loss=as_loss, precomputed_target=precomputed_target)


def fc_rmse(*, precomputed_target: bool = False) -> AbstractObjective:
    """RMSE between the upper triangles of the two FC matrices (see `fc_corr` for
    `precomputed_target`)."""
    return _FCRMSE(precomputed_target=precomputed_target)


def cosine(*, as_loss: bool = True, eps: float = 1e-12) -> AbstractObjective:
    """Cosine similarity of the flattened signals (`1 - cos` when `as_loss`)."""
    return _Cosine(as_loss=as_loss, eps=eps)


def _fcd(window, step, dt, distance):
    dt_ms = None if dt is None else to_ms(dt, name="dt")
    return _FCDDistance(window=window, step=step, dt=dt_ms, distance=distance)


def fcd_ks(window: Any, step: Any, *, dt: Any = None) -> AbstractObjective:
    """KS distance between the distributions of FCD values (upper triangle) of prediction
    and target (Deco et al. 2017). For evaluation: its gradient is zero almost everywhere.
    `window`/`step` as in [`brainmass_eqx.metrics.fcd`][]."""
    return _fcd(window, step, dt, ks_distance)


def fcd_wasserstein(window: Any, step: Any, *, dt: Any = None) -> AbstractObjective:
    """1-Wasserstein distance between the FCD-value distributions: the differentiable
    counterpart of [`brainmass_eqx.objectives.fcd_ks`][]."""
    return _fcd(window, step, dt, wasserstein_distance)


def psd_distance(dt: Any, *, nperseg: int | None = None, fmin: float | None = None,
                 fmax: float | None = None, log: bool = True) -> AbstractObjective:
    """RMS difference between the Welch spectra (log10 power when `log`, else spectra
    normalised to unit sum per channel) of prediction and target in `[fmin, fmax]` Hz.
    `dt` is the sampling interval of both (Quantity or ms)."""
    return _PSDDistance(dt=to_ms(dt, name="dt"), nperseg=nperseg, fmin=fmin, fmax=fmax,
                        log=log)


def spectral_peak(dt: Any, *, fmin: float | None = None, fmax: float | None = None,
                  nperseg: int | None = None, temperature: float = 0.05) -> AbstractObjective:
    """Mean absolute difference (Hz) between the spectral peak frequencies of prediction and
    target, using the differentiable soft-argmax of
    [`brainmass_eqx.metrics.peak_frequency`][]. The target may also be given directly as peak
    frequencies in Hz (a scalar or one per channel)."""
    return _SpectralPeak(dt=to_ms(dt, name="dt"), fmin=fmin, fmax=fmax, nperseg=nperseg,
                         temperature=float(temperature))


def weighted_sum(*terms: tuple[float, AbstractObjective]) -> AbstractObjective:
    r"""$\sum_k w_k\,\mathrm{obj}_k(p, t)$ from `(weight, objective)` pairs. The weights are a
    traced array (changing them does not recompile)."""
    if not terms:
        raise ValueError("`weighted_sum` needs at least one (weight, objective) pair.")
    for t in terms:
        if not (isinstance(t, Sequence) and len(t) == 2 and isinstance(t[1], AbstractObjective)):
            raise ValueError(f"each term must be a (weight, objective) pair, got {t!r}.")
    weights = jnp.asarray([float(w) for w, _ in terms])
    return _WeightedSum(objectives=tuple(o for _, o in terms), weights=weights)


# ------------------------------------------------------------------------ task losses/metrics


@final
class _CrossEntropy(AbstractObjective):
    def __call__(self, prediction, target):
        logits = jnp.asarray(prediction)
        label = jnp.asarray(target)
        if logits.ndim != 1:
            raise ValueError(f"cross-entropy takes one example's logits `(classes,)`, got shape "
                             f"{logits.shape}; batch with jax.vmap.")
        if jnp.issubdtype(label.dtype, jnp.integer):
            return -jax.nn.log_softmax(logits)[label]
        return -jnp.sum(label * jax.nn.log_softmax(logits))  # soft / one-hot targets


@final
class _MSE(AbstractObjective):
    def __call__(self, prediction, target):
        _same_shape(prediction, target)
        return jnp.mean((prediction - target) ** 2)


@final
class _Accuracy(AbstractObjective):
    def __call__(self, prediction, target):
        logits = jnp.asarray(prediction)
        label = jnp.asarray(target)
        if not jnp.issubdtype(label.dtype, jnp.integer):
            label = jnp.argmax(label, axis=-1)
        return (jnp.argmax(logits, axis=-1) == label).astype(logits.dtype)


def cross_entropy() -> AbstractObjective:
    r"""Cross-entropy of one example: `prediction` are logits `(classes,)`, `target` an integer
    label (or a probability vector): $-\log \mathrm{softmax}(z)_y$."""
    return _CrossEntropy()


def mse() -> AbstractObjective:
    """Mean squared error of one example (same shapes)."""
    return _MSE()


def accuracy() -> AbstractObjective:
    """1 if the argmax of the logits is the label (integer or one-hot), else 0 (a metric:
    no useful gradient)."""
    return _Accuracy()
