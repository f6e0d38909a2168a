"""Plots for posterior inference: corner plots, SBC rank histograms and TARP coverage curves.
They take arrays or the diagnostics' results (anything with the named attributes)."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from ._plots import _plt


def _samples(samples: Any, name: str = "samples") -> np.ndarray:
    s = np.asarray(samples, dtype=float)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError(f"`{name}` must be (n_samples, dim) with n_samples >= 2, got shape "
                         f"{s.shape}.")
    return s


def plot_corner(samples: Any, *, labels: Sequence[str] | None = None, truths: Any = None,
                reference: Any = None, bins: int = 30, max_dims: int = 8,
                figsize: tuple[float, float] | None = None):
    """A corner plot of posterior `samples` `(n, dim)`: marginal histograms on the diagonal,
    pairwise 2-d histograms below it; `truths` (a `(dim,)` vector) as lines, `reference`
    samples (e.g. the analytic posterior) as contours. Shows at most `max_dims` parameters.
    Returns `(fig, axes)`."""
    plt = _plt()
    s = _samples(samples)[:, :max_dims]
    d = s.shape[1]
    labels = list(labels)[:d] if labels is not None else [f"theta{i}" for i in range(d)]
    if len(labels) != d:
        raise ValueError(f"`labels` has {len(labels)} entries for {d} parameters.")
    truths = None if truths is None else np.asarray(truths, float).ravel()[:d]
    ref = None if reference is None else _samples(reference, "reference")[:, :d]
    fig, axes = plt.subplots(d, d, figsize=figsize or (1.8 * d + 1, 1.8 * d + 1),
                             squeeze=False)
    lims = [np.quantile(s[:, i], [0.001, 0.999]) for i in range(d)]
    for i in range(d):
        for j in range(d):
            ax = axes[i, j]
            if j > i:
                ax.axis("off")
                continue
            if i == j:
                ax.hist(s[:, i], bins=bins, range=lims[i], density=True, color="C0", alpha=0.7)
                if ref is not None:
                    ax.hist(ref[:, i], bins=bins, range=lims[i], density=True, histtype="step",
                            color="k")
                ax.set_yticks([])
            else:
                ax.hist2d(s[:, j], s[:, i], bins=bins, range=[lims[j], lims[i]], cmap="Blues")
                if ref is not None:
                    h, xe, ye = np.histogram2d(ref[:, j], ref[:, i], bins=bins // 2,
                                               range=[lims[j], lims[i]])
                    ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T,
                               levels=3, colors="k", linewidths=0.7)
                if truths is not None:
                    ax.axhline(truths[i], color="C3", lw=0.8)
            if truths is not None:
                ax.axvline(truths[j], color="C3", lw=0.8)
            if i == d - 1:
                ax.set_xlabel(labels[j])
            if j == 0 and i > 0:
                ax.set_ylabel(labels[i])
    fig.tight_layout()
    return fig, axes


def plot_sbc_ranks(result: Any, *, labels: Sequence[str] | None = None, bins: int | None = None,
                   level: float = 0.99):
    """SBC rank histograms (one panel per parameter, at most 8) of an `SBCResult` (`ranks`,
    `n_samples`), with the `level` binomial band a uniform histogram stays in. Returns
    `(fig, axes)`."""
    import scipy.stats

    plt = _plt()
    ranks = np.asarray(getattr(result, "ranks", None))
    if ranks.ndim != 2:
        raise TypeError(f"`result` must be an SBCResult (with `ranks` (n, dim)), got {result!r}.")
    ranks = ranks[:, :8]
    n, d = ranks.shape
    bins = bins or getattr(result, "bins", 10)
    labels = list(labels)[:d] if labels is not None else [f"theta{i}" for i in range(d)]
    fig, axes = plt.subplots(1, d, figsize=(2.6 * d, 2.4), squeeze=False)
    lo, hi = scipy.stats.binom.ppf([(1 - level) / 2, (1 + level) / 2], n, 1 / bins)
    for k, ax in enumerate(axes[0]):
        ax.axhspan(lo, hi, color="0.85")
        ax.axhline(n / bins, color="0.5", lw=0.8)
        ax.hist(ranks[:, k], bins=np.linspace(0, result.n_samples + 1, bins + 1), color="C0",
                alpha=0.8)
        ax.set(title=labels[k], xlabel="rank")
        if k:
            ax.set_yticks([])
    axes[0, 0].set_ylabel("count")
    fig.tight_layout()
    return fig, axes


def plot_coverage(result: Any, *, ax=None, level: float = 0.95, title: str = "TARP coverage"):
    """Expected coverage against the credibility level of a `TARPResult` (`alpha`, `ecp`),
    with the `level` binomial band around the diagonal (calibrated posteriors stay in it;
    above: under-confident, below: over-confident). Returns `(fig, ax)`."""
    plt = _plt()
    alpha, ecp = getattr(result, "alpha", None), getattr(result, "ecp", None)
    if alpha is None or ecp is None:
        raise TypeError(f"`result` must be a TARPResult (with `alpha`, `ecp`), got {result!r}.")
    if ax is None:
        fig, ax = plt.subplots(figsize=(3.6, 3.4))
    fig = ax.figure
    if hasattr(result, "band"):
        lo, hi = result.band(level)
        ax.fill_between(alpha, lo, hi, color="0.85", label=f"{level:.0%} band")
    ax.plot([0, 1], [0, 1], color="0.4", lw=0.8, ls="--")
    ax.plot(alpha, ecp, color="C0", label="posterior")
    ax.set(xlabel="credibility level", ylabel="expected coverage", title=title, xlim=(0, 1),
           ylim=(0, 1))
    ax.legend(fontsize=8)
    return fig, ax
