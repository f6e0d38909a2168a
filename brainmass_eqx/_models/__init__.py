from .base import AbstractNeuralMass as AbstractNeuralMass
from .hopf import Hopf as Hopf
from .linear import Linear as Linear


#: Every concrete model shipped with the package, in catalogue order.
ALL_MODELS: tuple[type[AbstractNeuralMass], ...] = (Hopf, Linear)
