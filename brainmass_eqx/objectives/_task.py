"""Per-example losses and metrics for task training."""

from typing import final

import jax
import jax.numpy as jnp

from ._base import AbstractObjective, same_shape


@final
class CrossEntropy(AbstractObjective):
    """Cross-entropy of one example's logits (see `cross_entropy`)."""

    def __call__(self, prediction, target):
        logits = jnp.asarray(prediction)
        label = jnp.asarray(target)
        if logits.ndim != 1:
            raise ValueError(f"cross-entropy takes one example's logits `(classes,)`, got shape "
                             f"{logits.shape}; batch with jax.vmap.")
        if jnp.issubdtype(label.dtype, jnp.integer):
            return -jax.nn.log_softmax(logits)[label]
        return -jnp.sum(label * jax.nn.log_softmax(logits))  # soft / one-hot targets


@final
class MSE(AbstractObjective):
    """Mean squared error of one example (see `mse`)."""

    def __call__(self, prediction, target):
        same_shape(prediction, target)
        return jnp.mean((prediction - target) ** 2)


@final
class Accuracy(AbstractObjective):
    """Classification accuracy of one example (see `accuracy`)."""

    def __call__(self, prediction, target):
        logits = jnp.asarray(prediction)
        label = jnp.asarray(target)
        if not jnp.issubdtype(label.dtype, jnp.integer):
            label = jnp.argmax(label, axis=-1)
        return (jnp.argmax(logits, axis=-1) == label).astype(logits.dtype)


def cross_entropy() -> AbstractObjective:
    r"""Cross-entropy of one example: `prediction` are logits `(classes,)`, `target` an integer
    label (or a probability vector): $-\log \mathrm{softmax}(z)_y$."""
    return CrossEntropy()


def mse() -> AbstractObjective:
    """Mean squared error of one example (same shapes)."""
    return MSE()


def accuracy() -> AbstractObjective:
    """1 if the argmax of the logits is the label (integer or one-hot), else 0 (a metric:
    no useful gradient)."""
    return Accuracy()

