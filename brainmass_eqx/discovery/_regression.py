r"""Sparse regression of $b \approx \Theta \xi$: sequentially thresholded least squares (STLSQ,
Brunton et al. 2016), SR3 (Zheng et al. 2019; Champion et al. 2020) and bagged ensembles
(Fasel et al. 2022) that give each term's inclusion probability. Host numpy: the design
matrices are small and the loops data-dependent."""

import abc
from typing import final

import equinox as eqx
import numpy as np


def _scaled(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to unit RMS so one threshold fits terms of different sizes."""
    norm = np.sqrt(np.mean(theta**2, axis=0))
    norm = np.where(norm > 0, norm, 1.0)
    return theta / norm, norm


class AbstractRegression(eqx.Module):
    """Solves `fit(theta (rows, terms), b (rows, equations)) -> xi (equations, terms)`."""

    @abc.abstractmethod
    def fit(self, theta: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The sparse coefficients."""


def _ridge(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    if a.shape[1] == 0:
        return np.zeros((0, b.shape[1]))
    return np.linalg.solve(a.T @ a + alpha * len(a) * np.eye(a.shape[1]), a.T @ b)


@final
class STLSQ(AbstractRegression):
    r"""Sequentially thresholded least squares: ridge regression (`alpha`), then drop every
    coefficient below `threshold` (in units of each term's RMS times the target's RMS, so the
    threshold is scale-free) and refit on the rest, until the support stops changing."""

    threshold: float = 0.05
    alpha: float = 1e-6
    max_iter: int = 20

    def fit(self, theta, b):
        a, norm = _scaled(theta)
        scale = np.sqrt(np.mean(b**2, axis=0))
        scale = np.where(scale > 0, scale, 1.0)
        bs = b / scale
        xi = _ridge(a, bs, self.alpha)  # (terms, eqs)
        for _ in range(self.max_iter):
            keep = np.abs(xi) >= self.threshold
            new = np.zeros_like(xi)
            for e in range(b.shape[1]):
                cols = np.nonzero(keep[:, e])[0]
                new[cols, e] = _ridge(a[:, cols], bs[:, e:e + 1], self.alpha)[:, 0]
            if np.array_equal(np.abs(new) >= self.threshold, keep):
                xi = new
                break
            xi = new
        return (xi * scale[None] / norm[:, None]).T


@final
class SR3(AbstractRegression):
    r"""Sparse relaxed regularised regression: minimise
    $\tfrac12\lVert\Theta\xi - b\rVert^2 + \lambda R(w) + \tfrac1{2\nu}\lVert\xi - w\rVert^2$
    by alternating the exact $\xi$-update with the proximal $w$-update
    ($R = \ell_0$: hard threshold at $\sqrt{2\lambda\nu}$; $\ell_1$: soft at $\lambda\nu$), on
    scaled columns; returns the sparse $w$, refit by least squares on its support."""

    threshold: float = 0.05
    nu: float = 1.0
    penalty: str = eqx.field(default="l0", static=True)
    max_iter: int = 200
    tol: float = 1e-8

    def __check_init__(self):
        if self.penalty not in ("l0", "l1"):
            raise ValueError(f"`penalty` must be 'l0' or 'l1', got {self.penalty!r}.")

    def fit(self, theta, b):
        a, norm = _scaled(theta)
        scale = np.sqrt(np.mean(b**2, axis=0))
        scale = np.where(scale > 0, scale, 1.0)
        bs = b / scale
        n = len(a)
        lam = self.threshold**2 / (2 * self.nu) if self.penalty == "l0" else \
            self.threshold / self.nu
        h = np.linalg.inv(a.T @ a / n + np.eye(a.shape[1]) / self.nu)
        atb = a.T @ bs / n
        w = _ridge(a, bs, 1e-10)  # start from least squares, as PySINDy does
        for _ in range(self.max_iter):
            xi = h @ (atb + w / self.nu)
            if self.penalty == "l0":
                new = np.where(np.abs(xi) >= np.sqrt(2 * lam * self.nu), xi, 0.0)
            else:
                new = np.sign(xi) * np.maximum(np.abs(xi) - lam * self.nu, 0.0)
            done = np.max(np.abs(new - w)) < self.tol
            w = new
            if done:
                break
        out = np.zeros_like(w)
        for e in range(b.shape[1]):
            cols = np.nonzero(w[:, e])[0]
            out[cols, e] = _ridge(a[:, cols], bs[:, e:e + 1], 1e-10)[:, 0]
        return (out * scale[None] / norm[:, None]).T


@final
class Ensemble(eqx.Module):
    r"""Bagging: refit `regression` on `n_models` bootstrap resamples (`fraction` of the rows,
    with replacement) from a seed; `inclusion[e, k]` is the share of models that keep term
    $k$ in equation $e$, and the coefficients are the median over models of the terms kept in
    at least `keep` of them."""

    regression: AbstractRegression = STLSQ()
    n_models: int = 30
    fraction: float = 1.0
    keep: float = 0.6
    seed: int = 0

    def fit_ensemble(self, theta: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(self.seed)
        m = max(theta.shape[1] + 1, int(self.fraction * len(theta)))
        fits = np.stack([self.regression.fit(theta[idx], b[idx]) for idx in
                         (rng.integers(0, len(theta), m) for _ in range(self.n_models))])
        inclusion = np.mean(fits != 0, axis=0)
        coef = np.where(inclusion >= self.keep, np.median(fits, axis=0), 0.0)
        return coef, inclusion
