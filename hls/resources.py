"""FPGA resource estimates (LUT, FF, DSP, BRAM36, URAM): the primitives of an analytic model,
labelled as an estimate wherever it is printed. Each engine kind adds its parts up from these
(`resources()` in hls/engines/).

The model, per engine:
- memories (weights, thresholds, line buffers, deep FIFOs) are placed by size: up to
  LUTRAM_MAX_BITS, or shallow and wide enough that LUTRAM costs less than LUTS_PER_BRAM18
  LUTs per BRAM18 saved, in LUTRAM (64 x 1 bits per LUT, and past 256 words a read
  multiplexer of one LUT6 per 4 groups of 256), else BRAM (RAMB18 aspect ratios
  16Kx1 .. 512x36, two RAMB18 per BRAM36) or URAM (4K x 72 per URAM288) when placed there;
- a MAC lane multiplies in LUTs when w_bits + in_bits <= DSP_THRESHOLD_BITS, with
  (2*ceil((w+a)/6) - 1) * (w+a) LUTs (a LUT-based array multiplier, the form FINN's MVAU
  estimate uses), else in one DSP48E2; the adder tree costs (w+a) LUTs per input of a PE;
- thresholds compare in parallel: one acc-bit comparator (acc LUTs) per threshold and lane;
  an integer requantization instead multiplies v x M + B per lane and piece in one DSP48E2
  where the operands fit 27 x 18 (else a LUT multiplier) and clips the shifted sum in LUTs;
- a fixed control overhead per engine and FFs at ~1.5 per LUT for pipelining.
FINN's own estimates of the same layers are reported beside these by the flow where FINN has
a model (see sim/README.md for how they differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LUTRAM_MAX_BITS = 4096  # memories up to this size live in distributed RAM
LUTS_PER_BRAM18 = 180  # exchange rate for shallow memories: about half a BRAM18's board share
DSP_THRESHOLD_BITS = 8  # w_bits + in_bits above this multiply in a DSP48E2
ENGINE_OVERHEAD_LUTS = 150
FF_PER_LUT = 1.5

BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
URAM_DEPTH, URAM_WIDTH = 4096, 72


@dataclass
class Resources:
    lut: float = 0.0
    ff: float = 0.0
    dsp: int = 0
    bram18: int = 0
    uram: int = 0
    lutram_luts: float = 0.0  # part of lut used as memory

    def __add__(self, o: "Resources") -> "Resources":
        return Resources(self.lut + o.lut, self.ff + o.ff, self.dsp + o.dsp,
                         self.bram18 + o.bram18, self.uram + o.uram,
                         self.lutram_luts + o.lutram_luts)

    @property
    def bram36(self) -> float:
        return self.bram18 / 2

    def as_dict(self) -> dict[str, float]:
        return {"LUT": round(self.lut), "FF": round(self.ff), "DSP": self.dsp,
                "BRAM36": self.bram36, "URAM": self.uram}


def bram18_count(depth: int, width: int) -> int:
    """RAMB18 primitives for a depth x width memory: the cheapest aspect ratio."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM18_SHAPES)


def uram_count(depth: int, width: int) -> int:
    if depth <= 0 or width <= 0:
        return 0
    return math.ceil(depth / URAM_DEPTH) * math.ceil(width / URAM_WIDTH)


def memory_style(depth: int, width: int, style: str = "auto") -> str:
    """The style a depth x width memory is estimated (and, where the generated code binds it,
    implemented) in: `style` itself, or for auto the model's choice. Small memories, and
    shallow wide ones that would waste most of each BRAM, go to LUTRAM (a BRAM18 is counted as
    worth LUTS_PER_BRAM18 LUTs of the board)."""
    if style != "auto":
        return style
    small = depth * width <= LUTRAM_MAX_BITS
    return "lutram" if small or lutram_cost(depth, width) <= LUTS_PER_BRAM18 * bram18_count(depth, width) else "bram"


def lutram_cost(depth: int, width: int) -> int:
    """LUTs of a depth x width LUTRAM: ceil(depth/64) 64x1 cells per bit; up to 256 words the
    slice's F7/F8 multiplexers select among them (RAM256X1S, UG574), deeper ones need a read
    multiplexer over the 256-word groups in LUTs (a LUT6 selects 1 of 4)."""
    cells = math.ceil(depth / 64)
    groups = math.ceil(depth / 256)
    return width * (cells + math.ceil((groups - 1) / 3))


def memory(depth: int, width: int, count: int = 1, style: str = "auto") -> Resources:
    """Resources of `count` memories of depth x width bits; style auto|lutram|bram|uram, or
    ddr (held off chip: nothing here; the reader is `ddr_reader`)."""
    if depth * width == 0 or count == 0 or style == "ddr":
        return Resources()
    style = memory_style(depth, width, style)
    if style == "lutram":
        return Resources(lut=count * lutram_cost(depth, width), lutram_luts=count * math.ceil(depth / 64) * width)
    if style == "uram":
        return Resources(uram=count * uram_count(depth, width))
    return Resources(bram18=count * bram18_count(depth, width))


def mac_lanes(lanes: int, w_bits: int, in_bits: int, simd: int, pe: int,
              style: str = "auto") -> Resources:
    """style: lut | dsp | auto (DSP above DSP_THRESHOLD_BITS of w_bits + in_bits)."""
    wa = w_bits + in_bits
    if style == "dsp" or (style == "auto" and wa > DSP_THRESHOLD_BITS):
        mult = Resources(dsp=lanes)
    else:
        mult = Resources(lut=lanes * (2 * math.ceil(wa / 6) - 1) * wa)
    adders = Resources(lut=pe * simd * wa)
    return mult + adders


def packed_mac_pairs(pairs: int, simd: int, packed_bits: int, in_bits: int, acc: int) -> Resources:
    """vg_mvau.h's MAC_PACK = 2: one DSP per lane pair and SIMD element; the adder tree sums
    the packed products (packed_bits + in_bits wide) in LUTs, and each pair splits its sum
    into the two lanes' (a compare and two subtractions of acc bits)."""
    wide = packed_bits + in_bits
    return Resources(dsp=pairs * simd, lut=pairs * simd * wide + pairs * 3 * acc)


def simd_paired_macs(pe: int, simd: int, chunk: int, w_bits: int, in_bits: int, shift: int) -> Resources:
    """vg_mvau.h's MAC_PACK = 2 by SIMD: one DSP per PE lane and pair of SIMD elements. In
    LUTs: each pair's packed weight operand (a w_bits-wide carry into the upper field), the
    packed input operand once per pair for all lanes, per lane and chunk of `chunk` elements
    the adder tree over its pair products modulo 2^(2 shift) (only the two low fields are
    read) and the extraction of the middle field (two subtractions and a compare of shift
    bits), and the sum of a lane's chunks."""
    pairs, chunks = simd // 2, simd // chunk
    return Resources(dsp=pe * pairs,
                     lut=pe * pairs * (w_bits + 2 * shift) + pairs * in_bits
                     + pe * chunks * 3 * shift + pe * (chunks - 1) * (shift + chunks.bit_length()))


def comparators(lanes: int, nt: int, bits: int) -> Resources:
    return Resources(lut=lanes * nt * bits)


def requant_lanes(lanes: int, pieces: int, value_bits: int, table_bits: int, shift: int,
                  nt: int) -> Resources:
    """vg::requant / requant2: per lane one v x M + B, in a DSP48E2 when the signed operands
    fit its 27 x 18 multiplier (the 48-bit post-adder adds B), else a LUT array multiplier as
    in mac_lanes plus a LUT adder; then the clip of the shifted sum to 0..top (two compares
    of its product_bits - S high bits and an output mux). Two pieces add the compare with K
    (value bits), the 2:1 multiplexers of M, B and the clip bound, and the add of J."""
    prod = value_bits + table_bits + 1
    a, b = sorted((value_bits, table_bits))
    out_bits = max(nt, 1).bit_length()
    if a <= 18 and b <= 27 and prod <= 48:
        mult = Resources(dsp=lanes)
    else:
        wa = value_bits + table_bits
        mult = Resources(lut=lanes * ((2 * math.ceil(wa / 6) - 1) * wa + prod))
    clip = Resources(lut=lanes * (2 * (prod - shift) + out_bits))
    select = Resources(lut=lanes * (value_bits + 1 + 2 * table_bits + 2 * out_bits)) if pieces == 2 else Resources()
    return mult + clip + select


def mux_luts(inputs: int) -> int:
    """LUT6s per bit of an inputs:1 multiplexer (a tree of 4:1 muxes, one LUT6 each)."""
    return 0 if inputs <= 1 else math.ceil((inputs - 1) / 3)


def finish(r: Resources) -> Resources:
    """An engine's total: its parts plus the fixed control overhead and the pipeline FFs."""
    r.lut += ENGINE_OVERHEAD_LUTS
    r.ff += FF_PER_LUT * (r.lut - r.lutram_luts)
    return r


def fifo(depth: int, width: int, impl: str = "auto") -> Resources:
    """A stream FIFO: shift registers (SRL) when shallow, else LUTRAM or BRAM as the memory
    model chooses; impl "uram" binds it to URAM (72 bits x 4096 words a block, no
    narrower aspect ratio: hls/fifo_packing.py packs narrow streams first)."""
    if impl == "uram":
        return memory(depth, width, style="uram") + Resources(lut=30, ff=2 * width)
    if depth <= 32:
        return Resources(lut=math.ceil(depth / 32) * width, ff=width)
    return memory(depth, width) + Resources(lut=30, ff=2 * width)


# A read-only AXI4 master of Vitis HLS (m_axi) and its read buffer, a FIFO of
# num_read_outstanding x max_read_burst_length words of the port (UG1399, "Controlling AXI4
# Burst Behavior"). A node that streams its weights each frame keeps the tool's defaults, 16
# outstanding reads of 16-beat bursts, to hide DDR latency; a URAM cache's master runs only in
# the loading frame, where one outstanding burst at a time costs a little start-up time (a
# burst's round trip per 16 rows) and saves 15/16 of the buffer. The LUTs are an assumption for
# the adapter, its address logic and the row unpacking, to be replaced by a csynth report.
AXI_READ_MASTER_LUTS = 1200
AXI_MAX_READ_BURST = 16


def axi_read_outstanding(style: str) -> int:
    """num_read_outstanding of the master of a node with this memory style, "ddr" or "uram"
    (codegen writes it into the INTERFACE pragma; the estimate sizes the read buffer by it)."""
    return 1 if style == "uram" else 16


def ddr_reader(port_bits: int, style: str = "ddr") -> Resources:
    """An engine's weight reader from DDR: the AXI4 read master and its read buffer."""
    words = axi_read_outstanding(style) * AXI_MAX_READ_BURST
    return memory(words, port_bits) + Resources(lut=AXI_READ_MASTER_LUTS + port_bits)
