"""Deep narrow FIFOs in URAM (issue 27 item 2, "URAM for deep memories").

A FIFO that holds most of a frame (an SE block's, a residual shortcut's: up to 130k words of
one 4-bit element in the full-size VarGFaceNet's head) costs BRAM by its bits. URAM holds 288
kbit a block, but only as 4096 words of 72 bits: bound to URAM one element a word, such a
FIFO would use 4 of each word's 72 bits. `pack` therefore puts the stream between two width
converters (hls/engines/width.py, vg::width_convert):

    producer -> s (n a word) -> pack (n -> k n) -> s_uram (k n a word, URAM) -> unpack (k n -> n)
             -> s_out (n a word) -> consumer

(s and s_out start k words deep, a converter's job; the simulator and the sizing hold them at
2 (a + b) for the jobs of a and b words on either side, the depth at which neither waits on
the other: sim/programs.py full_rate_depths)
with k the largest factor whose packed word fits one URAM word (k n bits <= 72) and that
divides the stream's words a frame (the converters' rule). The converters move one narrow word
a cycle, the stream's own rate; the packed FIFO's depth is the old depth / k plus one word, so
it holds at least what the old one held (the converters hold a packed word more each). The
generated code binds the packed FIFO with `BIND_STORAGE type = fifo impl = uram` (description
version 8). The values are unchanged: the network's C-sim equals the golden model as before.

`place_fifos` packs the FIFOs whose BRAM a URAM block saves most, while the design's BRAM36 is
above its budget and its URAM within it (hls/estimate.py place_memories calls it first).
"""

from __future__ import annotations

import math
from typing import Optional

from hls import resources as R
from hls.accel import Accelerator, Node, Stream, engine_params
from hls.boards import Board
from hls.engines import IntType
from hls.engines.width import WidthConvert
from hls.shared_cost import hardware_streams

URAM_VERSION = 8  # the description version that binds a FIFO to URAM
PACK, UNPACK = ".pack", ".unpack"  # the suffixes of a packed FIFO's converter nodes


def narrow_depth(put: int, take: int) -> int:
    """The fixed depth of a packed FIFO's narrow side between jobs of `put` and `take` words:
    2 (a + b), at which the converters and their neighbours never slow each other below their
    own rate (sim/programs.py full_rate_depths says why)."""
    return 2 * (put + take)


def pack_factor(s: Stream) -> int:
    """Elements-words of s a packed word holds (1: none fit, s stays as it is)."""
    for k in range(R.URAM_WIDTH // s.width_bits, 1, -1):
        if s.words % k == 0:
            return k
    return 1


def converters(s: Stream, k: int) -> tuple[WidthConvert, WidthConvert]:
    """The pack and unpack converters around s at factor k."""
    total, dtype = s.words * s.n, IntType.parse(s.dtype)
    return WidthConvert(total, s.n, s.n * k, dtype), WidthConvert(total, s.n * k, s.n, dtype)


def job_words(acc: Accelerator, s: Stream) -> tuple[int, int]:
    """The most words one job of s's producer writes to it and of its consumer reads from it
    (the engines' job lists; 1 for the host or where no process names the port)."""
    nodes = {n.name: n for n in acc.nodes}

    def most(node: str, out: bool) -> int:
        n = nodes.get(node)
        if n is None:
            return 1
        port = (n.outputs if out else n.inputs).index(s.name)
        best = 1
        for p in n.engine().processes():
            ports = p.outputs if out else p.inputs
            if port in ports:
                i = ports.index(port)
                best = max([best] + [(r.produce if out else r.consume)[i] for r in p.jobs])
        return best

    return most(s.producer, True), most(s.consumer, False)


def saving(s: Stream, acc: Optional[Accelerator] = None) -> tuple[float, int, int]:
    """(BRAM36 saved, URAM blocks used, LUTs added) if s were packed into URAM, net of the
    narrow FIFOs on either side at their fixed depths, 2 (a + k) and 2 (k + b) for the
    producer's and consumer's jobs of a and b words (sim/programs.py full_rate_depths; with
    `acc` to read the jobs from: a convolution over the whole map reads its window in one job,
    and the KV260 design's emb.gconv window FIFO, packed, kept 25,096 words on its narrow
    side); (0, 0, 0) where it cannot be: a FIFO the estimate keeps in SRL or LUTRAM, one already packed or a narrow
    side of one (its depth is the hardware's, 2 (a + b); packing it again nested converters
    that the KV260 design deadlocked on, 2026-12-08), a DMA end, or one with no factor."""
    k = pack_factor(s)
    narrow_side = s.consumer.endswith(PACK) or s.producer.endswith(UNPACK)
    if s.impl != "auto" or k < 2 or s.producer == "host" or s.consumer == "host" or narrow_side:
        return 0.0, 0, 0
    before = R.fifo(s.depth, s.width_bits)
    if before.bram36 == 0:
        return 0.0, 0, 0
    after = R.fifo(packed_depth(s.depth, k), s.width_bits * k, "uram")
    if acc is not None:
        a, b = job_words(acc, s)
        after = after + R.fifo(narrow_depth(a, k), s.width_bits) + R.fifo(narrow_depth(k, b), s.width_bits)
    luts = sum(c.resources().lut for c in converters(s, k)) + after.lut - before.lut
    return before.bram36 - after.bram36, after.uram, luts


def packed_depth(depth: int, k: int) -> int:
    return math.ceil(depth / k) + 1


def pack(acc: Accelerator, name: str) -> Optional[str]:
    """Packs stream `name` into URAM (in place; the description becomes version 8); returns
    the packed stream's name, or None where it has no factor."""
    s = acc.streams_by_name()[name]
    k = pack_factor(s)
    if k < 2:
        return None
    by_name = {n.name: n for n in acc.nodes}
    consumer = by_name[s.consumer]
    packer, unpacker = converters(s, k)
    wide = Stream(f"{s.name}_uram", "", "", s.n * k, s.dtype, s.words // k, packed_depth(s.depth, k), "uram")
    out = Stream(f"{s.name}_out", "", s.consumer, s.n, s.dtype, s.words, k)
    pk = Node(f"{s.consumer}.{s.name}{PACK}", "width_convert", consumer.layer, [s.name], [wide.name],
              engine_params(packer))
    up = Node(f"{s.consumer}.{s.name}{UNPACK}", "width_convert", consumer.layer, [wide.name], [out.name],
              engine_params(unpacker))
    wide.producer, wide.consumer, out.producer = pk.name, up.name, up.name
    s.consumer, s.depth = pk.name, k  # a converter's job takes or gives k narrow words
    consumer.inputs = [out.name if i == name else i for i in consumer.inputs]
    at = acc.nodes.index(consumer)
    acc.nodes[at:at] = [pk, up]  # still in dataflow order: both run just before the consumer
    acc.streams += [wide, out]
    acc.version = max(acc.version, URAM_VERSION)
    return wide.name


def place_fifos(acc: Accelerator, board: Board, fraction: float, room: dict[str, float]) -> list[str]:
    """Packs FIFOs into URAM, most BRAM36 saved per URAM block first, while room["BRAM36"] (the
    design's use) is above fraction x the board's and room["URAM"] stays within it; updates
    `room` (BRAM36, URAM, LUT); returns the packed streams."""
    budget = board.budget(fraction)
    cands = []
    for s in hardware_streams(acc):
        saved, blocks, luts = saving(s, acc)
        if blocks and saved > blocks:  # a URAM block holds what 8 BRAM36 hold: at least 1 for 1
            cands.append((-saved / blocks, s.name, saved, blocks, luts))
    packed = []
    for _, name, saved, blocks, luts in sorted(cands):
        if room["BRAM36"] <= budget["BRAM36"]:
            break
        if room["URAM"] + blocks > budget["URAM"] or room["LUT"] <= budget["LUT"] < room["LUT"] + luts:
            continue  # no URAM left, or the converters would push the LUTs over a budget they met
        pack(acc, name)
        room["BRAM36"] -= saved
        room["URAM"] += blocks
        room["LUT"] += luts
        packed.append(name)
    return packed
