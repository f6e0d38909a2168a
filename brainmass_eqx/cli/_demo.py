"""The README's main job, `brainmass-eqx demo`: fit the hcp Hopf network to the training
subjects' FC by the noise-free linear-noise loss (global coupling, per-region bifurcation
parameters and a gain on every structural connection), then simulate the fitted model with
fresh noise and compare its BOLD FC with the training and the held-out subjects'."""

import argparse
import time
from collections.abc import Sequence
from pathlib import Path


# Demo defaults: a Deco-style slow Hopf network on the hcp connectome (ms units).
DEMO_COUPLING = 3.0e-3  # per ms: the unfitted network's coupling (`--fit-steps 0`)
DEMO_FIT_START = 0.5e-3  # per ms: where the fit starts
DEMO_A = -0.02e-3  # per ms: just below the bifurcation
DEMO_A_MARGIN = 5e-5  # per ms: fitted nodes stay this far below it (time constants < 20 s)
DEMO_SIGMA = 0.02 / 1000**0.5  # per sqrt(ms)
DEMO_SPEED = 5.0  # mm/ms


def _stages(names: Sequence[str], enabled: bool):
    from tqdm.auto import tqdm

    # disable=None: only on a terminal (no control characters in logs and CI output)
    return tqdm(total=len(names), desc="demo", disable=None if enabled else True, leave=False,
                bar_format="{desc}: {n}/{total} {postfix}")


def hcp_demo_network(data, *, coupling: float = DEMO_COUPLING, speed: float = DEMO_SPEED):
    """The demo's network: Hopf nodes at each region's empirical BOLD peak frequency."""
    import jax.numpy as jnp

    import brainmass_eqx as bmx

    bold = data.bold
    z = (bold - bold.mean(axis=1, keepdims=True)) / bold.std(axis=1, keepdims=True)
    peaks = jnp.stack([bmx.metrics.peak_frequency(z[s], data.tr, fmin=0.01, fmax=0.1,
                                                  nperseg=256) for s in range(z.shape[0])])
    f_hz = jnp.mean(peaks, axis=0)
    node = bmx.Hopf(a=jnp.full(80, DEMO_A), omega=2 * jnp.pi * f_hz / 1000.0)
    return bmx.Network(node, data.connectome, coupling=bmx.DiffusiveCoupling(k=coupling),
                       speed=speed, noise=bmx.AdditiveNoise(sigma=DEMO_SIGMA))


def demo_fit(data, train_fc, steps: int, *, lr: float = 0.05, penalty: float = 0.01):
    """The demo's fit: Adam on `LinearNoiseFCLoss` over the coupling, the per-region `a` and
    the connections' log-gains (`LearnableWeights`), with `StructuralPenalty(penalty)`."""
    import equinox as eqx
    import jax.numpy as jnp
    import optax

    import brainmass_eqx as bmx

    net = hcp_demo_network(data, coupling=DEMO_FIT_START)
    net = eqx.tree_at(lambda n: n.node.a, net, jnp.full(80, -2 * DEMO_A_MARGIN))
    net = eqx.tree_at(lambda n: n.coupling, net, bmx.LearnableWeights(net.coupling,
                                                                      n_regions=80))
    loss = bmx.LinearNoiseFCLoss(state={"x": jnp.zeros(80), "y": jnp.zeros(80)})

    return bmx.fit(net, bmx.StructuralPenalty(loss, penalty), train_fc,
                   where=lambda n: (n.coupling.coupling.k, n.node.a, n.coupling.log_gain),
                   constraints=(bmx.Positive(), bmx.Negative(DEMO_A_MARGIN), None),
                   method=optax.adam(lr), steps=steps), loss


def _demo(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp
    import matplotlib
    import numpy as np

    import brainmass_eqx as bmx

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bar = _stages(["load", "fit", "simulate", "compare", "write"], not args.no_progress)
    t0 = time.perf_counter()
    bar.set_postfix_str("loading the hcp dataset")
    data = bmx.datasets.load_dataset("hcp")
    split = bmx.split_subjects(len(data.subjects), 3)
    train_fc = jnp.mean(data.fc[jnp.asarray(split.train)], axis=0)
    test_fc = jnp.mean(data.fc[jnp.asarray(split.test)], axis=0)
    bar.update(1)
    print(f"brainmass_eqx {bmx.__version__}: Hopf network on the hcp connectome (80 regions, "
          f"{data.connectome.n_edges} connections), delays at {DEMO_SPEED:g} mm/ms, additive "
          f"noise, BOLD by Balloon-Windkessel at TR {data.tr:g} ms; fitted to subjects "
          f"{split.train}, subjects {split.test} held out")
    r_lin = None
    if args.fit_steps > 0:
        bar.set_postfix_str(f"fitting ({args.fit_steps} Adam steps, linear-noise FC)")
        res, loss = demo_fit(data, train_fc, args.fit_steps)
        net = res.best_model
        r_lin = float(bmx.metrics.matrix_correlation(loss.fc(net), train_fc))
        print(f"fit: {res.n_steps} Adam steps on the noise-free linear-noise BOLD FC of "
              f"{sum(int(np.size(p)) for p in res.best_params)} parameters (coupling, 80 "
              f"bifurcation parameters, a gain per connection) in {res.wall_time:.1f} s: "
              f"linear-noise FC r = {r_lin:.3f} (training subjects)")
    else:
        net = hcp_demo_network(data, coupling=args.coupling)
    bar.update(1)
    bar.set_postfix_str("simulating the fitted model with fresh noise")
    monitors = {"bold": bmx.BalloonWindkessel(on="x", period=data.tr),
                "fc_x": bmx.StreamingFC(on="x")}
    t1 = time.perf_counter()
    sim = bmx.simulate(net, args.duration * 1000.0, args.dt, transient=args.transient * 1000.0,
                       key=jax.random.key(args.seed), monitors=monitors)
    bold = np.asarray(sim["bold"])
    t_sim = time.perf_counter() - t1
    bar.update(1)
    bar.set_postfix_str("comparing with the empirical FC")
    fc_sim = np.asarray(bmx.metrics.fc(sim["bold"]))
    r_train = float(bmx.metrics.matrix_correlation(fc_sim, train_fc))
    r_test = float(bmx.metrics.matrix_correlation(fc_sim, test_fc))
    bar.update(1)
    print(f"simulated {args.duration:g} s ({int(sim.stats['num_steps'])} steps) in {t_sim:.2f} "
          f"s (including compilation); {bold.shape[0]} BOLD frames x {bold.shape[1]} regions")
    print(f"simulated BOLD FC vs empirical FC: r = {r_train:.3f} (training subjects), "
          f"r = {r_test:.3f} (held-out subjects)")
    bar.set_postfix_str("writing")
    npz = out / "hcp_demo.npz"
    np.savez(npz, bold=bold, bold_times=np.asarray(sim.times("bold")), fc=fc_sim,
             fc_empirical=np.asarray(train_fc), fc_heldout=np.asarray(test_fc),
             fc_neural=np.asarray(sim["fc_x"]), r=r_train, r_heldout=r_test,
             r_linear_noise=np.nan if r_lin is None else r_lin)
    fig, axes = bmx.viz.plot_fc_comparison(
        fc_sim, np.asarray(test_fc),
        titles=("fitted model, simulated BOLD FC", "empirical FC, held-out subjects"))
    fig.savefig(out / "hcp_demo.png", dpi=110)
    plt.close(fig)
    bar.update(1)
    bar.close()
    print(f"wrote {out / 'hcp_demo.png'} and {npz} ({time.perf_counter() - t0:.1f} s in all)")
    return 0
