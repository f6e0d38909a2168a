"""brainmass_eqx: differentiable whole-brain neural-mass modelling on JAX, Equinox and Diffrax."""

import importlib.metadata as _metadata

from ._catalogue import ModelInfo as ModelInfo, list_models as list_models
from ._models import (
    AbstractNeuralMass as AbstractNeuralMass,
    Hopf as Hopf,
    Linear as Linear,
)
from ._simulate import Simulation as Simulation, simulate as simulate
from ._solvers import RK4 as RK4
from ._units import CANONICAL_UNITS as CANONICAL_UNITS, param as param


__version__ = _metadata.version("brainmass_eqx")
