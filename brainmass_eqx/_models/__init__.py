from .base import AbstractNeuralMass as AbstractNeuralMass
from .epileptor import Epileptor as Epileptor
from .hopf import Hopf as Hopf
from .horn import (
    HORNCell as HORNCell,
    HORNSeqLayer as HORNSeqLayer,
    HORNSeqNetwork as HORNSeqNetwork,
)
from .kuramoto import Kuramoto as Kuramoto
from .larter_breakspear import LarterBreakspear as LarterBreakspear
from .linear import Linear as Linear
from .mean_field import (
    CoombesByrne as CoombesByrne,
    JansenRit as JansenRit,
    MontbrioPazoRoxin as MontbrioPazoRoxin,
)
from .oscillators import (
    FitzHughNagumo as FitzHughNagumo,
    Generic2dOscillator as Generic2dOscillator,
    Lorenz as Lorenz,
    StuartLandau as StuartLandau,
    ThresholdLinear as ThresholdLinear,
    VanDerPol as VanDerPol,
)
from .wilson_cowan import (
    WilsonCowan as WilsonCowan,
    WilsonCowanAdaptive as WilsonCowanAdaptive,
    WilsonCowanDivisive as WilsonCowanDivisive,
    WilsonCowanThreePopulation as WilsonCowanThreePopulation,
)
from .wong_wang import WongWang as WongWang, WongWangExcInh as WongWangExcInh


#: Every concrete model shipped with the package, in catalogue order.
ALL_MODELS: tuple[type[AbstractNeuralMass], ...] = (
    Hopf,
    StuartLandau,
    VanDerPol,
    FitzHughNagumo,
    ThresholdLinear,
    Generic2dOscillator,
    Lorenz,
    Linear,
    WilsonCowan,
    WilsonCowanAdaptive,
    WilsonCowanThreePopulation,
    WilsonCowanDivisive,
    JansenRit,
    WongWang,
    WongWangExcInh,
    MontbrioPazoRoxin,
    CoombesByrne,
    LarterBreakspear,
    Epileptor,
    Kuramoto,
    HORNCell,
)

#: Sequence models (equinox modules mapping an input sequence to outputs), in the catalogue too.
SEQUENCE_MODELS: tuple[type, ...] = (HORNSeqLayer, HORNSeqNetwork)
