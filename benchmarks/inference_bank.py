"""Inference benchmark: simulation-bank throughput on the hcp network with BOLD, NPE training
time, and the same bank on neurolib 0.6.2 in a loop (its users' way) as a ratio.

The network: 80-region Hopf nodes on the hcp connectome (`--data`), diffusive coupling, delays
from fibre lengths at `--speed` (5 mm/ms), additive noise, `--seconds` (60) of BOLD sampled
every 500 ms, dt `--dt` (1 ms; Heun here, Euler in neurolib, its only integrator), float32
here, float64 in neurolib. The prior: global coupling log-uniform, noise amplitude
log-uniform. Each simulation returns FC summaries (mean and spread of the FC, its correlation
with the SC, its three leading eigenvalues / N).

    .venv/bin/python benchmarks/inference_bank.py --neurolib-python /tmp/nl/bin/python

Throughput is counted without compilation (a second bank with another key, which compiles
nothing); the first bank's wall time, compilation included, is printed too. Run by hand; never
part of the test suite.
"""

import argparse
import json
import pathlib
import subprocess
import time

import numpy as np


HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent.parent / "shared" / "data" / "neurolib_hcp_avg_sc.npz"


def problem(data_path, seconds, dt, speed):
    import jax.numpy as jnp

    import brainmass_eqx as bmx
    from brainmass_eqx import inference as inf

    data = np.load(data_path)
    conn = bmx.Connectome(data["Cmat"], data["Dmat"])
    net = bmx.Network(bmx.Hopf(a=-0.02, omega=0.3), conn, bmx.DiffusiveCoupling(k=0.5),
                      speed=speed, noise=bmx.AdditiveNoise(sigma=0.02))
    prior = inf.JointPrior([inf.LogUniform(0.01, 0.3), inf.LogUniform(0.005, 0.08)],
                           where=lambda n: (n.coupling.k, n.noise.sigma), names=("k", "sigma"))
    monitor = bmx.BalloonWindkessel(period=500.0)
    sc = bmx.metrics.upper_triangle(jnp.asarray(conn.weights))

    def simulator(theta, key):
        bold = bmx.simulate(prior.apply(net, theta), seconds * 1000.0, dt, key=key,
                            monitors={"bold": monitor}, throw=False)["bold"][5:]
        fc = bmx.metrics.fc(bold)
        up = bmx.metrics.upper_triangle(fc)
        ev = jnp.linalg.eigvalsh(fc)[::-1][:3] / fc.shape[0]
        return jnp.concatenate([jnp.stack([up.mean(), up.std(), bmx.metrics.pearson(up, sc)]),
                                ev])

    return prior, simulator


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--n", type=int, default=512, help="simulations per bank")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--dt", type=float, default=1.0, help="ms")
    p.add_argument("--speed", type=float, default=5.0, help="mm/ms")
    p.add_argument("--neurolib-python", default=None)
    p.add_argument("--neurolib-n", type=int, default=8)
    args = p.parse_args()

    import jax

    from brainmass_eqx import inference as inf

    prior, simulator = problem(args.data, args.seconds, args.dt, args.speed)
    t0 = time.perf_counter()
    inf.simulate_bank(simulator, prior, args.n, jax.random.key(0), batch_size=args.batch_size,
                      progress=False)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    bank = inf.simulate_bank(simulator, prior, args.n, jax.random.key(1),
                             batch_size=args.batch_size, progress=False)
    warm = time.perf_counter() - t0
    ours = args.n / warm
    print(f"bank: {args.n} x {args.seconds:g} s BOLD, batch {args.batch_size}: first "
          f"{cold:.1f} s (compilation included), second {warm:.1f} s -> {ours:.2f} sims/s "
          f"({bank.n_failed} failed)")
    t0 = time.perf_counter()
    inf.NPE(prior, progress=False).fit(bank, jax.random.key(2))
    print(f"NPE (MAF, 5 layers) on {bank.n} simulations: {time.perf_counter() - t0:.1f} s")
    if args.neurolib_python:
        out = subprocess.run([args.neurolib_python, str(HERE / "peers" / "neurolib_bank.py"),
                              args.data, str(args.neurolib_n), str(args.seconds), str(args.dt),
                              str(args.speed)], capture_output=True, text=True, check=True)
        nl = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"neurolib {nl['version']}: {nl['n']} simulations in a loop, "
              f"{nl['sims_per_s']:.2f} sims/s (first run {nl['cold_s']:.1f} s)")
        print(f"summary: bank_sims_per_s={ours:.2f} neurolib_sims_per_s={nl['sims_per_s']:.2f} "
              f"ratio={ours / nl['sims_per_s']:.1f}x")


if __name__ == "__main__":
    main()
