"""Type aliases shared across the package (jaxtyping axis names: `time`, `nodes`, `states`,
`sensors`, `batch`)."""

from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real


if TYPE_CHECKING:
    RealScalarLike: TypeAlias = float | int | Array | np.ndarray | np.floating
else:
    RealScalarLike = Real[ArrayLike, ""]

#: A parameter value before conversion: a plain number/array in canonical units, or a
#: `unxt.Quantity` in any unit of the right dimension.
ParamLike: TypeAlias = Any

#: Node state: one array per state variable, each shaped like the node axes.
State: TypeAlias = dict[str, Float[Array, "*nodes"]]

#: External or coupling input to a node: one array per input name (broadcastable to the nodes).
Inputs: TypeAlias = dict[str, Float[Array, "*nodes"]]

__all__ = ["Array", "ArrayLike", "Float", "Inputs", "PRNGKeyArray", "ParamLike", "RealScalarLike",
           "State"]
