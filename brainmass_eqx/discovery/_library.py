r"""Candidate-term libraries for sparse regression: polynomials, sigmoids, user callables, and
coupling through a connectome with its conduction delays. Every term is named in the data's
state names, and is evaluated both on recorded trajectories (for the regression, delays read
from the record) and on a state (for the recovered model's vector field)."""

import abc
import itertools
from collections.abc import Callable, Sequence
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float


class AbstractTerms(eqx.Module):
    """A family of candidate terms. `names(states)` names them; `local(y)` evaluates them on a
    state dict (`{name: (*nodes,)}`) as `(*nodes, n_terms)`; coupling families return `()`
    names from `local` and evaluate on recordings instead."""

    @abc.abstractmethod
    def names(self, states: Sequence[str]) -> list[str]:
        """One printable name per term."""

    @abc.abstractmethod
    def local(self, y: dict[str, Array], states: Sequence[str]) -> Array:
        """The terms on a state, `(*nodes, n_terms)`."""

    def on_record(self, x: Float[np.ndarray, "time nodes states"], states: Sequence[str],
                  context: "RecordContext") -> np.ndarray:
        """The terms along a recording `(time, nodes, n_terms)` (default: `local` per sample)."""
        y = {s: jnp.asarray(x[..., i]) for i, s in enumerate(states)}
        return np.asarray(self.local(y, states))


@final
class RecordContext(eqx.Module):
    """What coupling terms need to read a recording: weights `w[i, j]` (onto i from j) and
    delays in samples (`lags[i, j]`)."""

    weights: np.ndarray | None
    lags: np.ndarray | None


def _power_name(state: str, p: int) -> str:
    return state if p == 1 else f"{state}^{p}"


@final
class Polynomial(AbstractTerms):
    """All monomials of the states up to `degree` (with the constant `1` when `bias`), e.g.
    `x`, `y`, `x^2`, `x*y`, `x*y^2`."""

    degree: int = 3
    bias: bool = True

    def _exponents(self, n: int) -> list[tuple[int, ...]]:
        if self.degree < 1:
            raise ValueError(f"`degree` must be at least 1, got {self.degree}.")
        out = [tuple(e) for d in range(0 if self.bias else 1, self.degree + 1)
               for e in _compositions(d, n)]
        return out

    def names(self, states):
        names = []
        for e in self._exponents(len(states)):
            parts = [_power_name(s, p) for s, p in zip(states, e) if p]
            names.append("*".join(parts) if parts else "1")
        return names

    def local(self, y, states):
        xs = [y[s] for s in states]
        ones = jnp.ones_like(xs[0])
        cols = []
        for e in self._exponents(len(states)):
            v = ones
            for x, p in zip(xs, e):
                if p:
                    v = v * x**p
            cols.append(v)
        return jnp.stack(cols, axis=-1)


def _compositions(total: int, n: int) -> list[tuple[int, ...]]:
    """Exponent tuples of `n` states summing to `total`, in lexicographic (descending) order."""
    out = [e for e in itertools.product(range(total, -1, -1), repeat=n) if sum(e) == total]
    return out


@final
class Sigmoid(AbstractTerms):
    r"""Logistic terms $1/(1 + e^{-g(x - \theta)})$ of each state in `of` (default: all) for
    every pair of `gains` $g$ and `thresholds` $\theta$."""

    gains: tuple[float, ...] = (1.0,)
    thresholds: tuple[float, ...] = (0.0,)
    of: tuple[str, ...] | None = None

    def _states(self, states):
        return tuple(states) if self.of is None else self.of

    def names(self, states):
        return [f"S({s};{g:g},{t:g})" for s in self._states(states)
                for g in self.gains for t in self.thresholds]

    def local(self, y, states):
        return jnp.stack([1 / (1 + jnp.exp(-g * (y[s] - t))) for s in self._states(states)
                          for g in self.gains for t in self.thresholds], axis=-1)


@final
class Custom(AbstractTerms):
    """User terms: `functions` take the state dict and return one array per node;
    `labels` name them."""

    functions: tuple[Callable, ...] = eqx.field(static=True)
    labels: tuple[str, ...] = eqx.field(static=True)

    def __init__(self, functions: Sequence[Callable], labels: Sequence[str]):
        if len(functions) != len(labels) or not functions:
            raise ValueError(f"give one label per function, got {len(functions)} functions and "
                             f"{len(labels)} labels.")
        self.functions, self.labels = tuple(functions), tuple(labels)

    def names(self, states):
        return list(self.labels)

    def local(self, y, states):
        return jnp.stack([jnp.broadcast_to(f(y), y[states[0]].shape) for f in self.functions],
                         axis=-1)


class AbstractCouplingTerms(AbstractTerms):
    """Coupling through the connectome: evaluated on recordings only (the recovered model's
    coupling becomes a network coupling, `SparseModel.network`)."""

    of: eqx.AbstractVar[str]

    def local(self, y, states):
        shape = y[states[0]].shape
        return jnp.zeros((*shape, 0))

    def delayed_sum(self, x: np.ndarray, states: Sequence[str], context: RecordContext
                    ) -> np.ndarray:
        r"""$\sum_j w_{ij}\, g(x_j(t - \tau_{ij}))$ along the recording ($g$ the identity
        unless the term has one; `NaN` where the delay reaches before the record's start)."""
        if context.weights is None:
            raise ValueError("coupling terms need the connectome: pass `connectome=` to "
                             "`discover`.")
        if self.of not in states:
            raise ValueError(f"coupling term of {self.of!r}: no such state in {tuple(states)}.")
        v = x[..., list(states).index(self.of)]  # (time, nodes)
        g = getattr(self, "g", None)
        if g is not None:
            v = np.asarray(g(jnp.asarray(v)), dtype=float)
        w, lags = context.weights, context.lags
        n_t, n = v.shape
        out = np.full((n_t, n), np.nan)
        t = np.arange(n_t)
        for i in range(n):
            js = np.nonzero(w[i])[0]
            if js.size == 0:
                out[:, i] = 0.0
                continue
            idx = t[:, None] - lags[i, js][None, :]
            ok = idx >= 0
            vals = np.where(ok, v[np.clip(idx, 0, None), js[None, :]], np.nan)
            out[:, i] = vals @ w[i, js]
        return out


@final
class LinearCouplingTerm(AbstractCouplingTerms):
    r"""$\sum_j w_{ij}\, g(x_j(t - \tau_{ij}))$ of state `of`, in that state's equation:
    with `g=None` (the identity) it is `bmx.LinearCoupling` in the recovered network; any
    elementwise `g` (a sigmoid, `jnp.tanh`, ...) named by `label` makes a nonlinear
    candidate coupling (`SparseModel.network` then needs the matching coupling built by
    hand)."""

    of: str = "x"
    g: Callable | None = eqx.field(default=None, static=True)
    label: str = eqx.field(default="g", static=True)

    def names(self, states):
        inner = f"{self.of}_j(t-tau_ij)"
        return [f"sum_j w_ij {inner if self.g is None else f'{self.label}({inner})'}"]

    def on_record(self, x, states, context):
        return self.delayed_sum(x, states, context)[..., None]


@final
class DiffusiveCouplingTerm(AbstractCouplingTerms):
    r"""$\sum_j w_{ij}\,(x_j(t - \tau_{ij}) - x_i(t))$ of state `of`, in that state's
    equation (`bmx.DiffusiveCoupling` in the recovered network)."""

    of: str = "x"

    def names(self, states):
        return [f"sum_j w_ij ({self.of}_j(t-tau_ij) - {self.of}_i)"]

    def on_record(self, x, states, context):
        summed = self.delayed_sum(x, states, context)  # checks the connectome and state
        v = x[..., list(states).index(self.of)]
        strength = context.weights.sum(axis=1)
        return (summed - strength[None] * v)[..., None]


@final
class Library(eqx.Module):
    """Candidate terms: the concatenation of term families, e.g.
    `Library(Polynomial(3), DiffusiveCouplingTerm("x"))`."""

    families: tuple[AbstractTerms, ...]

    def __init__(self, *families: AbstractTerms):
        if not families or not all(isinstance(f, AbstractTerms) for f in families):
            raise TypeError("`Library` takes term families (Polynomial(...), Sigmoid(...), "
                            f"Custom(...), DiffusiveCouplingTerm(...)), got {families!r}.")
        self.families = tuple(families)

    @property
    def local_families(self) -> tuple[AbstractTerms, ...]:
        return tuple(f for f in self.families if not isinstance(f, AbstractCouplingTerms))

    @property
    def coupling_families(self) -> tuple[AbstractCouplingTerms, ...]:
        return tuple(f for f in self.families if isinstance(f, AbstractCouplingTerms))

    def names(self, states: Sequence[str]) -> list[str]:
        """Local terms first, then coupling terms (the column order of every design matrix)."""
        return [n for f in (*self.local_families, *self.coupling_families)
                for n in f.names(states)]

    def n_local(self, states: Sequence[str]) -> int:
        return sum(len(f.names(states)) for f in self.local_families)

    def local(self, y: dict[str, Array], states: Sequence[str]) -> Array:
        return jnp.concatenate([f.local(y, states) for f in self.local_families], axis=-1)

    def on_record(self, x: np.ndarray, states: Sequence[str], context: RecordContext
                  ) -> np.ndarray:
        return np.concatenate([np.asarray(f.on_record(x, states, context), dtype=float)
                               for f in (*self.local_families, *self.coupling_families)],
                              axis=-1)


def record_context(connectome: Any, speed: Any, dt: float, n_nodes: int) -> RecordContext:
    """Weights and integer delays (in samples of the recording) of a connectome."""
    if connectome is None:
        return RecordContext(None, None)
    w = np.asarray(connectome.weights, dtype=float)
    if w.shape != (n_nodes, n_nodes):
        raise ValueError(f"the connectome has {w.shape[0]} regions but the data have {n_nodes} "
                         "nodes.")
    if speed is None or getattr(connectome, "lengths", None) is None:
        lags = np.zeros(w.shape, dtype=int)
    else:
        lengths = getattr(connectome.lengths, "array", connectome.lengths)
        lags = np.rint(np.asarray(lengths, float) / float(speed) / dt).astype(int)
    return RecordContext(w, lags)
