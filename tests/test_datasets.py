"""Datasets: the registry, the bundled hcp data (shapes, provenance facts), examples."""

import numpy as np
import pytest

import brainmass_eqx as bmx
from brainmass_eqx import datasets, metrics


def test_registry_lists_loads_and_rejects_bad_names():
    names = datasets.list_datasets()
    assert {"hcp", "example_connectome", "tvb_connectivity_76"} <= set(names)
    assert all(isinstance(d, str) and d for d in names.values())
    with pytest.raises(ValueError, match="available"):
        datasets.load_dataset("hpc")
    datasets.register_dataset("tmp_test_dataset", lambda scale=1.0: scale * 2, "a test")
    assert datasets.load_dataset("tmp_test_dataset", scale=2.0) == 4.0
    with pytest.raises(ValueError, match="already registered"):
        datasets.register_dataset("tmp_test_dataset", lambda: 0, "again")


def test_hcp_contents_match_the_provenance_notes():
    d = datasets.load_dataset("hcp")
    conn = d.connectome
    assert conn.n_regions == 80 and len(conn.labels) == 80
    w = np.asarray(conn.weights)
    assert w.max() == pytest.approx(1.0, rel=1e-6) and np.all(np.diag(w) == 0)
    lengths = conn.lengths.array
    assert lengths.max() == pytest.approx(248.3, abs=0.1)  # mm, README: max 248.3
    assert d.bold.shape == (7, 1200, 80) and d.tr == 720.0
    assert d.subjects[0] == "101309" and len(d.subjects) == 7
    # the stored FCs are the Pearson FC of each subject's BOLD
    np.testing.assert_allclose(d.fc[2], metrics.fc(d.bold[2]), atol=2e-3)
    assert d.group_fc.shape == (80, 80)
    assert d.subject_connectome(0).n_regions == 80


def test_example_connectome_and_tvb_message():
    c = datasets.load_dataset("example_connectome")
    assert c.n_regions == 4 and c.centres is not None and c.lengths is not None
    net = bmx.Network(bmx.Hopf(), c, coupling=bmx.DiffusiveCoupling(k=0.1), speed=10.0)
    assert net.has_delays
    try:
        import tvb_data  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install tvb-data"):
            datasets.load_dataset("tvb_connectivity_76")
