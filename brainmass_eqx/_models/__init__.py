"""The models: the `AbstractSystem` contract, `AbstractNeuralMass` and the catalogue."""

from ._base import AbstractNeuralMass as AbstractNeuralMass, AbstractSystem as AbstractSystem
from ._catalogue import (
    ALL_MODELS as ALL_MODELS,
    SEQUENCE_MODELS as SEQUENCE_MODELS,
    ModelInfo as ModelInfo,
    list_models as list_models,
)
from ._epileptor import Epileptor as Epileptor
from ._hopf import Hopf as Hopf
from ._horn import (
    HORNCell as HORNCell,
    HORNSeqLayer as HORNSeqLayer,
    HORNSeqNetwork as HORNSeqNetwork,
)
from ._kuramoto import Kuramoto as Kuramoto
from ._larter_breakspear import LarterBreakspear as LarterBreakspear
from ._linear import Linear as Linear
from ._mean_field import (
    CoombesByrne as CoombesByrne,
    JansenRit as JansenRit,
    MontbrioPazoRoxin as MontbrioPazoRoxin,
)
from ._oscillators import (
    FitzHughNagumo as FitzHughNagumo,
    FitzHughNagumoGeneral as FitzHughNagumoGeneral,
    Generic2dOscillator as Generic2dOscillator,
    Lorenz as Lorenz,
    StuartLandau as StuartLandau,
    ThresholdLinear as ThresholdLinear,
    VanDerPol as VanDerPol,
)
from ._wilson_cowan import (
    WilsonCowan as WilsonCowan,
    WilsonCowanAdaptive as WilsonCowanAdaptive,
    WilsonCowanDivisive as WilsonCowanDivisive,
    WilsonCowanThreePopulation as WilsonCowanThreePopulation,
)
from ._wong_wang import WongWang as WongWang, WongWangExcInh as WongWangExcInh
