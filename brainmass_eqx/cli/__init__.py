"""The `brainmass-eqx` command line: `demo`, `models`, `datasets`, `simulate`, `fit`."""

from ._demo import (
    DEMO_A as DEMO_A,
    DEMO_COUPLING as DEMO_COUPLING,
    DEMO_SIGMA as DEMO_SIGMA,
    DEMO_SPEED as DEMO_SPEED,
    hcp_demo_network as hcp_demo_network,
)
from ._main import main as main
