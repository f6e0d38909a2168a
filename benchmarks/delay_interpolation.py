"""The cost of cubic history interpolation (docs/networks.md, "Accuracy"): W1 (80-region
delayed, noisy Hopf network, dt 0.1 ms) with RK4 for 2 s, its midpoint stages reading the
delayed sums by cubic interpolation (the default) against linear interpolation (the engine
before), median of 7 alternating calls each. The linear variant is made by replacing the
solver's interior stage fractions with none, which is what `simulate` does for Heun; this is a
measurement, never part of the tests.

    .venv/bin/python benchmarks/delay_interpolation.py
"""

import pathlib
import sys
import time

import jax
import numpy as np

import brainmass_eqx as bmx
import brainmass_eqx._solve._simulate as simulate_module


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import w1_network  # noqa: E402


def main():
    net = w1_network.network(w1_network.DEFAULT_DATA)
    variants = {"linear": lambda solver: (), "cubic": simulate_module.interior_fractions}

    def run(name):
        simulate_module.interior_fractions = variants[name]
        return bmx.simulate(net, 2000.0, 0.1, solver=bmx.RK4(), key=jax.random.key(0),
                            monitors=["x"])["x"].block_until_ready()

    times = {name: [] for name in variants}
    for name in variants:
        run(name)  # compile
    for _ in range(7):
        for name in variants:
            t = time.perf_counter()
            run(name)
            times[name].append(time.perf_counter() - t)
    lin, cub = (float(np.median(times[n])) for n in ("linear", "cubic"))
    print(f"W1, RK4, 2 s: linear {lin:.3f} s, cubic {cub:.3f} s, cubic/linear {cub / lin:.3f}")


if __name__ == "__main__":
    main()
