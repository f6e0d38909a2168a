from .base import AbstractNeuralMass as AbstractNeuralMass
from .hopf import Hopf as Hopf
from .linear import Linear as Linear
from .oscillators import (
    FitzHughNagumo as FitzHughNagumo,
    Generic2dOscillator as Generic2dOscillator,
    Lorenz as Lorenz,
    StuartLandau as StuartLandau,
    ThresholdLinear as ThresholdLinear,
    VanDerPol as VanDerPol,
)


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
)
