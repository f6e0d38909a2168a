"""Regenerate the figures of docs/observe.md: `.venv/bin/python docs/figures/make_observe.py`."""

import pathlib

import jax.numpy as jnp
import matplotlib


matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import brainmass_eqx as bmx  # noqa: E402


HERE = pathlib.Path(__file__).parent


def main() -> None:
    dt = 1.0
    t = (np.arange(30_000) + 1) * dt
    impulse = ((t > 1000.0) & (t <= 1100.0)).astype(np.float32)[:, None]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    for label, mon in [("BalloonWindkessel() (Friston 2003)", bmx.BalloonWindkessel(period=dt)),
                       ("BalloonWindkessel.revised() (Stephan 2007)",
                        bmx.BalloonWindkessel.revised(period=dt))]:
        y = np.asarray(mon(jnp.asarray(impulse), dt))[:, 0]
        ax1.plot(t / 1000 - 1, y / np.abs(y).max(), label=label)
    ax1.set(xlabel="time after a 100 ms impulse (s)", ylabel="BOLD (peak-normalised)",
            title="Balloon-Windkessel impulse responses")
    ax1.axhline(0, color="0.7", lw=0.8)
    ax1.legend(fontsize=8)
    ts = np.linspace(0, 30, 601)
    for kernel in [bmx.CanonicalHRF(), bmx.FirstOrderVolterra(), bmx.Gamma(),
                   bmx.MixtureOfGammas(), bmx.DoubleExponential()]:
        h = np.asarray(kernel(jnp.asarray(ts * 1000)))
        ax2.plot(ts, h / np.abs(h).max(), label=type(kernel).__name__)
    ax2.set(xlabel="t (s)", ylabel="h(t) (peak-normalised)", title="HRF kernels")
    ax2.axhline(0, color="0.7", lw=0.8)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(HERE / "observe_hrf.png", dpi=110)


if __name__ == "__main__":
    main()
