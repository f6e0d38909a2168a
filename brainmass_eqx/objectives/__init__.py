"""Objective builders returning `fn(prediction, target) -> scalar` (jit/grad/vmap-safe)."""

from ..metrics._objectives import (
    AbstractObjective as AbstractObjective,
    accuracy as accuracy,
    cosine as cosine,
    cross_entropy as cross_entropy,
    fc_corr as fc_corr,
    fc_rmse as fc_rmse,
    fcd_ks as fcd_ks,
    fcd_wasserstein as fcd_wasserstein,
    mse as mse,
    psd_distance as psd_distance,
    spectral_peak as spectral_peak,
    timeseries_rmse as timeseries_rmse,
    weighted_sum as weighted_sum,
)
