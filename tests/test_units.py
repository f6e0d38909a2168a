import jax
import jax.numpy as jnp
import numpy as np
import pytest
import unxt as u

import brainmass_eqx as bmx


def test_quantity_converted_once_to_canonical_units():
    assert float(bmx.Linear(tau=u.Quantity(0.02, "s")).tau) == pytest.approx(20.0)
    assert float(bmx.Hopf(omega=u.Quantity(40.0, "rad/s")).omega) == pytest.approx(0.04)
    # integer quantities must not truncate when rescaled
    assert float(bmx.Linear(tau=u.Quantity(1, "s")).tau) == pytest.approx(1000.0)


def test_plain_numbers_are_canonical_and_strongly_typed():
    m = bmx.Linear(tau=5)
    assert m.tau.dtype == jnp.result_type(float)
    assert not m.tau.weak_type
    assert float(m.tau) == 5.0


def test_dimension_mismatch_names_parameter_and_unit():
    with pytest.raises(ValueError, match=r"`Linear\.tau`.*'mV'.*'ms'"):
        bmx.Linear(tau=u.Quantity(3.0, "mV"))
    with pytest.raises(ValueError, match=r"`Hopf\.a`.*'1/ms'"):
        bmx.Hopf(a=u.Quantity(3.0, "ms"))


def test_bounds_and_nan_rejected_with_parameter_name():
    with pytest.raises(ValueError, match=r"`Linear\.tau`.*outside its valid range \(0, inf\)"):
        bmx.Linear(tau=0.0)
    with pytest.raises(ValueError, match=r"`Hopf\.omega` contains NaN"):
        bmx.Hopf(omega=jnp.array([0.1, jnp.nan]))
    with pytest.raises(ValueError, match=r"`Hopf\.a` must be a number"):
        bmx.Hopf(a="big")


def test_field_metadata_records_unit_bounds_doc():
    meta = bmx.Linear.param_fields()["tau"]
    assert meta["unit"] == "ms"
    assert meta["bounds"] == (0.0, None)
    assert meta["doc"]
    assert bmx.Hopf.param_fields()["omega"]["unit"] == "rad/ms"


def test_per_node_quantity_and_traced_construction():
    m = bmx.Hopf(a=u.Quantity(jnp.array([100.0, 200.0, 300.0]), "1/s"))
    assert m.node_shape == (3,)
    np.testing.assert_allclose(m.a, [0.1, 0.2, 0.3], rtol=1e-6)
    # constructing inside a transformation: values are traced, checks that need values skip
    out = jax.vmap(lambda a: bmx.Hopf(a=a).a)(jnp.arange(3.0))
    np.testing.assert_allclose(out, [0.0, 1.0, 2.0])


def test_float64_parameters_survive(x64):
    m = bmx.Hopf(a=np.float64(0.3))
    assert m.a.dtype == jnp.float64
