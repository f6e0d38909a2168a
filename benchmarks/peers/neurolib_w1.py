"""W1 on neurolib 0.6.2 (run with an interpreter that has neurolib installed).

neurolib's HopfModel on the same connectome, Euler (its only integrator), float64, 10 s (or
`--seconds S`) at dt 0.1 ms, signal speed 10 mm/ms. Prints one JSON line. Usage: python
neurolib_w1.py DATA.npz [--seconds S]
"""

import json
import sys
import time

import numpy as np


def main():
    import neurolib
    from neurolib.models.hopf import HopfModel

    data = np.load(sys.argv[1])
    cmat = data["Cmat"].copy()
    np.fill_diagonal(cmat, 0.0)
    model = HopfModel(Cmat=cmat, Dmat=data["Dmat"])
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv \
        else 10.0
    model.params["duration"] = seconds * 1000.0
    model.params["dt"] = 0.1
    model.params["signalV"] = 10.0
    model.params["a"] = 0.25
    model.params["w"] = 0.2
    model.params["K_gl"] = 0.5
    model.params["sigma_ou"] = 0.0
    out = {"peer": "neurolib", "version": getattr(neurolib, "__version__", "0.6.2"),
           "steps": int(round(seconds * 1000.0 / 0.1))}
    t0 = time.perf_counter()
    model.run()
    out["cold_s"] = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.run()
        warm.append(time.perf_counter() - t0)
    out["warm_s"] = float(np.median(warm))
    out["shape"] = list(model.x.shape)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
