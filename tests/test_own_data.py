"""Your own data in: connectomes from TVB zips and matrix files, subjects' BOLD from text,
NumPy, MATLAB and (through nibabel) CIFTI/NIfTI files, every bad input a clear error, and the
command-line fit on files named in a config. Every file is written here."""

import zipfile

import numpy as np
import pytest
import scipy.io
import unxt as u

import brainmass_eqx as bmx
from brainmass_eqx.cli import main


RNG = np.random.default_rng(3)
N = 5
WEIGHTS = RNG.uniform(0.1, 1.0, (N, N)) * (RNG.uniform(size=(N, N)) < 0.7)
np.fill_diagonal(WEIGHTS, 0.0)
LENGTHS = RNG.uniform(20.0, 120.0, (N, N))
LENGTHS = (LENGTHS + LENGTHS.T) / 2
np.fill_diagonal(LENGTHS, 0.0)


def _close(conn, weights=WEIGHTS, lengths=LENGTHS):
    np.testing.assert_allclose(np.asarray(conn.weights), weights, rtol=1e-6)
    np.testing.assert_allclose(conn.lengths.array, lengths, rtol=1e-6)


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".tsv", ".dat", ".npy"])
def test_connectome_from_matrix_files(tmp_path, suffix):
    for name, m in (("w", WEIGHTS), ("l", LENGTHS)):
        path = tmp_path / f"{name}{suffix}"
        if suffix == ".npy":
            np.save(path, m)
        else:
            np.savetxt(path, m, delimiter={".csv": ",", ".tsv": "\t"}.get(suffix, " "))
    _close(bmx.Connectome.from_files(tmp_path / f"w{suffix}", tmp_path / f"l{suffix}"))


def test_connectome_from_npz_and_mat_with_keys_units_and_orientation(tmp_path):
    np.savez(tmp_path / "sc.npz", SC=WEIGHTS.T, D=LENGTHS.T / 1000.0)
    scipy.io.savemat(tmp_path / "sc.mat", {"SC": WEIGHTS})
    # one numeric matrix in the file: no key needed
    np.testing.assert_allclose(np.asarray(bmx.Connectome.from_files(tmp_path / "sc.mat")
                                          .weights), WEIGHTS, rtol=1e-6)
    # stored [source, target], lengths in metres
    w = np.load(tmp_path / "sc.npz")["SC"]
    d = np.load(tmp_path / "sc.npz")["D"]
    _close(bmx.Connectome.from_files(w, d, source_first=True, lengths_unit="m"))
    with pytest.raises(ValueError, match=r"`weights`.*\['D', 'SC'\].*pass `key=`"):
        bmx.Connectome.from_files(tmp_path / "sc.npz")
    with pytest.raises(ValueError, match=r"no variable 'X'"):
        bmx.Connectome.from_files(tmp_path / "sc.mat", key="X")
    conn = bmx.Connectome.from_files(tmp_path / "sc.npz", key="SC", source_first=True)
    np.testing.assert_allclose(np.asarray(conn.weights), WEIGHTS, rtol=1e-6)


def test_connectome_file_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"`weights`: the file .*missing.csv does not exist"):
        bmx.Connectome.from_files(tmp_path / "missing.csv")
    (tmp_path / "w.xlsx").write_text("x")
    with pytest.raises(ValueError, match=r"cannot read w.xlsx; use one of"):
        bmx.Connectome.from_files(tmp_path / "w.xlsx")
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"`weights`: .*bad.csv is not a numeric matrix"):
        bmx.Connectome.from_files(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match=r"lengths look like metres.*lengths_unit=\"m\""):
        bmx.Connectome.from_files(WEIGHTS, LENGTHS / 1000.0)
    lengths = LENGTHS.copy()
    i, j = np.argwhere(WEIGHTS > 0)[0]
    lengths[i, j] = 0.0
    lengths[j, i] = 50.0
    weights = WEIGHTS.copy()
    weights[j, i] = 0.0
    with pytest.raises(ValueError, match=r"opposite orientations"):
        bmx.Connectome.from_files(weights, lengths)
    with pytest.raises(ValueError, match=r"`lengths` has shape \(4, 4\)"):
        bmx.Connectome.from_files(WEIGHTS, LENGTHS[:4, :4])
    with pytest.raises(ValueError, match="`lengths_unit` must be a length unit"):
        bmx.Connectome.from_files(WEIGHTS, LENGTHS, lengths_unit="ms")
    with pytest.raises(ValueError, match="`weights` contains NaN"):
        bmx.Connectome.from_files(np.full((3, 3), np.nan))
    with pytest.raises(TypeError, match="`source_first`"):
        bmx.Connectome.from_files(WEIGHTS, source_first="yes")


def test_connectome_from_a_tvb_zip(tmp_path):
    path = tmp_path / "connectivity_5.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("weights.txt", "\n".join(" ".join(f"{v:.17g}" for v in r) for r in WEIGHTS))
        z.writestr("tract_lengths.txt",
                   "\n".join(" ".join(f"{v:.17g}" for v in r) for r in LENGTHS))
        z.writestr("centres.txt", "\n".join(f"R{i} {i} {2 * i} {3 * i}" for i in range(N)))
    conn = bmx.Connectome.from_tvb(path)
    _close(conn)
    assert conn.labels == tuple(f"R{i}" for i in range(N))
    np.testing.assert_allclose(conn.centres.array[:, 1], 2 * np.arange(N))
    (tmp_path / "not.zip").write_text("plain")
    with pytest.raises(ValueError, match="is not a zip file"):
        bmx.Connectome.from_tvb(tmp_path / "not.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as z:
        z.writestr("readme.txt", "")
    with pytest.raises(ValueError, match="has no weights.txt"):
        bmx.Connectome.from_tvb(tmp_path / "empty.zip")


def _runs(n_subjects=3, frames=120):
    return [RNG.standard_normal((frames, N)) for _ in range(n_subjects)]


def test_load_subjects_from_mixed_files_matches_numpy_fc(tmp_path):
    runs = _runs()
    np.savetxt(tmp_path / "s0.txt", runs[0])
    np.save(tmp_path / "s1.npy", runs[1])
    scipy.io.savemat(tmp_path / "s2.mat", {"ts": runs[2].T})  # one region per row
    conn = bmx.Connectome(WEIGHTS, LENGTHS)
    with pytest.raises(ValueError, match=r"`bold\[2\]` has 120 regions.*regions_first=True"):
        bmx.datasets.load_subjects([tmp_path / "s0.txt", tmp_path / "s1.npy",
                                    tmp_path / "s2.mat"], tr=720.0, connectome=conn)
    scipy.io.savemat(tmp_path / "s2.mat", {"ts": runs[2]})
    data = bmx.datasets.load_subjects(
        [tmp_path / "s0.txt", tmp_path / "s1.npy", tmp_path / "s2.mat"],
        tr=u.Quantity(0.72, "s"), connectome=conn, subjects=["a", "b", "c"])
    assert isinstance(data, bmx.datasets.SubjectData) and data.tr == pytest.approx(720.0)
    assert data.bold.shape == (3, 120, N) and data.subjects == ("a", "b", "c")
    for i, run in enumerate(runs):
        np.testing.assert_allclose(np.asarray(data.fc[i]), np.corrcoef(run.T), atol=1e-5)
    np.testing.assert_allclose(np.asarray(data.group_fc),
                               np.mean([np.corrcoef(r.T) for r in runs], axis=0), atol=1e-5)
    np.testing.assert_allclose(data.subject_connectome(1).lengths.array, LENGTHS, rtol=1e-6)
    # a (subjects, regions, time) array in regions-first layout
    flipped = np.stack([r.T for r in runs])
    again = bmx.datasets.load_subjects(flipped, tr=720.0, connectome=conn, regions_first=True)
    np.testing.assert_allclose(np.asarray(again.fc), np.asarray(data.fc), atol=1e-6)


def test_load_subjects_errors():
    conn = bmx.Connectome(WEIGHTS)
    runs = _runs()
    bad = runs[1].copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"`bold\[1\]` has 1 NaN.*frame 7, region 2"):
        bmx.datasets.load_subjects([runs[0], bad], tr=720.0, connectome=conn)
    flat = runs[0].copy()
    flat[:, 3] = 1.0
    with pytest.raises(ValueError, match=r"constant in region\(s\) \[3\]"):
        bmx.datasets.load_subjects([flat], tr=720.0, connectome=conn)
    with pytest.raises(ValueError, match=r"different lengths \[120, 80\].*n_frames=80"):
        bmx.datasets.load_subjects([runs[0], runs[1][:80]], tr=720.0, connectome=conn)
    short = bmx.datasets.load_subjects([runs[0], runs[1][:80]], tr=720.0, connectome=conn,
                                       n_frames=80)
    assert short.bold.shape == (2, 80, N)
    with pytest.raises(ValueError, match=r"`bold\[0\]` has 4 regions"):
        bmx.datasets.load_subjects([runs[0][:, :4]], tr=720.0, connectome=conn)
    with pytest.raises(ValueError, match="`tr`"):
        bmx.datasets.load_subjects(runs, tr=u.Quantity(1.0, "mV"), connectome=conn)
    with pytest.raises(ValueError, match="`subject_connectomes` must hold 3"):
        bmx.datasets.load_subjects(runs, tr=720.0, connectome=conn,
                                   subject_connectomes=[conn])


def test_cifti_and_nifti_through_nibabel(tmp_path):
    nib = pytest.importorskip("nibabel")
    runs = _runs(1, 60)[0]
    series = nib.cifti2.SeriesAxis(start=0.0, step=0.72, size=60)
    parcels = nib.cifti2.ParcelsAxis.from_brain_models(
        [(f"parcel{i}", nib.cifti2.BrainModelAxis.from_mask(np.eye(N, dtype=bool)[i],
                                                            name="CortexLeft"))
         for i in range(N)])
    img = nib.Cifti2Image(runs, header=(series, parcels))
    img.to_filename(tmp_path / "sub.ptseries.nii")
    conn = bmx.Connectome(WEIGHTS)
    data = bmx.datasets.load_subjects([tmp_path / "sub.ptseries.nii"], tr=720.0,
                                      connectome=conn)
    np.testing.assert_allclose(np.asarray(data.bold[0]), runs, rtol=1e-5)
    # a 4-D volume averaged over an atlas of N labels (two voxels each)
    atlas = np.zeros((2, 5, 1), np.int16)
    atlas[0, :, 0] = atlas[1, :, 0] = np.arange(1, N + 1)
    volume = np.zeros((2, 5, 1, 60))
    volume[0, :, 0] = (runs + 1.0).T
    volume[1, :, 0] = (runs - 1.0).T
    nib.Nifti1Image(volume, np.eye(4)).to_filename(tmp_path / "bold.nii.gz")
    nib.Nifti1Image(atlas, np.eye(4)).to_filename(tmp_path / "atlas.nii.gz")
    data = bmx.datasets.load_subjects([tmp_path / "bold.nii.gz"], tr=720.0, connectome=conn,
                                      atlas=tmp_path / "atlas.nii.gz")
    np.testing.assert_allclose(np.asarray(data.bold[0]), runs, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="pass `atlas=`"):
        bmx.datasets.load_subjects([tmp_path / "bold.nii.gz"], tr=720.0, connectome=conn)


@pytest.mark.slow
def test_cli_fit_on_files_named_in_the_config(tmp_path, capsys):
    """The command-line fit on a connectome and four subjects' BOLD written here, with one
    subject held out: the same recipe as for hcp (linear-noise objective)."""
    folder = tmp_path / "mydata"
    folder.mkdir()
    np.savetxt(folder / "weights.csv", WEIGHTS, delimiter=",")
    np.savetxt(folder / "lengths.csv", LENGTHS, delimiter=",")
    (folder / "labels.txt").write_text("\n".join(f"r{i}" for i in range(N)))
    for s, run in enumerate(_runs(4, 100)):
        np.savetxt(folder / f"sub-{s}.txt", run)
    cfg = tmp_path / "fit.toml"
    cfg.write_text("""
[data]
connectome = "mydata/weights.csv"
lengths = "mydata/lengths.csv"
labels = "mydata/labels.txt"
bold = ["mydata/sub-0.txt", "mydata/sub-1.txt", "mydata/sub-2.txt", "mydata/sub-3.txt"]
tr = 720.0
[model]
name = "Hopf"
params = { a = -0.02, omega = 0.0005 }
[network]
coupling = 0.01
speed = 10.0
noise = 0.01
[simulate]
duration = 20000.0
dt = 1.0
[fit]
parameters = ["coupling.k"]
constraints = { "coupling.k" = "positive" }
objective = "linear_noise"
steps = 3
heldout_subjects = 1
validate_seconds = 60.0
""")
    out = tmp_path / "fit.npz"
    assert main(["fit", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    d = np.load(out)
    assert d["history"].shape == (3,) and np.all(np.isfinite(d["history"]))
    assert np.isfinite(d["heldout_r"])
    cfg.write_text(cfg.read_text().replace('tr = 720.0\n', ''))
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(cfg), "--out", str(out), "--no-progress"])
    assert "[data] bold needs its repetition time" in capsys.readouterr().err
