"""Argument checks shared by the algorithms and their rollout buffers."""

from __future__ import annotations

import math
import numbers


def check_coef(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise unless it is a finite real number >= 0.

    NumPy scalars (``np.float32(0.1)``, ``np.int64(0)``) are accepted, as they come out of configs and
    arrays; booleans are not, since ``True`` as a coefficient is almost always a mistake.

    :param name: the argument's name, for the error message
    :param value: the coefficient
    :raises TypeError: if ``value`` is not a real number
    :raises ValueError: if ``value`` is NaN, infinite or negative
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return value
