"""`Run`: what one engine run needs, built inside a trace from its differentiable `Params`: the
static settings, the solver, the noise key and the batch member, with the derived facts every
block uses (dtype, record strides, noise layout) and the per-step pieces (coupling weights,
noise increments, one solver step)."""

import dataclasses
from typing import Any, final

import diffrax as dfx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._vector_field import Augmented
from . import _batching, _step
from ._buffer import Member
from ._config import ScanConfig
from ._state import Params


#: Increments are drawn once per block of at least this many steps (the smallest level that
#: long, else the top level): a threefry call per step would dominate cheap steps.
NOISE_BLOCK = 4


@final
@dataclasses.dataclass(frozen=True)
class Coupling:
    """The coupling of one run in its dtype: the effective `weights`, the in-`strength` and
    the slot weights of every level of the delay plan (`slots`, `()` without delays)."""

    weights: Float[Array, "nodes nodes"]
    strength: Float[Array, " nodes"]
    slots: tuple[Float[Array, "nodes slots"], ...]


@final
@dataclasses.dataclass(frozen=True)
class Run:
    """One run: `params` (differentiable), `solver`, noise `key`, settings `cfg`, the initial
    state `y0` and, in a batch-minor sweep, the `member`. Build it with `Run.build`."""

    params: Params
    solver: dfx.AbstractSolver
    key: PRNGKeyArray | None
    cfg: ScanConfig
    y0: dict[str, Array]
    member: Member | None
    dtype: Any
    #: record k of a subsampling monitor keeps every `record_strides[k]`-th step
    record_strides: dict[str, int]
    #: averaging monitors accumulate their window means: record k is the mean of steps
    #: `n_transient + k s + 1 .. n_transient + (k + 1) s`
    record_means: frozenset[str]
    noise_names: tuple[str, ...]
    noise_depth: int
    monitors_zero: dict[str, PyTree]

    @staticmethod
    def build(params: Params, solver: dfx.AbstractSolver, key: PRNGKeyArray | None,
              cfg: ScanConfig, y0: dict[str, Array], member: Member | None = None) -> "Run":
        net, monitors = params.system, params.monitors
        noise_names = (tuple(net.noise.diffusion(y0, net.noise_states)) if cfg.stochastic
                       else ())
        noise_depth = next((d for d, size in enumerate(cfg.levels) if size >= NOISE_BLOCK),
                           len(cfg.levels) - 1)
        return Run(params, solver, key, cfg, y0, member,
                   dtype=jnp.result_type(*jax.tree.leaves(y0)),
                   record_strides=monitors.record_strides(cfg.dt),
                   record_means=monitors.averaging(), noise_names=noise_names,
                   noise_depth=noise_depth,
                   monitors_zero=jax.tree.map(jnp.zeros_like, monitors.init(net, y0)))

    @property
    def net(self):
        return self.params.system

    def with_params(self, params: Params) -> "Run":
        return dataclasses.replace(self, params=params)

    def coupling(self) -> Coupling:
        weights = self.net.effective_weights().astype(self.dtype)
        plan = self.cfg.plan
        slots = () if plan is None else tuple(g.weights(weights) for g in plan.groups)
        return Coupling(weights, jnp.sum(weights, axis=-1), slots)

    def increments(self, start: Array, size: int) -> dict[str, Array]:
        """The Brownian increments of steps `start .. start + size - 1`, keyed by state."""
        keys = jax.random.split(jax.random.fold_in(self.key, start), len(self.noise_names))
        sqrt_dt = jnp.sqrt(jnp.asarray(self.cfg.dt, self.dtype))
        dw = {name: sqrt_dt * jax.random.normal(kk, (size, *self.y0[name].shape), self.dtype)
              for name, kk in zip(self.noise_names, keys)}
        # without the barrier XLA recomputes the threefry draws inside every consumer
        return jax.lax.optimization_barrier(dw)

    def step_increment(self, dws: dict[str, Array], k: Array) -> Augmented:
        """The increment of step `k` of a block for the whole augmented state."""
        dw = {name: jnp.zeros_like(v) for name, v in self.y0.items()}
        dw.update({name: v[k] for name, v in dws.items()})
        return Augmented(dw, self.monitors_zero)

    def solver_step(self, weights: Array, strength: Array, dw: Augmented | None,
                    state: Augmented, solver_state: PyTree, args: _step.StepArgs
                    ) -> tuple[Augmented, PyTree]:
        """One solver step from `state` (of every member at once in a batch-minor sweep)."""
        if self.member is not None:
            return _batching.member_solver_step(self.params, self.solver, self.cfg, self.dtype,
                                                weights, strength, dw, state, solver_state,
                                                args)
        fields = _step.fields(self.params, self.cfg, self.dtype, weights, strength)
        return _step.solver_step(self.solver, _step.terms(*fields, self.cfg.stochastic, dw),
                                 *_step.interval(self.cfg, self.dtype), state, args,
                                 solver_state)

    def solver_init(self, state: Augmented) -> PyTree:
        coupling = self.coupling()
        rows = jnp.zeros((self.cfg.levels[0] + 1, self.net.n_channels, self.net.n_regions),
                         self.dtype)
        dw = self.step_increment({}, 0) if self.cfg.stochastic else None
        fields = _step.fields(self.params, self.cfg, self.dtype, coupling.weights,
                              coupling.strength)
        zero, h = (jnp.asarray(t, self.dtype) for t in _step.interval(self.cfg, self.dtype))
        return self.solver.init(_step.terms(*fields, self.cfg.stochastic, dw), zero, h, state,
                                _step.StepArgs(rows, jnp.asarray(0, jnp.int32), zero))
