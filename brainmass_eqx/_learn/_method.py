"""`AbstractFitMethod`: the interface every optimiser of `fit` implements (as optimistix puts
its minimisers behind `AbstractMinimiser`)."""

import abc

import equinox as eqx

from ._problem import Checkpointing, FitOutcome, FitProblem, FitTracker


class AbstractFitMethod(eqx.Module):
    r"""An optimiser for [`brainmass_eqx.fit`][] / [`brainmass_eqx.Fitter`][].

    A method minimises the loss of a [`FitProblem`][brainmass_eqx.FitProblem]: the trainable
    parameters are unconstrained arrays (`problem.params`; constraints map them to the model's
    values), and the problem evaluates the compiled loss one point at a time, with its gradient,
    or on a whole population in one vmapped call. The method records every evaluation in the
    `tracker` (best-so-far, history, callbacks, progress) and returns an `FitOutcome`.

    **Shipped:** [`brainmass_eqx.Optax`][] (any optax transformation, exact gradients),
    [`brainmass_eqx.Nevergrad`][] and [`brainmass_eqx.Scipy`][].

    **Extending:** subclass, declare the settings as static fields, implement `run` (and
    `check` to validate `steps` and resuming up front), and mark the class final. See the
    "Extending" docs page for a complete, tested example.
    """

    def check(self, steps: int | None, checkpoint: Checkpointing) -> None:
        """Validate the fit's `steps` and `checkpoint` settings before anything runs; raise a
        `ValueError` naming the argument. Default: accept anything."""
        del steps, checkpoint

    def progress_total(self, steps: int | None) -> int | None:
        """The number of steps a progress bar counts (default `steps`)."""
        return steps

    @abc.abstractmethod
    def run(self, problem: FitProblem, tracker: FitTracker, *, steps: int | None,
            checkpoint: Checkpointing) -> FitOutcome:
        """Minimise `problem`'s loss, calling `tracker.record(loss, params)` for every
        evaluation and `tracker.after_step(...)` after every step, stopping when
        `tracker.stop_reason` is set, saving to `checkpoint.path` (if any) every
        `checkpoint.every` steps, and catching `KeyboardInterrupt` (nothing is lost)."""
