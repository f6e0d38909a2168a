"""Simulation-based inference: priors over `where=` selections, simulation banks (vmapped,
chunked to disk, resumable), jittable summaries and learned embeddings, neural posterior
estimation with flowjax flows, and diagnostics (SBC, TARP, posterior predictive checks,
z-score/shrinkage, C2ST)."""

from ._bank import Bank as Bank, simulate_bank as simulate_bank
from ._diagnostics import (
    PosteriorPredictive as PosteriorPredictive,
    SBCResult as SBCResult,
    TARPResult as TARPResult,
    ZScoreShrinkage as ZScoreShrinkage,
    c2st as c2st,
    posterior_predictive as posterior_predictive,
    sbc as sbc,
    tarp as tarp,
    zscore_shrinkage as zscore_shrinkage,
)
from ._npe import (
    NPE as NPE,
    AbstractFlow as AbstractFlow,
    MaskedAutoregressiveFlow as MaskedAutoregressiveFlow,
    Posterior as Posterior,
    SequentialResult as SequentialResult,
    SplineCouplingFlow as SplineCouplingFlow,
)
from ._priors import (
    AbstractPrior as AbstractPrior,
    JointPrior as JointPrior,
    LogUniform as LogUniform,
    Normal as Normal,
    Uniform as Uniform,
)
from ._scored import (
    AbstractScoredSimulator as AbstractScoredSimulator,
    GaussianObservation as GaussianObservation,
)
from ._summaries import (
    EmbeddingNet as EmbeddingNet,
    band_power as band_power,
    fc_eigenvalues as fc_eigenvalues,
    fc_upper as fc_upper,
    fcd_histogram as fcd_histogram,
    moments as moments,
    soft_histogram as soft_histogram,
    spectral_peak as spectral_peak,
    synchrony as synchrony,
)
