"""Scores of a recovered model against a known truth and against data."""

from collections.abc import Mapping
from typing import Any, final

import equinox as eqx
import numpy as np

from ._discover import SparseModel


@final
class TermScores(eqx.Module):
    """Term recovery against a known truth: `precision` (share of recovered terms that are
    true), `recall` (share of true terms recovered), `coefficient_error` (relative L2 error
    of all coefficients, missing and spurious ones included), and the `missed` / `spurious`
    terms as `(equation, term)` pairs."""

    precision: float
    recall: float
    coefficient_error: float
    missed: tuple[tuple[str, str], ...]
    spurious: tuple[tuple[str, str], ...]


def term_scores(model: SparseModel, truth: Mapping[str, Mapping[str, float]]) -> TermScores:
    """Compare `model` with `truth`: `{state: {term name: coefficient}}` in the model's term
    names (e.g. `{"x": {"x": 1.0, "y": -1.0, "x^3": -1.0, "x*y^2": -1.0}}`)."""
    if not isinstance(model, SparseModel):
        raise TypeError(f"`model` must be a SparseModel, got {type(model).__name__}.")
    terms, coef = model.terms, np.asarray(model.coefficients)
    true = np.zeros_like(coef)
    for s, row in truth.items():
        if s not in model.names:
            raise ValueError(f"truth names a state {s!r} the model does not have "
                             f"({model.names}).")
        for name, c in row.items():
            if name not in terms:
                raise ValueError(f"truth names a term {name!r} not in the library: {terms}.")
            true[model.names.index(s), terms.index(name)] = c
    found, real = coef != 0, true != 0
    pairs = [(s, t) for s in model.names for t in terms]
    flat_found, flat_real = found.ravel(), real.ravel()
    tp = int(np.sum(flat_found & flat_real))
    return TermScores(
        precision=tp / max(int(flat_found.sum()), 1),
        recall=tp / max(int(flat_real.sum()), 1),
        coefficient_error=float(np.linalg.norm(coef - true) / np.linalg.norm(true)),
        missed=tuple(p for p, f, r in zip(pairs, flat_found, flat_real) if r and not f),
        spurious=tuple(p for p, f, r in zip(pairs, flat_found, flat_real) if f and not r))


def fc_match(reference: Any, predicted: Any) -> float:
    """Pearson correlation of the FCs (upper triangles) of two recordings `(time, nodes)`,
    e.g. the data and the recovered network's simulation (or their BOLD)."""
    from .. import metrics

    return float(metrics.matrix_correlation(metrics.fc(np.asarray(predicted)),
                                            metrics.fc(np.asarray(reference))))


def spectral_match(reference: Any, predicted: Any, dt: float, *, nperseg: int = 256) -> float:
    """Correlation of the log Welch spectra (averaged over nodes) of two recordings
    `(time, nodes)` sampled every `dt` ms."""
    from .. import metrics

    def log_psd(x):
        _, p = metrics.welch_psd(np.asarray(x), dt, nperseg=nperseg)
        return np.log(np.asarray(p).reshape(p.shape[0], -1).mean(axis=1) + 1e-30)

    return float(np.corrcoef(log_psd(reference), log_psd(predicted))[0, 1])


def trajectory_error(model: Any, reference: Any, predicted: Any) -> float:
    """Relative RMS error `||predicted - reference|| / ||reference - mean||` of two
    recordings of the same shape (e.g. a held-out trajectory and the recovered model's
    simulation from its first state)."""
    del model
    ref, pred = np.asarray(reference, float), np.asarray(predicted, float)
    if ref.shape != pred.shape:
        raise ValueError(f"`reference` {ref.shape} and `predicted` {pred.shape} differ in shape.")
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref - ref.mean(axis=0)))
