"""argparse types that check a number where it is parsed, so that every CLI refuses a bad value
at once with `error: argument --x: ...` (exit 2) instead of failing later with a traceback or
quietly replacing it by a default. Torch-free and numpy-free: the host's CLIs use them too."""

from __future__ import annotations

import argparse
import math
from typing import Callable


def _number(kind: type, text: str) -> float:
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def _checked(kind: type, ok: Callable[[float], bool], what: str) -> Callable[[str], float]:
    def parse(text: str):
        v = _number(kind, text)
        if not ok(v):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return v

    parse.__name__ = what  # argparse names the type in its messages
    return parse


positive_int = _checked(int, lambda v: v >= 1, "an integer >= 1")
nonneg_int = _checked(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _checked(float, lambda v: v > 0, "a finite number > 0")
nonneg_float = _checked(float, lambda v: v >= 0, "a finite number >= 0")
fraction = _checked(float, lambda v: 0 < v <= 1, "a fraction in (0, 1]")
unit_interval = _checked(float, lambda v: 0 <= v <= 1, "a number in [0, 1]")
below_one = _checked(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
