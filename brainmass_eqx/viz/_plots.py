"""Matplotlib helpers. Each returns the figure and axes; matplotlib is imported on first use."""

from typing import Any

import numpy as np


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _square(m: Any, name: str) -> np.ndarray:
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"`{name}` must be a non-empty square matrix, got shape {m.shape}.")
    if m.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold numbers, got dtype {m.dtype}.")
    return m


def _axes(ax, ncols: int = 1, figsize=(6, 3.5)):
    plt = _plt()
    if ax is not None:
        return ax.figure, ax
    fig, axes = plt.subplots(1, ncols, figsize=figsize)
    return fig, axes


def plot_timeseries(ts: Any, x: Any, *, ax=None, labels=None, max_traces: int = 10,
                    offset: float | None = None, xlabel: str = "time (ms)", ylabel: str = "",
                    title: str = ""):
    """Plot `x` `(time, regions)` against `ts` (up to `max_traces` regions, optionally
    stacked with a vertical `offset`). Returns `(fig, ax)`."""
    ts, x = np.asarray(ts), np.asarray(x)
    if ts.ndim != 1 or x.ndim < 1 or x.shape[0] != ts.shape[0]:
        raise ValueError(f"`x` must have its time axis first, as long as `ts`: got `ts` "
                         f"{ts.shape} and `x` {x.shape}.")
    fig, ax = _axes(ax)
    x = x[:, None] if x.ndim == 1 else x.reshape(x.shape[0], -1)
    for i in range(min(max_traces, x.shape[1])):
        shift = 0.0 if offset is None else i * offset
        ax.plot(ts, x[:, i] + shift, lw=0.8,
                label=None if labels is None else str(labels[i]))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    if labels is not None:
        ax.legend(fontsize=7, loc="upper right")
    return fig, ax


def plot_matrix(m: Any, *, ax=None, title: str = "", cmap: str = "viridis", vmin=None,
                vmax=None, labels=None, colorbar: bool = True):
    """Show a square matrix (connectivity, FC, FCD). Returns `(fig, ax)`."""
    m = _square(m, "m")
    fig, ax = _axes(ax, figsize=(4.2, 3.6))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ax.set_title(title)
    if labels is not None and len(labels) <= 30:
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return fig, ax


def plot_fc_comparison(simulated_fc: Any, target_fc: Any, *, titles=("simulated FC",
                                                                     "target FC")):
    """Simulated and target FC side by side (off-diagonal colour range shared) and a scatter of
    their upper triangles with the correlation in the title. Returns `(fig, axes)`."""
    plt = _plt()
    a, b = _square(simulated_fc, "simulated_fc"), _square(target_fc, "target_fc")
    if a.shape != b.shape:
        raise ValueError(f"`simulated_fc` {a.shape} and `target_fc` {b.shape} must have the "
                         "same shape.")
    iu = np.triu_indices(a.shape[0], 1)
    lo = float(min(a[iu].min(), b[iu].min()))
    hi = float(max(a[iu].max(), b[iu].max()))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    plot_matrix(a, ax=axes[0], title=titles[0], cmap="RdBu_r", vmin=min(lo, -hi), vmax=hi)
    plot_matrix(b, ax=axes[1], title=titles[1], cmap="RdBu_r", vmin=min(lo, -hi), vmax=hi)
    from ..metrics import matrix_correlation

    r = float(matrix_correlation(a, b))  # 0 (not NaN) when a triangle is constant
    axes[2].scatter(b[iu], a[iu], s=2, alpha=0.4)
    axes[2].set(xlabel=titles[1], ylabel=titles[0], title=f"r = {r:.3f}")
    fig.tight_layout()
    return fig, axes


def plot_fcd(fcd_matrix: Any, *, ax=None, title: str = "FCD"):
    """Show an FCD matrix. Returns `(fig, ax)`."""
    return plot_matrix(fcd_matrix, ax=ax, title=title, cmap="magma", vmin=-1, vmax=1)


def plot_power_spectrum(x: Any, dt: Any, *, ax=None, nperseg: int | None = None,
                        fmax: float | None = None, logy: bool = True, title: str = ""):
    """Welch power spectra of `x` `(time, channels)` sampled every `dt` (ms). Returns
    `(fig, ax)`."""
    from ..metrics import welch_psd

    fig, ax = _axes(ax)
    f, p = welch_psd(np.asarray(x), dt, nperseg=nperseg)
    f, p = np.asarray(f), np.asarray(p).reshape(len(f), -1)
    keep = f <= fmax if fmax is not None else slice(None)
    ax.plot(f[keep], p[keep], lw=0.8)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel="frequency (Hz)", ylabel="power density", title=title)
    return fig, ax


def plot_phase_plane(model: Any, *, xlim=(-2.0, 2.0), ylim=(-2.0, 2.0), n: int = 21,
                     trajectory: Any = None, state_names: tuple[str, str] | None = None,
                     ax=None, title: str = ""):
    """The vector field of a two-state model on a grid (arrows, with nullclines as zero
    contours), optionally with a trajectory `(x, y)` on top. Returns `(fig, ax)`."""
    import jax
    import jax.numpy as jnp

    names = state_names or tuple(model.state_names[:2])
    if len(model.state_names) != 2 and state_names is None:
        raise ValueError(f"{type(model).__name__} has {len(model.state_names)} states; pass "
                         "`state_names` to choose two (the others are held at 0).")
    unknown = [k for k in names if k not in model.state_names]
    if len(names) != 2 or unknown:
        raise ValueError(f"`state_names` must be two of {model.state_names}, got {names!r}.")
    if not (isinstance(n, int) and n >= 2):
        raise ValueError(f"`n` must be an int >= 2 (grid points per axis), got {n!r}.")
    for lim, label in ((xlim, "xlim"), (ylim, "ylim")):
        if len(lim) != 2 or not float(lim[0]) < float(lim[1]):
            raise ValueError(f"`{label}` must be (low, high) with low < high, got {lim!r}.")
    fig, ax = _axes(ax, figsize=(4.5, 4))
    gx, gy = np.meshgrid(np.linspace(*xlim, n), np.linspace(*ylim, n))
    dtype = model.dtype
    y = {k: jnp.zeros(gx.shape, dtype) for k in model.state_names}
    y[names[0]], y[names[1]] = jnp.asarray(gx, dtype), jnp.asarray(gy, dtype)
    dy = jax.jit(lambda y: model.vector_field(0.0, y, model.zero_inputs(gx.shape)))(y)
    u, v = np.asarray(dy[names[0]]), np.asarray(dy[names[1]])
    ax.quiver(gx, gy, u, v, np.hypot(u, v), cmap="Greys", angles="xy")
    ax.contour(gx, gy, u, levels=[0.0], colors="tab:blue", linewidths=1)
    ax.contour(gx, gy, v, levels=[0.0], colors="tab:orange", linewidths=1)
    if trajectory is not None:
        tx, ty = (np.asarray(t) for t in trajectory)
        ax.plot(tx, ty, color="tab:red", lw=1)
    ax.set(xlabel=names[0], ylabel=names[1], title=title or type(model).__name__)
    return fig, ax


def plot_fit_history(result: Any, *, ax=None, logy: bool = True, title: str = "fit"):
    """The loss history of a `FitResult` (per step/evaluation, best-so-far overlaid) or of a
    `TrainResult` (train and validation loss per epoch). Returns `(fig, ax)`."""
    hist = getattr(result, "history", None)
    if hist is None:
        raise TypeError(f"`result` must be a FitResult or a TrainResult, got {result!r}.")
    fig, ax = _axes(ax)
    if isinstance(hist, dict):
        ax.plot(hist["train_loss"], label="train loss")
        if np.any(np.isfinite(hist["val_loss"])):
            ax.plot(hist["val_loss"], label="validation loss")
        ax.set_xlabel("epoch")
    else:
        h = np.asarray(hist, float)
        ax.plot(h, lw=0.8, label="loss")
        best = np.fmin.accumulate(np.where(np.isfinite(h), h, np.inf))
        ax.plot(best, lw=1.2, label="best so far")
        ax.set_xlabel("step / evaluation")
    if logy:
        ax.set_yscale("log")
    ax.set(ylabel="loss", title=title)
    ax.legend(fontsize=8)
    return fig, ax


def plot_bifurcation_diagram(branch: Any, *, of: str | None = None, node: int = 0, ax=None,
                             xlabel: str = "parameter", title: str = "", cycles: Any = None):
    """An equilibrium branch from `bmx.analysis.continuation`: state `of` (default the first)
    of `node` against the parameter, solid where stable and dashed where unstable, with its
    folds and Hopf points marked; with `cycles` (a `CycleBranch`, or a sequence of them) also
    the maximum and minimum of `of` over each cycle (green stable, orange unstable). Returns
    `(fig, ax)`."""
    for field in ("params", "states", "stable", "bifurcations"):
        if not hasattr(branch, field):
            raise TypeError(f"`branch` must be an analysis Branch, got {branch!r}.")
    name = of if of is not None else next(iter(branch.states))
    if name not in branch.states:
        raise ValueError(f"`of` must be one of {list(branch.states)}, got {of!r}.")
    p = np.asarray(branch.params)
    y = np.asarray(branch.states[name]).reshape(len(p), -1)[:, node]
    stable = np.asarray(branch.stable)
    fig, ax = _axes(ax)
    ax.plot(p, np.where(stable, y, np.nan), color="k", lw=1.2, label="stable")
    ax.plot(p, np.where(stable, np.nan, y), color="k", lw=1.0, ls="--", label="unstable")
    for b in branch.bifurcations:
        yb = float(np.ravel(np.asarray(b.state[name]))[node])
        ax.plot([b.param], [yb], "o" if b.kind == "hopf" else "s",
                color="tab:red" if b.kind == "hopf" else "tab:blue",
                label=f"{b.kind} at {b.param:.4g}")
    if cycles is not None:
        for k, c in enumerate(cycles if isinstance(cycles, (list, tuple)) else [cycles]):
            if not hasattr(c, "maxima"):
                raise TypeError(f"`cycles` must hold analysis CycleBranch results, got {c!r}.")
            pc, ok = np.asarray(c.params), np.asarray(c.stable)
            for extreme in (c.maxima, c.minima):
                e = np.asarray(extreme[name]).reshape(len(pc), -1)[:, node]
                ax.plot(pc, np.where(ok, e, np.nan), color="tab:green", lw=1.2,
                        label="stable cycle" if k == 0 and extreme is c.maxima else None)
                ax.plot(pc, np.where(ok, np.nan, e), color="tab:orange", lw=1.0, ls="--",
                        label="unstable cycle" if k == 0 and extreme is c.maxima else None)
    ax.set(xlabel=xlabel, ylabel=name, title=title)
    ax.legend(fontsize=7)
    return fig, ax


def plot_spectrum(spectrum: Any, *, ax=None, title: str = "spectrum"):
    """Eigenvalues (per ms) of an `bmx.analysis.Spectrum` in the complex plane, with the
    imaginary axis (the stability boundary). Returns `(fig, ax)`."""
    if not hasattr(spectrum, "values"):
        raise TypeError(f"`spectrum` must be an analysis Spectrum, got {spectrum!r}.")
    values = np.asarray(spectrum.values)
    fig, ax = _axes(ax, figsize=(4.5, 4))
    ax.axvline(0.0, color="0.6", lw=0.8)
    ax.plot(values.real, values.imag, "x", color="tab:red")
    ax.set(xlabel="Re λ (1/ms)", ylabel="Im λ (rad/ms)", title=title)
    return fig, ax
