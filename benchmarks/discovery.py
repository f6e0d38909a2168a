"""Model-discovery benchmark: term recovery, coefficient error and wall time of the weak and
the derivative-based regression against measurement noise and data length, on the Hopf
normal form (`bmx.datasets.load_dataset("discovery_hopf", ...)`) and the delayed Hopf network
(its coupling gain included).

    .venv/bin/python benchmarks/discovery.py

Noise is a fraction of each state's standard deviation; data length the duration of each of
the trajectories (ms, sampled every 0.01 ms). Each row: precision, recall, relative
coefficient error, seconds for `discover` (after one warm-up).
"""

import argparse
import time


def row(data, lib, method, dsc):
    kwargs = dict(dt=data.dt, state_names=data.state_names, method=method,
                  connectome=data.connectome, speed=data.speed)
    dsc.discover(data.records, lib, **kwargs)  # warm-up
    t0 = time.perf_counter()
    model = dsc.discover(data.records, lib, **kwargs)
    wall = time.perf_counter() - t0
    s = dsc.term_scores(model, data.truth)
    return f"P {s.precision:4.2f} R {s.recall:4.2f} err {s.coefficient_error:6.3f} {wall:6.2f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.03, 0.1, 0.2, 0.3])
    p.add_argument("--durations", type=float, nargs="+", default=[10.0, 20.0, 40.0])
    args = p.parse_args()

    import brainmass_eqx as bmx
    from brainmass_eqx import discovery as dsc

    forms = {"weak": dsc.Weak(), "derivative": dsc.Derivative()}
    for name, lib_of in [("discovery_hopf", lambda d: dsc.Library(dsc.Polynomial(3))),
                         ("discovery_hopf_network", lambda d: dsc.Library(
                             dsc.Polynomial(3), dsc.DiffusiveCouplingTerm("x")))]:
        print(f"\n{name}: against measurement noise (default length)")
        for noise in args.noise:
            data = bmx.datasets.load_dataset(name, measurement_noise=noise)
            print(f"  noise {noise:4.2f}  " + "  |  ".join(
                f"{f}: {row(data, lib_of(data), m, dsc)}" for f, m in forms.items()))
        print(f"{name}: against data length (noise 0.05)")
        for duration in args.durations:
            data = bmx.datasets.load_dataset(name, measurement_noise=0.05, duration=duration)
            print(f"  {duration:5.0f} ms   " + "  |  ".join(
                f"{f}: {row(data, lib_of(data), m, dsc)}" for f, m in forms.items()))


if __name__ == "__main__":
    main()
