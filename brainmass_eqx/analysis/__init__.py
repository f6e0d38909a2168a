"""Dynamics analysis of any `AbstractSystem`, delayed networks included: equilibria, Jacobians,
spectra (characteristic roots with delays) and the linear-noise approximation (covariances,
cross-spectra, FC of states and of BOLD), with optimistix and lineax doing the numerics."""

from ._continuation import (
    Bifurcation as Bifurcation,
    Branch as Branch,
    continuation as continuation,
)
from ._cycles import (
    CycleBranch as CycleBranch,
    PeriodicOrbit as PeriodicOrbit,
    cycle_continuation as cycle_continuation,
    periodic_orbit as periodic_orbit,
)
from ._fixed_point import (
    FixedPoint as FixedPoint,
    fixed_point as fixed_point,
    fixed_points as fixed_points,
)
from ._jacobian import Jacobian as Jacobian, jacobian as jacobian
from ._linearise import Linearisation as Linearisation, linearise as linearise
from ._lyapunov import solve_lyapunov as solve_lyapunov
from ._parameter import Drive as Drive
from ._spectrum import Spectrum as Spectrum, eigenvalues as eigenvalues
from ._state_vector import StateLayout as StateLayout
