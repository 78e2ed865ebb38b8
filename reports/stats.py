"""Small statistics used by the reports: the Wilson score interval and rounding.

Only aggregated counts reach this module; nothing here touches the database.
"""

from __future__ import annotations

import math

# Two-sided 95%: the 0.975 quantile of the standard normal distribution.
Z_95 = 1.959963984540054


def wilson_interval(p: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion `p` observed on `n` trials.

    Wilson rather than the textbook normal interval because unit samples are often small and
    rates sit near 100%, where the normal interval leaves [0, 1] and is too narrow.
    Returns (0.0, 1.0) for n <= 0: nothing is known.
    """
    if n <= 0:
        return 0.0, 1.0
    p = min(max(p, 0.0), 1.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    # Clamp away floating-point noise (e.g. -1e-17 when p == 0).
    return max(0.0, centre - half), min(1.0, centre + half)


def round4(value: float | None) -> float | None:
    """A fraction rounded to 4 places (the precision every output format uses)."""
    return None if value is None else round(value, 4)
