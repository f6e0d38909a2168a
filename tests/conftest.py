import os

import hypothesis
import jax
import pytest

import brainmass_eqx as bmx


# Strict numerics, as in equinox/diffrax: no silent dtype or rank promotion.
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

# The default and CI runs are deterministic: the same examples every run (derandomised, and
# no example database replaying what an earlier run found). Explore with
# HYPOTHESIS_PROFILE=dev (random, more examples).
hypothesis.settings.register_profile(
    "ci", max_examples=15, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile(
    "dev", max_examples=40, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def x64():
    """Run a test in float64 (gradient checks, long-horizon agreement, convergence orders)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture
def getkey():
    """A fresh, deterministic PRNG key per call within a test."""
    keys = iter(jax.random.split(jax.random.key(0), 1000))
    return lambda: next(keys)


@pytest.fixture(params=["kept-sums", "recomputed-sums"])
def reverse_policy(request):
    """Both regimes of the delayed reverse pass: delayed sums kept by the forward pass (short
    runs) or recomputed from the checkpoints (runs over `DelayedAdjoint.keep_sums_bytes`):
    the `adjoint` to simulate with."""
    if request.param == "recomputed-sums":
        return bmx.DelayedAdjoint(keep_sums_bytes=0)
    return bmx.DelayedAdjoint()
