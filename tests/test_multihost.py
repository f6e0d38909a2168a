"""Several processes through `jax.distributed`: two processes on localhost (CPU, gloo), each
with two host devices; a sweep sharded over all four devices and a bank split between the
processes (each writing its own chunks) equal a single-process run."""

import os
import pathlib
import socket
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainmass_eqx as bmx
from brainmass_eqx import inference as inf


ROOT = pathlib.Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent('''
    import os, sys
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    sys.path.insert(0, {tests!r})
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    pid = int(sys.argv[1])
    jax.distributed.initialize(coordinator_address="localhost:{port}", num_processes=2,
                               process_id=pid)
    assert jax.process_count() == 2 and len(jax.devices()) == 4
    import numpy as np
    import brainmass_eqx as bmx
    from brainmass_eqx import inference as inf
    from test_multihost import problem

    sim, ks, keys, summary, prior = problem()
    out = bmx.sweep(sim, ks, keys, devices=jax.devices())
    np.save({out!r} + f"/sweep_{{pid}}.npy", np.asarray(out))
    bank = inf.simulate_bank(summary, prior, 13, jax.random.key(1), batch_size=3,
                             path={out!r} + "/bank", progress=False)
    np.save({out!r} + f"/bank_{{pid}}.npy", bank.x)
    jax.distributed.shutdown()
''')


def problem():
    """The sweep and the bank both runs compute (imported by the workers)."""
    from helpers import small_network

    net = small_network(noise=bmx.AdditiveNoise(sigma=0.05), n=4)

    def sim(k, key):
        n = eqx.tree_at(lambda m: m.coupling.k, net, k)
        return bmx.simulate(n, 20.0, 0.1, key=key, monitors=["x"])["x"]

    prior = inf.JointPrior([inf.LogUniform(0.05, 0.5)], where=lambda m: m.coupling.k)

    def summary(theta, key):
        x = bmx.simulate(prior.apply(net, theta), 20.0, 0.1, key=key, monitors=["x"])["x"]
        return jnp.std(x, axis=0)

    return (sim, jnp.linspace(0.1, 0.5, 7), jax.random.split(jax.random.key(0), 7), summary,
            prior)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_on_localhost_equal_one(tmp_path):
    script = WORKER.format(tests=str(ROOT / "tests"), port=_free_port(), out=str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    sim, ks, keys, summary, prior = problem()
    ref = np.asarray(eqx.filter_jit(jax.vmap(sim))(ks, keys))
    for i in range(2):  # every process received the whole sweep
        np.testing.assert_allclose(np.load(tmp_path / f"sweep_{i}.npy"), ref, rtol=1e-6,
                                   atol=1e-7)
    single = inf.simulate_bank(summary, prior, 13, jax.random.key(1), batch_size=3,
                               progress=False)
    chunks = sorted((tmp_path / "bank").glob("chunk-*.npz"))
    assert len(chunks) == 5  # 5 batches, split 3 + 2 between the processes
    for i in range(2):  # and the whole bank, equal to the single-process one
        np.testing.assert_array_equal(np.load(tmp_path / f"bank_{i}.npy"), single.x)
