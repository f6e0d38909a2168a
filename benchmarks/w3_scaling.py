"""Workload W3: large networks. A synthetic connectome (regions uniform in a 140 mm ball,
connections drawn by an exponential distance rule, p ~ exp(-d / 18 mm), about 10 % density;
lognormal weights normalised to a mean in-strength of 1; tract lengths 1.2x the Euclidean
distance), Hopf nodes (a = 0.25, omega = 0.2 rad/ms), diffusive coupling k = 0.5, delays at
10 mm/ms, dt 0.1 ms, Heun, float32 — at 80, 200, 500 and 1000 regions.

Prints, per size: connections, forward wall time for `--seconds` (1 s), microseconds per step
and nanoseconds per connection-step (flat if the cost is linear in the connections), the
gradient (of 1 - corr(FC, target) with respect to k and every a) over forward ratio, and the
peak RSS of a `--grad-seconds` gradient in a child process (of x at every step, or sampled
every `--grad-period` ms); with `--neurolib-python` and `--brainmass-python`, neurolib 0.6.2 and
brainmass 0.1.1 on the same connectome (their W1 scripts, run for `--peer-seconds`, per step;
brainmass's pure-execution time) as ratios to our forward. All in one run, so the ratios
share the machine's state.

    .venv/bin/python benchmarks/w3_scaling.py --neurolib-python /tmp/nl/bin/python \
        --brainmass-python /tmp/bm/bin/python

Run by hand; never part of the test suite.
"""

import argparse
import json
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


HERE = pathlib.Path(__file__).resolve().parent


def connectome(n: int, seed: int = 0, scale: float = 18.0):
    """Synthetic connectome: `(weights, lengths)`, `weights[i, j]` onto i from j."""
    rng = np.random.default_rng(seed)
    pts = rng.normal(size=(n, 3))
    pts *= 70.0 * rng.uniform(size=(n, 1)) ** (1 / 3) / np.linalg.norm(pts, axis=1,
                                                                        keepdims=True)
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    p = np.exp(-d / scale)
    np.fill_diagonal(p, 0.0)
    p *= 0.10 * n * (n - 1) / p.sum()  # about 10 % density
    mask = rng.uniform(size=(n, n)) < np.minimum(p, 1.0)
    w = np.where(mask, rng.lognormal(0.0, 1.0, (n, n)), 0.0)
    w /= w.sum(axis=1).mean()
    return w, 1.2 * d


def once(fn):
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def setup(n, seconds, period=None):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import brainmass_eqx as bmx

    w, lengths = connectome(n)
    net = bmx.Network(bmx.Hopf(a=jnp.full(n, 0.25), omega=jnp.full(n, 0.2)),
                      bmx.Connectome(w, lengths), bmx.DiffusiveCoupling(k=0.5), speed=10.0)
    y0 = net.initial_state(key=jax.random.key(0))
    duration = seconds * 1000.0
    # every step of x, or (with `period`, ms) x sampled every `period`: the record of every
    # step of a 60 s run of 1000 regions is 2.4 GB by itself, and its cotangent as much again
    monitors = {"x": "x" if period is None else bmx.Subsample(on="x", period=period)}
    target = jnp.corrcoef(bmx.simulate(net, duration, 0.1, y0=y0, monitors=monitors)["x"].T)

    def loss(theta):
        model = eqx.tree_at(lambda m: (m.coupling.k, m.node.a), net, (theta[0], theta[1:]))
        x = bmx.simulate(model, duration, 0.1, y0=y0, monitors=monitors)["x"]
        fc = jnp.corrcoef(x.T)
        iu = jnp.triu_indices(n, 1)
        a, b = fc[iu] - fc[iu].mean(), target[iu] - target[iu].mean()
        return 1 - jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))

    theta = jnp.concatenate([jnp.array([0.45]), jnp.full(n, 0.25)]).astype(jnp.float32)
    forward = jax.jit(lambda th: bmx.simulate(eqx.tree_at(
        lambda m: (m.coupling.k, m.node.a), net, (th[0], th[1:])), duration, 0.1, y0=y0,
        monitors=["x"])["x"])
    return net, int((w != 0).sum()), forward, jax.jit(jax.value_and_grad(loss)), theta, w, \
        lengths


def child(n, seconds, period=None):
    import jax

    _, _, _, grad, theta, _, _ = setup(n, seconds, period)
    t0 = time.perf_counter()
    jax.block_until_ready(grad(theta))
    print(json.dumps({"wall_s": time.perf_counter() - t0,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[80, 200, 500, 1000])
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--grad-seconds", type=float, default=10.0)
    p.add_argument("--neurolib-python", default=None)
    p.add_argument("--brainmass-python", default=None)
    p.add_argument("--peer-seconds", type=float, default=1.0,
                   help="simulated seconds of each peer run (per-step times are compared)")
    p.add_argument("--grad-period", type=float, default=None,
                   help="the memory run's x sampled every this many ms (default: every step)")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        child(args.child, args.grad_seconds, args.grad_period)
        return
    steps = int(round(args.seconds * 1000 / 0.1))
    peers = {name: python for name, python in (("neurolib", args.neurolib_python),
                                                ("brainmass", args.brainmass_python)) if python}
    print(f"{'N':>5} {'edges':>7} {'fwd s':>7} {'us/step':>8} {'ns/edge-step':>12} "
          f"{'grad/fwd':>8} {'grad RSS MB':>11}"
          + "".join(f" {name + ' us/step':>18} {'ratio':>6}" for name in peers))
    for n in args.sizes:
        _, edges, forward, grad, theta, w, lengths = setup(n, args.seconds)
        once(lambda: forward(theta))
        once(lambda: grad(theta))
        pairs = np.array([[once(lambda: forward(theta)), once(lambda: grad(theta))]
                          for _ in range(3)])
        fwd = float(np.median(pairs[:, 0]))
        ratio = float(np.median(pairs[:, 1] / pairs[:, 0]))
        period = [] if args.grad_period is None else ["--grad-period", str(args.grad_period)]
        mem = subprocess.run([sys.executable, __file__, "--child", str(n), "--grad-seconds",
                              str(args.grad_seconds), *period], capture_output=True, text=True)
        rss = json.loads(mem.stdout.strip().splitlines()[-1])["peak_rss_mb"] \
            if mem.returncode == 0 else float("nan")
        ours_step = fwd / steps * 1e6
        cells = ""
        for name, python in peers.items():
            peer_step = _peer_us_per_step(name, python, w, lengths, args.peer_seconds)
            cells += f" {peer_step:18.2f} {peer_step / ours_step:6.1f}"
        print(f"{n:5d} {edges:7d} {fwd:7.3f} {ours_step:8.2f} "
              f"{fwd / steps / edges * 1e9:12.3f} {ratio:8.2f} {rss:11.0f}{cells}", flush=True)


def _peer_us_per_step(name, python, w, lengths, seconds):
    """A peer's microseconds per step on this connectome (its pure-execution time where it
    reports one), or NaN when its run fails."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "w3.npz"
        np.savez(path, Cmat=w, Dmat=lengths)
        out = subprocess.run([python, str(HERE / "peers" / f"{name}_w1.py"), str(path),
                              "--seconds", str(seconds)], capture_output=True, text=True)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not lines:
        print(f"  {name} failed: {out.stderr.strip().splitlines()[-1:] or out.returncode}",
              flush=True)
        return float("nan")
    res = json.loads(lines[-1])
    return res.get("exec_s", res["warm_s"]) / res["steps"] * 1e6


if __name__ == "__main__":
    main()
