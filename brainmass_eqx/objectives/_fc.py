"""Objectives on signals and their functional connectivity (FC, FCD)."""

from typing import Any, final

import equinox as eqx
import jax.numpy as jnp

from .._core._units import to_ms
from ..metrics._fc import (
    fc,
    fcd,
    ks_distance,
    matrix_correlation,
    matrix_rmse,
    upper_triangle,
    wasserstein_distance,
)
from ._base import AbstractObjective, same_shape


@final
class TimeseriesRMSE(AbstractObjective):
    """Root-mean-square difference of two signals (see `timeseries_rmse`)."""

    def __call__(self, prediction, target):
        same_shape(prediction, target)
        d = prediction - target
        return jnp.sqrt(jnp.mean(d * d))


@final
class FCCorrelation(AbstractObjective):
    """Correlation of two FC matrices' upper triangles (see `fc_corr`)."""

    as_loss: bool = eqx.field(static=True)
    precomputed_target: bool = eqx.field(static=True)
    precomputed_prediction: bool = eqx.field(static=True, default=False)

    def __call__(self, prediction, target):
        target_fc = target if self.precomputed_target else fc(target)
        pred_fc = prediction if self.precomputed_prediction else fc(prediction)
        r = matrix_correlation(pred_fc, target_fc)
        return 1.0 - r if self.as_loss else r


@final
class FCRMSE(AbstractObjective):
    """RMSE of two FC matrices' upper triangles (see `fc_rmse`)."""

    precomputed_target: bool = eqx.field(static=True)
    precomputed_prediction: bool = eqx.field(static=True, default=False)

    def __call__(self, prediction, target):
        target_fc = target if self.precomputed_target else fc(target)
        pred_fc = prediction if self.precomputed_prediction else fc(prediction)
        return matrix_rmse(pred_fc, target_fc)


@final
class Cosine(AbstractObjective):
    """Cosine similarity of two flattened signals (see `cosine`)."""

    as_loss: bool = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __call__(self, prediction, target):
        same_shape(prediction, target)
        p, t = jnp.ravel(prediction), jnp.ravel(target)
        c = jnp.dot(p, t) / jnp.maximum(jnp.linalg.norm(p) * jnp.linalg.norm(t), self.eps)
        return 1.0 - c if self.as_loss else c


@final
class FCDDistance(AbstractObjective):
    """A distance between the FCD-value distributions of two signals (see `fcd_ks`,
    `fcd_wasserstein`)."""

    window: Any = eqx.field(static=True)
    step: Any = eqx.field(static=True)
    dt: float | None = eqx.field(static=True)
    distance: Any = eqx.field(static=True)

    def __call__(self, prediction, target):
        a = upper_triangle(fcd(prediction, self.window, self.step, dt=self.dt))
        b = upper_triangle(fcd(target, self.window, self.step, dt=self.dt))
        return self.distance(a, b)


def timeseries_rmse() -> AbstractObjective:
    r"""$\sqrt{\mathrm{mean}((p - t)^2)}$ over all entries (same shapes)."""
    return TimeseriesRMSE()


def fc_corr(*, as_loss: bool = True, precomputed_target: bool = False,
            precomputed_prediction: bool = False) -> AbstractObjective:
    r"""Correlation $r$ between the upper triangles of `fc(prediction)` and the target FC
    (`1 - r` when `as_loss`, the default). `precomputed_target=True` takes the target as an
    FC matrix `(regions, regions)` (e.g. an empirical FC) instead of a time series;
    `precomputed_prediction=True` the prediction (e.g. a linear-noise FC)."""
    return FCCorrelation(as_loss=as_loss, precomputed_target=precomputed_target,
                         precomputed_prediction=precomputed_prediction)


def fc_rmse(*, precomputed_target: bool = False,
            precomputed_prediction: bool = False) -> AbstractObjective:
    """RMSE between the upper triangles of the two FC matrices (see `fc_corr` for
    `precomputed_target` and `precomputed_prediction`)."""
    return FCRMSE(precomputed_target=precomputed_target,
                  precomputed_prediction=precomputed_prediction)


def cosine(*, as_loss: bool = True, eps: float = 1e-12) -> AbstractObjective:
    """Cosine similarity of the flattened signals (`1 - cos` when `as_loss`)."""
    return Cosine(as_loss=as_loss, eps=eps)


def _fcd(window, step, dt, distance):
    dt_ms = None if dt is None else to_ms(dt, name="dt")
    return FCDDistance(window=window, step=step, dt=dt_ms, distance=distance)


def fcd_ks(window: Any, step: Any, *, dt: Any = None) -> AbstractObjective:
    """KS distance between the distributions of FCD values (upper triangle) of prediction
    and target (Deco et al. 2017). For evaluation: its gradient is zero almost everywhere.
    `window`/`step` as in [`brainmass_eqx.metrics.fcd`][]."""
    return _fcd(window, step, dt, ks_distance)


def fcd_wasserstein(window: Any, step: Any, *, dt: Any = None) -> AbstractObjective:
    """1-Wasserstein distance between the FCD-value distributions: the differentiable
    counterpart of [`brainmass_eqx.objectives.fcd_ks`][]."""
    return _fcd(window, step, dt, wasserstein_distance)
