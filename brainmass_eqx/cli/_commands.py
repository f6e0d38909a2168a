"""The commands of `brainmass-eqx`: `demo`, `models`, `datasets`, `simulate`, `fit`."""


import argparse
import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._config import SCHEMA, read_config
from ._demo import hcp_demo_network as hcp_demo_network


def _models(args: argparse.Namespace) -> int:
    import brainmass_eqx as bmx

    print(bmx.list_models.to_table(args.category))
    return 0


def _datasets(args: argparse.Namespace) -> int:
    import brainmass_eqx as bmx

    del args
    items = bmx.datasets.list_datasets()
    width = max(map(len, items))
    for name, desc in items.items():
        print(f"{name:<{width}}  {desc}")
    return 0


def _parse_params(pairs: Sequence[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in pairs or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--param takes NAME=VALUE, got {item!r}.")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--param {name}: {value!r} is not a number.") from None
    return out


def _build_model(cfg: dict[str, Any]):
    import brainmass_eqx as bmx

    model_cfg = cfg.get("model", {})
    name = model_cfg.get("name")
    if name is None:
        raise ValueError("no model given: use --model NAME or [model] name = ... in the config.")
    from .._models import ALL_MODELS

    classes = {cls.__name__: cls for cls in ALL_MODELS}
    if name not in classes:
        raise ValueError(f"unknown model {name!r}; available: {sorted(classes)} "
                         "(see `brainmass-eqx models`).")
    cls = classes[name]
    params = dict(model_cfg.get("params", {}))
    unknown = set(params) - set(cls.param_fields()) if hasattr(cls, "param_fields") else set()
    if unknown:
        raise ValueError(f"{name} has no parameter(s) {sorted(unknown)}; its parameters are "
                         f"{list(cls.param_fields())}.")
    node = cls(**params)
    net_cfg = cfg.get("network")
    if not net_cfg:
        return node
    source = net_cfg.get("connectome", "data" if "data" in cfg else "example_connectome")
    if source == "data":
        conn = _data_connectome(cfg)
    else:
        conn = bmx.datasets.load_dataset(source)
        if not isinstance(conn, bmx.Connectome):
            conn = conn.connectome
    if net_cfg.get("homotopic", False):
        # add each region's connection to its mirror (for effective-connectivity fits)
        conn = conn.with_homotopic(weight=net_cfg.get("homotopic_weight"),
                                   order=net_cfg.get("homotopic_order"))
    speed = net_cfg.get("speed")
    if speed is None:
        conn = conn.without_lengths()
    noise = net_cfg.get("noise")
    return bmx.Network(node, conn, coupling=bmx.DiffusiveCoupling(k=net_cfg.get("coupling",
                                                                                 0.1)),
                       speed=speed,
                       noise=None if noise is None else bmx.AdditiveNoise(sigma=noise))


def _data_connectome(cfg: dict[str, Any]):
    """The connectome that `[data]` names: a TVB zip, or weights (and lengths) files."""
    import brainmass_eqx as bmx

    d = cfg.get("data", {})
    if "connectome" not in d:
        raise ValueError("[network] connectome = \"data\" needs [data] connectome = \"FILE\" "
                         "(a TVB zip or a weights matrix).")
    if d["connectome"].endswith(".zip"):
        return bmx.Connectome.from_tvb(d["connectome"])
    return bmx.Connectome.from_files(
        d["connectome"], d.get("lengths"), labels=d.get("labels"),
        source_first=bool(d.get("source_first", False)),
        lengths_unit=d.get("lengths_unit", "mm"), key=d.get("key"))


def _data_subjects(cfg: dict[str, Any]):
    """The subjects' data that `[data]` names (its BOLD files and connectome)."""
    import brainmass_eqx as bmx

    d = cfg["data"]
    return bmx.datasets.load_subjects(
        d["bold"], tr=float(d["tr"]), connectome=_data_connectome(cfg),
        regions_first=bool(d.get("regions_first", False)), n_frames=d.get("n_frames"),
        key=d.get("key"))


def _simulate_cfg(args: argparse.Namespace) -> dict[str, Any]:
    cfg = read_config(args.config)
    model = cfg.setdefault("model", {})
    if args.model:
        model["name"] = args.model
    model.setdefault("params", {}).update(_parse_params(args.param))
    sim = cfg.setdefault("simulate", {})
    for key in ("duration", "dt", "transient", "n_nodes", "seed"):
        value = getattr(args, key, None)
        if value is not None:
            sim[key] = value
    if args.connectome is not None:
        net = cfg.setdefault("network", {})
        net["connectome"] = args.connectome
        for key in ("coupling", "speed", "noise"):
            value = getattr(args, key)
            if value is not None:
                net[key] = value
    return cfg


def _run_simulation(cfg: dict[str, Any], model):
    import jax

    import brainmass_eqx as bmx

    s = cfg.get("simulate", {})
    if "duration" not in s or "dt" not in s:
        raise ValueError("give the simulated `duration` and `dt` (ms), on the command line or "
                         "under [simulate] in the config.")
    monitors = None
    if "bold_period" in s:
        monitors = {"bold": bmx.BalloonWindkessel(on=None, period=s["bold_period"])}
    key = jax.random.key(int(s.get("seed", 0)))
    return bmx.simulate(model, float(s["duration"]), float(s["dt"]),
                        transient=float(s.get("transient", 0.0)), key=key,
                        n_nodes=s.get("n_nodes"), monitors=monitors)


def _simulate(args: argparse.Namespace) -> int:
    import numpy as np

    cfg = _simulate_cfg(args)
    model = _build_model(cfg)
    t0 = time.perf_counter()
    sim = _run_simulation(cfg, model)
    arrays = {name: np.asarray(sim[name]) for name in sim.keys()}
    wall = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, ts=np.asarray(sim.ts), **arrays,
             **{f"times_{k}": np.asarray(sim.times(k)) for k in sim.keys()})
    shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    print(f"simulated {type(model).__name__} in {wall:.2f} s: {shapes}; wrote {out}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import brainmass_eqx as bmx

    cfg = read_config(args.config, tuple(SCHEMA))
    if "fit" not in cfg:
        raise ValueError("the config has no [fit] table (parameters, method, steps, target).")
    f = cfg["fit"]
    model = _build_model(cfg)
    paths = list(f.get("parameters") or [])
    if not paths:
        raise ValueError("[fit] parameters = [\"coupling.k\", ...] (dotted paths) is required.")
    ec = bool(f.get("effective_connectivity", False))

    def rename(path):
        """A coupling parameter's path once the coupling is wrapped in `LearnableWeights`."""
        return path.replace("coupling.", "coupling.coupling.", 1) if (
            ec and path.startswith("coupling.")) else path

    if ec:
        if not isinstance(model, bmx.Network):
            raise ValueError("[fit] effective_connectivity needs a [network].")
        model = eqx.tree_at(lambda m: m.coupling, model,
                            bmx.LearnableWeights(model.coupling, n_regions=model.n_regions))
        paths = [rename(p) for p in paths] + ["coupling.log_gain"]

    def get(m, path):
        try:
            return functools.reduce(getattr, path.split("."), m)
        except AttributeError:
            raise ValueError(f"the model has no parameter {path!r}.") from None

    for p in paths:
        get(model, p)

    def where(m):
        return tuple(get(m, p) for p in paths)

    named = {"positive": bmx.Positive(), "negative": bmx.Negative()}
    constraints = []
    given = {rename(k): v for k, v in f.get("constraints", {}).items()}
    for p in paths:
        spec = given.get(p)
        if spec is None:
            constraints.append(None)
        elif isinstance(spec, str) and spec in named:
            constraints.append(named[spec])
        elif isinstance(spec, list) and len(spec) == 2:
            constraints.append(bmx.Bounded(*spec))
        else:
            raise ValueError(f"constraint for {p!r} must be \"positive\", \"negative\" or "
                             f"[lo, hi], got {spec!r}.")
    own = "bold" in cfg.get("data", {})
    target_name = f.get("target", "group_fc" if own else "hcp_group_fc")
    if target_name not in ("group_fc", "hcp_group_fc"):
        raise ValueError(f"unsupported target {target_name!r}; use \"group_fc\" (the "
                         "group-average FC of the [data] subjects) or \"hcp_group_fc\" (the "
                         "hcp dataset's).")
    if target_name == "group_fc" and not own:
        raise ValueError("target \"group_fc\" needs [data] bold = [...] and tr (your "
                         "subjects' files); \"hcp_group_fc\" is the bundled data's.")
    data = _data_subjects(cfg) if target_name == "group_fc" else \
        bmx.datasets.load_dataset("hcp")
    split = None
    if f.get("heldout_subjects"):
        split = bmx.split_subjects(len(data.subjects), int(f["heldout_subjects"]))
    target = (data.group_fc if split is None
              else jnp.mean(data.fc[jnp.asarray(split.train)], axis=0))
    n_model = model.n_regions if isinstance(model, bmx.Network) else None
    if n_model != target.shape[0]:
        raise ValueError(
            f"the target FC ({target_name}) has {target.shape[0]} regions, but the model "
            + (f"has {n_model}" if n_model is not None else "is not a network")
            + ": use [network] connectome = \"hcp\" (or a connectome of as many regions)."
        )
    s = cfg.get("simulate", {})
    loss = _fit_loss(f, s)
    method_name = f.get("method", "adam")
    steps = int(f.get("steps", 20))
    if method_name == "adam":
        method = optax.adam(float(f.get("learning_rate", 0.05)))
    elif method_name == "nevergrad":
        method = bmx.Nevergrad(f.get("optimizer", "CMA"), budget=int(f.get("budget", 32)),
                               num_workers=int(f.get("num_workers", 8)))
    elif method_name in ("L-BFGS-B", "Nelder-Mead"):
        method = bmx.Scipy(method_name)
    else:
        raise ValueError(f"unknown method {method_name!r}; use adam, nevergrad, L-BFGS-B or "
                         "Nelder-Mead.")
    res = bmx.fit(model, loss, target, jax.random.key(int(s.get("seed", 0))), where=where,
                  constraints=tuple(constraints), method=method, steps=steps,
                  progress=not args.no_progress,
                  checkpoint=f.get("checkpoint"), resume=bool(f.get("resume", False)))
    out = Path(args.out or cfg.get("output", {}).get("path", "fit_result.npz"))
    out.parent.mkdir(parents=True, exist_ok=True)
    scores = {}
    if split is not None:
        report = bmx.validate(res.best_model, data, split, jax.random.key(1 + int(s.get(
            "seed", 0))), duration=1000.0 * float(f.get("validate_seconds", 600.0)),
            dt=float(s["dt"]), transient=float(s.get("transient", 0.0)))
        print(report.table())
        scores = {"in_sample_r": report.in_sample_r, "heldout_r": report.heldout_r,
                  "fcd_ks": report.fcd_ks}
    np.savez(out, history=res.history, best_loss=res.best_loss, **scores,
             **{p: np.asarray(v) for p, v in zip(paths, res.best_params)})
    best = ", ".join(f"{p} = {float(v):.6g}" if jnp.ndim(v) == 0 else f"{p}: {jnp.shape(v)}"
                     for p, v in zip(paths, res.best_params))
    print(f"{res.termination}; best loss {res.best_loss:.4f} after "
          f"{res.n_evaluations} evaluations in {res.wall_time:.1f} s; {best}; wrote {out}")
    return 0


def _fit_loss(f: dict, s: dict):
    """The `[fit] objective`: `simulated` (one key, the default), `multikey` (`n_keys` keys
    pooled) or `linear_noise` (no simulation), each `1 - r` of the FC's upper triangles, plus
    the effective connectivity's penalty towards the structural weights."""
    import brainmass_eqx as bmx

    name = f.get("objective", "simulated")
    monitor = bmx.BalloonWindkessel(on=None, period=float(s.get("bold_period", 720.0)))
    if name == "linear_noise":
        inner = bmx.LinearNoiseFCLoss()
    elif name in ("simulated", "multikey"):
        inner = bmx.MultiKeyFCLoss(int(f.get("n_keys", 4)) if name == "multikey" else 1,
                                   float(s["duration"]), float(s["dt"]),
                                   float(s.get("transient", 0.0)), monitor)
    else:
        raise ValueError(f"[fit] objective must be simulated, multikey or linear_noise, got "
                         f"{name!r}.")
    penalty = float(f.get("penalty", 0.0)) if f.get("effective_connectivity", False) else 0.0

    def loss(m, target, key):
        return inner(m, target) if name == "linear_noise" else inner(m, target, key)

    return bmx.StructuralPenalty(loss, penalty) if penalty else loss
