"""Checkpoints of fits and training runs: the arrays by equinox serialisation, written
atomically, with a JSON sidecar of the bookkeeping (step, history, best loss). A checkpoint
that cannot be read is a `ValueError` naming the file and the fix, never a library's internal
error."""

import json
import math
import pathlib
from typing import Any

import equinox as eqx


#: What every sidecar holds.
SIDECAR_KEYS = ("step", "history", "best_loss", "nonfinite")


def save_checkpoint(path: pathlib.Path, tree: Any, meta: dict) -> None:
    """Write `tree` to `path` and `meta` (with a `history` of floats) to its `.json` sidecar;
    both writes are atomic, so an interrupted save never corrupts the last checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    eqx.tree_serialise_leaves(tmp, tree)
    meta = dict(meta, history=[None if not math.isfinite(h) else h for h in meta["history"]])
    sidecar = path.with_suffix(".json")
    tmp_meta = sidecar.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(meta))
    tmp.replace(path)
    tmp_meta.replace(sidecar)


def read_sidecar(path: pathlib.Path, keys: tuple[str, ...] = SIDECAR_KEYS) -> dict:
    """The bookkeeping of the checkpoint at `path` (its `.json` sidecar), checked."""
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        raise ValueError(
            f"The checkpoint {path} has no sidecar {sidecar} (it holds the step count and the "
            f"history): restore it, or delete {path} to start afresh."
        )
    try:
        meta = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"The checkpoint sidecar {sidecar} is corrupted (not JSON: {e}); "
                         f"delete {path} and {sidecar} to start afresh.") from None
    missing = [k for k in keys if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise ValueError(f"The checkpoint sidecar {sidecar} lacks {missing}: it was not written "
                         f"by this fit; delete {path} and {sidecar} to start afresh.")
    if "history" in meta:
        meta["history"] = [math.nan if h is None else h for h in meta["history"]]
    return meta


def load_checkpoint(path: pathlib.Path, like: Any, keys: tuple[str, ...] = SIDECAR_KEYS
                    ) -> tuple:
    """`(*tree, meta)` from a checkpoint written by `save_checkpoint`, `tree` shaped `like`;
    the sidecar must hold `keys`."""
    meta = read_sidecar(path, keys)
    try:
        tree = eqx.tree_deserialise_leaves(path, like)
    except Exception as e:  # truncated, corrupted or of other shapes: all the same to the user
        raise ValueError(
            f"The checkpoint {path} cannot be read as this run's state ({type(e).__name__}: "
            f"{e}): it is truncated or corrupted, or was written for other parameters or "
            f"shapes. Delete it (and {path.with_suffix('.json')}) to start afresh, or choose "
            "another `checkpoint` path."
        ) from None
    return (*tree, meta)
