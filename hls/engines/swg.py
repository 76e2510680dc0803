"""The sliding window generator (vg::sliding_window, hls/include/vg_swg.h)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from hls import resources as R
from hls.engines.base import (CppType, Engine, EngineError, IntType, JobRun, Ports, Process, divides,
                              legal_foldings, merge_runs, register, single, split_phase)


@register
@dataclass(frozen=True)
class SWG(Engine):
    """vg::sliding_window: a banked line buffer of min(K + stride, H) rows, zero padding,
    window order [g][ky][kx][c]; per output row max(emitted, read) cycles plus a fill."""

    kind = "swg"
    latency = 2
    buffers_lead = True

    ifm_h: int
    ifm_w: int
    ch: int
    k: int
    stride: int
    pad: int
    gs: int  # group size: 8 for a variable group conv, ch for a dense conv
    in_n: int  # input elements per word
    simd: int  # output elements per word
    dtype: IntType

    def __post_init__(self) -> None:
        if self.k < 1 or self.stride < 1 or self.pad < 0 or self.pad >= self.k:
            raise EngineError(f"SWG: k={self.k}, stride={self.stride}, pad={self.pad} invalid "
                              f"(k, stride >= 1, 0 <= pad < k)")
        divides("SWG group size gs", self.gs, "channels", self.ch)
        divides("SWG input word width in_n", self.in_n, "group size gs (a word lies in one group)",
                self.gs)
        divides("SWG SIMD", self.simd, "k*k*gs", self.k * self.k * self.gs)
        legal = self.legal_simd(self.k, self.gs)
        if self.simd not in legal:
            raise EngineError(f"SWG SIMD={self.simd} cannot be served by the line-buffer banks: a "
                              f"word must lie in one kernel row (SIMD divides k*gs={self.k * self.gs}) "
                              f"or cover whole kernel rows; legal SIMD: {legal}")
        if self.ifm_h + 2 * self.pad < self.k or self.ifm_w + 2 * self.pad < self.k:
            raise EngineError(f"SWG: kernel {self.k} larger than padded input "
                              f"{self.ifm_h + 2 * self.pad}x{self.ifm_w + 2 * self.pad}")

    @staticmethod
    def legal_simd(k: int, gs: int) -> list[int]:
        """SIMD values the banked line buffer serves: divisors of k*k*gs that divide k*gs
        (a word within one kernel row) or are multiples of it (whole kernel rows)."""
        kgs = k * gs
        return [d for d in legal_foldings(k * kgs) if kgs % d == 0 or d % kgs == 0]

    @property
    def ofm_h(self) -> int:
        return (self.ifm_h + 2 * self.pad - self.k) // self.stride + 1

    @property
    def ofm_w(self) -> int:
        return (self.ifm_w + 2 * self.pad - self.k) // self.stride + 1

    @property
    def window_words(self) -> int:
        return self.k * self.k * self.ch // self.simd

    @property
    def in_words(self) -> int:
        return self.ifm_h * self.ifm_w * self.ch // self.in_n

    @property
    def out_words(self) -> int:
        return self.ofm_h * self.ofm_w * self.window_words

    # the line buffer's organisation (vg_swg.h)
    @property
    def run(self) -> int:
        """Elements of an output word within one kernel row."""
        return min(self.simd, self.k * self.gs)

    @property
    def banks(self) -> int:
        """Banks per row slot (P): every bank is read and written at most once per cycle."""
        return max(self.run, self.in_n)

    @property
    def slots(self) -> int:
        """Row slots (NR): K rows read while up to `stride` new rows are written."""
        return min(self.k + self.stride, self.ifm_h)

    @property
    def rotation(self) -> int:
        """A word's run starts at a bank that is a multiple of this (ROT in vg_swg.h): each
        output lane chooses among banks // rotation banks."""
        wp = self.ifm_w + 2 * self.pad
        return math.gcd(wp * self.gs, self.stride * self.gs, self.run, self.banks)

    @property
    def bank_depth(self) -> int:
        return (self.ch // self.gs) * (self.ifm_w + 2 * self.pad) * self.gs // self.banks + 2

    def fill_rows(self) -> int:
        return min(self.k - self.pad, self.ifm_h)

    def rows_by(self, oy: int) -> int:
        """Input rows read by the end of output row oy's phase."""
        if oy >= self.ofm_h - 1:
            return self.ifm_h
        return min((oy + 1) * self.stride - self.pad + self.k, self.ifm_h)

    def phases(self) -> list[tuple[int, int]]:
        """(words read, words emitted) of the fill and of each output row's phase."""
        row_words = self.ifm_w * self.ch // self.in_n
        emit = self.ofm_w * self.window_words
        rows = self.fill_rows()
        out = [(rows * row_words, 0)]
        for oy in range(self.ofm_h):
            nxt = self.rows_by(oy)
            out.append(((nxt - rows) * row_words, emit))
            rows = nxt
        return out

    def cycles(self) -> int:
        """The fill's reads, then max(read, emitted) words per output row (vg::swg_cycles)."""
        return sum(max(r, e) for r, e in self.phases())

    def processes(self) -> list[Process]:
        """Jobs: the fill per input pixel, each output row's phase in one job per window."""
        rd = self.ch // self.in_n
        fill_r, _ = self.phases()[0]
        runs = [JobRun(fill_r // rd, rd, (rd,), (0,))]
        for r, e in self.phases()[1:]:
            runs += split_phase(max(r, e), r, e, self.ofm_w)
        return single(*merge_runs(runs))

    def ports(self) -> Ports:
        t = str(self.dtype)
        return [(self.in_n, t, self.in_words)], [(self.simd, t, self.out_words)]

    def line_buffer_bits(self) -> int:
        """The banked row slots as allocated (slots x banks x depth elements)."""
        return self.slots * self.banks * self.bank_depth * self.dtype.bits

    def buffer_bits(self) -> dict[str, int]:
        return {"line_buffer": self.line_buffer_bits()}

    def in_width(self) -> int:
        return self.in_n * self.dtype.bits

    def out_width(self) -> int:
        return self.simd * self.dtype.bits

    def resources(self, memory: str = "auto", mac: str = "auto") -> R.Resources:
        # slots x banks line-buffer memories (vg_swg.h), each written and read once per cycle;
        # each kernel row of a word selects its slot's banks (slots:1 per bank), each output
        # lane its bank out of banks / rotation candidates, each bank its input element out of in_n
        bits = self.dtype.bits
        rows_per_word = self.simd // self.run
        r = R.memory(self.bank_depth, bits, self.slots * self.banks)
        r = r + R.Resources(lut=rows_per_word * self.banks * bits * R.mux_luts(self.slots))
        r = r + R.Resources(lut=self.simd * bits * R.mux_luts(self.banks // self.rotation))
        r = r + R.Resources(lut=self.banks * bits * R.mux_luts(self.in_n))
        return R.finish(r)

    def input_limits_speed(self) -> bool:
        """Wider input words help only while a word holds less than a group."""
        return self.in_n < self.gs

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [ins[0]]  # values unchanged: the engine that reads the windows convolves

    def hls_config(self) -> dict:
        ti, _ = self.types()
        return {"IFM_H": self.ifm_h, "IFM_W": self.ifm_w, "CH": self.ch, "K": self.k,
                "STRIDE": self.stride, "PAD": self.pad, "GS": self.gs, "IN_N": self.in_n,
                "SIMD": self.simd, "elem_t": CppType(ti)}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        return f"vg::sliding_window<{cfg}>({ins[0]}, {outs[0]});"

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        return [ins[0]]  # folded into the Conv of the engine that reads it
