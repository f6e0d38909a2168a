"""`Nevergrad`: gradient-free population search, one vmapped loss call per generation."""

import json
import math
from typing import final

import equinox as eqx
import numpy as np
from jax.flatten_util import ravel_pytree

from ._checkpoint import read_sidecar
from ._method import AbstractFitMethod
from ._problem import Checkpointing, FitOutcome, FitProblem, FitTracker, or_default


@final
class Nevergrad(AbstractFitMethod):
    """Gradient-free optimisation with [nevergrad](https://facebookresearch.github.io/nevergrad/).

    Each generation asks `num_workers` candidates and evaluates them in **one** vmapped,
    compiled call of the loss (the population shares one compilation; brainmass re-traces each
    candidate). The search runs on the unconstrained parameters (so `Positive`/`Bounded` hold),
    starting at the model's current values.

    **Fields:** `optimizer` (a nevergrad optimiser name: `"CMA"` (default), `"TwoPointsDE"`,
    `"DE"`, `"PSO"`, `"OnePlusOne"`, `"NgIohTuned"`, ...; note that `"NGOpt"` fails in
    nevergrad 1.0.12 with numpy 2 inside its metamodel), `budget` (total loss evaluations),
    `num_workers` (candidates per generation), `sigma` (initial mutation scale in
    unconstrained units), `seed`, `devices` (shard each generation over these devices with
    [`brainmass_eqx.sweep`][]; `None`: one vmapped call on the default device).
    """

    optimizer: str = eqx.field(default="CMA", static=True)
    budget: int = eqx.field(default=200, static=True)
    num_workers: int = eqx.field(default=8, static=True)
    sigma: float = eqx.field(default=1.0, static=True)
    seed: int = eqx.field(default=0, static=True)
    devices: tuple | None = eqx.field(default=None, static=True,
                                      converter=lambda d: None if d is None else tuple(d))

    def __check_init__(self):
        for name in ("budget", "num_workers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`Nevergrad.{name}` must be a positive int, got {value!r}.")
        if not (isinstance(self.sigma, int | float) and not isinstance(self.sigma, bool)
                and math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"`Nevergrad.sigma` must be a positive number (the initial "
                             f"mutation scale), got {self.sigma!r}.")
        _check_optimizer_name(self.optimizer)

    def progress_total(self, steps):
        return -(-self.budget // self.num_workers)

    def _resume(self, ng, checkpoint: Checkpointing, tracker: FitTracker, problem: FitProblem):
        ckpt = checkpoint.path
        if not (checkpoint.resume and ckpt is not None and ckpt.with_suffix(".ng").exists()):
            return None
        meta = read_sidecar(ckpt, ("history", "best_loss", "nonfinite"))
        try:
            opt = ng.optimizers.base.Optimizer.load(ckpt.with_suffix(".ng"))
        except Exception as e:  # a truncated or corrupted pickle
            raise ValueError(
                f"The nevergrad checkpoint {ckpt.with_suffix('.ng')} cannot be read "
                f"({type(e).__name__}: {e}); delete it to start afresh."
            ) from None
        tracker.history = [float(h) for h in meta["history"]]
        tracker.best_loss = meta["best_loss"]
        tracker.nonfinite = meta["nonfinite"]
        tracker.worst_finite = max([0.0] + [abs(h) for h in tracker.history
                                            if math.isfinite(h)])
        if meta.get("best_flat") is not None:
            tracker.best_params = problem.unflatten(meta["best_flat"])
        return opt

    def run(self, problem: FitProblem, tracker: FitTracker, *, steps, checkpoint: Checkpointing
            ) -> FitOutcome:
        import nevergrad as ng

        flat0, _ = problem.flat
        opt = self._resume(ng, checkpoint, tracker, problem)
        if opt is None:
            param = ng.p.Array(init=np.asarray(flat0, float)).set_mutation(sigma=self.sigma)
            param.random_state = np.random.RandomState(self.seed)
            opt = ng.optimizers.registry[self.optimizer](
                parametrization=param, budget=self.budget, num_workers=self.num_workers)
        reason = f"used the budget of {self.budget} evaluations"
        gen = 0
        in_generation = False  # asked but not yet told: the optimiser cannot be saved then

        def snapshot():
            return (len(tracker.history), tracker.best_loss, tracker.best_params,
                    tracker.nonfinite, tracker.worst_finite)

        state = snapshot()
        try:
            while opt.num_ask < self.budget:
                state, in_generation = snapshot(), True
                n = min(self.num_workers, self.budget - opt.num_ask)
                cands = [opt.ask() for _ in range(n)]
                xs = np.stack([c.value for c in cands])
                pad = np.concatenate([xs, np.repeat(xs[-1:], self.num_workers - n, 0)])
                try:
                    losses = (problem.value_batch(pad) if self.devices is None else
                              problem.value_batch(pad, devices=self.devices))[:n]
                except eqx.EquinoxRuntimeError:
                    # a runtime check failed (e.g. the solver hit max_steps) for some
                    # candidate: evaluate them one by one so that only the culprits fail
                    losses = np.array([problem.value(x) for x in xs])
                # nevergrad cannot take NaN/inf: a non-finite candidate is told a loss worse
                # than any seen
                worst = max([tracker.worst_finite] + [abs(float(v)) for v in losses
                                                      if math.isfinite(v)])
                penalty = 10.0 * max(1.0, worst)
                for c, x, loss in zip(cands, xs, losses):
                    finite = tracker.record(float(loss), problem.unflatten(x))
                    opt.tell(c, float(loss) if finite else penalty)
                gen += 1
                in_generation = False
                best_gen = float(np.nanmin(np.where(np.isfinite(losses), losses, np.nan))) \
                    if np.any(np.isfinite(losses)) else float("nan")
                tracker.after_step(gen, best_gen, lambda: problem.model(
                    or_default(tracker.best_params, problem.params)))
                if checkpoint.path is not None and gen % checkpoint.every == 0:
                    _save(checkpoint, opt, tracker)
                if tracker.stop_reason:
                    reason = tracker.stop_reason
                    break
        except KeyboardInterrupt:
            reason = f"interrupted after {gen} completed generations"
            if in_generation:
                # the generation's candidates were asked but not all told: drop its records,
                # and keep the last checkpoint (of a completed generation) as it is
                (n_history, tracker.best_loss, tracker.best_params, tracker.nonfinite,
                 tracker.worst_finite) = state
                del tracker.history[n_history:]
                reason += "; the checkpoint holds the last one saved"
        finally:
            tracker.close()
        if checkpoint.path is not None and not in_generation:
            _save(checkpoint, opt, tracker)
        return FitOutcome(or_default(tracker.best_params, problem.params), gen, reason)


def _save(checkpoint: Checkpointing, opt, tracker: FitTracker) -> None:
    ckpt = checkpoint.path
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    best = None
    if tracker.best_params is not None:
        best = np.asarray(ravel_pytree(tracker.best_params)[0]).tolist()
    # both files are written aside and moved into place: an interrupted save never leaves a
    # truncated checkpoint
    ng_tmp = ckpt.with_suffix(".ng.tmp")
    opt.dump(ng_tmp)
    meta_tmp = ckpt.with_suffix(".json.tmp")
    meta_tmp.write_text(json.dumps(dict(
        history=[None if not math.isfinite(h) else h for h in tracker.history],
        best_loss=tracker.best_loss, nonfinite=tracker.nonfinite, best_flat=best)))
    ng_tmp.replace(ckpt.with_suffix(".ng"))
    meta_tmp.replace(ckpt.with_suffix(".json"))


def _check_optimizer_name(name: str) -> None:
    """A `ValueError` for an optimiser nevergrad does not have (with the closest names), and
    for those that fail inside nevergrad with this numpy (with what to use instead)."""
    import difflib

    import nevergrad as ng

    registry = ng.optimizers.registry
    if not isinstance(name, str) or name not in registry:
        close = difflib.get_close_matches(str(name), list(registry), n=5)
        raise ValueError(
            f"`Nevergrad(optimizer={name!r})`: nevergrad has no optimiser of that name"
            + (f"; did you mean one of {close}?" if close else ".")
            + " Common choices: 'CMA', 'TwoPointsDE', 'DE', 'PSO', 'OnePlusOne', 'NgIohTuned' "
            "(all names: `nevergrad.optimizers.registry`)."
        )
    broken = name == "NGOpt" or "MetaModel" in name
    if broken and int(np.__version__.split(".")[0]) >= 2 \
            and tuple(int(v) for v in ng.__version__.split(".")[:3]) <= (1, 0, 12):
        raise ValueError(
            f"`Nevergrad(optimizer={name!r})` fails inside nevergrad {ng.__version__}'s "
            f"metamodel with numpy {np.__version__} (it calls float() on an array), and can "
            "leave the process hanging at exit: use 'NgIohTuned' (nevergrad's newer "
            "recommended wizard) or 'CMA'."
        )
