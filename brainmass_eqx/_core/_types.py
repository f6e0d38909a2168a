"""Type aliases shared across the package (jaxtyping axis names: `time`, `nodes`, `states`,
`sensors`, `batch`)."""

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray, Real


if TYPE_CHECKING:
    RealScalarLike: TypeAlias = float | int | Array | np.ndarray | np.floating
else:
    RealScalarLike = Real[ArrayLike, ""]

#: Node state: one array per state variable, each shaped like the node axes.
State: TypeAlias = dict[str, Float[Array, "*nodes"]]

#: External or coupling input to a node: one array per input name (broadcastable to the nodes).
Inputs: TypeAlias = dict[str, Float[Array, "*nodes"]]

def names_tuple(x: str | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """A name or names as a tuple (`None` stays `None`): the converter of name fields."""
    if x is None:
        return None
    if isinstance(x, str):
        return (x,)
    if isinstance(x, tuple | list) and all(isinstance(n, str) for n in x):
        return tuple(x)
    raise TypeError(f"expected a name or a tuple of names (strings), got {x!r}.")


__all__ = ["Array", "ArrayLike", "Float", "Inputs", "PRNGKeyArray", "RealScalarLike",
           "State", "names_tuple"]
