import importlib.metadata
import subprocess
import sys

import brainmass_eqx as bmx


EXPECTED = {
    "AbstractCoupling",
    "AbstractNeuralMass",
    "AbstractNoise",
    "AdditiveNoise",
    "Connectome",
    "CoombesByrne",
    "DelayBuffer",
    "DelayPlan",
    "DiffusiveCoupling",
    "Epileptor",
    "FitzHughNagumo",
    "FitzHughNagumoGeneral",
    "Generic2dOscillator",
    "KuramotoCoupling",
    "JansenRit",
    "Kuramoto",
    "LarterBreakspear",
    "LearnableWeights",
    "LinearCoupling",
    "Lorenz",
    "MontbrioPazoRoxin",
    "MultiplicativeNoise",
    "Network",
    "OrnsteinUhlenbeckNoise",
    "PinkNoise",
    "SigmoidalCoupling",
    "StuartLandau",
    "SigmoidalJansenRitCoupling",
    "TanhCoupling",
    "homotopic_pairs",
    "ThresholdLinear",
    "VanDerPol",
    "WilsonCowan",
    "WilsonCowanAdaptive",
    "WilsonCowanDivisive",
    "WilsonCowanThreePopulation",
    "WongWang",
    "WongWangExcInh",
    "CANONICAL_UNITS",
    "HORNCell",
    "HORNSeqLayer",
    "HORNSeqNetwork",
    "Hopf",
    "Linear",
    "ModelInfo",
    "RK4",
    "Simulation",
    "list_models",
    "param",
    "simulate",
    # the architecture issue: the system contract, the delayed adjoint, fit methods
    "AbstractSystem",
    "DelayedAdjoint",
    "AbstractFitMethod",
    "Optax",
    "FitProblem",
    "FitTracker",
    "FitOutcome",
    "Checkpointing",
    # fit and train
    "train",
    "Trainer",
    "TrainResult",
    "Readout",
    "fit",
    "FitResult",
    "Fitter",
    "Nevergrad",
    "Scipy",
    "StepInfo",
    "AbstractConstraint",
    "Bounded",
    "constrain",
    "Constrained",
    "Positive",
    "Negative",
    "LinearNoiseFCLoss",
    "LinearNoiseCheck",
    "MultiKeyFCLoss",
    "SimulatedLoss",
    "StructuralPenalty",
    "PerSubjectLoss",
    "BatchFitResult",
    "fit_each",
    "SubjectSplit",
    "ValidationReport",
    "check_linear_noise",
    "split_subjects",
    "validate",
    "Unconstrained",
    "unwrap",
    # observe: forward models and monitors; metrics and objectives namespaces
    "AbstractBOLDReadout",
    "AbstractConductor",
    "AbstractHRFKernel",
    "AbstractMonitor",
    "BalloonWindkessel",
    "CanonicalHRF",
    "ClassicalBOLD",
    "DoubleExponential",
    "eeg_lead_field",
    "FirstOrderVolterra",
    "Gamma",
    "HRFBold",
    "InfiniteMedium",
    "LeadField",
    "meg_lead_field",
    "MixtureOfGammas",
    "Raw",
    "RevisedBOLD",
    "SphericalHead",
    "StreamingFC",
    "Subsample",
    "TemporalAverage",
    "metrics",
    "analysis",
    "datasets",
    "inference",
    "discovery",
    "sweep",
    "viz",
    "objectives",
}


def test_exact_public_names():
    public = {n for n in dir(bmx) if not n.startswith("_")}
    modules = {"cli"}  # submodules appear as attributes once imported
    assert public - modules == EXPECTED


def test_version_matches_metadata():
    assert bmx.__version__ == importlib.metadata.version("brainmass_eqx")


def test_import_is_quiet_and_lazy():
    """Importing prints nothing and does not import the slow optional stacks."""
    code = (
        "import sys, brainmass_eqx; "
        "print(sorted(m for m in ('unxt', 'nevergrad', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""
