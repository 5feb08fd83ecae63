"""Argument checks shared by the adapters."""

from __future__ import annotations


def check_sizes(**sizes: int) -> None:
    """Raise TypeError/ValueError, naming the argument, unless every value is an int > 0."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, not {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{name} must be > 0, not {value}")
