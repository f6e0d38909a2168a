"""Monitors: what a simulation records, at what rate, through which forward model."""

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, final

import diffrax as dfx
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

from .._core._steps import whole_steps
from .._core._types import State
from .._core._units import name_param_converters, to_ms
from .._models import AbstractSystem


Signal = str | Callable[[State], Array] | None


def resolve_period(period: Any, *, name: str) -> float | None:
    """A sampling period as a Python float in ms (or `None`)."""
    return None if period is None else to_ms(period, name=name)


def period_stride(period: float | None, dt: float, *, owner: str, name: str = "period") -> int:
    """The whole number of steps of `dt` in `period` (1 for `None`)."""
    if period is None:
        return 1
    return whole_steps(period, dt, name=f"{owner}.{name}", minimum=1)


def evaluate_signal(on: Signal, model: AbstractSystem, y: State) -> Array:
    """Evaluate a monitor's `on`: a state/observable name, a callable of the state, or `None`
    for the model's default coupled variable."""
    if on is None:
        return model.observe(model.default_cvar, y)
    if isinstance(on, str):
        return model.observe(on, y)
    return jnp.asarray(on(y))


class AbstractMonitor(eqx.Module):
    r"""Base class of monitors: a signal read from the state, optionally run through a forward
    model, recorded at a sampling period.

    A monitor sees the *signal* $z(t)$ named by `on` (a state variable or observable name, a
    callable `f(y) -> array` of the state dict, or `None` for the model's default coupled
    variable). It has three parts, each with a default:

    - an optional internal state $m$ that is integrated **alongside the model, by the same
      solver**: `init(z) -> m`, `rate(m, z) -> dm/dt` (per ms) and `at_start(m, z)` (applied when
      the recording starts, after any transient);
    - `record(m, z)`: the value recorded at the end of every step;
    - `reduce(records, dt)`: post-processing of the recorded time series (time first), e.g.
      subsampling to `period`.

    Every monitor also works *post hoc* on a stored trace: `monitor(signal, dt)`, with
    `signal[k]` the activity at the end of step `k` (time $(k + 1)\,dt$), gives what the same
    monitor would have recorded inside the simulation (stateful monitors start at their rest
    state and integrate the linearly interpolated trace with Heun's method).

    Concrete monitors are final; subclass this to write your own.
    """

    on: eqx.AbstractVar[Signal]
    period: eqx.AbstractVar[float | None]

    #: False for monitors that only produce a final value (no time axis), e.g. streaming FC.
    per_step: ClassVar[bool] = True
    #: The monitor carries an internal state through the solve (it implements `init` and
    #: `rate`).
    stateful: ClassVar[bool] = False
    #: Its `at_start` changes the internal state when the recording starts.
    resets: ClassVar[bool] = False
    #: `reduce` is the default subsampling at `period`, so that a run may store only the kept
    #: samples rather than every step's record. A monitor that overrides `reduce` sets this
    #: to `False`.
    subsamples: ClassVar[bool] = True
    #: `reduce` starts with the mean over consecutive windows of `mean_period`
    #: (`reduce(records) == reduce_means(block_average(records, w))`, as in
    #: [`brainmass_eqx.TemporalAverage`][] and [`brainmass_eqx.HRFBold`][]), so that a run may
    #: accumulate the window means rather than store every step's record.
    averages: ClassVar[bool] = False
    #: The name `simulate` records the monitor under when it is given in a list: `"{on}"` is
    #: replaced by the signal's name (and dropped with its underscore when the signal is not a
    #: name). Default: the class name in lower case, then `"_{on}"`.
    default_name: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        name_param_converters(cls)
        # the capabilities are declared; a declaration that contradicts the methods would give
        # wrong records silently, so it is an error when the class is made
        for method, flag, need in (("init", "stateful", True), ("rate", "stateful", True),
                                   ("at_start", "resets", True), ("reduce", "subsamples", False)):
            if method in cls.__dict__ and getattr(cls, flag) is not need:
                raise TypeError(f"{cls.__name__} overrides `{method}`: declare "
                                f"`{flag}: ClassVar[bool] = {need}`.")

    def name(self) -> str:
        """The name `simulate` records the monitor under by default (see `default_name`)."""
        template = self.default_name or type(self).__name__.lower() + "_{on}"
        return template.replace("_{on}", f"_{self.on}" if isinstance(self.on, str) else "")

    # ------------------------------------------------------------- stateful monitors (optional)

    @property
    def mean_period(self) -> float | None:
        """For monitors that `average`: the window of the means, in ms (default `period`)."""
        return self.period

    def reduce_means(self, means: Array, dt: float) -> Array:
        """For monitors that `average`: the rest of `reduce`, from the window means (time
        first). Default: the means themselves."""
        del dt
        return means

    def init(self, signal: Array) -> PyTree:
        """The internal state at $t = 0$ given the initial signal (`None`: stateless)."""
        del signal
        return None

    def rate(self, state: PyTree, signal: Array) -> PyTree:
        """The time derivative (per ms) of the internal state."""
        del signal
        return state

    def at_start(self, state: PyTree, signal: Array) -> PyTree:
        """The internal state when the recording starts (after the transient)."""
        del signal
        return state

    # ---------------------------------------------------------------------------- recording

    def record(self, state: PyTree, signal: Array) -> Array:
        """What is recorded at the end of each step (default: the signal)."""
        del state
        return signal

    def reduce(self, records: Array, dt: float) -> Array:
        """Post-process the per-step records (time first, step `dt` in ms). Default: keep the
        sample at the end of every `period`."""
        stride = period_stride(self.period, dt, owner=type(self).__name__)
        return records[stride - 1::stride]

    def final(self, state: PyTree) -> Array:
        """For monitors with `per_step = False`: the value at the end of the run."""
        raise NotImplementedError

    def validate(self, dt: float, n_record: int) -> None:
        """Check the monitor against the step `dt` and the number of recorded steps; raise a
        `ValueError` naming the problem."""
        stride = period_stride(self.period, dt, owner=type(self).__name__)
        if self.per_step and n_record < stride:
            raise ValueError(
                f"`{type(self).__name__}.period` ({self.period} ms) is longer than the recorded "
                f"time ({n_record * dt} ms): no sample would be recorded."
            )

    # ------------------------------------------------------------------------------ post hoc

    def __call__(self, signal: Float[Array, " time *nodes"], dt: Any) -> Array:
        """Apply the monitor to a stored trace `signal` (time first), sampled every `dt` (a time
        Quantity or ms); `signal[k]` is the activity at time $(k + 1)\\,dt$."""
        dt_ms = to_ms(dt, name="dt")
        signal = jnp.asarray(signal)
        if signal.ndim == 0 or signal.shape[0] < 1:
            raise ValueError(f"`signal` must have a leading time axis, got shape {signal.shape}.")
        if not jnp.issubdtype(signal.dtype, jnp.floating):
            raise ValueError(f"`signal` must be a float array, got dtype {signal.dtype}.")
        self.validate(dt_ms, signal.shape[0])
        if not self.stateful:
            return self.reduce(jax.vmap(lambda z: self.record(None, z))(signal), dt_ms)
        return _post_hoc(self, signal, dt_ms)


@eqx.filter_jit
def _post_hoc(monitor: AbstractMonitor, signal: Array, dt: float) -> Array:
    n = signal.shape[0]
    dtype = signal.dtype
    # signal[k] sits at t = (k + 1) dt; before the first sample it is held at signal[0]
    padded = jnp.concatenate([signal[:1], signal])

    def z_at(t):
        s = jnp.clip(t / dt, 0.0, n)
        i = jnp.clip(jnp.floor(s).astype(jnp.int32), 0, n - 1)
        c = (s - i.astype(s.dtype)).astype(dtype)
        return padded[i] + c * (padded[i + 1] - padded[i])

    def field(t, m, args):
        del args
        return monitor.rate(m, z_at(t))

    m0 = monitor.at_start(monitor.init(signal[0]), signal[0])

    def save(t, m, args):
        del args
        z = z_at(t)
        return monitor.record(m, z) if monitor.per_step else m

    sol = dfx.diffeqsolve(
        dfx.ODETerm(field), dfx.Heun(), jnp.asarray(0.0, dtype), jnp.asarray(n * dt, dtype),
        jnp.asarray(dt, dtype), m0, saveat=dfx.SaveAt(steps=True, fn=save),
        stepsize_controller=dfx.ConstantStepSize(), max_steps=n,
    )
    if not monitor.per_step:
        return monitor.final(jax.tree.map(lambda x: x[-1], sol.ys))
    return monitor.reduce(sol.ys, dt)


@final
class Raw(AbstractMonitor):
    """Record the signal at every step (what a plain state name in `monitors` does).

    **Fields:** `on`, the signal (state/observable name, callable of the state, or `None` for
    the model's default coupled variable); `period` is always `None`.
    """

    on: Signal = None
    period: None = eqx.field(default=None, static=True)


@final
class Subsample(AbstractMonitor):
    """Keep one sample every `period` (the value at the end of each period; TVB's
    `SubSample`).

    **Fields:** `on` (see [`brainmass_eqx.AbstractMonitor`][]) and `period`, a time Quantity
    or ms, a whole multiple of the simulation's `dt`.
    """

    on: Signal = None
    period: float = eqx.field(default=1.0, static=True, converter=lambda p: resolve_period(
        p, name="Subsample.period"))

    default_name: ClassVar[str] = "sub_{on}"


@final
class TemporalAverage(AbstractMonitor):
    r"""Average the signal over consecutive, non-overlapping windows of `period` (TVB's
    `TemporalAverage`): sample $j$ is $\frac{1}{w}\sum_{k=jw}^{(j+1)w-1} z_k$ with
    $w = \text{period}/dt$. A trailing partial window is dropped.

    **Fields:** `on` and `period` (Quantity or ms, a whole multiple of `dt`; default 4 ms).
    """

    on: Signal = None
    period: float = eqx.field(default=4.0, static=True, converter=lambda p: resolve_period(
        p, name="TemporalAverage.period"))

    subsamples: ClassVar[bool] = False
    averages: ClassVar[bool] = True
    default_name: ClassVar[str] = "tavg_{on}"

    def reduce(self, records: Array, dt: float) -> Array:
        return block_average(records, period_stride(self.period, dt, owner="TemporalAverage"))


def block_average(x: Array, w: int) -> Array:
    """Mean over consecutive blocks of `w` samples along axis 0 (a partial block is dropped)."""
    n = (x.shape[0] // w) * w
    return jnp.mean(x[:n].reshape(n // w, w, *x.shape[1:]), axis=1)


# -------------------------------------------------------------------- the set used by simulate


@final
class MonitorSet(eqx.Module):
    """The monitors of one run, normalised: a dict name -> `AbstractMonitor`; the solver's side
    of them (their states, rates, records and reductions), typed against the
    `AbstractSystem` they observe."""

    monitors: dict[str, AbstractMonitor]

    @property
    def stateful(self) -> tuple[str, ...]:
        return tuple(k for k, m in self.monitors.items() if m.stateful)

    @property
    def resets(self) -> bool:
        return any(m.resets for m in self.monitors.values())

    def signals(self, model: AbstractSystem, y: State) -> dict[str, Array]:
        return {k: evaluate_signal(m.on, model, y) for k, m in self.monitors.items()}

    def init(self, model: AbstractSystem, y: State) -> dict[str, PyTree]:
        z = self.signals(model, y)
        return {k: self.monitors[k].init(z[k]) for k in self.stateful}

    def rate(self, model: AbstractSystem, y: State, ms: dict[str, PyTree]) -> dict[str, PyTree]:
        if not ms:
            return {}
        return {k: self.monitors[k].rate(ms[k], evaluate_signal(self.monitors[k].on, model, y))
                for k in ms}

    def at_start(self, model: AbstractSystem, y: State, ms: dict[str, PyTree]) -> dict[str, PyTree]:
        return {k: self.monitors[k].at_start(ms[k], evaluate_signal(self.monitors[k].on, model, y))
                for k in ms}

    def record(self, model: AbstractSystem, y: State, ms: dict[str, PyTree]) -> dict[str, Array]:
        out = {}
        for k, m in self.monitors.items():
            if m.per_step:
                out[k] = m.record(ms.get(k), evaluate_signal(m.on, model, y))
        return out

    def finish(self, records: dict[str, Array], ms_final: dict[str, PyTree], dt: float,
               subsampled: bool = False) -> dict[str, Array]:
        """The monitors' outputs from the per-step `records`; with `subsampled`, the run
        already kept only every `record_strides` sample of the subsampling monitors and the
        window means of the averaging ones (which `reduce_means` finishes)."""
        out = {}
        for k, m in self.monitors.items():
            if not m.per_step:
                out[k] = m.final(ms_final[k])
            elif subsampled and m.subsamples:
                out[k] = records[k]
            elif subsampled and m.averages:
                out[k] = m.reduce_means(records[k], dt)
            else:
                out[k] = m.reduce(records[k], dt)
        return out

    def record_strides(self, dt: float) -> dict[str, int]:
        """For every per-step monitor, the stride at which a run may keep its records: its
        period in steps when its reduction is plain subsampling, its `mean_period` when the
        reduction starts with window means, else 1 (every step)."""
        def stride(m):
            if m.averages:
                return period_stride(m.mean_period, dt, owner=type(m).__name__)
            return period_stride(m.period, dt, owner=type(m).__name__) if m.subsamples else 1

        return {k: stride(m) for k, m in self.monitors.items() if m.per_step}

    def averaging(self) -> frozenset[str]:
        """The per-step monitors whose records are window means (see `averages`)."""
        return frozenset(k for k, m in self.monitors.items() if m.per_step and m.averages)

    def strides(self, dt: float) -> dict[str, int | None]:
        return {k: (period_stride(m.period, dt, owner=type(m).__name__) if m.per_step else None)
                for k, m in self.monitors.items()}

    def validate(self, dt: float, n_record: int) -> None:
        for m in self.monitors.values():
            m.validate(dt, n_record)


def make_monitor_set(model: AbstractSystem, monitors: Any) -> MonitorSet:
    """Normalise the `monitors` argument of `simulate` (None, a name, a callable, an
    `AbstractMonitor`, a list of those, or a dict name -> any of those)."""
    if monitors is None:
        return MonitorSet({name: Raw(name) for name in model.state_names})
    if isinstance(monitors, str | AbstractMonitor) or callable(monitors):
        monitors = [monitors]
    if isinstance(monitors, Mapping):
        items = list(monitors.items())
    elif isinstance(monitors, list | tuple):
        items = []
        for m in monitors:
            if isinstance(m, str):
                items.append((m, m))
            elif isinstance(m, AbstractMonitor):
                items.append((m.name(), m))
            elif callable(m):
                items.append(("output", m))
            else:
                raise ValueError(f"`monitors` entries must be state names, callables or "
                                 f"monitors, got {m!r}.")
    else:
        raise ValueError(
            "`monitors` must be None, a state name, a callable of the state, a monitor, a list "
            f"of those, or a dict name -> (state name | callable | monitor); got {monitors!r}."
        )
    out: dict[str, AbstractMonitor] = {}
    for name, spec in items:
        if not isinstance(name, str):
            raise ValueError(f"`monitors` names must be strings, got {name!r}.")
        if name in out:
            raise ValueError(
                f"`monitors` records two things under the name {name!r}; use a dict to name "
                "each monitor."
            )
        if isinstance(spec, str) or (callable(spec) and not isinstance(spec, AbstractMonitor)):
            spec = Raw(spec)
        if not isinstance(spec, AbstractMonitor):
            raise ValueError(f"`monitors[{name!r}]` must be a state name, a callable or a "
                             f"monitor, got {spec!r}.")
        if isinstance(spec.on, str) and spec.on not in model.state_names \
                and spec.on not in model.observables:
            raise ValueError(
                f"`monitors[{name!r}]`: {type(model).__name__} has no state or observable "
                f"{spec.on!r}. States: {model.state_names}; observables: {model.observables}."
            )
        out[name] = spec
    return MonitorSet(out)
