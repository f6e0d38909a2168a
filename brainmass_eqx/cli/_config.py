"""The TOML configs of `simulate` and `fit`: their schema, and reading them with every unknown
table or key and every value of the wrong type rejected by name."""

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any


#: The config's tables and keys, with their types (`float` also takes an int; `dict` is a
#: table). `simulate` reads `model`, `simulate`, `network`, `output` and `data`, `fit` all of
#: them. `[data]` names your own files (paths relative to the config file).
SCHEMA: dict[str, dict[str, Any]] = {
    "model": {"name": str, "params": dict},
    "simulate": {"duration": float, "dt": float, "transient": float, "n_nodes": int,
                 "seed": int, "bold_period": float},
    "network": {"connectome": str, "coupling": float, "speed": float, "noise": float},
    "output": {"path": str},
    "data": {"connectome": str, "lengths": str, "labels": str, "source_first": bool,
             "lengths_unit": str, "key": str, "bold": list, "tr": float,
             "regions_first": bool, "n_frames": int},
    "fit": {"parameters": list, "constraints": dict, "target": str, "method": str,
            "learning_rate": float, "steps": int, "optimizer": str, "budget": int,
            "num_workers": int, "checkpoint": str, "resume": bool, "objective": str,
            "n_keys": int, "effective_connectivity": bool, "penalty": float,
            "heldout_subjects": int, "validate_seconds": float},
}


def _type_ok(value: Any, kind: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _kind_name(kind: Any) -> str:
    return {float: "a number", int: "an integer", str: "a string", bool: "true or false",
            list: "a list", dict: "a table"}[kind]


def _check_config(cfg: dict[str, Any], path: Path, tables: Sequence[str]) -> None:
    """Reject unknown tables and keys (naming them and the valid ones) and values of the wrong
    type (naming the key)."""
    for table, body in cfg.items():
        if table not in tables:
            raise ValueError(f"{path}: unknown table [{table}]; the valid tables are "
                             f"{['[' + t + ']' for t in tables]}.")
        if not isinstance(body, dict):
            raise ValueError(f"{path}: `{table}` must be a table ([{table}]), got "
                             f"{type(body).__name__}.")
        schema = SCHEMA[table]
        for key, value in body.items():
            if key not in schema:
                raise ValueError(f"{path}: unknown key `{key}` in [{table}]; the valid keys are "
                                 f"{sorted(schema)}.")
            if not _type_ok(value, schema[key]):
                raise ValueError(f"{path}: [{table}] {key} must be {_kind_name(schema[key])}, "
                                 f"got {value!r}.")
    params = cfg.get("model", {}).get("params", {})
    for name, value in params.items():
        ok = _type_ok(value, float) or (isinstance(value, list) and value
                                        and all(_type_ok(v, float) for v in value))
        if not ok:
            raise ValueError(f"{path}: [model.params] {name} must be a number or a list of "
                             f"numbers, got {value!r}.")
    fit = cfg.get("fit", {})
    if "parameters" in fit and not all(isinstance(p, str) for p in fit["parameters"]):
        raise ValueError(f"{path}: [fit] parameters must be a list of dotted paths (strings), "
                         f"got {fit['parameters']!r}.")


#: The keys of `[data]` that name files, resolved against the config file's folder.
DATA_FILES = ("connectome", "lengths", "labels")


def read_config(path: str | None, tables: Sequence[str] = ("model", "simulate", "network",
                                                              "output", "data")
                ) -> dict[str, Any]:
    if path is None:
        return {}
    p = Path(path)
    if not p.exists():
        raise ValueError(f"config file {p} does not exist.")
    try:
        cfg = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {p} is not valid TOML: {e}") from e
    except UnicodeDecodeError:
        raise ValueError(f"config file {p} is not a text (TOML) file.") from None
    _check_config(cfg, p, tables)
    data = cfg.get("data")
    if data is not None:
        for key in DATA_FILES:
            if key in data:
                data[key] = str(p.parent / data[key])
        if "bold" in data:
            if not all(isinstance(b, str) for b in data["bold"]):
                raise ValueError(f"{p}: [data] bold must be a list of file names, got "
                                 f"{data['bold']!r}.")
            data["bold"] = [str(p.parent / b) for b in data["bold"]]
            if "tr" not in data:
                raise ValueError(f"{p}: [data] bold needs its repetition time: tr = ... (ms).")
    return cfg
