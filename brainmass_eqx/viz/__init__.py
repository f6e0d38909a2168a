"""Plotting helpers (matplotlib, imported on first use). Each returns the figure and axes."""

from ._inference import (
    plot_corner as plot_corner,
    plot_coverage as plot_coverage,
    plot_sbc_ranks as plot_sbc_ranks,
)
from ._plots import (
    plot_bifurcation_diagram as plot_bifurcation_diagram,
    plot_fc_comparison as plot_fc_comparison,
    plot_fcd as plot_fcd,
    plot_fit_history as plot_fit_history,
    plot_matrix as plot_matrix,
    plot_phase_plane as plot_phase_plane,
    plot_power_spectrum as plot_power_spectrum,
    plot_spectrum as plot_spectrum,
    plot_timeseries as plot_timeseries,
)
