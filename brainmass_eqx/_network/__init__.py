"""Structure: connectomes, couplings, noise processes, the `Network` and its static delay
plan. Imports `_core` and `_models` only."""

from ._connectome import Connectome as Connectome, StaticArray as StaticArray
from ._coupling import (
    AbstractCoupling as AbstractCoupling,
    DiffusiveCoupling as DiffusiveCoupling,
    KuramotoCoupling as KuramotoCoupling,
    LearnableWeights as LearnableWeights,
    LinearCoupling as LinearCoupling,
    SigmoidalCoupling as SigmoidalCoupling,
    SigmoidalJansenRitCoupling as SigmoidalJansenRitCoupling,
    TanhCoupling as TanhCoupling,
)
from ._delay_plan import (
    MAX_BUFFER_BYTES as MAX_BUFFER_BYTES,
    DelayPlan as DelayPlan,
    EdgeGroup as EdgeGroup,
)
from ._edges import homotopic_pairs as homotopic_pairs
from ._network import Network as Network
from ._noise import (
    AbstractNoise as AbstractNoise,
    AdditiveNoise as AdditiveNoise,
    MultiplicativeNoise as MultiplicativeNoise,
    OrnsteinUhlenbeckNoise as OrnsteinUhlenbeckNoise,
    PinkNoise as PinkNoise,
)
