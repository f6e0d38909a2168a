"""The `brainmass-eqx` argument parser and entry point: a user's mistake exits with status 2
and a one-line message, never a traceback."""

import argparse
from collections.abc import Sequence

from ._commands import _datasets, _fit, _models, _simulate
from ._demo import DEMO_COUPLING, _demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="brainmass-eqx",
        description="Differentiable whole-brain neural-mass modelling (JAX/Equinox/Diffrax).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="fit a whole-brain Hopf network to hcp FC, simulate it, compare with data",
        description="Fit a delayed, noisy Hopf network on the bundled hcp connectome to four "
        "subjects' FC by the noise-free linear-noise BOLD FC (coupling, per-region bifurcation "
        "parameters, a gain per connection), simulate the fitted model with fresh noise, map it "
        "to BOLD (Balloon-Windkessel, TR 0.72 s), compare its FC with the training and the "
        "three held-out subjects' FC, and write a figure and an .npz.")
    demo.add_argument("--out", default="brainmass_eqx_demo", help="output folder (created)")
    demo.add_argument("--fit-steps", type=int, default=100,
                      help="Adam steps of the fit (0: no fit, the hand-set network)")
    demo.add_argument("--duration", type=float, default=300.0, help="simulated time, s")
    demo.add_argument("--transient", type=float, default=15.0, help="discarded warm-up, s")
    demo.add_argument("--dt", type=float, default=1.0, help="step, ms")
    demo.add_argument("--coupling", type=float, default=DEMO_COUPLING,
                      help="global coupling k, per ms, of the unfitted network (--fit-steps 0)")
    demo.add_argument("--seed", type=int, default=0, help="noise seed")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    demo.set_defaults(func=_demo)

    models = sub.add_parser("models", help="print the model catalogue",
                            description="Print the catalogue of neural-mass models.")
    models.add_argument("--category", default=None,
                        help="only one category (phenomenological, physiological, network)")
    models.set_defaults(func=_models)

    datasets = sub.add_parser("datasets", help="list the datasets",
                              description="List the registered datasets.")
    datasets.set_defaults(func=_datasets)

    sim = sub.add_parser(
        "simulate", help="simulate one model (or a network) and write an .npz",
        description="Simulate a model from the catalogue, alone or on a connectome. Options "
        "override the TOML --config ([model] name, params; [simulate] duration, dt, transient, "
        "n_nodes, seed, bold_period; [network] connectome, coupling, speed, noise).")
    sim.add_argument("--config", help="TOML config file")
    sim.add_argument("--model", help="model name, e.g. Hopf (see `models`)")
    sim.add_argument("--param", action="append", metavar="NAME=VALUE",
                     help="model parameter in canonical units (repeatable)")
    sim.add_argument("--duration", type=float, help="simulated time, ms")
    sim.add_argument("--dt", type=float, help="step / sampling interval, ms")
    sim.add_argument("--transient", type=float, help="discarded warm-up, ms")
    sim.add_argument("--n-nodes", dest="n_nodes", type=int, help="independent nodes")
    sim.add_argument("--seed", type=int, help="PRNG seed")
    sim.add_argument("--connectome", help="dataset name of a connectome (e.g. hcp)")
    sim.add_argument("--coupling", type=float, help="diffusive coupling k")
    sim.add_argument("--speed", type=float, help="conduction speed, mm/ms (delays)")
    sim.add_argument("--noise", type=float, help="additive noise sigma")
    sim.add_argument("--out", default="simulation.npz", help="output .npz file")
    sim.set_defaults(func=_simulate)

    fit = sub.add_parser(
        "fit", help="fit a network to the hcp empirical FC from a TOML config",
        description="Fit parameters (dotted paths such as coupling.k) of a network to the hcp "
        "group-average FC through the Balloon-Windkessel BOLD model. See docs/cli.md for the "
        "config format.")
    fit.add_argument("--config", required=True, help="TOML config file")
    fit.add_argument("--out", help="output .npz (default: [output] path or fit_result.npz)")
    fit.add_argument("--no-progress", action="store_true", help="no progress bar")
    fit.set_defaults(func=_fit)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `brainmass-eqx` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, KeyError, OSError) as e:
        parser.exit(2, f"brainmass-eqx {args.command}: error: {e}\n")
    return 1  # unreachable
