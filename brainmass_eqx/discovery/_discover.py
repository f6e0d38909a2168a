r"""`discover`: sparse regression of a node's equations (and its coupling through the
connectome) from trajectories, on smoothed derivatives or in weak form; `SparseModel`, the
recovered model, which `simulate`, `fit` and `analysis` take as any other."""

import abc
from collections.abc import Sequence
from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal
from jaxtyping import Array, Float, PRNGKeyArray

from .._models import AbstractNeuralMass
from .._network import DiffusiveCoupling, LinearCoupling, Network
from .._solve import Simulation
from ._library import (
    DiffusiveCouplingTerm,
    Library,
    record_context,
)
from ._regression import STLSQ, AbstractRegression, Ensemble


class AbstractForm(eqx.Module):
    """Turns a recording `x (time, nodes, states)` and its terms `(time, nodes, terms)` into
    regression rows: `(G (nodes, rows, terms), b (nodes, rows, states))`."""

    @abc.abstractmethod
    def rows(self, x: np.ndarray, features: np.ndarray, dt: float
             ) -> tuple[np.ndarray, np.ndarray]:
        """The design matrix and target, per node."""


@final
class Derivative(AbstractForm):
    r"""Pointwise regression $\dot x(t_k) \approx \Theta(x(t_k))\,\xi$, with $\dot x$ from a
    Savitzky-Golay filter (`window` samples, polynomial `order`); `window` samples at each end
    are dropped. Sensitive to measurement noise: the derivative amplifies it."""

    window: int = 9
    order: int = 3

    def rows(self, x, features, dt):
        if self.window % 2 == 0 or self.window <= self.order:
            raise ValueError(f"`window` must be odd and exceed `order`, got {self.window}, "
                             f"{self.order}.")
        dx = scipy.signal.savgol_filter(x, self.window, self.order, deriv=1, delta=dt, axis=0)
        cut = slice(self.window, len(x) - self.window)
        return np.moveaxis(features[cut], 1, 0), np.moveaxis(dx[cut], 1, 0)


@final
class Weak(AbstractForm):
    r"""Weak form (Messenger & Bortz 2021): against compactly supported test functions
    $\phi_k(t) = (1 - s^2)^p$ on windows of `width` samples ($s \in [-1, 1]$),
    $$-\int \dot\phi_k\, x\,\mathrm{d}t = \int \phi_k\, \Theta(x)\,\mathrm{d}t\;\xi,$$
    (integration by parts: $\phi_k$ vanishes at the window's ends), so no derivative of the
    data is taken and zero-mean noise averages out. `n_windows` windows spread evenly."""

    n_windows: int = 300
    width: int = 61
    power: int = 4

    def rows(self, x, features, dt):
        n_t = len(x)
        if self.width < 5 or self.width > n_t:
            raise ValueError(f"`width` must be between 5 and the recording's {n_t} samples, "
                             f"got {self.width}.")
        s = np.linspace(-1.0, 1.0, self.width)
        phi = (1 - s**2) ** self.power
        dphi = -2 * self.power * s * (1 - s**2) ** (self.power - 1) * (2 / ((self.width - 1)
                                                                         * dt))
        weights = np.full(self.width, dt)
        weights[[0, -1]] = dt / 2  # trapezoid
        starts = np.unique(np.linspace(0, n_t - self.width, self.n_windows).astype(int))
        idx = starts[:, None] + np.arange(self.width)[None]  # (windows, width)
        g = np.einsum("w,kwnf->nkf", phi * weights, features[idx])
        b = -np.einsum("w,kwns->nks", dphi * weights, x[idx])
        return g, b


def _as_records(data: Any, dt: float | None, state_names: Sequence[str] | None
                ) -> tuple[list[np.ndarray], float, tuple[str, ...]]:
    items = list(data) if isinstance(data, list | tuple) else [data]
    if not items:
        raise ValueError("`data` is empty.")
    records, names, step = [], None, dt
    for item in items:
        if isinstance(item, Simulation):
            keys = tuple(state_names) if state_names is not None else tuple(item.ys)
            x = np.stack([np.asarray(item[k]) for k in keys], axis=-1)
            ts = np.asarray(item.ts)
            if len(ts) > 1:
                step = float(ts[1] - ts[0])
            item_names = keys
        else:
            x = np.asarray(item, dtype=float)
            if x.ndim not in (2, 3):
                raise ValueError(f"an array in `data` must be (time, states) or (time, nodes, "
                                 f"states), got shape {x.shape}.")
            if dt is None:
                raise ValueError("`dt` is needed for array data: the sampling interval in ms.")
            item_names = tuple(state_names) if state_names is not None else tuple(
                f"x{i}" for i in range(x.shape[-1]))
        if x.ndim == 2:
            x = x[:, None, :]
        if len(item_names) != x.shape[-1]:
            raise ValueError(f"`state_names` has {len(item_names)} names for {x.shape[-1]} "
                             "states.")
        if names is not None and item_names != names:
            raise ValueError(f"every recording needs the same states, got {names} and "
                             f"{item_names}.")
        names = item_names
        records.append(x)
    if step is None or not step > 0:
        raise ValueError("could not tell the sampling interval: pass `dt` (ms).")
    return records, float(step), names


@final
class SparseModel(AbstractNeuralMass):
    r"""A node model recovered by sparse regression:
    $\dot y_e = \sum_k \xi_{ek}\,\Theta_k(y) + u_e$ over the library's local terms (one
    equation per state; inputs $u_e$ enter their state's equation, so a network's coupling
    drives it like any catalogue model's).

    **Fields:** `coefficients` `(equations, terms)` over *all* the library's terms (local, then
    coupling; plain arrays, so `fit` refines them through the solve); `inclusion`, each term's
    bagging inclusion probability (`NaN` without an ensemble); the `library` and `names` (the
    states). `terms` names the columns; `equations()` prints the model; `network(...)` builds
    the recovered network when the library has a coupling term.
    """

    coefficients: Float[Array, "*nodes equations terms"]
    inclusion: Float[Array, "*nodes equations terms"]
    library: Library = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)

    state_names = property(lambda self: self.names)  # per instance: the data's state names
    input_names = property(lambda self: self.names)
    default_cvar = property(lambda self: self.names[0])
    observables: ClassVar[tuple[str, ...]] = ()
    category: ClassVar[str] = "phenomenological"
    use_case: ClassVar[str] = "Equations recovered from data by sparse regression"
    reference: ClassVar[str] = "Brunton, Proctor & Kutz (2016) PNAS 113:3932"

    @property
    def terms(self) -> tuple[str, ...]:
        return tuple(self.library.names(self.names))

    @property
    def node_shape(self) -> tuple[int, ...]:
        return tuple(jnp.shape(self.coefficients)[:-2])

    @property
    def dtype(self):
        return jnp.result_type(self.coefficients)

    def vector_field(self, t, y, inputs):
        del t
        n_local = self.library.n_local(self.names)
        theta = self.library.local(y, self.names)  # (*nodes, n_local)
        coef = jnp.asarray(self.coefficients)[..., :n_local]  # (*nodes, equations, n_local)
        out = jnp.einsum("...k,...ek->...e", theta, jnp.broadcast_to(
            coef, (*theta.shape[:-1], *coef.shape[-2:])))  # (*nodes, equations)
        return {s: out[..., e] + inputs.get(s, 0.0) for e, s in enumerate(self.names)}

    def initial_state(self, n_nodes=None, *, key: PRNGKeyArray | None = None):
        shape = self.nodes_shape(n_nodes)
        if key is None:
            return {s: jnp.full(shape, 0.1, self.dtype) for s in self.names}
        keys = jax.random.split(key, len(self.names))
        return {s: jax.random.uniform(k, shape, self.dtype, -0.5, 0.5)
                for k, s in zip(keys, self.names)}

    def equations(self, *, precision: int = 4, time_unit: str = "ms") -> str:
        """The recovered equations, one line per state (coefficients per `time_unit`)."""
        lines = []
        coef = np.asarray(self.coefficients)
        if coef.ndim > 2:
            return "\n\n".join(f"region {i}:\n" + eqx.tree_at(
                lambda m: m.coefficients, self, jnp.asarray(c)).equations(
                    precision=precision, time_unit=time_unit) for i, c in enumerate(coef))
        for e, s in enumerate(self.names):
            parts = [f"{'-' if c < 0 else '+'} {abs(c):.{precision}g} {name}"
                     for c, name in zip(coef[e], self.terms) if c != 0]
            rhs = " ".join(parts).lstrip("+ ") if parts else "0"
            lines.append(f"d{s}/dt = {rhs}")
        return "\n".join(lines) + f"\n(t in {time_unit}; coefficients per {time_unit})"

    def network(self, connectome: Any, *, speed: Any = None, noise: Any = None) -> Network:
        """The recovered network: this node on `connectome`, with the coupling term's
        coefficient as the gain of the matching `bmx` coupling."""
        families = self.library.coupling_families
        if len(families) != 1:
            raise ValueError("`network` needs exactly one coupling term in the library, got "
                             f"{len(families)}.")
        fam = families[0]
        if getattr(fam, "g", None) is not None:
            raise ValueError("`network` maps only linear and diffusive coupling terms onto a "
                             "bmx coupling; build the network for a transformed coupling term "
                             "by hand.")
        col = self.library.n_local(self.names)
        eq = self.names.index(fam.of)
        if jnp.ndim(self.coefficients) != 2:
            raise ValueError("`network` needs a shared model (`discover(..., shared=True)`): "
                             "a network coupling has one gain.")
        gain = jnp.asarray(self.coefficients)[eq, col]
        coupling = (DiffusiveCoupling(k=gain, cvar=fam.of, target=fam.of)
                    if isinstance(fam, DiffusiveCouplingTerm)
                    else LinearCoupling(a=gain, cvar=fam.of, target=fam.of))
        return Network(self, connectome, coupling, speed=speed, noise=noise)


_FORMS = {"weak": Weak(), "derivative": Derivative()}


def _regress(regression: Any, g: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = np.isfinite(g).all(axis=1) & np.isfinite(b).all(axis=1)
    if ok.sum() < g.shape[1]:
        raise ValueError(f"only {ok.sum()} usable regression rows for {g.shape[1]} terms: give "
                         "longer recordings (or shorter delays/windows).")
    g, b = g[ok], b[ok]
    if isinstance(regression, Ensemble):
        return regression.fit_ensemble(g, b)
    return regression.fit(g, b), np.full((b.shape[1], g.shape[1]), np.nan)


def discover(data: Any, library: Library, *, dt: float | None = None,
             state_names: Sequence[str] | None = None, method: AbstractForm = Weak(),
             regression: AbstractRegression | Ensemble = STLSQ(), shared: bool = True,
             connectome: Any = None, speed: Any = None) -> SparseModel:
    r"""Learn a node's equations (and its coupling) from recordings.

    **Arguments:**

    - `data`: a `Simulation` (its states, or those named in `state_names`), an array
      `(time, states)` or `(time, nodes, states)`, or a list of them (several trajectories).
    - `library`: the candidate terms, e.g. `Library(Polynomial(3),
      DiffusiveCouplingTerm("x"))`.
    - `dt`: the sampling interval in ms (arrays; a `Simulation` knows its own);
      `state_names`: the states' names (arrays; default `x0, x1, ...`).
    - `method`: [`brainmass_eqx.discovery.Weak`][] (default: robust to measurement noise) or
      [`brainmass_eqx.discovery.Derivative`][] (the strings `"weak"` and `"derivative"` name
      their defaults).
    - `regression`: [`brainmass_eqx.discovery.STLSQ`][], [`brainmass_eqx.discovery.SR3`][],
      or an [`brainmass_eqx.discovery.Ensemble`][] of either (then `inclusion` holds each
      term's inclusion probability).
    - `shared`: one node model for every region (all regions' rows in one regression);
      `False` fits each region on its own rows (coefficients `(nodes, equations, terms)`).
    - `connectome`, `speed`: for coupling terms; delays $\ell_{ij}/v$ are read from the
      recording at the nearest sample.

    **Returns:** a [`brainmass_eqx.discovery.SparseModel`][].
    """
    if not isinstance(library, Library):
        raise TypeError(f"`library` must be a Library, got {type(library).__name__}.")
    method = _FORMS.get(method, method) if isinstance(method, str) else method
    if not isinstance(method, AbstractForm):
        raise TypeError(f"`method` must be Weak() or Derivative() (or \"weak\" / "
                        f"\"derivative\"), got {method!r}.")
    if not isinstance(regression, Ensemble | AbstractRegression):
        raise TypeError(f"`regression` must be STLSQ(), SR3() or an Ensemble, got "
                        f"{regression!r}.")
    records, step, names = _as_records(data, dt, state_names)
    n_nodes = {x.shape[1] for x in records}
    if len(n_nodes) != 1:
        raise ValueError(f"every recording needs the same number of nodes, got {n_nodes}.")
    gs, bs = [], []  # per recording: (nodes, rows, terms), (nodes, rows, states)
    for x in records:
        context = record_context(connectome, speed, step, x.shape[1])
        g, b = method.rows(x, library.on_record(x, names, context), step)
        gs.append(g)
        bs.append(b)
    g, b = np.concatenate(gs, axis=1), np.concatenate(bs, axis=1)
    if shared:  # one regression over every node's rows
        coef, inclusion = _regress(regression, g.reshape(-1, g.shape[-1]),
                                   b.reshape(-1, b.shape[-1]))
    else:  # one per node: coefficients (nodes, equations, terms)
        fits = [_regress(regression, g[n], b[n]) for n in range(g.shape[0])]
        coef, inclusion = (np.stack(a) for a in zip(*fits))
    dtype = jnp.zeros(()).dtype
    return SparseModel(jnp.asarray(coef, dtype), jnp.asarray(inclusion, dtype), library, names)
