"""Checkpoints of fits and training runs: the arrays by equinox serialisation, written
atomically, with a JSON sidecar of the bookkeeping (step, history, best loss)."""

import json
import math
import pathlib
from typing import Any

import equinox as eqx


def save_checkpoint(path: pathlib.Path, tree: Any, meta: dict) -> None:
    """Write `tree` to `path` and `meta` (with a `history` of floats) to its `.json` sidecar;
    the write is atomic, so an interrupted save never corrupts the last checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    eqx.tree_serialise_leaves(tmp, tree)
    tmp.replace(path)
    meta = dict(meta, history=[None if not math.isfinite(h) else h for h in meta["history"]])
    path.with_suffix(".json").write_text(json.dumps(meta))


def load_checkpoint(path: pathlib.Path, like: Any) -> tuple:
    """`(*tree, meta)` from a checkpoint written by `save_checkpoint`, `tree` shaped `like`."""
    tree = eqx.tree_deserialise_leaves(path, like)
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["history"] = [math.nan if h is None else h for h in meta["history"]]
    return (*tree, meta)
