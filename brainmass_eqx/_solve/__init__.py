"""Solving: `simulate` checks its arguments and picks a path (the ODE path through
`diffrax.diffeqsolve`, or the delay engine for delayed and/or noisy networks), both built on the
one vector-field builder, and returns a `Simulation`."""

from ._simulate import simulate as simulate
from ._simulation import Simulation as Simulation
from ._solvers import RK4 as RK4
from .engine import DelayedAdjoint as DelayedAdjoint
