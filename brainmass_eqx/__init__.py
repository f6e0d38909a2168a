"""brainmass_eqx: differentiable whole-brain neural-mass modelling on JAX, Equinox and Diffrax."""

import importlib.metadata as _metadata

from . import datasets as datasets, metrics as metrics, objectives as objectives, viz as viz
from ._catalogue import ModelInfo as ModelInfo, list_models as list_models
from ._connectome import Connectome as Connectome
from ._coupling import (
    AbstractCoupling as AbstractCoupling,
    DiffusiveCoupling as DiffusiveCoupling,
    KuramotoCoupling as KuramotoCoupling,
    LearnableWeights as LearnableWeights,
    LinearCoupling as LinearCoupling,
    SigmoidalCoupling as SigmoidalCoupling,
    SigmoidalJansenRitCoupling as SigmoidalJansenRitCoupling,
    TanhCoupling as TanhCoupling,
)
from ._delays import DelayBuffer as DelayBuffer, DelayPlan as DelayPlan
from ._fit import (
    FitResult as FitResult,
    Fitter as Fitter,
    Nevergrad as Nevergrad,
    Scipy as Scipy,
    StepInfo as StepInfo,
    fit as fit,
)
from ._forward import (
    AbstractBOLDReadout as AbstractBOLDReadout,
    AbstractConductor as AbstractConductor,
    AbstractHRFKernel as AbstractHRFKernel,
    AbstractMonitor as AbstractMonitor,
    BalloonWindkessel as BalloonWindkessel,
    CanonicalHRF as CanonicalHRF,
    ClassicalBOLD as ClassicalBOLD,
    DoubleExponential as DoubleExponential,
    FirstOrderVolterra as FirstOrderVolterra,
    Gamma as Gamma,
    HRFBold as HRFBold,
    InfiniteMedium as InfiniteMedium,
    LeadField as LeadField,
    MixtureOfGammas as MixtureOfGammas,
    Raw as Raw,
    RevisedBOLD as RevisedBOLD,
    SphericalHead as SphericalHead,
    StreamingFC as StreamingFC,
    Subsample as Subsample,
    TemporalAverage as TemporalAverage,
    eeg_lead_field as eeg_lead_field,
    meg_lead_field as meg_lead_field,
)
from ._models import (
    AbstractNeuralMass as AbstractNeuralMass,
    CoombesByrne as CoombesByrne,
    Epileptor as Epileptor,
    FitzHughNagumo as FitzHughNagumo,
    Generic2dOscillator as Generic2dOscillator,
    Hopf as Hopf,
    HORNCell as HORNCell,
    HORNSeqLayer as HORNSeqLayer,
    HORNSeqNetwork as HORNSeqNetwork,
    JansenRit as JansenRit,
    Kuramoto as Kuramoto,
    LarterBreakspear as LarterBreakspear,
    Linear as Linear,
    Lorenz as Lorenz,
    MontbrioPazoRoxin as MontbrioPazoRoxin,
    StuartLandau as StuartLandau,
    ThresholdLinear as ThresholdLinear,
    VanDerPol as VanDerPol,
    WilsonCowan as WilsonCowan,
    WilsonCowanAdaptive as WilsonCowanAdaptive,
    WilsonCowanDivisive as WilsonCowanDivisive,
    WilsonCowanThreePopulation as WilsonCowanThreePopulation,
    WongWang as WongWang,
    WongWangExcInh as WongWangExcInh,
)
from ._network import Network as Network
from ._noise import (
    AbstractNoise as AbstractNoise,
    AdditiveNoise as AdditiveNoise,
    MultiplicativeNoise as MultiplicativeNoise,
    OrnsteinUhlenbeckNoise as OrnsteinUhlenbeckNoise,
    PinkNoise as PinkNoise,
)
from ._params import (
    AbstractConstraint as AbstractConstraint,
    Bounded as Bounded,
    Constrained as Constrained,
    Positive as Positive,
    Unconstrained as Unconstrained,
    constrain as constrain,
    unwrap as unwrap,
)
from ._simulate import Simulation as Simulation, simulate as simulate
from ._solvers import RK4 as RK4
from ._train import (
    Readout as Readout,
    Trainer as Trainer,
    TrainResult as TrainResult,
    train as train,
)
from ._units import CANONICAL_UNITS as CANONICAL_UNITS, param as param


__version__ = _metadata.version("brainmass_eqx")
