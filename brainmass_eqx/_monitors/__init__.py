from ._balloon import (
    AbstractBOLDReadout as AbstractBOLDReadout,
    BalloonWindkessel as BalloonWindkessel,
    ClassicalBOLD as ClassicalBOLD,
    RevisedBOLD as RevisedBOLD,
)
from ._base import (
    AbstractMonitor as AbstractMonitor,
    MonitorSet as MonitorSet,
    Raw as Raw,
    Subsample as Subsample,
    TemporalAverage as TemporalAverage,
    make_monitor_set as make_monitor_set,
)
from ._hrf import (
    AbstractHRFKernel as AbstractHRFKernel,
    CanonicalHRF as CanonicalHRF,
    DoubleExponential as DoubleExponential,
    FirstOrderVolterra as FirstOrderVolterra,
    Gamma as Gamma,
    HRFBold as HRFBold,
    MixtureOfGammas as MixtureOfGammas,
    causal_convolve as causal_convolve,
)
from ._lead_field import (
    AbstractConductor as AbstractConductor,
    InfiniteMedium as InfiniteMedium,
    LeadField as LeadField,
    SphericalHead as SphericalHead,
    eeg_lead_field as eeg_lead_field,
    meg_lead_field as meg_lead_field,
)
from ._streaming import StreamingFC as StreamingFC
