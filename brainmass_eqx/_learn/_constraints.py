"""Trainable selection (`where=`) and constraints (`Positive`, `Negative`, `Bounded`) for
fitting."""

import abc
from collections.abc import Callable
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PyTree


class AbstractConstraint(eqx.Module):
    r"""A reparametrisation $x = g(u)$ from an unconstrained $u \in \mathbb{R}$ to the
    parameter's valid set. Optimisers work on $u$; the model sees $x$.

    Subclasses implement `forward(u) -> x`, `inverse(x) -> u` and `bounds` (the closure of the
    valid set, `(lo, hi)` with `None` for unbounded, used by derivative-free methods that need a
    box).
    """

    @abc.abstractmethod
    def forward(self, u: Array) -> Array:
        """$x = g(u)$."""

    @abc.abstractmethod
    def inverse(self, x: Array) -> Array:
        """$u = g^{-1}(x)$ (raises for an `x` outside the valid set)."""

    @property
    @abc.abstractmethod
    def bounds(self) -> tuple[ArrayLike | None, ArrayLike | None]:
        """`(lo, hi)`."""


@final
class Unconstrained(AbstractConstraint):
    """The identity: the parameter is optimised as it is."""

    def forward(self, u: Array) -> Array:
        return u

    def inverse(self, x: Array) -> Array:
        return x

    @property
    def bounds(self) -> tuple[None, None]:
        return None, None


@final
class Positive(AbstractConstraint):
    r"""$x = e^u > 0$: gradient steps act on $\log x$ (relative changes), the natural scale for
    gains, rates and time constants spanning decades."""

    def forward(self, u: Array) -> Array:
        return jnp.exp(u)

    def inverse(self, x: Array) -> Array:
        _check(x, lambda v: v > 0, "Positive", "> 0")
        return jnp.log(x)

    @property
    def bounds(self) -> tuple[float, None]:
        return 0.0, None


@final
class Negative(AbstractConstraint):
    r"""$x = -m - e^u < -m$: as `Positive` for parameters that must stay negative, on a log
    scale, at least `margin` $m \ge 0$ below zero (default 0). A margin keeps a fitted Hopf
    node's bifurcation parameter out of the critically slow range where a finite simulation
    cannot show its stationary statistics."""

    margin: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if not (np.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"`Negative(margin)` needs a finite margin >= 0, got "
                             f"{self.margin!r}.")

    def forward(self, u: Array) -> Array:
        return -self.margin - jnp.exp(u)

    def inverse(self, x: Array) -> Array:
        _check(x, lambda v: v < -self.margin, "Negative", f"< -{self.margin}")
        return jnp.log(-x - self.margin)

    @property
    def bounds(self) -> tuple[None, float]:
        return None, -self.margin


@final
class Bounded(AbstractConstraint):
    r"""$x = lo + (hi - lo)\,\sigma(u) \in (lo, hi)$ with $\sigma$ the logistic function.
    `lo` and `hi` may be arrays (one interval per region)."""

    lo: Float[Array, "*shape"]
    hi: Float[Array, "*shape"]

    def __init__(self, lo: ArrayLike, hi: ArrayLike):
        lo_arr, hi_arr = np.asarray(lo, float), np.asarray(hi, float)
        if not (np.all(np.isfinite(lo_arr)) and np.all(np.isfinite(hi_arr))):
            raise ValueError(f"`Bounded` needs finite bounds, got lo={lo}, hi={hi}.")
        if not np.all(hi_arr > lo_arr):
            raise ValueError(f"`Bounded` needs hi > lo, got lo={lo}, hi={hi}.")
        self.lo = jnp.asarray(lo_arr, jnp.result_type(float))
        self.hi = jnp.asarray(hi_arr, jnp.result_type(float))

    def forward(self, u: Array) -> Array:
        lo, hi = self.lo.astype(u.dtype), self.hi.astype(u.dtype)
        return lo + (hi - lo) * jax.nn.sigmoid(u)

    def inverse(self, x: Array) -> Array:
        lo, hi = self.lo.astype(x.dtype), self.hi.astype(x.dtype)
        _check(x, lambda v: (v > np.asarray(lo)) & (v < np.asarray(hi)), "Bounded",
               f"strictly inside ({np.asarray(lo)}, {np.asarray(hi)})")
        p = (x - lo) / (hi - lo)
        return jnp.log(p) - jnp.log1p(-p)

    @property
    def bounds(self) -> tuple[Array, Array]:
        return self.lo, self.hi


def _check(x: Array, ok: Callable, name: str, need: str) -> None:
    if isinstance(x, jax.core.Tracer):
        return
    if not bool(np.all(ok(np.asarray(x)))):
        raise ValueError(f"a parameter constrained by `{name}` must be {need}; its current "
                         f"value is {np.asarray(x)}. Start the fit from a valid value.")


@final
class Constrained(eqx.Module):
    """A parameter stored as its unconstrained value `raw`; `value` is what the model uses.
    [`brainmass_eqx.unwrap`][] replaces every `Constrained` in a pytree by its value."""

    raw: Array
    constraint: AbstractConstraint

    @property
    def value(self) -> Array:
        return self.constraint.forward(self.raw)


def _is_constrained(x: Any) -> bool:
    return isinstance(x, Constrained)


def unwrap(tree: PyTree) -> PyTree:
    """Replace every [`brainmass_eqx.Constrained`][] node by its constrained value."""
    return jax.tree.map(lambda x: x.value if _is_constrained(x) else x, tree,
                        is_leaf=_is_constrained)


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, tuple | list) else (x,)


def constrain(model: PyTree, where: Callable[[PyTree], Any],
              constraints: AbstractConstraint | tuple | list | None = None
              ) -> tuple[PyTree, PyTree]:
    """Wrap the leaves selected by `where` in [`brainmass_eqx.Constrained`][] nodes and return
    `(wrapped_model, filter_spec)`, the spec marking exactly their unconstrained values as
    trainable (everything else is frozen).

    **Arguments:**

    - `model`: any pytree (a model, a network).
    - `where`: `lambda m: (m.node.a, m.coupling.k)`, as for `equinox.tree_at`; one array or a
      tuple of arrays (per-region vectors are fine).
    - `constraints`: `None` (all unconstrained), one constraint for all, or a tuple with one
      constraint (or `None`) per selected array.
    """
    try:
        selected = where(model)
    except Exception as e:
        raise ValueError(f"`where` could not select from the model: {e}") from e
    single = not isinstance(selected, tuple | list)
    leaves = _as_tuple(selected)
    if not leaves:
        raise ValueError("`where` selected nothing to fit.")
    if constraints is None or isinstance(constraints, AbstractConstraint):
        cons = (constraints,) * len(leaves)
    else:
        cons = _as_tuple(constraints)
        if len(cons) != len(leaves):
            raise ValueError(f"`constraints` has {len(cons)} entries but `where` selected "
                             f"{len(leaves)} parameters; give one per parameter.")
    for i, leaf in enumerate(leaves):
        for j in range(i):
            if leaves[j] is leaf:
                raise ValueError(
                    f"`where` selects the same array twice (positions {j} and {i}): select each "
                    "parameter once (two fields holding one array object cannot be told apart; "
                    "give them copies, e.g. `jnp.array(x)`)."
                )
    cons = tuple(Unconstrained() if c is None else c for c in cons)
    for i, (leaf, c) in enumerate(zip(leaves, cons)):
        if not isinstance(c, AbstractConstraint):
            raise ValueError(f"`constraints[{i}]` must be an AbstractConstraint (e.g. "
                             f"`bmx.Positive()`), got {c!r}.")
        if not (isinstance(leaf, jax.Array | np.ndarray)
                and jnp.issubdtype(jnp.result_type(leaf), jnp.floating)):
            raise ValueError(
                f"`where` selected a non-float-array leaf at position {i} ({leaf!r}); select "
                "model parameters (float arrays), e.g. `lambda m: (m.node.a, m.coupling.k)`."
            )
    wrapped_leaves = tuple(Constrained(c.inverse(jnp.asarray(leaf)), c)
                           for leaf, c in zip(leaves, cons))
    wrapped = eqx.tree_at(where, model, wrapped_leaves[0] if single else wrapped_leaves)

    def spec_of(x):
        if _is_constrained(x):
            return Constrained(True, jax.tree.map(lambda _: False, x.constraint))
        return False

    spec = jax.tree.map(spec_of, wrapped, is_leaf=_is_constrained)
    return wrapped, spec
