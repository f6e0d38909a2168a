"""The bottom layer: type aliases, units and the parameter field, the whole-steps check and
small statistics. Imports nothing else of the package."""

from ._stats import corr_from_cov as corr_from_cov, covariance as covariance
from ._steps import whole_steps as whole_steps
from ._types import Inputs as Inputs, RealScalarLike as RealScalarLike, State as State
from ._units import (
    CANONICAL_UNITS as CANONICAL_UNITS,
    check_finite as check_finite,
    name_param_converters as name_param_converters,
    param as param,
    strip_units as strip_units,
    to_float_array as to_float_array,
    to_ms as to_ms,
)
