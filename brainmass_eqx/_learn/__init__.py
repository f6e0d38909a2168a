"""Learning: trainable selections and constraints, checkpoints, `fit` behind
`AbstractFitMethod` (`Optax`, `Nevergrad`, `Scipy`), task training and readouts."""

from ._batch_fit import BatchFitResult as BatchFitResult, fit_each as fit_each
from ._constraints import (
    AbstractConstraint as AbstractConstraint,
    Bounded as Bounded,
    Constrained as Constrained,
    Negative as Negative,
    Positive as Positive,
    Unconstrained as Unconstrained,
    constrain as constrain,
    unwrap as unwrap,
)
from ._fit import FitResult as FitResult, Fitter as Fitter, fit as fit
from ._losses import (
    LinearNoiseCheck as LinearNoiseCheck,
    LinearNoiseFCLoss as LinearNoiseFCLoss,
    MultiKeyFCLoss as MultiKeyFCLoss,
    PerSubjectLoss as PerSubjectLoss,
    SimulatedLoss as SimulatedLoss,
    StructuralPenalty as StructuralPenalty,
    check_linear_noise as check_linear_noise,
)
from ._method import AbstractFitMethod as AbstractFitMethod
from ._nevergrad import Nevergrad as Nevergrad
from ._optax import Optax as Optax
from ._problem import (
    Checkpointing as Checkpointing,
    FitOutcome as FitOutcome,
    FitProblem as FitProblem,
    FitTracker as FitTracker,
    StepInfo as StepInfo,
)
from ._readout import Readout as Readout
from ._scipy import Scipy as Scipy
from ._train import Trainer as Trainer, TrainResult as TrainResult, train as train
from ._validation import (
    SubjectSplit as SubjectSplit,
    ValidationReport as ValidationReport,
    split_subjects as split_subjects,
    validate as validate,
)
