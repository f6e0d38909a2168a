"""EEG/MEG/sEEG projection: lead-field monitors and analytic dipole lead fields."""

import abc
import math
from typing import Any, ClassVar, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._core._units import name_param_converters, param, strip_units, to_float_array
from ._base import AbstractMonitor, Signal, resolve_period


@final
class LeadField(AbstractMonitor):
    r"""Project regional activity onto sensors through a gain (lead-field) matrix,
    $s(t) = G\,z(t)$, for EEG, MEG or sEEG.

    **Fields:**

    - `gain`: `(sensors, regions)` array; `gain[i, j]` is sensor `i`'s response to a unit
      source in region `j` (e.g. from MNE-Python or Brainstorm, or from
      [`brainmass_eqx.eeg_lead_field`][] / [`brainmass_eqx.meg_lead_field`][]). It is a traced
      array, so it can be fitted.
    - `on`: the regional signal (default: the model's coupled variable; `"eeg"` for
      [`brainmass_eqx.JansenRit`][]).
    - `average_reference`: re-reference to the average of all sensors (EEG), i.e. use
      $G - \mathbf{1}\bar g^\top$ with $\bar g$ the column means.
    - `period`: optional sampling period (Quantity or ms, a multiple of `dt`); `None` records
      every step.

    Post hoc, `LeadField(gain)(activity, dt)` projects a stored `(time, regions)` trace.
    """

    gain: Float[Array, "sensors nodes"]
    on: Signal = None
    average_reference: bool = eqx.field(default=False, static=True)
    period: float | None = eqx.field(default=None, static=True, converter=lambda p:
                                     resolve_period(p, name="LeadField.period"))

    default_name: ClassVar[str] = "sensors"

    def __init__(self, gain: Any, on: Signal = None, *, average_reference: bool = False,
                 period: Any = None):
        gain = to_float_array(gain, name="gain")
        if gain.ndim != 2:
            raise ValueError(f"`gain` must be a (sensors, regions) matrix, got shape "
                             f"{gain.shape}.")
        if not isinstance(gain, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(gain))):
            raise ValueError("`gain` contains NaN or inf values.")
        self.gain = gain
        self.on = on
        self.average_reference = bool(average_reference)
        self.period = period

    @property
    def matrix(self) -> Float[Array, "sensors nodes"]:
        """The gain actually applied (average-referenced if asked)."""
        if self.average_reference:
            return self.gain - jnp.mean(self.gain, axis=0, keepdims=True)
        return self.gain

    def record(self, state: Any, signal: Array) -> Array:
        del state
        if signal.shape[-1:] != self.gain.shape[1:]:
            raise ValueError(
                f"`LeadField.gain` has {self.gain.shape[1]} region columns but the signal has "
                f"shape {signal.shape} (regions last); build the gain for these regions."
            )
        return self.matrix.astype(signal.dtype) @ signal


# ------------------------------------------------------------------------ analytic lead fields


class AbstractConductor(eqx.Module):
    """A volume conductor for analytic lead fields (positions in mm, centred at the origin)."""

    conductivity: eqx.AbstractVar[Float[Array, ""]]

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)

    @abc.abstractmethod
    def potential(self, sources: Array, orientations: Array, sensors: Array) -> Array:
        """`(sensors, sources)` potentials in V for unit dipoles (A·m), positions in m."""


@final
class InfiniteMedium(AbstractConductor):
    r"""An infinite homogeneous conductor: a current dipole $\mathbf p$ at $\mathbf r_0$ gives
    $V(\mathbf r) = \frac{\mathbf p\cdot(\mathbf r - \mathbf r_0)}
    {4\pi\sigma\,|\mathbf r - \mathbf r_0|^3}$.

    **Fields:** `conductivity` $\sigma$ in S/m (0.33, grey matter).
    """

    conductivity: Float[Array, ""] = param(0.33, unit="S/m", doc="conductivity",
                                           bounds=(0, None), inclusive=(False, True))

    def potential(self, sources: Array, orientations: Array, sensors: Array) -> Array:
        d = sensors[:, None, :] - sources[None, :, :]
        dist = jnp.linalg.norm(d, axis=-1)
        return jnp.sum(orientations[None] * d, -1) / (4 * math.pi * self.conductivity * dist**3)


@final
class SphericalHead(AbstractConductor):
    r"""A homogeneous conducting sphere of radius $R$ centred at the origin, surrounded by an
    insulator; electrodes lie on its surface. The surface potential of a dipole $\mathbf p$ at
    $\mathbf r_0$ (Frank 1952; Brody et al. 1973) is, with $\mathbf d = \mathbf r - \mathbf r_0$,

    $$V(\mathbf r) = \frac{\mathbf p}{4\pi\sigma}\cdot\left[\frac{2\mathbf d}{d^3}
      + \frac{\mathbf r + R\,\mathbf d/d}{R\,(R^2 - \mathbf r\cdot\mathbf r_0 + R d)}\right],$$

    three times the infinite-medium value for a dipole at the centre.

    **Fields:** `radius` $R$ in mm (90), `conductivity` $\sigma$ in S/m (0.33).
    """

    radius: Float[Array, ""] = param(90.0, unit="mm", doc="sphere radius", bounds=(0, None),
                                     inclusive=(False, True))
    conductivity: Float[Array, ""] = param(0.33, unit="S/m", doc="conductivity",
                                           bounds=(0, None), inclusive=(False, True))

    def potential(self, sources: Array, orientations: Array, sensors: Array) -> Array:
        big_r = self.radius * 1e-3
        d = sensors[:, None, :] - sources[None, :, :]
        dist = jnp.linalg.norm(d, axis=-1, keepdims=True)
        r = jnp.broadcast_to(sensors[:, None, :], d.shape)
        r_dot_r0 = jnp.sum(sensors[:, None, :] * sources[None, :, :], -1, keepdims=True)
        field = 2 * d / dist**3 + (r + big_r * d / dist) / (
            big_r * (big_r**2 - r_dot_r0 + big_r * dist))
        return jnp.sum(orientations[None] * field, -1) / (4 * math.pi * self.conductivity)


def _positions(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(strip_units(x, "mm", name=name), dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"`{name}` must be an (n, 3) array of positions in mm, got shape "
                         f"{arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or inf values.")
    return arr


def _orientations(sources: np.ndarray, orientations: Any) -> np.ndarray:
    if orientations is None:
        norms = np.linalg.norm(sources, axis=1, keepdims=True)
        if np.any(norms == 0):
            raise ValueError("A source at the origin has no radial direction: pass "
                             "`orientations` explicitly.")
        return sources / norms
    o = np.asarray(orientations, dtype=float)
    if o.shape != sources.shape:
        raise ValueError(f"`orientations` must have the shape of `sources` {sources.shape}, "
                         f"got {o.shape}.")
    norms = np.linalg.norm(o, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(o)):
        raise ValueError("`orientations` must be finite, non-zero vectors.")
    return o / norms


def eeg_lead_field(sources: Any, sensors: Any, *,
                   conductor: AbstractConductor | None = None,
                   orientations: Any = None) -> Float[Array, "sensors sources"]:
    r"""An analytic EEG gain matrix for one current dipole per region.

    **Arguments:**

    - `sources`: `(regions, 3)` dipole positions in mm (e.g. `Connectome.centres`), in a frame
      centred on the head.
    - `sensors`: `(sensors, 3)` electrode positions in mm.
    - `conductor`: [`brainmass_eqx.SphericalHead`][] (default, radius 90 mm; electrodes must lie
      on its surface within 1 % and sources inside) or [`brainmass_eqx.InfiniteMedium`][].
    - `orientations`: `(regions, 3)` dipole directions (normalised here); default radial from
      the origin, as for cortical columns.

    **Returns:** `(sensors, regions)` gain in µV per nA·m of dipole moment, ready for
    [`brainmass_eqx.LeadField`][].
    """
    conductor = SphericalHead() if conductor is None else conductor
    if not isinstance(conductor, AbstractConductor):
        raise ValueError(f"`conductor` must be an AbstractConductor, got {conductor!r}.")
    src = _positions(sources, "sources")
    sen = _positions(sensors, "sensors")
    ori = _orientations(src, orientations)
    if isinstance(conductor, SphericalHead):
        radius = float(conductor.radius)
        r_sen = np.linalg.norm(sen, axis=1)
        if np.any(np.abs(r_sen - radius) > 0.01 * radius):
            raise ValueError(
                f"`sensors` must lie on the sphere of radius {radius} mm (within 1 %); their "
                f"distances from the origin range over [{r_sen.min():.4g}, {r_sen.max():.4g}] mm. "
                "Centre the montage, project it onto the sphere, or set `SphericalHead(radius=)`."
            )
        if np.any(np.linalg.norm(src, axis=1) >= radius):
            raise ValueError(f"`sources` must lie inside the sphere of radius {radius} mm.")
    v = conductor.potential(jnp.asarray(src * 1e-3), jnp.asarray(ori), jnp.asarray(sen * 1e-3))
    # V per A·m -> µV per nA·m
    return jnp.asarray(v * 1e-3, dtype=jnp.result_type(float))


def meg_lead_field(sources: Any, sensors: Any, *, normals: Any = None,
                   orientations: Any = None) -> Float[Array, "sensors sources"]:
    r"""An analytic MEG gain matrix: the magnetic field of current dipoles in a spherically
    symmetric conductor centred at the origin (Sarvas 1987), which includes the volume currents
    and does not depend on the conductivity profile. With $\mathbf a = \mathbf r - \mathbf r_0$,

    $$\mathbf B = \frac{\mu_0}{4\pi F^2}\left(F\,\mathbf q\times\mathbf r_0
      - (\mathbf q\times\mathbf r_0\cdot\mathbf r)\,\nabla F\right),\quad
      F = a(ra + r^2 - \mathbf r_0\cdot\mathbf r),$$
    $$\nabla F = \left(\tfrac{a^2}{r} + \tfrac{\mathbf a\cdot\mathbf r}{a} + 2a + 2r\right)
      \mathbf r - \left(a + 2r + \tfrac{\mathbf a\cdot\mathbf r}{a}\right)\mathbf r_0.$$

    Radial dipoles and dipoles at the centre produce no field outside.

    **Arguments:** `sources` `(regions, 3)` and `sensors` `(sensors, 3)` in mm (sensors outside
    the head); `normals` `(sensors, 3)`, the magnetometer orientations (default radial);
    `orientations` as in [`brainmass_eqx.eeg_lead_field`][] (default radial, which is silent —
    pass tangential orientations for a non-zero field).

    **Returns:** `(sensors, regions)` gain in fT per nA·m.
    """
    src = _positions(sources, "sources")
    sen = _positions(sensors, "sensors")
    ori = _orientations(src, orientations)
    if normals is None:
        nrm = sen / np.linalg.norm(sen, axis=1, keepdims=True)
    else:
        nrm = _orientations(sen, normals)
    if np.min(np.linalg.norm(sen, axis=1)) <= np.max(np.linalg.norm(src, axis=1)):
        raise ValueError("`sensors` must lie farther from the origin than every source.")
    r = jnp.asarray(sen * 1e-3)[:, None, :]
    r0 = jnp.asarray(src * 1e-3)[None, :, :]
    q = jnp.asarray(ori)[None, :, :]
    a_vec = r - r0
    a = jnp.linalg.norm(a_vec, axis=-1, keepdims=True)
    rn = jnp.linalg.norm(r, axis=-1, keepdims=True)
    a_dot_r = jnp.sum(a_vec * r, -1, keepdims=True)
    f = a * (rn * a + rn**2 - jnp.sum(r0 * r, -1, keepdims=True))
    grad_f = (a**2 / rn + a_dot_r / a + 2 * a + 2 * rn) * r - (a + 2 * rn + a_dot_r / a) * r0
    q_x_r0 = jnp.cross(jnp.broadcast_to(q, r0.shape), r0)
    b = 1e-7 * (f * q_x_r0 - jnp.sum(q_x_r0 * r, -1, keepdims=True) * grad_f) / f**2
    b_normal = jnp.sum(b * jnp.asarray(nrm)[:, None, :], -1)
    # T per A·m -> fT per nA·m
    return jnp.asarray(b_normal * 1e6, dtype=jnp.result_type(float))
