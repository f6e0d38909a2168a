"""Simulated model-discovery benchmarks with known equations: a Hopf normal-form node,
FitzHugh-Nagumo, and a delayed diffusively coupled Hopf network, each with measurement and
process noise levels of your choice. Loaded by name through `load_dataset`."""

from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._models import FitzHughNagumo, Hopf
from .._network import AdditiveNoise, Connectome, DiffusiveCoupling, LinearCoupling, Network
from .._solve import simulate
from ._registry import register_dataset


@final
class DiscoveryBenchmark(eqx.Module):
    """Trajectories of a system with known equations.

    **Fields:** `records`, a list of `(time, nodes, states)` arrays (measurement noise
    added); `clean`, the same without it; `dt` (ms); `state_names`; `truth`,
    `{state: {term: coefficient}}` in `bmx.discovery` term names (coefficients per ms);
    `connectome` and `speed` (mm/ms) for networks, else `None`; `measurement_noise` (a
    fraction of each state's standard deviation) and `process_noise` (the SDE's sigma).
    """

    records: list
    clean: list
    dt: float
    state_names: tuple[str, ...]
    truth: dict
    connectome: Any
    speed: Any
    measurement_noise: float
    process_noise: float


def _observe(records, noise: float, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [x + noise * x.std(axis=0, keepdims=True) * rng.standard_normal(x.shape)
            for x in records]


def _run(system, duration, dt, y0s, key, names) -> list:
    out = []
    for i, y0 in enumerate(y0s):
        s = simulate(system, duration, dt, y0=y0, key=jax.random.fold_in(key, i))
        x = np.stack([np.asarray(s[n]) for n in names], axis=-1)
        out.append(x if x.ndim == 3 else x[:, None, :])
    return out


def _single(node, process_noise: float):
    if not process_noise:
        return node
    return Network(node, Connectome.unconnected(1), LinearCoupling(),
                   noise=AdditiveNoise(sigma=process_noise))


def hopf_benchmark(*, a: float = 0.5, omega: float = 2.0, measurement_noise: float = 0.0,
                   process_noise: float = 0.0, n_trajectories: int = 3,
                   duration: float = 40.0, dt: float = 0.01, seed: int = 0
                   ) -> DiscoveryBenchmark:
    r"""The Hopf normal form $\dot x = (a - x^2 - y^2)x - \omega y$,
    $\dot y = (a - x^2 - y^2)y + \omega x$ from `n_trajectories` starts inside and outside
    the limit cycle."""
    rng = np.random.default_rng(seed)
    node = Hopf(a=jnp.full(1, a) if process_noise else a,
                omega=jnp.full(1, omega) if process_noise else omega)
    shape = (1,) if process_noise else ()
    y0s = [{"x": jnp.full(shape, v[0]), "y": jnp.full(shape, v[1])}
           for v in rng.uniform(-1.5, 1.5, (n_trajectories, 2))]
    clean = _run(_single(node, process_noise), duration, dt, y0s, jax.random.key(seed),
                 ("x", "y"))
    truth = {"x": {"x": a, "y": -omega, "x^3": -1.0, "x*y^2": -1.0},
             "y": {"x": omega, "y": a, "x^2*y": -1.0, "y^3": -1.0}}
    return DiscoveryBenchmark(_observe(clean, measurement_noise, seed + 1), clean, dt,
                              ("x", "y"), truth, None, None, measurement_noise, process_noise)


def fitzhugh_nagumo_benchmark(*, measurement_noise: float = 0.0, process_noise: float = 0.0,
                              n_trajectories: int = 4, duration: float = 200.0,
                              dt: float = 0.05, seed: int = 0) -> DiscoveryBenchmark:
    r"""`bmx.FitzHughNagumo` (defaults): $\dot v = v - v^3/3 - w$,
    $\dot w = (v + a - b w)/\tau$, relaxing to rest from `n_trajectories` starts."""
    rng = np.random.default_rng(seed)
    fhn = FitzHughNagumo()
    shape = (1,) if process_noise else ()
    y0s = [{"v": jnp.full(shape, v[0]), "w": jnp.full(shape, v[1])}
           for v in rng.uniform(-2.0, 2.0, (n_trajectories, 2))]
    clean = _run(_single(fhn, process_noise), duration, dt, y0s, jax.random.key(seed),
                 ("v", "w"))
    a, b, tau = float(fhn.a), float(fhn.b), float(fhn.tau)
    truth = {"v": {"v": 1.0, "v^3": -1 / 3, "w": -1.0},
             "w": {"1": a / tau, "v": 1 / tau, "w": -b / tau}}
    return DiscoveryBenchmark(_observe(clean, measurement_noise, seed + 1), clean, dt,
                              ("v", "w"), truth, None, None, measurement_noise, process_noise)


def hopf_network_benchmark(*, n_nodes: int = 4, k: float = 0.3, speed: float = 2.0,
                           a: float = 0.5, omega: float = 2.0, measurement_noise: float = 0.0,
                           process_noise: float = 0.0, n_trajectories: int = 2,
                           duration: float = 60.0, dt: float = 0.01, seed: int = 0
                           ) -> DiscoveryBenchmark:
    r"""Hopf nodes diffusively coupled with delays, $u_i = k\sum_j w_{ij}(x_j(t - \ell_{ij}/v)
    - x_i)$, on a random connectome (weights U(0.2, 1), lengths U(2, 10) mm)."""
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 1.0, (n_nodes, n_nodes)) * (1 - np.eye(n_nodes))
    conn = Connectome(w, rng.uniform(2.0, 10.0, (n_nodes, n_nodes)))
    net = Network(Hopf(a=jnp.full(n_nodes, a), omega=jnp.full(n_nodes, omega)), conn,
                  DiffusiveCoupling(k=k), speed=speed,
                  noise=AdditiveNoise(sigma=process_noise) if process_noise else None)
    y0s = [net.initial_state(key=jax.random.key(seed * 100 + i)) for i in range(n_trajectories)]
    clean = _run(net, duration, dt, y0s, jax.random.key(seed), ("x", "y"))
    coupling = "sum_j w_ij (x_j(t-tau_ij) - x_i)"
    truth = {"x": {"x": a, "y": -omega, "x^3": -1.0, "x*y^2": -1.0, coupling: k},
             "y": {"x": omega, "y": a, "x^2*y": -1.0, "y^3": -1.0}}
    return DiscoveryBenchmark(_observe(clean, measurement_noise, seed + 1), clean, dt,
                              ("x", "y"), truth, conn, speed, measurement_noise, process_noise)


register_dataset("discovery_hopf", hopf_benchmark,
                 "Hopf normal-form node trajectories with known equations (model discovery)")
register_dataset("discovery_fitzhugh_nagumo", fitzhugh_nagumo_benchmark,
                 "FitzHugh-Nagumo trajectories with known equations (model discovery)")
register_dataset("discovery_hopf_network", hopf_network_benchmark,
                 "Delayed diffusively coupled Hopf network with a known gain (model discovery)")
