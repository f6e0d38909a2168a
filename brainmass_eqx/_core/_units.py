"""Units at the boundary.

Everything inside the solver is a plain array in the *canonical unit system*:

| quantity        | canonical unit |
|-----------------|----------------|
| time            | `ms`           |
| voltage         | `mV`           |
| rate            | `Hz`           |
| length          | `mm`           |
| speed           | `mm/ms` (= m/s)|
| angular freq.   | `rad/ms`       |

Public constructors and [`brainmass_eqx.simulate`][] accept either a plain number (read in the
canonical unit) or a `unxt.Quantity` of any unit with the right dimension. Quantities are
converted exactly once, at construction; a dimension mismatch raises a `ValueError` that names the
argument and the expected unit. `unxt` is imported lazily: if the user never created a
`Quantity`, the package never imports it.
"""

import dataclasses
import math
import sys
from collections.abc import Callable
from typing import Any, Final, final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


CANONICAL_UNITS: Final[dict[str, str]] = {
    "time": "ms",
    "voltage": "mV",
    "rate": "Hz",
    "length": "mm",
    "speed": "mm/ms",
    "angular frequency": "rad/ms",
    "dimensionless": "",
}


def _is_quantity(x: Any) -> bool:
    # A Quantity can only exist if unxt was imported by someone: never import it ourselves.
    unxt = sys.modules.get("unxt")
    return unxt is not None and isinstance(x, unxt.AbstractQuantity)


def _describe_unit(unit: str) -> str:
    return f"'{unit}'" if unit else "dimensionless"


def _strip_angular(x: Any, unit: str) -> Any:
    r"""`x` (a rate without an angle, e.g. `1/ms`, `1/s`) in the angular `unit` (`rad/ms`): one
    radian per unit time, as astropy's `dimensionless_angles`. A frequency in Hz is refused:
    it counts cycles, and $\omega = 2\pi f$ is the user's to write."""
    import astropy.units as apu
    import unxt as u

    given = apu.Unit(str(u.unit_of(x)))
    if "Hz" in given.to_string() or given.physical_type != "frequency":
        raise apu.UnitConversionError(f"{given} is not a rate in radians per time")
    factor = given.to(apu.Unit(unit), equivalencies=apu.dimensionless_angles())
    return u.ustrip(u.unit_of(x), x) * factor


def strip_units(x: Any, unit: str | tuple[str, ...], *, name: str) -> Any:
    """Return `x` as a plain array in `unit`.

    `x` may be a `unxt.Quantity` (converted; its dimension must match `unit`) or anything else,
    which is returned unchanged (it is taken to be in `unit` already). `unit` may be a tuple of
    alternatives (a coupling gain is a rate onto rate inputs and dimensionless onto
    dimensionless ones): the Quantity is converted to the first it matches. An angular unit
    (`rad/ms`) also takes a plain rate (`1/ms`, `1/s`: radians per unit time), not Hz.

    **Raises:** `ValueError` naming `name` and the expected unit on a dimension mismatch (or for
    Hz given for an angular frequency).
    """
    if not _is_quantity(x):
        return x
    import unxt as u

    value = u.ustrip(u.unit_of(x), x)
    if not jnp.issubdtype(jnp.result_type(value), jnp.floating):
        # `Quantity(10, "ms")` is an integer array: converting it to seconds would truncate.
        x = u.Quantity(jnp.asarray(value, dtype=float), u.unit_of(x))
    units = (unit,) if isinstance(unit, str) else tuple(unit)
    error = None
    for one in units:
        try:
            return u.ustrip(one, x)
        except Exception as e:  # astropy's UnitConversionError, or unxt's dimension errors
            error = error or e
            if "rad" in one:
                try:
                    return _strip_angular(x, one)
                except Exception:
                    pass
    expected = " or ".join(_describe_unit(one) for one in units)
    hint = (" An angular frequency takes rad/ms, rad/s or a plain rate (1/ms: one radian per "
            "ms); for a frequency f in Hz pass 2 pi f in rad/s." if any("rad" in one
                                                                      for one in units) else "")
    raise ValueError(
        f"`{name}` has unit '{u.unit_of(x)}', which cannot be converted to {expected}. Pass a "
        f"Quantity with a unit of the same dimension as {expected}, or a plain number already "
        f"in {_describe_unit(units[0])}.{hint}"
    ) from error


def _is_concrete(x: Any) -> bool:
    return not isinstance(x, jax.core.Tracer)


def check_finite(x: Any, *, name: str) -> None:
    """Raise a `ValueError` naming `name` if the concrete array `x` holds NaN or inf."""
    if _is_concrete(x) and not bool(np.all(np.isfinite(np.asarray(x)))):
        raise ValueError(f"`{name}` contains NaN or inf values: {x!r}. Pass finite values.")


def to_float_array(x: Any, *, name: str) -> jax.Array:
    """Convert `x` to a strongly typed floating JAX array.

    Floating arrays keep their dtype (so float64 survives when enabled); Python numbers, ints and
    bools become the default float dtype. Strong typing matters: a weak-typed scalar becomes
    strong after the first optimiser update and triggers a re-compilation.
    """
    if isinstance(x, (str, bytes)) or x is None:
        raise ValueError(f"`{name}` must be a number or an array of numbers, got {x!r}.")
    if isinstance(x, bool | np.bool_) or (isinstance(x, np.ndarray | jax.Array)
                                          and x.dtype == bool):
        raise TypeError(f"`{name}` must be a number, got the bool {x!r}.")
    if isinstance(x, jax.Array | np.ndarray) and jnp.issubdtype(x.dtype, jnp.floating):
        dtype = jax.dtypes.canonicalize_dtype(x.dtype)
    else:
        dtype = jnp.result_type(float)
    try:
        with np.errstate(over="ignore"):  # an overflow is reported below, by name
            out = jnp.asarray(x, dtype=dtype)  # an explicit dtype makes the array strongly typed
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"`{name}` must be a number or an array of numbers, got {x!r}.") from None
    if _is_concrete(out) and not isinstance(x, jax.Array):
        given = np.asarray(x, dtype=np.float64) if not isinstance(x, np.ndarray) \
            or x.dtype.kind in "biuf" else None
        if given is not None and np.all(np.isfinite(given)) \
                and not bool(np.all(np.isfinite(np.asarray(out)))):
            raise ValueError(
                f"`{name}` = {x!r} overflows {jnp.dtype(dtype).name} (largest "
                f"{float(jnp.finfo(dtype).max):.3g}): rescale it, or enable float64 with "
                "`jax.config.update('jax_enable_x64', True)`."
            )
    return out


@final
class ParamConverter:
    """The converter attached to every [`brainmass_eqx.param`][] field.

    It strips units, converts to a strongly typed float array and checks concrete values for
    NaN and for the field's bounds. The field name is filled in when the model class is created.
    """

    def __init__(self, unit: str | tuple[str, ...], bounds: tuple[float | None, float | None],
                 inclusive: tuple[bool, bool]):
        self.unit = unit
        self.bounds = bounds
        self.inclusive = inclusive
        self.name = "parameter"
        self.owner = ""

    def _valid(self, x: jax.Array) -> jax.Array:
        lo, hi = self.bounds
        ok = jnp.all(jnp.isfinite(x))
        if lo is not None:
            ok = ok & jnp.all(x >= lo if self.inclusive[0] else x > lo)
        if hi is not None:
            ok = ok & jnp.all(x <= hi if self.inclusive[1] else x < hi)
        return ok

    @property
    def qualname(self) -> str:
        return f"{self.owner}.{self.name}" if self.owner else self.name

    def __call__(self, x: Any) -> jax.Array:
        x = to_float_array(strip_units(x, self.unit, name=self.qualname), name=self.qualname)
        if not _is_concrete(x):
            # built under jit/vmap/grad: the same checks, when the values are known
            return eqx.error_if(x, ~self._valid(x), f"`{self.qualname}` is NaN, inf or "
                                f"outside {format_bounds(self.bounds, self.inclusive)}.")
        if _is_concrete(x):
            check_finite(x, name=self.qualname)
            lo, hi = self.bounds
            arr = np.asarray(x)
            lo_ok = lo is None or bool(np.all(arr >= lo if self.inclusive[0] else arr > lo))
            hi_ok = hi is None or bool(np.all(arr <= hi if self.inclusive[1] else arr < hi))
            if not (lo_ok and hi_ok):
                raise ValueError(
                    f"`{self.qualname}` = {x} is outside its valid range "
                    f"{format_bounds(self.bounds, self.inclusive)}"
                    f"{' ' + unit_label(self.unit) if self.unit else ''}."
                )
        return x


def unit_label(unit: str | tuple[str, ...]) -> str:
    """A parameter's unit for the docs and messages: `ms`, `1/ms or dimensionless`, or `""`."""
    if isinstance(unit, str):
        return unit
    return " or ".join(one or "dimensionless" for one in unit)


def format_bounds(bounds: tuple[float | None, float | None], inclusive: tuple[bool, bool]) -> str:
    lo, hi = bounds
    left = "(-inf" if lo is None else ("[" if inclusive[0] else "(") + f"{lo:g}"
    right = "inf)" if hi is None else f"{hi:g}" + ("]" if inclusive[1] else ")")
    return f"{left}, {right}"


def param(
    default: float | Callable[[], Any],
    *,
    unit: str | tuple[str, ...] = "",
    doc: str,
    bounds: tuple[float | None, float | None] = (None, None),
    inclusive: tuple[bool, bool] = (True, True),
) -> Any:
    """Declare a model parameter field.

    The field accepts a `unxt.Quantity` of any unit with the same dimension as `unit`, or a plain
    number/array already in `unit`, and stores a plain float array in `unit`. Arrays broadcast
    against the node axes (one value per region is first-class).

    **Arguments:**

    - `default`: the default value, in `unit`.
    - `unit`: the canonical unit string (`""` for dimensionless), or a tuple of alternatives
      (plain numbers are read in the first).
    - `doc`: one line describing the parameter; it feeds the docs and the catalogue.
    - `bounds`: `(lo, hi)` valid range (`None` for unbounded); concrete values are checked.
    - `inclusive`: whether each bound is inclusive.

    **Returns:** an `equinox.field` carrying `metadata={"unit", "bounds", "doc"}`.
    """
    converter = ParamConverter(unit, bounds, inclusive)
    return eqx.field(
        default=default,
        converter=converter,
        metadata=dict(unit=unit, bounds=bounds, inclusive=inclusive, doc=doc, param=True),
    )


def name_param_converters(cls: type) -> None:
    """Tell each `param` converter of `cls` its field name (for error messages)."""
    for name, value in list(vars(cls).items()):
        if isinstance(value, dataclasses.Field):
            conv = value.metadata.get("converter")
            if isinstance(conv, ParamConverter):
                conv.name = name
                conv.owner = cls.__name__


def to_ms(x: Any, *, name: str, allow_zero: bool = False) -> float:
    """Convert a time (Quantity or number in ms) to a positive Python float in ms.

    Used for static simulation settings (duration, dt, transient), which fix array shapes and
    therefore must be concrete.
    """
    value = strip_units(x, "ms", name=name)
    if isinstance(value, jax.core.Tracer):
        raise ValueError(
            f"`{name}` must be a concrete number (it fixes the number of steps, hence array "
            "shapes); it cannot be traced by jit/vmap/grad. Pass it as a static Python number."
        )
    arr = np.asarray(value)
    if arr.shape != ():
        raise ValueError(f"`{name}` must be a scalar time, got shape {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"`{name}` must be a real number (ms) or a time Quantity, got {x!r}.")
    out = float(arr)
    if not math.isfinite(out) or out < 0 or (out == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"`{name}` must be a finite, {need} time, got {out} ms.")
    return out


def check_key(key: Any, *, name: str = "key") -> None:
    """A `TypeError` naming `name` unless `key` is a JAX PRNG key (`jax.random.key(0)`, or a
    legacy `jax.random.PRNGKey(0)`)."""
    dtype = getattr(key, "dtype", None)
    if dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key):
        return
    if dtype is not None and dtype == jnp.uint32 and jnp.shape(key)[-1:] == (2,):
        return
    raise TypeError(f"`{name}` must be a JAX PRNG key, e.g. `jax.random.key(0)`; got {key!r}.")
