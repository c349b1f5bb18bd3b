"""Norwegian organisation numbers (Enhetsregisteret): nine digits, the last a mod-11 check.

Weights 3, 2, 7, 6, 5, 4, 3, 2 as published by Brønnøysundregistrene.
"""

from __future__ import annotations

_WEIGHTS = (3, 2, 7, 6, 5, 4, 3, 2)


def check_digit(first_eight: str) -> int | None:
    """The check digit for eight digits, or None when no valid number exists (remainder 1)."""
    total = sum(int(d) * w for d, w in zip(first_eight, _WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def is_valid_orgnr(value: str) -> bool:
    if len(value) != 9 or not value.isdigit():
        return False
    return check_digit(value[:8]) == int(value[8])


def make_orgnr(seed: int) -> str:
    """A valid fictional number derived from a seed (for generated scenarios).

    Brønnøysundregistrene issues numbers starting with 8 or 9; these start with 3, so a
    generated body can never share a real body's number.
    """
    base = 300_000_000 + (seed * 7919) % 100_000_000
    while True:
        eight = f"{base // 10:08d}"
        digit = check_digit(eight)
        if digit is not None:
            return eight + str(digit)
        base += 10
