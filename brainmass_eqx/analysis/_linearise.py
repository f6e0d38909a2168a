r"""The linear-noise approximation of a system about a stable equilibrium: its stationary
covariance, lagged covariances, cross-spectral density (with conduction delays) and from these
the FC of a state variable and of its BOLD signal, without simulating.

Small fluctuations about $y^*$ obey $\mathrm{d}\,\delta y = J\,\delta y\,\mathrm{d}t +
G\,\mathrm{d}W$ (delays: $\dot{\delta y} = J_0 \delta y + \sum_{ij} A_{:,i} w_{ij} B_{j,:}
\delta y(t - \tau_{ij}) + G \xi$) with $Q = G G^\top$ from the system's noise at $y^*$. The
cross-spectral density is $S(\omega) = H(\omega) Q H(\omega)^*$ with
$H(\omega) = \Delta(i\omega)^{-1}$; without delays the covariance solves $J P + P J^\top + Q = 0$.
The approximation holds while the equilibrium is stable and the noise small enough that the
fluctuations stay in its linear range: the analysis docs compare it with simulation.
"""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from .._core._stats import corr_from_cov
from .._core._types import State
from .._models import AbstractSystem
from .._monitors import AbstractMonitor, BalloonWindkessel
from .._network import Network
from ._jacobian import Jacobian, jacobian
from ._lyapunov import solve_lyapunov
from ._state_vector import StateLayout, complex_dtype


def integrate(values: Array, freqs: Array) -> Array:
    """The trapezoid rule over the leading (frequency) axis of `values`."""
    dx = jnp.diff(freqs)
    w = jnp.zeros_like(freqs).at[1:].add(dx / 2).at[:-1].add(dx / 2)
    return jnp.tensordot(w.astype(values.dtype), values, axes=(0, 0))


def gauss_legendre(fmax: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on $[0, f_{max}]$ in four panels graded towards zero
    (edges at 0, 5, 15, 40 and 100 % of `fmax`), `n // 4` nodes each: exact for polynomials
    of degree `n // 2 - 1` per panel, so a few dozen frequencies integrate a smooth spectrum
    that trapezoids need thousands for."""
    per = max(n // 4, 1)
    x, w = np.polynomial.legendre.leggauss(per)
    edges = fmax * np.array([0.0, 0.05, 0.15, 0.4, 1.0])
    nodes = [(b - a) / 2 * x + (a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    weights = [(b - a) / 2 * w for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate(nodes), np.concatenate(weights)


def _noise_covariance(system: AbstractSystem, y: State, layout: StateLayout, noise: Any
                      ) -> Array:
    """$Q = G G^\\top$ (diagonal) from the network's noise at `y`, or from `noise` (per-state
    intensities: a dict state -> sigma per sqrt(ms), or an `AbstractNoise`)."""
    dtype = jax.tree.leaves(y)[0].dtype
    if noise is None and isinstance(system, Network) and system.noise is not None:
        g = system.diffusion(y)
    elif noise is None:
        raise ValueError("`noise` is needed: the system has no noise of its own; pass e.g. "
                         "`noise={'x': 0.01}` (intensity per sqrt(ms)) or an AbstractNoise.")
    elif isinstance(noise, dict):
        unknown = set(noise) - set(layout.names)
        if unknown:
            raise ValueError(f"`noise` names {sorted(unknown)}, which are not states "
                             f"{layout.names}.")
        g = {k: jnp.broadcast_to(jnp.asarray(noise.get(k, 0.0), dtype), layout.shape)
             for k in layout.names}
    else:
        states = noise.states or (system.default_cvar,)
        given = noise.diffusion(y, states)
        g = {k: given.get(k, jnp.zeros(layout.shape, dtype)) for k in layout.names}
    return jnp.diag(layout.flatten(g) ** 2)


def _signal_rows(system: AbstractSystem, y: State, layout: StateLayout, on: Any) -> Array:
    """The rows $\\partial z / \\partial y$ of the linearised signal `on` (a state or observable
    name; default the coupled variable): `(nodes, d)`."""
    name = system.default_cvar if on is None else on

    def signal(v):
        return jnp.ravel(system.observe(name, layout.unflatten(v)))

    return jax.jacfwd(signal)(layout.flatten(y))


def _monitor_blocks(monitor: AbstractMonitor, z0: Array):
    """Per-node linearisation of an elementwise stateful monitor about its equilibrium for the
    signal `z0`: `(A (n, k, k), b (n, k), c (n, k), e (n,))` with $\\dot m = A m + b z$,
    $y = c m + e z$."""
    import optimistix as optx

    m0 = monitor.init(z0)
    leaves, treedef = jax.tree.flatten(m0)
    shape = z0.shape

    def pack(m):
        return jnp.stack([jnp.broadcast_to(x, shape) for x in jax.tree.leaves(m)])

    def unpack(v):
        return jax.tree.unflatten(treedef, list(v))

    def rate(v, z):
        return pack(monitor.rate(unpack(v), z))

    sol = optx.root_find(lambda v, z: rate(v, z), optx.Newton(rtol=1e-10, atol=1e-12),
                         pack(m0), z0, throw=False)
    mstar = sol.value
    k = len(leaves)
    cols = [jax.jvp(lambda v: rate(v, z0), (mstar,), (jnp.zeros_like(mstar).at[a].set(1.0),))[1]
            for a in range(k)]
    a_mat = jnp.stack(cols, axis=-1)  # (k, n, k): d rate_r / d m_a per node
    b_vec = jax.jvp(lambda z: rate(mstar, z), (z0,), (jnp.ones_like(z0),))[1]  # (k, n)

    def record(v, z):
        return monitor.record(unpack(v), z)

    c_vec = jnp.stack([jax.jvp(lambda v: record(v, z0), (mstar,),
                               (jnp.zeros_like(mstar).at[a].set(1.0),))[1] for a in range(k)])
    e_vec = jax.jvp(lambda z: record(mstar, z), (z0,), (jnp.ones_like(z0),))[1]
    return (jnp.moveaxis(a_mat, 1, 0), b_vec.T, c_vec.T, e_vec)


@final
class _NodeBlocks(eqx.Module):
    r"""A network's linearisation split by node, for spectra at the cost of an $N C$ solve
    instead of a $d = N S$ one ($S$ states and $C$ coupling channels per node).

    With $D_n = i\omega I - J_{0,n}$ (node $n$'s block of $J_0$), the pre-synaptic values
    $p = B\,\delta y$ obey $p = G K p + B D^{-1}\xi$ with $G = B D^{-1} A$ node-diagonal and
    $K = I_C \otimes (W \circ e^{-i\omega\tau})$; the signal is
    $z = Z D^{-1} A K p + Z D^{-1}\xi$. So $Z H = R K (I - G K)^{-1} P + E$ with the
    node-diagonal $R = Z D^{-1} A$, $P = B D^{-1}$, $E = Z D^{-1}$.
    """

    local: Array  # (N, S, S)
    into: Array  # (N, S, C)
    out_of: Array  # (N, C, S)
    rows: Array  # (N, S)
    q: Array  # (N, S)
    weights: Array  # (N, N)
    delays: Array | None

    @staticmethod
    def of(jac: Jacobian, rows: Array, q: Array) -> "_NodeBlocks":
        n = jac.weights.shape[0]
        s = jac.local.shape[0] // n
        c = jac.n_channels
        idx = jnp.arange(n)
        cd = rows.dtype
        local = jac.local.reshape(s, n, s, n)[:, idx, :, idx]  # (N, S, S)
        into = jac.into.reshape(s, n, c, n)[:, idx, :, idx]  # (N, S, C)
        out_of = jac.out_of.reshape(c, n, s, n)[:, idx, :, idx]  # (N, C, S)
        z = rows.reshape(n, s, n)[idx, :, idx]  # (N, S)
        return _NodeBlocks(local.astype(cd), into.astype(cd), out_of.astype(cd), z,
                           q.reshape(s, n).T, jac.weights.astype(cd),
                           None if jac.delays is None else jac.delays.astype(cd))

    def signal_spectrum(self, w: Array) -> Array:
        n, s, _ = self.local.shape
        c = self.into.shape[-1]
        cd = self.local.dtype
        d_inv = jnp.linalg.inv(jnp.asarray(1j, cd) * w * jnp.eye(s, dtype=cd)[None]
                               - self.local)  # (N, S, S)
        g = jnp.einsum("ncs,nst,ntk->nck", self.out_of, d_inv, self.into)  # (N, C, C)
        e = jnp.einsum("ns,nst->nt", self.rows, d_inv)  # (N, S)
        r = jnp.einsum("nt,ntk->nk", e, self.into)  # (N, C)
        p = jnp.einsum("ncs,nst->nct", self.out_of, d_inv)  # (N, C, S)
        k = self.weights
        if self.delays is not None:
            k = k * jnp.exp(-jnp.asarray(1j, cd) * w * self.delays)
        eye_n = jnp.eye(n, dtype=cd)
        # channel-major (C N) operators: G K and R K
        big_g = jnp.einsum("nab,nm->anbm", g, eye_n).reshape(c * n, c * n)
        big_k = jnp.kron(jnp.eye(c, dtype=cd), k)
        rk = (jnp.einsum("na,nm->nam", r, eye_n).reshape(n, c * n)) @ big_k
        x = jnp.linalg.solve((jnp.eye(c * n, dtype=cd) - big_g @ big_k).T, rk.T).T  # (N, CN)
        # Z H over the noise sources (node m, state t): x[:, (c, m)] P_m[c, t] + E
        zh = jnp.einsum("ncm,mct->nmt", x.reshape(n, c, n), p)
        zh = zh + jnp.einsum("nt,nm->nmt", e, eye_n)
        zh = zh.reshape(n, n * s)
        qn = self.q.reshape(n * s)
        return (zh * qn[None]) @ jnp.conj(zh).T / 1000.0


@final
class Linearisation(eqx.Module):
    """The linear-noise approximation about a state (see the module docstring): the `jacobian`,
    the noise covariance `noise` $Q$ `(d, d)`, the `state` it is linearised about, and the
    `system` (for signals and observables)."""

    jacobian: Jacobian
    noise: Float[Array, "d d"]
    state: State
    system: AbstractSystem

    def covariance(self, *, fmax: float = 500.0, n_freqs: int = 4096) -> Float[Array, "d d"]:
        r"""The stationary covariance of the state vector (state-major; see
        `jacobian.layout`). Undelayed: the Lyapunov solution. Delayed: $\int S(f)\,df$ by the
        trapezoid rule on `n_freqs` frequencies up to `fmax` Hz, plus the closed-form tail above
        it, where the system responds as an integrator ($H \approx 1/i\omega$: choose `fmax`
        well above its frequencies and decay rates)."""
        if not self.jacobian.has_delays:
            return solve_lyapunov(self.jacobian.instantaneous(), self.noise)
        freqs = jnp.linspace(0.0, fmax, n_freqs, dtype=self.noise.dtype)
        # above `fmax` the response is that of an integrator, H = 1/(i omega): its tail,
        # 2 * int_fmax^inf Q 1000 / (4 pi^2 f^2) df, is added in closed form
        tail = self.noise * (1000.0 / (2 * jnp.pi**2 * fmax))
        return 2 * integrate(jnp.real(self.cross_spectrum(freqs)), freqs) + tail

    def lagged_covariance(self, lags: Float[Array, " lags"]) -> Float[Array, "lags d d"]:
        r"""$C(\tau) = \mathrm{E}[\delta y(t + \tau)\,\delta y(t)^\top] = e^{J\tau} P$ for lags
        $\tau \ge 0$ in ms (undelayed systems)."""
        if self.jacobian.has_delays:
            raise ValueError("lagged covariances of delayed systems are not closed-form; use "
                             "`cross_spectrum` and an inverse Fourier transform.")
        j, p = self.jacobian.instantaneous(), self.covariance()
        return jax.vmap(lambda t: jax.scipy.linalg.expm(j * t) @ p)(jnp.asarray(lags, j.dtype))

    def transfer(self, freqs: Float[Array, " f"]) -> Complex[Array, "f d d"]:
        r"""$H(f) = \Delta(i\omega)^{-1}$, $\omega = 2\pi f / 1000$ rad/ms, `freqs` in Hz."""
        cdtype = complex_dtype(self.noise.dtype)
        omega = (2 * jnp.pi * jnp.asarray(freqs, self.noise.dtype) / 1000.0).astype(cdtype)
        i = jnp.asarray(1j, cdtype)
        return jax.vmap(lambda w: jnp.linalg.inv(self.jacobian.characteristic(i * w)))(omega)

    def cross_spectrum(self, freqs: Float[Array, " f"]) -> Complex[Array, "f d d"]:
        r"""The two-sided cross-spectral density per Hz, $S(f) = H Q H^* / 1000$, so that the
        covariance is $\int_{-\infty}^{\infty} S(f)\,df$."""
        h = self.transfer(freqs)
        q = self.noise.astype(h.dtype)
        return jnp.einsum("fik,kl,fjl->fij", h, q, jnp.conj(h)) / 1000.0

    def _signal_spectrum(self, omega: Array, rows: Array) -> Array:
        r"""$Z H Q H^* Z^\top / 1000$ at the angular frequencies `omega` (rad/ms) for the
        signal rows $Z$ `(nodes, d)`. A network's is reduced to its nodes (`_NodeBlocks`);
        otherwise one solve $\Delta(i\omega)^\top X^\top = Z^\top$ per frequency."""
        i = jnp.asarray(1j, rows.dtype)
        q = jnp.diagonal(self.noise).astype(rows.dtype)
        if self.jacobian.into is not None:
            blocks = _NodeBlocks.of(self.jacobian, rows, q)
            return jax.vmap(blocks.signal_spectrum)(omega)

        def one(w):
            x = jnp.linalg.solve(self.jacobian.characteristic(i * w).T, rows.T).T  # Z H
            return (x * q[None]) @ jnp.conj(x).T / 1000.0

        return jax.vmap(one)(omega)

    def _block(self, matrix: Array, on: Any) -> Array:
        rows = _signal_rows(self.system, self.state, self.jacobian.layout, on)
        return rows.astype(matrix.dtype) @ matrix @ rows.T.astype(matrix.dtype)

    def fc(self, on: Any = None, **kwargs: Any) -> Float[Array, "nodes nodes"]:
        """The FC (correlation matrix) of the signal `on` (a state or observable name; default
        the coupled variable) from the stationary covariance."""
        return corr_from_cov(self._block(self.covariance(**kwargs), on))

    def bold_fc(self, monitor: AbstractMonitor | None = None, on: Any = None, *,
                fmax: float = 1.0, n_freqs: int = 32) -> Float[Array, "nodes nodes"]:
        r"""The FC of the BOLD signal of `on` (default the coupled variable) through the
        linearised stateful `monitor` (default [`brainmass_eqx.BalloonWindkessel`][]), from
        the cross-spectrum of the signal filtered by the monitor's transfer function $h(f)$:
        $\mathrm{cov} = 2\int_0^{f_{max}} h S_z h^*\,df$ by Gauss-Legendre quadrature on
        `n_freqs` frequencies up to `fmax` Hz (the haemodynamics pass almost nothing above
        0.5 Hz; see `gauss_legendre`). Raise `n_freqs` close to a bifurcation, where the
        neural spectrum grows sharp at low frequencies."""
        monitor = BalloonWindkessel(on=on) if monitor is None else monitor
        rows = _signal_rows(self.system, self.state, self.jacobian.layout, on)
        name = self.system.default_cvar if on is None else on
        z0 = jnp.ravel(self.system.observe(name, self.state))
        a, b, c, e = _monitor_blocks(monitor, z0)
        nodes, weights = gauss_legendre(fmax, n_freqs)
        cdtype = complex_dtype(self.noise.dtype)
        omega = (2 * jnp.pi * jnp.asarray(nodes, self.noise.dtype) / 1000.0).astype(cdtype)
        k = a.shape[-1]
        a, b, c, e = (x.astype(cdtype) for x in (a, b, c, e))

        def h_of(w):  # per node: c (i w I - A)^-1 b + e
            m = (jnp.asarray(1j, cdtype) * w * jnp.eye(k, dtype=cdtype))[None] - a
            return jnp.einsum("nk,nk->n", c, jnp.linalg.solve(m, b[..., None])[..., 0]) + e

        hb = jax.vmap(h_of)(omega)  # (f, nodes)
        sz = self._signal_spectrum(omega, rows.astype(cdtype))
        sb = hb[:, :, None] * sz * jnp.conj(hb)[:, None, :]
        cov = 2 * jnp.tensordot(jnp.asarray(weights, sb.real.dtype), jnp.real(sb), axes=(0, 0))
        return corr_from_cov(cov)


def linearise(system: AbstractSystem, y: State, *, noise: Any = None, inputs: Any = None
              ) -> Linearisation:
    r"""The linear-noise approximation of `system` about the state `y` (normally a stable
    equilibrium from [`brainmass_eqx.analysis.fixed_point`][]), driven by the system's own
    noise (a network's `noise`) or by `noise` (a dict state -> intensity per $\sqrt{ms}$, or an
    `AbstractNoise`). jit/grad/vmap-safe, so its `fc()` and `bold_fc()` can be fitting
    objectives. See [`brainmass_eqx.analysis.Linearisation`][]."""
    jac = jacobian(system, y, inputs=inputs)
    layout = jac.layout
    y = {k: jnp.broadcast_to(jnp.asarray(y[k], jac.local.dtype), layout.shape)
         for k in layout.names}
    q = _noise_covariance(system, y, layout, noise)
    return Linearisation(jac, q.astype(jac.local.dtype), y, system)


