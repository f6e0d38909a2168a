import subprocess
import sys

import numpy as np
import pytest

import brainmass_eqx as bmx
from brainmass_eqx.cli import main


def test_models_prints_the_catalogue(capsys):
    assert main(["models"]) == 0
    assert capsys.readouterr().out.strip() == bmx.list_models.to_table()


def test_datasets_lists_each_with_a_description(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in bmx.datasets.list_datasets():
        assert name in out


@pytest.mark.slow
def test_demo_writes_plot_and_npz_and_matches_the_data(tmp_path, capsys):
    """A short demo (20 fit steps, 40 s simulated): the fit raises the linear-noise FC
    correlation above the unfitted network's, and the files hold what the text says."""
    assert main(["demo", "--out", str(tmp_path), "--duration", "40", "--transient", "10",
                 "--fit-steps", "20", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "held-out subjects" in out and "linear-noise FC r" in out
    data = np.load(tmp_path / "hcp_demo.npz")
    assert data["bold"].shape == (41, 80)  # 30 s of BOLD at TR 0.72 s
    hcp = bmx.datasets.load_dataset("hcp")
    np.testing.assert_allclose(data["fc_empirical"], np.mean(np.asarray(hcp.fc)[:4], axis=0),
                               rtol=1e-6)
    np.testing.assert_allclose(data["fc_heldout"], np.mean(np.asarray(hcp.fc)[4:], axis=0),
                               rtol=1e-6)
    assert float(data["r_linear_noise"]) > 0.75  # the unfitted start is about 0.69
    assert float(data["r"]) > 0.2 and float(data["r_heldout"]) > 0.2
    png = (tmp_path / "hcp_demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_demo_without_a_fit_runs_the_hand_set_network(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--duration", "30", "--transient", "5",
                 "--fit-steps", "0", "--no-progress"]) == 0
    assert "fit:" not in capsys.readouterr().out
    assert np.isnan(np.load(tmp_path / "hcp_demo.npz")["r_linear_noise"])


def test_simulate_from_arguments_and_config(tmp_path, capsys):
    out = tmp_path / "sim.npz"
    assert main(["simulate", "--model", "Hopf", "--param", "a=0.25", "--duration", "300",
                 "--dt", "0.5", "--transient", "100", "--n-nodes", "2", "--out",
                 str(out)]) == 0
    d = np.load(out)
    assert d["x"].shape == (400, 2)
    np.testing.assert_allclose(np.hypot(d["x"], d["y"])[-1], 0.5, atol=1e-3)  # sqrt(a)
    cfg = tmp_path / "sim.toml"
    cfg.write_text('[model]\nname = "WilsonCowan"\n[simulate]\nduration = 200.0\ndt = 0.5\n'
                   '[network]\nconnectome = "example_connectome"\ncoupling = 0.1\nspeed = 10.0\n'
                   'noise = 0.01\n')
    assert main(["simulate", "--config", str(cfg), "--out", str(out)]) == 0
    assert np.load(out)["E"].shape == (400, 4)
    capsys.readouterr()


@pytest.mark.slow
def test_fit_from_a_config(tmp_path, capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text("""
[model]
name = "Hopf"
params = { a = -2e-5, omega = 2e-4 }
[network]
connectome = "hcp"
coupling = 1e-3
speed = 5.0
noise = 6e-4
[simulate]
duration = 12000.0
dt = 1.0
transient = 2000.0
[fit]
parameters = ["coupling.k"]
constraints = { "coupling.k" = "positive" }
method = "adam"
learning_rate = 0.2
steps = 2
""")
    out = tmp_path / "fit.npz"
    assert main(["fit", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    d = np.load(out)
    assert d["history"].shape == (2,) and np.isfinite(d["best_loss"])
    assert "best loss" in capsys.readouterr().out


@pytest.mark.slow
def test_fit_recipe_linear_noise_effective_connectivity_with_validation(tmp_path, capsys):
    cfg = tmp_path / "fit.toml"
    cfg.write_text("""
[model]
name = "Hopf"
params = { a = -1e-4, omega = 2e-4 }
[network]
connectome = "hcp"
coupling = 5e-4
speed = 5.0
noise = 6e-4
[simulate]
duration = 30000.0
dt = 1.0
transient = 2000.0
[fit]
parameters = ["coupling.k", "node.a"]
constraints = { "coupling.k" = "positive", "node.a" = "negative" }
objective = "linear_noise"
effective_connectivity = true
penalty = 0.01
learning_rate = 0.05
steps = 5
heldout_subjects = 3
validate_seconds = 60.0
""")
    out = tmp_path / "fit.npz"
    assert main(["fit", "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    d = np.load(out)
    assert d["history"].shape == (5,) and d["history"][-1] < d["history"][0]
    assert d["coupling.log_gain"].shape == (80, 80)
    assert np.isfinite(d["heldout_r"]) and np.isfinite(d["in_sample_r"])
    text = capsys.readouterr().out
    assert "held-out FC" in text


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["simulate", "--model", "Hopf", "--duration", "1000", "--dt", "0.3",
              "--out", str(tmp_path / "x.npz")])
    assert exc.value.code == 2
    assert "not a whole number of steps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--model", "Hofp", "--duration", "10", "--dt", "1"])
    assert "available" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["simulate", "--model", "Hopf", "--param", "b=1", "--duration", "10", "--dt", "1"])
    assert "no parameter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(tmp_path / "missing.toml")])
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "brainmass_eqx.cli", "--help"],
                         capture_output=True, text=True, check=True)
    for cmd in ("demo", "models", "datasets", "simulate", "fit"):
        assert cmd in out.stdout
    sub = subprocess.run([sys.executable, "-m", "brainmass_eqx.cli", "fit", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--config" in sub.stdout


def test_network_homotopic_adds_the_mirror_connections(tmp_path):
    """`[network] homotopic = true` adds the callosal connections a sparse connectome lacks
    (labelled `L_*`/`R_*`), with lengths from the stored matrix."""
    from brainmass_eqx.cli._commands import _build_model

    w = np.zeros((4, 4))
    w[0, 2] = w[2, 0] = w[1, 3] = w[3, 1] = 1.0          # within hemispheres only
    lengths = np.full((4, 4), 30.0)
    np.savetxt(tmp_path / "w.txt", w)
    np.savetxt(tmp_path / "l.txt", lengths)
    (tmp_path / "labels.txt").write_text("L_a\nR_a\nL_b\nR_b\n")
    cfg = {"model": {"name": "Hopf"},
           "network": {"connectome": "data", "speed": 5.0, "homotopic": True,
                       "homotopic_weight": 0.5},
           "data": {"connectome": str(tmp_path / "w.txt"), "lengths": str(tmp_path / "l.txt"),
                    "labels": str(tmp_path / "labels.txt")}}
    net = _build_model(cfg)
    got = np.asarray(net.connectome.weights)
    assert got[0, 1] == got[1, 0] == got[2, 3] == got[3, 2] == 0.5
    assert net.connectome.n_edges == 8
    cfg["network"]["homotopic"] = False
    assert _build_model(cfg).connectome.n_edges == 4
