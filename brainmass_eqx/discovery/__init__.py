"""Model discovery: candidate-term libraries (with coupling through the connectome and its
delays), sparse regression (STLSQ, SR3, bagged ensembles) on smoothed derivatives or in weak
form, and `SparseModel`, the recovered model that `simulate`, `fit` and `analysis` take."""

from ._discover import (
    AbstractForm as AbstractForm,
    Derivative as Derivative,
    SparseModel as SparseModel,
    Weak as Weak,
    discover as discover,
)
from ._library import (
    AbstractCouplingTerms as AbstractCouplingTerms,
    AbstractTerms as AbstractTerms,
    Custom as Custom,
    DiffusiveCouplingTerm as DiffusiveCouplingTerm,
    Library as Library,
    LinearCouplingTerm as LinearCouplingTerm,
    Polynomial as Polynomial,
    RecordContext as RecordContext,
    Sigmoid as Sigmoid,
)
from ._regression import (
    SR3 as SR3,
    STLSQ as STLSQ,
    AbstractRegression as AbstractRegression,
    Ensemble as Ensemble,
)
from ._scores import (
    TermScores as TermScores,
    fc_match as fc_match,
    spectral_match as spectral_match,
    term_scores as term_scores,
    trajectory_error as trajectory_error,
)
