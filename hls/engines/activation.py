"""How a requantizing engine turns a channel's integer value into its output code: the
node's activation table (the description's `thresholds` file) and everything done with it.

Two exact forms (hls/include/vg_threshold.h has their C++ policies):

  thresholds   out = bias + #{t : v >= thr[c, t]}; the table is C x NT sorted thresholds of
               value_bits + 1 bits. NT comparators per lane.
  requant      out = bias + clip(floor((v * M_c + B_c) / 2^S), 0, NT); the table is C x 2
               (M, B). One multiply-add per lane. With two pieces (a PReLU channel, split at
               its kink K): out = bias + clip(floor((v*M1 + B1) / 2^S), 0, J) for v < K,
               bias + J + clip(floor((v*M2 + B2) / 2^S), 0, NT - J) from K on; the table is
               C x 6 (M1, B1, M2, B2, J, K). Still one multiply-add per lane: a compare with
               K selects the piece's (M, B).

The flow (flow/requantize.py) writes the requant form only where hls/requant.py proved it
equal to the thresholds for every value each channel can take (the value type's range, or
the engine's tighter `value_bounds`), so the golden model, the C-sim and the board give the
same codes either way. A node's params say which form it has:
`requant` (0: thresholds; 1 or 2: pieces), `rq_shift` (S) and `rq_bits` (signed bits of
the table's entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from hls import intops
from hls import resources as R
from hls.engines.base import CppType, EngineError, IntType, param_type

MAX_PRODUCT_BITS = 64  # v * M + B in one signed 64-bit word (native C-sim types)


@dataclass(frozen=True)
class Activation:
    nt: int  # output codes - 1
    out_bias: int  # the code of the lowest level (-2^(b-1) for a signed output)
    value_bits: int  # signed bits of the values compared (an accumulator, a sum, a product)
    pieces: int = 0  # 0: thresholds; 1 or 2: integer requantization
    shift: int = 0  # S (requant)
    table_bits: int = 0  # signed bits of the table's entries: M, B (and J, K) (requant)

    def __post_init__(self) -> None:
        if self.pieces not in (0, 1, 2):
            raise EngineError(f"requant={self.pieces}: 0 (thresholds), 1 or 2 pieces")
        if self.pieces:
            if not 0 <= self.shift <= 48:
                raise EngineError(f"rq_shift={self.shift}: a requantization shifts by 0..48 bits")
            if not 2 <= self.table_bits or self.product_bits > MAX_PRODUCT_BITS:
                raise EngineError(f"rq_bits={self.table_bits}: the requantization's table entries "
                                  f"need 2 bits or more, and v * M + B of a {self.value_bits}-bit "
                                  f"value at most {MAX_PRODUCT_BITS} bits")

    @property
    def product_bits(self) -> int:
        """Signed bits of v * M + B."""
        return self.value_bits + self.table_bits + 1

    @property
    def columns(self) -> int:
        return (self.nt, 2, 6)[self.pieces]

    @property
    def table_type(self) -> IntType:
        return IntType(self.table_bits if self.pieces else self.value_bits + 1, True)

    def spec(self, channels: int) -> tuple[tuple[tuple[int, ...], ...], IntType]:
        """(accepted shapes, datatype) of the table file."""
        return ((channels, self.columns),), self.table_type

    def table_bits_total(self, channels: int) -> int:
        return channels * self.columns * self.table_type.bits

    def element_cpp(self) -> str:
        return param_type(self.table_type.bits)

    def policy(self) -> CppType:
        """The C++ activation policy (a config struct's `act`)."""
        if not self.pieces:
            return CppType(f"vg::thresholds<{self.nt}, {self.out_bias}, {self.element_cpp()}>")
        name = "requant" if self.pieces == 1 else "requant2"
        return CppType(f"vg::{name}<{self.shift}, {self.nt}, {self.out_bias}, {self.element_cpp()}, "
                       f"{self.product_bits}>")

    # ---- the table --------------------------------------------------------------------------------
    def problem(self, table: np.ndarray) -> Optional[str]:
        """What is wrong with a table of the right shape and range (None: nothing)."""
        if not self.pieces:
            bad = np.any(np.diff(table, axis=-1) < 0, axis=-1)
            if bad.any():
                return f"thresholds of channel {int(np.flatnonzero(bad)[0])} are not sorted ascending"
            return None
        m = table[:, [0, 2]] if self.pieces == 2 else table[:, :1]
        if np.any(m < 1):
            return f"multiplier M of channel {int(np.flatnonzero(np.any(m < 1, axis=1))[0])} is below 1"
        if self.pieces == 2 and np.any((table[:, 4] < 0) | (table[:, 4] > self.nt)):
            return f"split J outside 0..{self.nt}"
        return None

    def apply(self, v: np.ndarray, table: np.ndarray) -> np.ndarray:
        """Output codes of values v (last axis: channels), int64."""
        if not self.pieces:
            return intops.multithreshold(v, table, self.out_bias)
        v = np.asarray(v, np.int64)
        if self.pieces == 1:
            return self.out_bias + _piece(v, table[:, 0], table[:, 1], self.shift, self.nt)
        j, k = table[:, 4], table[:, 5]
        return self.out_bias + np.where(v < k, _piece(v, table[:, 0], table[:, 1], self.shift, j),
                                        j + _piece(v, table[:, 2], table[:, 3], self.shift, self.nt - j))

    def thresholds_of(self, table: np.ndarray) -> np.ndarray:
        """The C x NT thresholds the table equals over the value range (for ONNX and FINN): a
        piece's k-th threshold is ceil((k 2^S - B) / M), clamped to the range. Two pieces:
        the k-th code (k <= J) is reached where the lower piece reaches it, or at K at the
        latest; a code above J where the upper piece reaches k - J, at K at the earliest."""
        if not self.pieces:
            return table
        lo, hi = -(1 << (self.value_bits - 1)), (1 << (self.value_bits - 1)) - 1
        k = np.arange(1, self.nt + 1, dtype=np.int64)[None, :]

        def piece(m: np.ndarray, b: np.ndarray) -> np.ndarray:  # C x NT: the k-th threshold
            return np.clip(-((b[:, None] - (k << self.shift)) // m[:, None]), lo, hi + 1)

        if self.pieces == 1:
            return piece(table[:, 0], table[:, 1])
        j, kink = table[:, 4:5], np.clip(table[:, 5:6], lo, hi + 1)
        lower = np.minimum(piece(table[:, 0], table[:, 1]), kink)
        upper = np.maximum(piece(table[:, 2], table[:, 3]), kink)
        shifted = np.take_along_axis(upper, np.clip(k - j - 1, 0, self.nt - 1), axis=1)  # code k - J
        return np.where(k <= j, lower, shifted)

    # ---- cost -------------------------------------------------------------------------------------
    def resources(self, lanes: int, rows: int, memories: int = 1) -> R.Resources:
        """The table (`memories` memories `rows` deep, each holding lanes / memories lanes'
        rows side by side) and the compute of `lanes` parallel lanes."""
        mem = R.memory(rows, lanes // memories * self.columns * self.table_type.bits, memories)
        if not self.pieces:
            return mem + R.comparators(lanes, self.nt, self.value_bits + 1)
        return mem + R.requant_lanes(lanes, self.pieces, self.value_bits, self.table_bits,
                                     self.shift, self.nt)


def _piece(v: np.ndarray, m: np.ndarray, b: np.ndarray, shift: int, top) -> np.ndarray:
    """clip(floor((v*M + B) / 2^S), 0, top) per channel (v's last axis); exact in int64 for
    what Activation admits (product_bits <= 64)."""
    return np.clip((v * m + b) >> shift, 0, top)
