"""Reading a user's own matrices from the formats the field uses: plain text, CSV and TSV,
NumPy (`.npy`, `.npz`), MATLAB (`.mat`, through scipy) and TVB's connectivity zip. Every failure
is a `ValueError` that names the argument, the file and the fix."""

import io
import os
import pathlib
import zipfile
from typing import Any

import numpy as np


#: The file suffixes `read_matrix` reads.
MATRIX_SUFFIXES = (".txt", ".csv", ".tsv", ".dat", ".npy", ".npz", ".mat")


def _path(source: Any, *, name: str) -> pathlib.Path:
    path = pathlib.Path(source)
    if not path.exists():
        raise ValueError(f"`{name}`: the file {path} does not exist.")
    if not path.is_file():
        raise ValueError(f"`{name}`: {path} is not a file.")
    return path


def _pick(arrays: dict[str, Any], key: str | None, *, name: str, path: pathlib.Path,
          ndim: tuple[int, ...]) -> np.ndarray:
    """The array `key` of a `.npz`/`.mat` file, or its only numeric array of a fitting rank."""
    if key is not None:
        if key not in arrays:
            raise ValueError(f"`{name}`: {path} has no variable {key!r}; it has "
                             f"{sorted(arrays)}.")
        return np.asarray(arrays[key])
    fits = {k: v for k, v in arrays.items() if not k.startswith("__")
            and isinstance(v, np.ndarray) and v.dtype.kind in "biuf" and v.ndim in ndim}
    if len(fits) != 1:
        raise ValueError(f"`{name}`: {path} holds {sorted(fits) or 'no'} numeric arrays of "
                         f"rank {' or '.join(map(str, ndim))}; pass `key=` to name the one "
                         "to read.")
    return np.asarray(next(iter(fits.values())))


def read_array(source: Any, *, name: str, key: str | None = None,
               ndim: tuple[int, ...] = (2,)) -> np.ndarray:
    """A float64 array from `source`: an array (returned as is), or a file path ending in one of
    `MATRIX_SUFFIXES` (`.csv` comma-separated, `.tsv` tab-separated, `.txt`/`.dat`
    whitespace-separated; `.npz` and `.mat` need `key` when they hold several arrays).

    **Raises:** `ValueError` naming `name` for a missing file, an unknown suffix, an unreadable
    or non-numeric file, or an array whose rank is not in `ndim`.
    """
    if isinstance(source, str | os.PathLike):
        path = _path(source, name=name)
        suffix = path.suffix.lower()
        try:
            if suffix in (".txt", ".dat", ".csv", ".tsv"):
                delimiter = {".csv": ",", ".tsv": "\t"}.get(suffix)
                array = np.loadtxt(path, delimiter=delimiter, ndmin=2)
            elif suffix == ".npy":
                array = np.load(path, allow_pickle=False)
            elif suffix == ".npz":
                with np.load(path, allow_pickle=False) as f:
                    array = _pick(dict(f), key, name=name, path=path, ndim=ndim)
            elif suffix == ".mat":
                import scipy.io

                array = _pick(scipy.io.loadmat(path), key, name=name, path=path, ndim=ndim)
            else:
                raise ValueError(f"`{name}`: cannot read {path.name}; use one of "
                                 f"{', '.join(MATRIX_SUFFIXES)} (or pass an array).")
        except ValueError as e:
            if str(e).startswith(f"`{name}`"):
                raise
            raise ValueError(f"`{name}`: {path} is not a numeric matrix ({e}). Text files "
                             "need one row per line and no header.") from None
    else:
        array = source
    try:
        array = np.asarray(array, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numeric, got {type(source).__name__}.") from None
    if array.ndim not in ndim:
        raise ValueError(f"`{name}` must have rank {' or '.join(map(str, ndim))}, got shape "
                         f"{array.shape}.")
    return array


def read_labels(source: Any, *, name: str = "labels") -> tuple[str, ...] | None:
    """Region names: a sequence of strings, or a text file with one name per line (or, as in
    TVB's `centres.txt`, the name first on each line)."""
    if source is None:
        return None
    if isinstance(source, str | os.PathLike) and pathlib.Path(source).suffix:
        lines = _path(source, name=name).read_text().splitlines()
        return tuple(line.split()[0] for line in lines if line.strip())
    if isinstance(source, str):
        raise ValueError(f"`{name}` must be a sequence of region names or a text file, got the "
                         f"string {source!r}.")
    return tuple(str(s) for s in source)


def read_tvb_zip(source: Any) -> dict[str, Any]:
    """The parts of a TVB connectivity zip (`weights.txt`, `tract_lengths.txt` and, when
    present, `centres.txt` with a name and three coordinates per region), as arrays."""
    path = _path(source, name="path")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"`path`: {path} is not a zip file (TVB's connectivity format is a zip "
                         "of weights.txt, tract_lengths.txt and centres.txt).")
    with zipfile.ZipFile(path) as z:
        names = z.namelist()

        def text(part):
            match = [n for n in names if pathlib.PurePath(n).name == part
                     or pathlib.PurePath(n).name == part.replace(".txt", ".txt.bz2")]
            if not match:
                return None
            data = z.read(match[0])
            if match[0].endswith(".bz2"):
                import bz2

                data = bz2.decompress(data)
            return data.decode()

        weights, lengths, centres = text("weights.txt"), text("tract_lengths.txt"), \
            text("centres.txt")
    if weights is None:
        raise ValueError(f"`path`: {path} has no weights.txt (it holds {names}).")
    out: dict[str, Any] = {"weights": np.loadtxt(io.StringIO(weights), ndmin=2),
                           "lengths": None if lengths is None
                           else np.loadtxt(io.StringIO(lengths), ndmin=2),
                           "labels": None, "centres": None}
    if centres:
        rows = [line.split() for line in centres.splitlines() if line.strip()]
        out["labels"] = tuple(r[0] for r in rows)
        out["centres"] = np.array([[float(v) for v in r[1:4]] for r in rows])
    return out
