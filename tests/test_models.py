"""The model contract, checked for every model in the catalogue (new models are tested
automatically by being added to `ALL_MODELS`)."""

import typing

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import unxt as u

import brainmass_eqx as bmx
from brainmass_eqx._models import ALL_MODELS


models = pytest.mark.parametrize("cls", ALL_MODELS, ids=[c.__name__ for c in ALL_MODELS])
#: The jit/vmap/grad check compiles three programs per model (8-13 s each): the default run
#: keeps one model of each kind, the slow set runs every model.
_QUICK = {"Hopf", "WilsonCowan", "JansenRit", "Epileptor"}
models_quick_first = pytest.mark.parametrize(
    "cls", [c if c.__name__ in _QUICK else pytest.param(c, marks=pytest.mark.slow)
            for c in ALL_MODELS], ids=[c.__name__ for c in ALL_MODELS])


@models
def test_class_metadata_is_complete(cls):
    assert cls.category in ("phenomenological", "physiological", "network")
    assert cls.state_names and len(set(cls.state_names)) == len(cls.state_names)
    assert cls.default_cvar in cls.state_names
    assert cls.input_names
    assert cls.use_case and cls.reference
    for name in cls.observables:
        assert callable(getattr(cls, name))
    assert cls.__doc__ and "$$" in cls.__doc__, "docstring must state the equations"
    # abstract-or-final: concrete models are final
    assert getattr(cls, "__final__", False) or typing.get_origin(cls) is None
    for name, meta in cls.param_fields().items():
        assert meta["doc"], name
        assert isinstance(meta["unit"], str), name
        assert name in cls.__doc__, f"parameter {name} is not documented in the docstring"


@models
def test_initial_state_shapes_dtypes_and_keys(cls):
    model = cls()
    for n_nodes, shape in ((None, ()), (5, (5,)), ((2, 3), (2, 3))):
        for key in (None, jax.random.key(0)):
            y = model.initial_state(n_nodes, key=key)
            assert tuple(y) == cls.state_names
            for v in y.values():
                assert v.shape == shape
                assert v.dtype == jnp.result_type(float)
                assert np.all(np.isfinite(v))


@models
def test_vector_field_is_pure_and_preserves_structure(cls):
    model = cls()
    y = model.initial_state(4, key=jax.random.key(1))
    inputs = model.zero_inputs((4,))
    dy = model.vector_field(0.0, y, inputs)
    assert jax.tree.structure(dy) == jax.tree.structure(y)
    assert all(a.shape == b.shape and a.dtype == b.dtype
               for a, b in zip(jax.tree.leaves(dy), jax.tree.leaves(y)))
    dy2 = jax.jit(lambda m, t, y, u: m.vector_field(t, y, u))(model, 0.0, y, inputs)
    assert eqx.tree_equal(dy, dy2, rtol=1e-6, atol=1e-7)


@models
def test_one_second_from_the_default_state_is_finite(cls):
    # fast models (Lorenz turns in ~1 ms) need more adaptive steps than the default bound
    sim = bmx.simulate(cls(), 1000.0, 1.0, n_nodes=3, monitors=list(cls.state_names),
                       max_steps=500_000)
    for name in cls.state_names:
        assert sim[name].shape == (1000, 3)
        assert np.all(np.isfinite(sim[name])), name


@models
def test_per_node_parameters_broadcast(cls):
    scalar = cls()
    per_node = cls(**{k: jnp.full(3, v) for k, v in scalar.parameters().items()})
    assert per_node.node_shape == (3,)
    # fixed steps: an adaptive controller turns a last-bit difference of XLA's fusion (scalar
    # against per-node parameters) into another step sequence, which is not what is tested
    a = bmx.simulate(scalar, 10.0, 0.01, n_nodes=3, solver=bmx.RK4())
    b = bmx.simulate(per_node, 10.0, 0.01, solver=bmx.RK4())
    for name in cls.state_names:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-6, atol=1e-7)


@models
def test_quantities_in_canonical_units_equal_plain_numbers(cls):
    plain = cls()
    with_units = cls(**{k: u.Quantity(v, cls.param_fields()[k]["unit"])
                        for k, v in plain.parameters().items()})
    assert eqx.tree_equal(plain, with_units)


@models_quick_first
def test_jit_vmap_grad(cls):
    model = cls()
    name, value = next(iter(model.parameters().items()))

    def loss(p):
        m = eqx.tree_at(lambda m: getattr(m, name), model, p)
        sim = bmx.simulate(m, 20.0, 0.5, n_nodes=2, monitors=[cls.default_cvar])
        return jnp.mean(sim[cls.default_cvar] ** 2)

    g = jax.jit(jax.grad(loss))(value)
    assert np.isfinite(g)
    batch = jax.vmap(loss)(value + jnp.array([0.0, 0.01 * (1 + abs(float(value)))]))
    assert batch.shape == (2,) and np.all(np.isfinite(batch))
