"""One Python definition of every HLS engine instance: parameters, legality, and the
resource-relevant quantities (weight memory, line buffers, MAC lanes, stream widths, cycles).

The flow reads these to choose foldings and write the accelerator description, the simulator
to model cycles and buffers, and hls/csim.py to instantiate the C++ templates. The formulas
follow the loop structure of hls/include/*.h (one pipelined iteration = one cycle).
numpy-free and torch-free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

S = 8  # channels per group of a variable group convolution


class EngineError(ValueError):
    """An engine instance that cannot be built; the message names the parameter."""


def clog2(v: int) -> int:
    """ceil(log2(v)) for v >= 1, as vg::clog2 in vg_types.h."""
    return 0 if v <= 1 else (v - 1).bit_length()


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 64:
            raise EngineError(f"integer type of {self.bits} bits: must be 1..64")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def max_abs(self) -> int:
        return 1 << (self.bits - 1) if self.signed else (1 << self.bits) - 1

    def cpp(self) -> str:
        return f"vg::int_t<{self.bits}, {'true' if self.signed else 'false'}>::type"

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @staticmethod
    def parse(s: str) -> "IntType":
        if s.startswith("uint"):
            return IntType(int(s[4:]), False)
        if s.startswith("int"):
            return IntType(int(s[3:]), True)
        raise EngineError(f"datatype {s!r}: expected intN or uintN")


def acc_bits(terms: int, inp: IntType, w_bits: int) -> int:
    """Signed accumulator bits for a sum of `terms` products (vg::acc_bits)."""
    return 1 + clog2(terms * inp.max_abs * (1 << (w_bits - 1)) + 1)


def threshold_out(out: IntType) -> tuple[int, int]:
    """(number of thresholds, output bias) of a multi-threshold step producing `out`."""
    return (1 << out.bits) - 1, out.min


def _divides(what: str, n: int, of: str, m: int) -> None:
    if n < 1 or m % n != 0:
        raise EngineError(f"{what}={n} does not divide {of}={m}")


# (elements per word, datatype, words per frame) of each input and of each output port
Ports = tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]


# ---- schedules -----------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRun:
    """`count` consecutive jobs of one process, each `cycles` loop iterations long (one cycle
    each at II = 1), reading `consume[i]` words from the process's i-th input and writing
    `produce[j]` words to its j-th output. A job is the simulator's unit of work: a stretch of
    a pipelined loop (sim/programs.py)."""

    count: int
    cycles: int
    consume: tuple[int, ...]
    produce: tuple[int, ...]


@dataclass(frozen=True)
class Process:
    """One concurrently running process of an engine: the loops of one VG_CYCLE(index) in
    hls/include, run one after another. `inputs`/`outputs` are the node's port numbers it
    reads / writes; `name` is "" for an engine's only process."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    jobs: tuple[JobRun, ...]

    @property
    def cycles(self) -> int:
        return sum(r.count * r.cycles for r in self.jobs)

    def words_in(self) -> tuple[int, ...]:
        return tuple(sum(r.count * r.consume[i] for r in self.jobs) for i in range(len(self.inputs)))

    def words_out(self) -> tuple[int, ...]:
        return tuple(sum(r.count * r.produce[i] for r in self.jobs) for i in range(len(self.outputs)))


def _single(*runs: JobRun, n_in: int = 1, n_out: int = 1) -> list[Process]:
    return [Process(0, "", tuple(range(n_in)), tuple(range(n_out)), tuple(r for r in runs if r.count))]


def _merge(runs: list[JobRun]) -> tuple[JobRun, ...]:
    """Run-length merge of consecutive identical jobs."""
    out: list[JobRun] = []
    for r in runs:
        if r.count == 0:
            continue
        if out and (out[-1].cycles, out[-1].consume, out[-1].produce) == (r.cycles, r.consume, r.produce):
            out[-1] = JobRun(out[-1].count + r.count, r.cycles, r.consume, r.produce)
        else:
            out.append(r)
    return tuple(out)


def _split_phase(length: int, reads: int, emits: int, parts: int) -> list[JobRun]:
    """A phase of `length` iterations that reads in its first `reads` and writes in its first
    `emits`, cut into `parts` jobs of near-equal length."""
    parts = max(1, min(parts, length))
    runs = []
    for j in range(parts):
        b0, b1 = j * length // parts, (j + 1) * length // parts
        runs.append(JobRun(1, b1 - b0, (max(0, min(b1, reads) - b0),), (max(0, min(b1, emits) - b0),)))
    return runs


# ---- sliding window ------------------------------------------------------------------------
@dataclass(frozen=True)
class SWG:
    """vg::sliding_window: a banked line buffer of min(K + stride, H) rows, zero padding,
    window order [g][ky][kx][c]; per output row max(emitted, read) cycles plus a fill."""

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
        _divides("SWG group size gs", self.gs, "channels", self.ch)
        _divides("SWG input word width in_n", self.in_n, "group size gs (a word lies in one group)",
                 self.gs)
        _divides("SWG SIMD", self.simd, "k*k*gs", self.k * self.k * self.gs)
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
            runs += _split_phase(max(r, e), r, e, self.ofm_w)
        return _single(*_merge(runs))

    def ports(self) -> Ports:
        t = str(self.dtype)
        return [(self.in_n, t, self.in_words)], [(self.simd, t, self.out_words)]

    def line_buffer_bits(self) -> int:
        """The banked row slots as allocated (slots x banks x depth elements)."""
        return self.slots * self.banks * self.bank_depth * self.dtype.bits

    def in_width(self) -> int:
        return self.in_n * self.dtype.bits

    def out_width(self) -> int:
        return self.simd * self.dtype.bits


# ---- matrix-vector engine --------------------------------------------------------------------
@dataclass(frozen=True)
class MVAU:
    """vg::mvau: G groups of MH x MW matrix-vector products per input vector, PE x SIMD folded."""

    groups: int
    mw: int  # inputs per group (8*k*k for a variable group conv)
    mh: int  # outputs per group
    pe: int
    simd: int
    pixels: int  # input vectors per frame
    in_type: IntType
    w_bits: int
    out_type: Optional[IntType]  # None: raw accumulators out (the last FC)
    acc: int = 0  # accumulator bits; 0 = the smallest that cannot overflow

    def __post_init__(self) -> None:
        if self.groups < 1 or self.mw < 1 or self.mh < 1 or self.pixels < 1:
            raise EngineError(f"MVAU: groups, mw, mh, pixels must be positive ({self})")
        _divides("PE", self.pe, "MH (output channels per group)", self.mh)
        _divides("SIMD", self.simd, "MW (inputs per group)", self.mw)
        if not 2 <= self.w_bits <= 16:
            raise EngineError(f"MVAU: weight bits {self.w_bits} outside 2..16")
        need = self.min_acc_bits
        if self.acc == 0:
            object.__setattr__(self, "acc", need)
        elif self.acc < need:
            raise EngineError(f"MVAU: accumulator of {self.acc} bits is too narrow; a sum of "
                              f"{self.mw} products of {self.in_type} x int{self.w_bits} needs {need}")
        if self.acc > 64:
            raise EngineError(f"MVAU: accumulator of {self.acc} bits exceeds 64")

    @property
    def min_acc_bits(self) -> int:
        return acc_bits(self.mw, self.in_type, self.w_bits)

    @property
    def nf(self) -> int:
        return self.mh // self.pe

    @property
    def sf(self) -> int:
        return self.mw // self.simd

    @property
    def channels_out(self) -> int:
        return self.groups * self.mh

    @property
    def nt(self) -> int:
        return 0 if self.out_type is None else threshold_out(self.out_type)[0]

    @property
    def out_bias(self) -> int:
        return 0 if self.out_type is None else threshold_out(self.out_type)[1]

    @property
    def result_type(self) -> IntType:
        return self.out_type if self.out_type is not None else IntType(self.acc, True)

    def cycles(self) -> int:
        return self.pixels * self.groups * self.nf * self.sf

    def ports(self) -> Ports:
        return [(self.simd, str(self.in_type), self.in_words())], \
            [(self.pe, str(self.result_type), self.out_words())]

    def processes(self) -> list[Process]:
        """One job per input vector: G*NF*SF cycles, G*SF words in, G*NF words out."""
        g = self.groups
        return _single(JobRun(self.pixels, g * self.nf * self.sf, (g * self.sf,), (g * self.nf,)))

    def macs(self) -> int:
        return self.pixels * self.groups * self.mh * self.mw

    def mac_lanes(self) -> int:
        return self.pe * self.simd

    def weight_mem(self) -> tuple[int, int, int]:
        """(memories, depth, width in bits): one memory per PE lane."""
        return self.pe, self.groups * self.nf * self.sf, self.simd * self.w_bits

    def weight_bits(self) -> int:
        return self.groups * self.mh * self.mw * self.w_bits

    def threshold_bits(self) -> int:
        return self.groups * self.mh * self.nt * (self.acc + 1)

    def in_width(self) -> int:
        return self.simd * self.in_type.bits

    def out_width(self) -> int:
        return self.pe * self.result_type.bits

    def in_words(self) -> int:
        return self.pixels * self.groups * self.sf

    def out_words(self) -> int:
        return self.pixels * self.groups * self.nf


# ---- stream plumbing and elementwise engines --------------------------------------------------
@dataclass(frozen=True)
class Eltwise:
    """Word-per-cycle engines over a CH x PIXELS frame, N channels per word:
    kind = 'threshold' | 'add' | 'pool' | 'se_scale' | 'duplicate'."""

    kind: str
    ch: int
    n: int
    pixels: int
    in_type: IntType
    out_type: Optional[IntType] = None  # thresholded output (threshold, add, se_scale)
    gate_type: Optional[IntType] = None  # se_scale only

    KINDS = ("threshold", "add", "pool", "se_scale", "duplicate")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise EngineError(f"unknown elementwise engine {self.kind!r}")
        _divides(f"{self.kind} word width N", self.n, "channels", self.ch)
        if self.kind in ("threshold", "add", "se_scale") and self.out_type is None:
            raise EngineError(f"{self.kind}: needs an output type")
        if self.kind == "se_scale" and self.gate_type is None:
            raise EngineError("se_scale: needs a gate type")

    @property
    def words(self) -> int:
        return self.pixels * self.ch // self.n

    @property
    def sum_bits(self) -> int:
        """Width of the value that is thresholded (sum, pool sum or product)."""
        b = self.in_type.bits
        if self.kind == "add":
            return b + 1
        if self.kind == "pool":
            return b + clog2(self.pixels) + (0 if self.in_type.signed else 1)
        if self.kind == "se_scale":
            assert self.gate_type is not None
            return b + self.gate_type.bits + 1
        return b

    @property
    def result_type(self) -> IntType:
        if self.kind == "pool":
            return IntType(self.sum_bits, True)
        if self.kind == "duplicate":
            return self.in_type
        assert self.out_type is not None
        return self.out_type

    def cycles(self) -> int:
        if self.kind == "pool":  # accumulate, then write the sums
            return self.words + self.ch // self.n
        if self.kind == "se_scale":  # fill and emit (gates, then the frame) overlap (DATAFLOW)
            return self.words + self.ch // self.n
        return self.words

    def ports(self) -> Ports:
        t_in, t_out, w = str(self.in_type), str(self.result_type), self.words
        if self.kind == "duplicate":
            return [(self.n, t_in, w)], [(self.n, t_in, w)] * 2
        if self.kind == "add":
            return [(self.n, t_in, w)] * 2, [(self.n, t_out, w)]
        if self.kind == "pool":
            return [(self.n, t_in, w)], [(self.n, t_out, self.ch // self.n)]
        if self.kind == "se_scale":
            assert self.gate_type is not None
            return [(self.n, t_in, w), (self.n, str(self.gate_type), self.ch // self.n)], [(self.n, t_out, w)]
        return [(self.n, t_in, w)], [(self.n, t_out, w)]

    def processes(self) -> list[Process]:
        """One job per pixel (C/N cycles); the pool's sums and the SE gates one job more. An SE
        scale is two processes around its ping-pong frame buffer: fill (port 0 in) and emit
        (port 1 in, port 0 out)."""
        f, px = self.ch // self.n, self.pixels
        if self.kind == "pool":
            return _single(JobRun(px, f, (f,), (0,)), JobRun(1, f, (0,), (f,)))
        if self.kind == "se_scale":
            return [Process(0, "fill", (0,), (), (JobRun(px, f, (f,), ()),)),
                    Process(1, "emit", (1,), (0,), (JobRun(1, f, (f,), (0,)), JobRun(px, f, (0,), (f,))))]
        if self.kind == "add":
            return _single(JobRun(px, f, (f, f), (f,)), n_in=2)
        if self.kind == "duplicate":
            return _single(JobRun(px, f, (f,), (f, f)), n_out=2)
        return _single(JobRun(px, f, (f,), (f,)))

    def buffer_bits(self) -> int:
        """Internal storage: the SE frame buffer holds two feature maps (ping-pong)."""
        if self.kind == "se_scale":
            return 2 * self.pixels * self.ch * self.in_type.bits
        if self.kind == "pool":
            return self.ch * self.sum_bits
        return 0

    def threshold_bits(self) -> int:
        if self.kind in ("threshold", "add", "se_scale"):
            assert self.out_type is not None
            return self.ch * threshold_out(self.out_type)[0] * (self.sum_bits + 1)
        return 0


@dataclass(frozen=True)
class WidthConvert:
    total: int  # elements per frame
    in_n: int
    out_n: int
    dtype: IntType

    def __post_init__(self) -> None:
        _divides("width converter input width", self.in_n, "frame elements", self.total)
        _divides("width converter output width", self.out_n, "frame elements", self.total)

    def cycles(self) -> int:
        """One iteration per word of the narrower side (vg::width_convert_cycles)."""
        return self.total // min(self.in_n, self.out_n)

    def ports(self) -> Ports:
        t = str(self.dtype)
        return [(self.in_n, t, self.total // self.in_n)], [(self.out_n, t, self.total // self.out_n)]

    def processes(self) -> list[Process]:
        """One job per lcm(in_n, out_n) elements."""
        l = math.lcm(self.in_n, self.out_n)
        return _single(JobRun(self.total // l, l // min(self.in_n, self.out_n), (l // self.in_n,),
                              (l // self.out_n,)))

    def buffer_bits(self) -> int:
        return (self.in_n + self.out_n) * self.dtype.bits


def legal_foldings(n: int) -> list[int]:
    """Divisors of n: the legal PE (of MH) or SIMD (of MW) values."""
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))
