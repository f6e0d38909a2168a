import subprocess
import sys

import numpy as np
import pytest

import brainmass_eqx as bmx
from brainmass_eqx.cli import main


def test_models_prints_the_catalogue(capsys):
    assert main(["models"]) == 0
    assert capsys.readouterr().out.strip() == bmx.list_models.to_table()


def test_demo_writes_plot_and_npz(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--duration", "400", "--transient", "200"]) == 0
    out = capsys.readouterr().out
    assert "settled radius" in out
    data = np.load(tmp_path / "hopf_demo.npz")
    radius = np.hypot(data["x"], data["y"])[-50:].mean(axis=0)
    np.testing.assert_allclose(radius, np.sqrt(np.clip(data["a"], 0, None)), atol=2e-3)
    png = (tmp_path / "hopf_demo.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--out", str(tmp_path), "--duration", "1000", "--dt", "0.3"])
    assert exc.value.code == 2
    assert "not a whole number of steps" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_console_script_help():
    out = subprocess.run([sys.executable, "-m", "brainmass_eqx.cli", "--help"],
                         capture_output=True, text=True, check=True)
    assert "demo" in out.stdout and "models" in out.stdout
