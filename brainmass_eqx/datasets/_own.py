"""Your own data in: several subjects' parcellated BOLD (text, CSV, NumPy, MATLAB; parcellated
CIFTI or NIfTI with an atlas through nibabel) and a connectome, as the same `SubjectData` as the
bundled `hcp` data."""

import os
import pathlib
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._core._units import to_ms
from .._network import Connectome
from .._network._files import read_array
from ._builtin import SubjectData


def _read_nifti(path: pathlib.Path, atlas: Any) -> np.ndarray:
    """`(time, regions)` from a parcellated CIFTI (`.ptseries.nii`) or, with `atlas` (a 3-D
    integer label image, 0 = background), the regional means of a 4-D NIfTI."""
    try:
        import nibabel as nib
    except ImportError:
        raise ValueError(f"`bold`: reading {path.name} needs nibabel: `pip install "
                         "'brainmass_eqx[neuroimaging]'` (or `pip install nibabel`).") from None
    image = nib.load(path)
    data = np.asarray(image.get_fdata(), np.float64)
    if isinstance(image, nib.Cifti2Image):
        if data.ndim != 2:
            raise ValueError(f"`bold`: {path.name} is a CIFTI file of shape {data.shape}; a "
                             "parcellated time series (.ptseries.nii, time x parcels) is needed.")
        return data
    if atlas is None:
        raise ValueError(f"`bold`: {path.name} is a volume; pass `atlas=` (a label image on "
                         "the same grid, 0 = background) to average it per region.")
    labels = np.asarray(nib.load(atlas).get_fdata()).round().astype(int)
    if data.ndim != 4 or labels.shape != data.shape[:3]:
        raise ValueError(f"`atlas` has shape {labels.shape} but `bold` {path.name} has shape "
                         f"{data.shape}: they must be 3-D and 4-D images on the same grid.")
    regions = np.unique(labels[labels > 0])
    return np.stack([data[labels == r].mean(axis=0) for r in regions], axis=-1)


def _one_subject(source: Any, i: int, *, key: str | None, atlas: Any) -> np.ndarray:
    if isinstance(source, str | os.PathLike) and str(source).endswith((".nii", ".nii.gz")):
        path = pathlib.Path(source)
        if not path.is_file():
            raise ValueError(f"`bold`: the file {path} does not exist.")
        return _read_nifti(path, atlas)
    return read_array(source, name=f"bold[{i}]", key=key)


def _subjects_arrays(bold: Any, *, key: str | None, atlas: Any) -> list[np.ndarray]:
    if isinstance(bold, str | os.PathLike):
        bold = [bold]
    elif isinstance(bold, np.ndarray | jnp.ndarray) or hasattr(bold, "__array__"):
        array = np.asarray(bold, np.float64)
        if array.ndim == 2:
            return [array]
        if array.ndim != 3:
            raise ValueError(f"`bold` as one array must be (time, regions) or (subjects, time, "
                             f"regions), got shape {array.shape}.")
        return list(array)
    if not isinstance(bold, Sequence) or not bold:
        raise ValueError("`bold` must be a file, an array, or a non-empty list of them (one "
                         "per subject).")
    return [_one_subject(b, i, key=key, atlas=atlas) for i, b in enumerate(bold)]


def _check_subject(x: np.ndarray, i: int, n_regions: int, regions_first: bool) -> np.ndarray:
    if x.ndim != 2:
        raise ValueError(f"`bold[{i}]` must be a (time, regions) matrix, got shape {x.shape}.")
    if regions_first:
        x = x.T
    if x.shape[1] != n_regions:
        hint = (" It has as many rows as regions: pass `regions_first=True` if the file "
                "holds one region per row." if x.shape[0] == n_regions and not regions_first
                else "")
        raise ValueError(f"`bold[{i}]` has {x.shape[1]} regions (columns) but the connectome "
                         f"has {n_regions}.{hint}")
    if x.shape[0] < 3:
        raise ValueError(f"`bold[{i}]` has {x.shape[0]} frames; FC needs at least 3.")
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        t, r = bad[0]
        raise ValueError(f"`bold[{i}]` has {len(bad)} NaN or inf values (the first at frame "
                         f"{t}, region {r}): fill or drop them before loading.")
    flat = np.flatnonzero(np.std(x, axis=0) == 0)
    if flat.size:
        raise ValueError(f"`bold[{i}]` is constant in region(s) {flat.tolist()}: their FC is "
                         "undefined (an empty parcel?). Drop them from the data and connectome.")
    return x


def load_subjects(bold: Any, *, tr: Any, connectome: Connectome | Any,
                  subject_connectomes: Sequence[Connectome] | None = None,
                  subjects: Sequence[str] | None = None, regions_first: bool = False,
                  n_frames: int | None = None, key: str | None = None,
                  atlas: Any = None) -> SubjectData:
    r"""Several subjects' parcellated resting-state BOLD and a connectome, as a
    [`brainmass_eqx.datasets.SubjectData`][] — the same kind of object as `load_dataset("hcp")`,
    so a fitting recipe written for `hcp` runs on it unchanged.

    **Arguments:**

    - `bold`: one subject's `(time, regions)` matrix, a `(subjects, time, regions)` array, or a
      list with one entry per subject, each an array or a file: `.txt`/`.dat`, `.csv`, `.tsv`,
      `.npy`, `.npz`, `.mat` (`key` names the variable when there are several), or, with
      nibabel installed (`pip install 'brainmass_eqx[neuroimaging]'`), a parcellated CIFTI
      `.ptseries.nii` or a 4-D NIfTI averaged over the regions of `atlas`.
    - `tr`: the repetition time, a number in ms or a time Quantity.
    - `connectome`: a [`brainmass_eqx.Connectome`][], or a file: a TVB zip
      (`Connectome.from_tvb`) or a weights matrix (`Connectome.from_files`).
    - `subject_connectomes`: optional per-subject connectomes (default: the group's).
    - `subjects`: subject names (default `sub-00`, `sub-01`, ...).
    - `regions_first`: the files hold one region per row (time along the columns).
    - `n_frames`: keep the first `n_frames` of every subject (runs of different lengths).

    The FC of each subject is the Pearson correlation of its regions' time series, as neurolib
    computes it.

    **Raises:** `ValueError` naming the subject and the fix for an unreadable file, a region
    count that differs from the connectome's (with a hint when the matrix is transposed), NaN
    or inf, a constant region, runs of different lengths without `n_frames`, or
    per-subject connectomes of other sizes.
    """
    if isinstance(connectome, str | os.PathLike):
        path = pathlib.Path(connectome)
        connectome = (Connectome.from_tvb(path) if path.suffix == ".zip"
                      else Connectome.from_files(path))
    if not isinstance(connectome, Connectome):
        raise TypeError(f"`connectome` must be a bmx.Connectome or a file, got "
                        f"{type(connectome).__name__}.")
    if not isinstance(regions_first, bool):
        raise TypeError(f"`regions_first` must be True or False, got {regions_first!r}.")
    tr_ms = to_ms(tr, name="tr")
    n = connectome.n_regions
    runs = [_check_subject(x, i, n, regions_first)
            for i, x in enumerate(_subjects_arrays(bold, key=key, atlas=atlas))]
    lengths = [x.shape[0] for x in runs]
    if n_frames is not None:
        if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 3:
            raise ValueError(f"`n_frames` must be an int >= 3, got {n_frames!r}.")
        short = [i for i, m in enumerate(lengths) if m < n_frames]
        if short:
            raise ValueError(f"`n_frames`={n_frames} but subject(s) {short} have only "
                             f"{[lengths[i] for i in short]} frames.")
        runs = [x[:n_frames] for x in runs]
    elif len(set(lengths)) > 1:
        raise ValueError(f"the subjects' runs have different lengths {lengths}: pass "
                         f"`n_frames={min(lengths)}` to keep the first frames of each.")
    if subjects is None:
        subjects = tuple(f"sub-{i:02d}" for i in range(len(runs)))
    subjects = tuple(str(s) for s in subjects)
    if len(subjects) != len(runs):
        raise ValueError(f"`subjects` names {len(subjects)} subjects for {len(runs)} runs.")
    per_subject = list(subject_connectomes) if subject_connectomes is not None \
        else [connectome] * len(runs)
    if len(per_subject) != len(runs) or any(c.n_regions != n for c in per_subject):
        raise ValueError(f"`subject_connectomes` must hold {len(runs)} connectomes of {n} "
                         "regions, one per subject.")
    data = np.stack(runs)
    fc = np.stack([np.corrcoef(x.T) for x in data])
    zeros = np.zeros((n, n))
    return SubjectData(
        connectome=connectome, subjects=subjects,
        bold=jnp.asarray(data, jnp.result_type(float)),
        fc=jnp.asarray(fc, jnp.result_type(float)),
        subject_weights=jnp.stack([c.weights for c in per_subject]),
        subject_lengths=jnp.asarray(np.stack([zeros if c.lengths is None else c.lengths.array
                                              for c in per_subject]), jnp.result_type(float)),
        tr=tr_ms)
