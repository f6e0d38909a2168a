"""W1 on brainmass 0.1.1 (run with an interpreter that has brainmass installed).

Prints one JSON line: cold (first run) and warm/exec wall times for 10 s (or `--seconds S`) of
the Hopf network with delays on the data's connectome (80 regions for W1; any size for W3).
Usage: python brainmass_w1.py DATA.npz [--seconds S]
"""

import json
import sys
import time

import numpy as np


def main():
    import brainmass
    import brainstate
    import braintools
    import brainunit as u
    import jax.numpy as jnp

    data = np.load(sys.argv[1])
    ms = 1000.0 * (float(sys.argv[sys.argv.index("--seconds") + 1])
                   if "--seconds" in sys.argv else 10.0)
    cmat = data["Cmat"].copy()
    n = cmat.shape[0]
    np.fill_diagonal(cmat, 0.0)
    dmat = data["Dmat"]
    brainstate.environ.set(dt=0.1 * u.ms)

    def build(k=0.5):
        node = brainmass.HopfStep(n, a=0.25, w=0.2, init_x=braintools.init.Uniform(0.0, 0.05))
        return brainmass.Network(node, conn=jnp.asarray(cmat, jnp.float32),
                                 distance=jnp.asarray(dmat, jnp.float32) * u.mm,
                                 speed=10.0 * u.mm / u.ms, coupling="diffusive",
                                 coupled_var="x", k=k)

    net = build()
    sim = brainmass.Simulator(net, dt=0.1 * u.ms)
    mon = {"x": lambda m: m.node.x.value}
    out = {"peer": "brainmass", "version": brainmass.__version__, "steps": int(round(ms / 0.1))}
    t0 = time.perf_counter()
    res = sim.run(ms * u.ms, monitors=mon)
    np.asarray(res["x"])
    out["cold_s"] = time.perf_counter() - t0
    warm = []
    for _ in range(3):
        t0 = time.perf_counter()
        res = sim.run(ms * u.ms, monitors=mon)
        np.asarray(res["x"])
        warm.append(time.perf_counter() - t0)
    out["warm_s"] = float(np.median(warm))
    try:  # pure execution: the run wrapped once in a jit and re-called
        run = brainstate.transform.jit(lambda: sim.run(ms * u.ms, monitors=mon, jit=False))
        np.asarray(run()["x"])
        ex = []
        for _ in range(3):
            t0 = time.perf_counter()
            np.asarray(run()["x"])
            ex.append(time.perf_counter() - t0)
        out["exec_s"] = float(np.median(ex))
    except Exception as e:  # noqa: BLE001 - report, do not fail the benchmark
        out["exec_error"] = repr(e)[:200]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
