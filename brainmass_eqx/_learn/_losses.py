r"""Fitting losses on whole models that do not drown in sampling noise: the linear-noise BOLD FC
(no simulation at all) and the simulated FC averaged over a batch of noise keys (common random
numbers), each `loss(model, target_fc) -> scalar` for [`brainmass_eqx.fit`][]."""

import dataclasses
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._core._stats import corr_from_cov, covariance
from .._core._types import State
from .._models import AbstractSystem
from .._monitors import AbstractMonitor, BalloonWindkessel
from .._scale import sweep
from .._solve import simulate
from ..analysis import eigenvalues, fixed_point, linearise
from ..metrics import matrix_correlation
from ..objectives import AbstractObjective, fc_corr


def _over_keys(fn, model: AbstractSystem, key: PRNGKeyArray, n_keys: int, duration: float,
               dt: float, transient: float, monitor: AbstractMonitor | None,
               options: tuple) -> Array:
    """`fn(bold)` of `n_keys` simulations split from `key`, stacked (one vmap)."""
    monitor = BalloonWindkessel(period=720.0) if monitor is None else monitor

    def one(k):
        return fn(simulate(model, duration, dt, key=k, transient=transient,
                           monitors={"bold": monitor}, **dict(options))["bold"])

    return jax.vmap(one)(jax.random.split(key, n_keys))


def _fc_objective(objective: AbstractObjective | None) -> AbstractObjective:
    if objective is None:
        return fc_corr(precomputed_target=True, precomputed_prediction=True)
    return objective


@final
class LinearNoiseFCLoss(eqx.Module):
    r"""The objective between a target FC and the model's **linear-noise** BOLD FC: the FC the
    model produces about its equilibrium under its own noise, computed from the cross-spectrum
    (with conduction delays) through the linearised haemodynamics
    ([`brainmass_eqx.analysis.Linearisation.bold_fc`][]), without simulating. Noise-free and
    smooth in the parameters, so a gradient fit does not fit one noise realisation.

    **Fields:** `state` the equilibrium to linearise about (`None`: found by
    [`brainmass_eqx.analysis.fixed_point`][] at every evaluation, differentiated implicitly;
    give it when it is known and does not move, e.g. the origin of Hopf networks), `monitor`
    (default `BalloonWindkessel()`), `on` the signal (default the coupled variable),
    `objective` on two FC matrices (default `fc_corr(precomputed_target=True,
    precomputed_prediction=True)`: $1 - r$ of the upper triangles),
    `n_freqs` the quadrature's frequencies.

    **Valid** while the equilibrium is stable and the noise small enough that the fluctuations
    stay in its linear range: check a fitted model with
    [`brainmass_eqx.check_linear_noise`][]. An unstable equilibrium gives NaN (no stationary
    FC), which the fit reports and skips.
    """

    state: State | None = None
    monitor: AbstractMonitor | None = None
    on: str | None = eqx.field(static=True, default=None)
    objective: AbstractObjective | None = None
    n_freqs: int = eqx.field(static=True, default=32)

    def fc(self, model: AbstractSystem) -> Float[Array, "nodes nodes"]:
        """The model's linear-noise BOLD FC."""
        y = fixed_point(model).state if self.state is None else self.state
        monitor = BalloonWindkessel(on=self.on) if self.monitor is None else self.monitor
        return linearise(model, y).bold_fc(monitor, self.on, n_freqs=self.n_freqs)

    def __call__(self, model: AbstractSystem, target: Float[Array, "nodes nodes"]
                 ) -> Float[Array, ""]:
        return _fc_objective(self.objective)(self.fc(model), target)


@final
class MultiKeyFCLoss(eqx.Module):
    r"""The objective between a target FC and the model's simulated BOLD FC **averaged over a
    batch of `n_keys` noise realisations** split from the `key` it is called with (one vmapped
    simulation). Pass the same key at every evaluation — `bmx.fit(model, loss, target, key,
    ...)` does — for common random numbers: the loss is then a smooth function of the
    parameters. Averaging $K$ realisations divides the FC's sampling variance by $K$ (tested).

    The average is of the covariances, normalised once, $\bar C = \frac1K\sum_k C_k$,
    $FC = \mathrm{corr}(\bar C)$ — the FC of the pooled BOLD.

    **Fields:** `n_keys`, `duration`, `dt`, `transient` (ms), `monitor` (default
    `BalloonWindkessel(period=720.0)`), `objective` on two FC matrices (default as
    `LinearNoiseFCLoss`), and further `simulate` options (`solver`, ...) in `options`.
    """

    n_keys: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    transient: float = eqx.field(static=True, default=0.0)
    monitor: AbstractMonitor | None = None
    objective: AbstractObjective | None = None
    options: tuple[tuple[str, Any], ...] = eqx.field(
        static=True, default=(), converter=lambda d: tuple(sorted(dict(d).items())))

    def __check_init__(self):
        if not (isinstance(self.n_keys, int) and self.n_keys >= 1):
            raise ValueError(f"`n_keys` must be an int >= 1, got {self.n_keys!r}.")

    def fc(self, model: AbstractSystem, key: PRNGKeyArray) -> Float[Array, "nodes nodes"]:
        """The FC of the BOLD pooled over `n_keys` runs split from `key`."""
        covs = _over_keys(covariance, model, key, self.n_keys, self.duration, self.dt,
                          self.transient, self.monitor, self.options)
        return corr_from_cov(jnp.mean(covs, axis=0))

    def __call__(self, model: AbstractSystem, target: Float[Array, "nodes nodes"],
                 key: PRNGKeyArray) -> Float[Array, ""]:
        return _fc_objective(self.objective)(self.fc(model, key), target)


@final
class SimulatedLoss(eqx.Module):
    r"""Any signal objective — FC, FCD, spectra, or their `objectives.weighted_sum` — between
    the model's simulated BOLD and a target (normally the empirical BOLD `(time, N)`), averaged
    over `n_keys` noise realisations split from the key it is called with (common random
    numbers when the key is fixed): $\frac1K\sum_k \mathcal{O}(\text{BOLD}_k, \text{target})$.

    For example FC, FCD and the BOLD spectrum together (the FCD by its Wasserstein distance,
    which has useful gradients; KS for scoring):

        objective = bmx.objectives.weighted_sum(
            (1.0, bmx.objectives.fc_corr()),
            (0.5, bmx.objectives.fcd_wasserstein(40, 4)),
            (0.5, bmx.objectives.psd_distance(720.0, fmin=0.01, fmax=0.1, log=False)))

    **Fields:** `objective`, `n_keys`, `duration`, `dt`, `transient` (ms), `monitor` (default
    `BalloonWindkessel(period=720.0)`), further `simulate` options in `options`.
    """

    objective: AbstractObjective
    n_keys: int = eqx.field(static=True)
    duration: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    transient: float = eqx.field(static=True, default=0.0)
    monitor: AbstractMonitor | None = None
    options: tuple[tuple[str, Any], ...] = eqx.field(
        static=True, default=(), converter=lambda d: tuple(sorted(dict(d).items())))

    def __check_init__(self):
        if not (isinstance(self.n_keys, int) and self.n_keys >= 1):
            raise ValueError(f"`n_keys` must be an int >= 1, got {self.n_keys!r}.")

    def __call__(self, model: AbstractSystem, target: Array, key: PRNGKeyArray
                 ) -> Float[Array, ""]:
        return jnp.mean(_over_keys(lambda bold: self.objective(bold, target), model, key,
                                   self.n_keys, self.duration, self.dt, self.transient,
                                   self.monitor, self.options))


@final
class LinearNoiseCheck(eqx.Module):
    """Whether the linear-noise FC describes a model: the rightmost `growth` rate of its
    equilibrium (per ms; must be negative), and `fc_r`, the correlation of the linear-noise BOLD
    FC with a simulated one (upper triangles)."""

    growth: float = eqx.field(static=True)
    fc_r: float = eqx.field(static=True)

    @property
    def valid(self) -> bool:
        return self.growth < 0 and self.fc_r > 0.9


def check_linear_noise(model: AbstractSystem, key: PRNGKeyArray, *, duration: float = 600_000.0,
                       dt: float = 1.0, transient: float = 20_000.0,
                       loss: LinearNoiseFCLoss | None = None, n_keys: int = 4,
                       options: dict[str, Any] | None = None) -> LinearNoiseCheck:
    """Compare a model's linear-noise BOLD FC with its simulated BOLD FC (pooled over `n_keys`
    runs of `duration` ms from `key`), and report the stability of its equilibrium. Use it on a
    model fitted with `LinearNoiseFCLoss`: `valid` is a stable equilibrium and a correlation
    above 0.9 (below it, the fluctuations leave the linear range, or the simulation is too short
    to resolve the FC)."""
    loss = LinearNoiseFCLoss() if loss is None else loss
    y = fixed_point(model).state if loss.state is None else loss.state
    loss = dataclasses.replace(loss, state=y)  # the equilibrium is found once
    growth = float(jnp.max(jnp.real(eigenvalues(model, y, n=2).values)))
    monitor = loss.monitor if loss.monitor is not None else BalloonWindkessel(on=loss.on,
                                                                              period=720.0)
    pooled = MultiKeyFCLoss(n_keys, duration, dt, transient, monitor, options=options or {})
    r = float(matrix_correlation(pooled.fc(model, key), loss.fc(model)))
    return LinearNoiseCheck(growth, r)


@final
class PerSubjectLoss(eqx.Module):
    r"""One model fitted to several subjects at once: the mean over subjects of `loss` with
    the network's structural weights replaced by each subject's, against that subject's
    target, $\frac1S \sum_s \mathcal{L}(\text{model}[W \leftarrow W_s], \text{target}_s)$,
    evaluated as one `vmap` over subjects. The subjects' weights share the network's
    connection pattern (zeros where a subject lacks a connection) and its delays.

    Called as `loss(model, weights, targets, *rest)` with `weights` and `targets` stacked over
    subjects `(S, N, N)`; `rest` (e.g. a key) is passed to every subject's `loss`. With
    `devices`, the subjects are sharded over them by [`brainmass_eqx.sweep`][] (gradients
    flow through it as through the `vmap`).
    """

    loss: Any
    devices: tuple | None = eqx.field(default=None, static=True,
                                      converter=lambda d: None if d is None else tuple(d))

    def __call__(self, model: AbstractSystem, weights: Float[Array, "subjects nodes nodes"],
                 targets: Float[Array, "subjects nodes nodes"], *rest: Any) -> Float[Array, ""]:
        if jnp.shape(weights)[0] != jnp.shape(targets)[0]:
            raise ValueError(f"`weights` ({jnp.shape(weights)[0]} subjects) and `targets` "
                             f"({jnp.shape(targets)[0]}) must stack the same subjects.")
        one = _OneSubject(model, self.loss, tuple(rest))
        if self.devices is not None:
            return jnp.mean(sweep(one, weights, targets, devices=self.devices))
        return jnp.mean(jax.vmap(one)(weights, targets))


class _OneSubject(eqx.Module):
    """One subject's loss: the model with that subject's weights on the shared pattern."""

    model: Any
    loss: Any
    rest: tuple

    def __call__(self, w: Array, target: Array) -> Array:
        weights = self.model.connectome.weights
        w = jnp.where(weights != 0, w, 0.0).astype(weights.dtype)
        subject = eqx.tree_at(lambda m: m.connectome.weights, self.model, w)
        return self.loss(subject, target, *self.rest)


@final
class StructuralPenalty(eqx.Module):
    r"""An effective-connectivity loss: `loss` plus a penalty that pulls the learnt
    connections towards the structural weights,
    $\mathcal{L}(\text{model}, \dots) + \lambda \frac{1}{|E|} \sum_{(i,j) \in E} g_{ij}^2$,
    with $g$ the log-gains of the network's [`brainmass_eqx.LearnableWeights`][] coupling
    (effective weights $w_{ij} e^{g_{ij}}$, so $g = 0$ is the structural connectome) and $E$
    the connectome's connections (connections added by
    [`brainmass_eqx.Connectome.with_edges`][] are pulled towards their seed weight).

    Called as `loss(model, *data)`, everything passed on to `loss`. **Fields:** `loss`,
    `strength` $\lambda \ge 0$ (larger keeps the fit closer to the structure and over-fits
    less; `benchmarks/fit_hcp.py` uses 0.01).

    **Raises:** `TypeError` when the model is not a network whose coupling is
    `LearnableWeights`.
    """

    loss: Any
    strength: float = eqx.field(default=0.01, static=True)

    def __check_init__(self):
        if not (float(self.strength) >= 0):
            raise ValueError(f"`strength` must be >= 0, got {self.strength}.")

    def penalty(self, model: AbstractSystem) -> Float[Array, ""]:
        """$\\frac{1}{|E|}\\sum_E g_{ij}^2$ of `model`'s connections."""
        from .._network import LearnableWeights

        coupling = getattr(model, "coupling", None)
        if not isinstance(coupling, LearnableWeights):
            raise TypeError(
                "`StructuralPenalty` needs a Network whose coupling is `LearnableWeights` "
                f"(got {type(coupling).__name__}): wrap it, "
                "`eqx.tree_at(lambda n: n.coupling, net, bmx.LearnableWeights(net.coupling, "
                "n_regions=N))`.")
        edges = model.connectome.edges.array
        if edges.shape[0] == 0:
            return jnp.zeros((), coupling.log_gain.dtype)
        return jnp.mean(coupling.log_gain[edges[:, 0], edges[:, 1]] ** 2)

    def __call__(self, model: AbstractSystem, *data: Any) -> Float[Array, ""]:
        value = self.loss(model, *data)
        if self.strength == 0:
            return value
        return value + jnp.asarray(self.strength, value.dtype) * self.penalty(model)
