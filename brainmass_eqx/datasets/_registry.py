"""A registry of named datasets: `register_dataset`, `load_dataset`, `list_datasets`."""

from collections.abc import Callable
from typing import Any, NamedTuple, final


@final
class _Entry(NamedTuple):
    loader: Callable[..., Any]
    description: str


_REGISTRY: dict[str, _Entry] = {}


def register_dataset(name: str, loader: Callable[..., Any], description: str, *,
                     overwrite: bool = False) -> None:
    """Register `loader(**kwargs)` under `name` with a one-line `description`.

    **Raises:** `ValueError` if `name` is taken (unless `overwrite=True`) or empty.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"dataset `name` must be a non-empty string, got {name!r}.")
    if not callable(loader):
        raise ValueError(f"`loader` for dataset {name!r} must be callable.")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"a dataset named {name!r} is already registered; pass "
                         "`overwrite=True` to replace it.")
    _REGISTRY[name] = _Entry(loader, str(description))


def load_dataset(name: str, **kwargs: Any) -> Any:
    """Load the dataset registered under `name` (keyword arguments go to its loader).

    **Raises:** `ValueError` listing the available names for an unknown `name`.
    """
    try:
        entry = _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; available: {sorted(_REGISTRY)}. "
                         "See `bmx.datasets.list_datasets()`.") from None
    return entry.loader(**kwargs)


def list_datasets() -> dict[str, str]:
    """`{name: one-line description}` of every registered dataset."""
    return {name: e.description for name, e in sorted(_REGISTRY.items())}
