r"""Priors over the parameters a `where=` selects: `Uniform`, `LogUniform`, `Normal` (each over
one array, per-region vectors included) and `JointPrior` (several arrays as one flat vector).

The densities are flowjax distributions (equinox modules, so they vmap, jit and differentiate
like the rest of the library); each prior also carries the elementwise bijection from the real
line onto its support, which the posterior estimators train in.
"""

import abc
from collections.abc import Callable, Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from flowjax import bijections as fb, distributions as fd
from jaxtyping import Array, Float, PRNGKeyArray, PyTree


def _as_float(value: Any, name: str) -> Array:
    try:
        arr = jnp.asarray(value, dtype=float)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be a number or an array of numbers, got {value!r}.") from e
    return arr


def _shaped(a: Array, b: Array, shape: Sequence[int] | None, names: tuple[str, str]) -> tuple:
    try:
        full = jnp.broadcast_shapes(a.shape, b.shape, tuple(shape or ()))
    except ValueError as e:
        raise ValueError(f"`{names[0]}` {a.shape}, `{names[1]}` {b.shape} and `shape` "
                         f"{shape} do not broadcast to one shape.") from e
    return jnp.broadcast_to(a, full), jnp.broadcast_to(b, full)


def _check_order(low: Array, high: Array, cls: str) -> None:
    if isinstance(low, jax.core.Tracer) or isinstance(high, jax.core.Tracer):
        return
    if not np.all(np.asarray(high) > np.asarray(low)):
        raise ValueError(f"{cls}: every `high` must exceed its `low`, got low={low}, high={high}.")


class AbstractPrior(eqx.Module):
    r"""A prior over one array of shape `shape`.

    Subclasses give the flowjax `distribution` and the elementwise `bijection` from
    $\mathbb{R}^{\text{shape}}$ onto the support; sampling, densities and the unconstrained
    map follow from them.
    """

    @property
    @abc.abstractmethod
    def distribution(self) -> fd.AbstractDistribution:
        """The flowjax distribution over `shape`."""

    @property
    @abc.abstractmethod
    def bijection(self) -> fb.AbstractBijection:
        """Elementwise bijection from the real line onto the support."""

    @property
    @abc.abstractmethod
    def mean(self) -> Array:
        """Analytic mean (elementwise)."""

    @property
    @abc.abstractmethod
    def variance(self) -> Array:
        """Analytic variance (elementwise)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.distribution.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def sample(self, key: PRNGKeyArray, n: int | None = None) -> Array:
        """One draw of shape `shape`, or `n` draws `(n, *shape)`."""
        return self.distribution.sample(key, () if n is None else (n,))

    def log_prob(self, value: Array) -> Float[Array, " *batch"]:
        """Log-density, summed over the array; $-\\infty$ outside the support."""
        lp = self.distribution.log_prob(value)
        return jnp.where(jnp.isnan(lp), -jnp.inf, lp)

    def to_unconstrained(self, value: Array) -> Array:
        return self.bijection.inverse(value)

    def from_unconstrained(self, z: Array) -> Array:
        return self.bijection.transform(z)


@final
class Uniform(AbstractPrior):
    r"""$\theta \sim \mathcal U(\text{low}, \text{high})$ elementwise; `shape` (e.g. `(80,)`)
    broadcasts scalar bounds to a per-region vector. Unconstrained map:
    $\theta = \text{low} + (\text{high}-\text{low})\,\sigma(z)$."""

    low: Array
    high: Array

    def __init__(self, low: Any, high: Any, *, shape: Sequence[int] | None = None):
        low, high = _shaped(_as_float(low, "low"), _as_float(high, "high"), shape,
                            ("low", "high"))
        _check_order(low, high, "Uniform")
        self.low, self.high = low, high

    @property
    def distribution(self):
        return fd.Uniform(self.low, self.high)

    @property
    def bijection(self):
        shape = self.low.shape
        return fb.Chain([fb.Sigmoid(shape), fb.Affine(self.low, self.high - self.low)])

    @property
    def mean(self):
        return (self.low + self.high) / 2

    @property
    def variance(self):
        return (self.high - self.low) ** 2 / 12


@final
class LogUniform(AbstractPrior):
    r"""$\log\theta \sim \mathcal U(\log\text{low}, \log\text{high})$ elementwise (scale
    parameters: couplings, noise amplitudes, time constants); density
    $p(\theta) = 1 / (\theta \log(\text{high}/\text{low}))$ on $[\text{low}, \text{high}]$,
    `0 < low < high`."""

    low: Array
    high: Array

    def __init__(self, low: Any, high: Any, *, shape: Sequence[int] | None = None):
        low, high = _shaped(_as_float(low, "low"), _as_float(high, "high"), shape,
                            ("low", "high"))
        if not isinstance(low, jax.core.Tracer) and not np.all(np.asarray(low) > 0):
            raise ValueError(f"LogUniform: `low` must be positive, got {low}.")
        _check_order(low, high, "LogUniform")
        self.low, self.high = low, high

    @property
    def distribution(self):
        shape = self.low.shape
        return fd.Transformed(fd.Uniform(jnp.log(self.low), jnp.log(self.high)), fb.Exp(shape))

    @property
    def bijection(self):
        shape = self.low.shape
        lo, hi = jnp.log(self.low), jnp.log(self.high)
        return fb.Chain([fb.Sigmoid(shape), fb.Affine(lo, hi - lo), fb.Exp(shape)])

    @property
    def mean(self):
        return (self.high - self.low) / jnp.log(self.high / self.low)

    @property
    def variance(self):
        second = (self.high**2 - self.low**2) / (2 * jnp.log(self.high / self.low))
        return second - self.mean**2


@final
class Normal(AbstractPrior):
    r"""$\theta \sim \mathcal N(\text{loc}, \text{scale}^2)$ elementwise (unbounded; the
    unconstrained map is the identity)."""

    loc: Array
    scale: Array

    def __init__(self, loc: Any = 0.0, scale: Any = 1.0, *, shape: Sequence[int] | None = None):
        loc, scale = _shaped(_as_float(loc, "loc"), _as_float(scale, "scale"), shape,
                             ("loc", "scale"))
        if not isinstance(scale, jax.core.Tracer) and not np.all(np.asarray(scale) > 0):
            raise ValueError(f"Normal: `scale` must be positive, got {scale}.")
        self.loc, self.scale = loc, scale

    @property
    def distribution(self):
        return fd.Normal(self.loc, self.scale)

    @property
    def bijection(self):
        return fb.Identity(self.loc.shape)

    @property
    def mean(self):
        return self.loc

    @property
    def variance(self):
        return self.scale**2


@final
class JointPrior(eqx.Module):
    r"""Independent priors over several arrays, as one flat parameter vector $\theta$
    (of length `dim`: the sizes of the arrays, concatenated in order).

    **Arguments:**

    - `priors`: one [`brainmass_eqx.inference.AbstractPrior`][] per array.
    - `where`: `lambda m: (m.coupling.k, m.noise.sigma, m.node.a)`, selecting one model array
      per prior (as `fit` does); `None` for a prior over a bare vector.
    - `names`: a label per prior (default `theta0`, `theta1`, ...); vector priors expand to
      `name[i]` in `labels`.

    `apply(model, theta)` writes $\theta$ into the model (a prior of shape `()` over a
    per-region array sets every region to one value); use it inside the simulator.
    """

    priors: tuple[AbstractPrior, ...]
    where: Callable[[PyTree], Any] | None = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, priors: AbstractPrior | Sequence[AbstractPrior], *,
                 where: Callable[[PyTree], Any] | None = None,
                 names: Sequence[str] | None = None):
        priors = (priors,) if isinstance(priors, AbstractPrior) else tuple(priors)
        if not priors or not all(isinstance(p, AbstractPrior) for p in priors):
            raise TypeError("`priors` must be one or more brainmass_eqx.inference priors "
                            f"(Uniform, LogUniform, Normal), got {priors!r}.")
        names = tuple(f"theta{i}" for i in range(len(priors))) if names is None else tuple(names)
        if len(names) != len(priors):
            raise ValueError(f"`names` has {len(names)} entries for {len(priors)} priors.")
        self.priors, self.where, self.names = priors, where, names

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(p.size for p in self.priors)

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    @property
    def labels(self) -> tuple[str, ...]:
        out = []
        for name, p in zip(self.names, self.priors):
            out += [name] if p.shape == () else [f"{name}[{i}]" for i in range(p.size)]
        return tuple(out)

    @property
    def mean(self) -> Float[Array, " dim"]:
        return jnp.concatenate([jnp.ravel(p.mean) for p in self.priors])

    @property
    def variance(self) -> Float[Array, " dim"]:
        return jnp.concatenate([jnp.ravel(p.variance) for p in self.priors])

    def unflatten(self, theta: Float[Array, " dim"]) -> tuple[Array, ...]:
        """The flat vector as one array per prior."""
        theta = self._check(theta)
        cuts = np.cumsum(self.sizes)[:-1]
        return tuple(v.reshape(p.shape) for v, p in zip(jnp.split(theta, cuts), self.priors))

    def _check(self, theta: Any) -> Array:
        theta = jnp.asarray(theta)
        if theta.ndim != 1 or theta.shape[0] != self.dim:
            raise ValueError(f"`theta` must be a vector of length {self.dim} (the prior's "
                             f"`dim`), got shape {theta.shape}; vmap over batches.")
        return theta

    def _map(self, fn: Callable, theta: Array) -> Array:
        parts = self.unflatten(theta)
        return jnp.concatenate([jnp.ravel(fn(p, v)) for p, v in zip(self.priors, parts)])

    def sample(self, key: PRNGKeyArray, n: int | None = None) -> Array:
        """One vector `(dim,)`, or `n` of them `(n, dim)`."""
        keys = jax.random.split(key, len(self.priors))
        if n is None:
            return jnp.concatenate([jnp.ravel(p.sample(k)) for p, k in zip(self.priors, keys)])
        return jnp.concatenate([p.sample(k, n).reshape(n, -1)
                                for p, k in zip(self.priors, keys)], axis=1)

    def log_prob(self, theta: Float[Array, " dim"]) -> Float[Array, ""]:
        parts = self.unflatten(theta)
        return sum(p.log_prob(v) for p, v in zip(self.priors, parts))

    def to_unconstrained(self, theta: Float[Array, " dim"]) -> Float[Array, " dim"]:
        return self._map(lambda p, v: p.to_unconstrained(v), theta)

    def from_unconstrained(self, z: Float[Array, " dim"]) -> Float[Array, " dim"]:
        return self._map(lambda p, v: p.from_unconstrained(v), z)

    def log_det_jacobian(self, z: Float[Array, " dim"]) -> Float[Array, ""]:
        r"""$\log\lvert\det \partial\theta/\partial z\rvert$ of `from_unconstrained` at `z`."""
        parts = self.unflatten(z)
        return sum(p.bijection.transform_and_log_det(v)[1] for p, v in zip(self.priors, parts))

    def in_support(self, theta: Float[Array, " dim"]) -> Array:
        return jnp.isfinite(self.log_prob(theta))

    def apply(self, model: PyTree, theta: Float[Array, " dim"]) -> PyTree:
        """`model` with the arrays `where` selects replaced by `theta`'s parts (broadcast to
        each array's shape, cast to its dtype)."""
        if self.where is None:
            raise ValueError("this JointPrior has no `where`: build it with `where=lambda m: "
                             "(...)` to write parameters into a model.")
        try:
            selected = self.where(model)
        except Exception as e:
            raise ValueError(f"`where` could not select from the model: {e}") from e
        single = not isinstance(selected, tuple | list)
        selected = (selected,) if single else tuple(selected)
        if len(selected) != len(self.priors):
            raise ValueError(f"`where` selects {len(selected)} arrays but there are "
                             f"{len(self.priors)} priors: give one prior per array.")
        values = []
        for name, old, new in zip(self.names, selected, self.unflatten(theta)):
            old = jnp.asarray(old)
            try:
                values.append(jnp.broadcast_to(new, old.shape).astype(
                    old.dtype if jnp.issubdtype(old.dtype, jnp.floating) else new.dtype))
            except ValueError as e:
                raise ValueError(f"prior `{name}` has shape {new.shape}, which does not "
                                 f"broadcast to the selected array's shape {old.shape}.") from e
        return eqx.tree_at(self.where, model, values[0] if single else tuple(values))


def as_joint(prior: Any) -> JointPrior:
    if isinstance(prior, JointPrior):
        return prior
    if isinstance(prior, AbstractPrior):
        return JointPrior(prior)
    raise TypeError(f"`prior` must be a JointPrior or a prior (Uniform, LogUniform, Normal), "
                    f"got {type(prior).__name__}.")
