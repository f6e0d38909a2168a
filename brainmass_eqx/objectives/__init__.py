"""Objectives `fn(prediction, target) -> scalar` (jit/grad/vmap-safe): final classes, each with
a builder function. Lower is better for losses; combine them with `weighted_sum`."""

from ._base import AbstractObjective as AbstractObjective
from ._combine import WeightedSum as WeightedSum, weighted_sum as weighted_sum
from ._fc import (
    FCRMSE as FCRMSE,
    Cosine as Cosine,
    FCCorrelation as FCCorrelation,
    FCDDistance as FCDDistance,
    TimeseriesRMSE as TimeseriesRMSE,
    cosine as cosine,
    fc_corr as fc_corr,
    fc_rmse as fc_rmse,
    fcd_ks as fcd_ks,
    fcd_wasserstein as fcd_wasserstein,
    timeseries_rmse as timeseries_rmse,
)
from ._spectral import (
    PSDDistance as PSDDistance,
    SpectralPeak as SpectralPeak,
    psd_distance as psd_distance,
    spectral_peak as spectral_peak,
)
from ._task import (
    MSE as MSE,
    Accuracy as Accuracy,
    CrossEntropy as CrossEntropy,
    accuracy as accuracy,
    cross_entropy as cross_entropy,
    mse as mse,
)
