"""The one whole-steps check: a time span as a whole number of steps of another."""


def whole_steps(span: float, step: float, *, name: str, step_name: str = "dt",
                unit: str = "steps", minimum: int = 0) -> int:
    r"""The whole number $k = \text{span} / \text{step}$, to a relative $10^{-6}$.

    **Arguments:** `span` and `step` in the same unit (ms); `name` is the argument reported in
    the error (e.g. `"duration"` or `"HRFBold.period"`), `step_name` the step's, `unit` the
    word for one step ("steps", "samples") and `minimum` the least allowed $k$.

    **Raises:** `ValueError` naming `name` when `span / step` is not whole or is below
    `minimum`.
    """
    n = span / step
    k = round(n)
    if abs(n - k) > 1e-6 * max(1.0, abs(n)):
        raise ValueError(
            f"`{name}` ({span} ms) is not a whole number of {unit} of {step_name}={step} ms "
            f"({n:.6g} {unit}); choose `{name}` as a multiple of `{step_name}`."
        )
    if k < minimum:
        raise ValueError(
            f"`{name}` ({span} ms) must be at least {minimum} {unit} of {step_name}={step} ms, "
            f"got {k}."
        )
    return k
