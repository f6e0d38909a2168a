"""A bank of hcp Hopf simulations with BOLD on neurolib 0.6.2, one simulation at a time (the
way neurolib users build banks: a Python loop, or its `BoxSearch`/pypet over worker pools).

Usage: python neurolib_bank.py DATA.npz N SECONDS DT SPEED. Each run draws its global
coupling log-uniformly, simulates with BOLD, and takes the BOLD FC. Prints one JSON line.
"""

import json
import sys
import time

import numpy as np


def main():
    import neurolib
    from neurolib.models.hopf import HopfModel

    path, n, seconds, dt, speed = sys.argv[1], int(sys.argv[2]), *map(float, sys.argv[3:6])
    data = np.load(path)
    cmat = data["Cmat"].copy()
    np.fill_diagonal(cmat, 0.0)
    model = HopfModel(Cmat=cmat, Dmat=data["Dmat"])
    model.params.update(duration=seconds * 1000.0, dt=dt, signalV=speed, a=-0.02, w=0.3,
                        sigma_ou=0.02)
    rng = np.random.default_rng(0)
    out = {"peer": "neurolib", "version": getattr(neurolib, "__version__", "0.6.2"), "n": n}
    model.params["K_gl"] = 0.1
    t0 = time.perf_counter()
    model.run(bold=True)  # numba compiles on the first run
    out["cold_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n):
        model.params["K_gl"] = float(np.exp(rng.uniform(np.log(0.01), np.log(0.3))))
        model.params["seed"] = int(rng.integers(2**31))
        model.run(bold=True)
        bold = model.BOLD.BOLD
        np.corrcoef(bold[:, 5:])
    out["warm_s"] = time.perf_counter() - t0
    out["sims_per_s"] = n / out["warm_s"]
    out["bold_shape"] = list(model.BOLD.BOLD.shape)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
