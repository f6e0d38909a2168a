"""Metrics that compare simulations with recordings: FC, FCD, distribution distances,
spectra and synchrony. Every function is jit/grad/vmap-safe; time is axis 0."""

from .._monitors import StreamingFC as StreamingFC
from ._fc import (
    fc as fc,
    fc_correlation as fc_correlation,
    fc_rmse as fc_rmse,
    fcd as fcd,
    ks_distance as ks_distance,
    matrix_correlation as matrix_correlation,
    matrix_rmse as matrix_rmse,
    pearson as pearson,
    sliding_fc as sliding_fc,
    upper_triangle as upper_triangle,
    wasserstein_distance as wasserstein_distance,
)
from ._spectral import (
    analytic_signal as analytic_signal,
    instantaneous_phase as instantaneous_phase,
    metastability as metastability,
    order_parameter as order_parameter,
    peak_frequency as peak_frequency,
    welch_psd as welch_psd,
)
