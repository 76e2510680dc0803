"""The shared part of a description as the estimate and the simulators see it: one process
(SharedBlock) between its input and output streams, in place of the nodes it runs, with the
engine's schedule, the DDR reader's words and the resources of the engine, its reader and its
edge converters (estimates; hls/shared_part.py builds the program).

Timing model (an estimate): the part is one process running the program frame after frame.
Its input phase takes the part's input words at the edge converter's rate (vg::width_convert:
one word of the narrower side a cycle); each op's tile then takes max(its loop cycles, its
rows' words): the reader, one word of the HP port a cycle, runs ahead through the row FIFOs
(2 x SF_MAX weight rows, 2 x NT threshold rows deep) and the engine waits for a tile's rows
when they come slower than it computes. Burst latency and refresh are not modelled. The
output phase gives the part's output words at the out converter's rate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from hls import resources as R
from hls.accel import Accelerator, Node, Stream
from hls.engines.base import Engine, IntType, JobRun, Ports, Process
from hls.engines.width import WidthConvert
from hls.shared_part import SHARED, SharedPart, spec_part
from hls.shared_program import OP_DENSE, OP_GCONV, OP_IN, OP_OUT, PE


PART_NODE = "shared_part"
TO_ENGINE, FROM_ENGINE = f"{PART_NODE}.to_engine", f"{PART_NODE}.from_engine"  # its inner streams


@dataclass(frozen=True, eq=False)
class SharedBlock(Engine):
    """The shared part's engine (vg_shared.h shared_block with its reader and edges)."""

    kind = "shared_block"
    latency = 12  # the loop's assumed pipeline depth (GAP)

    part: SharedPart
    in_n: int
    in_dtype: IntType
    in_words: int
    out_n: int
    out_dtype: IntType
    out_words: int

    @property
    def io_n(self) -> int:
        return self.part.gp * 8

    def edges(self) -> tuple[WidthConvert, WidthConvert]:
        return (WidthConvert(self.in_n * self.in_words, self.in_n, self.io_n, self.in_dtype),
                WidthConvert(self.out_n * self.out_words, self.io_n, self.out_n, self.out_dtype))

    def tile_cycles(self) -> list[tuple[int, int]]:
        """(tiles, cycles of a tile as the rows let it run) of each op between OP_IN and OP_OUT."""
        p = self.part.plan
        return [(o.tiles, p.op_tile_cycles(o)) for o in p.ops if o.kind not in (OP_IN, OP_OUT)]

    def io_words(self) -> tuple[int, int]:
        """Engine words (GP * 8 codes) of the part's input and output maps a frame."""
        return (self.in_n * self.in_words // self.io_n, self.out_n * self.out_words // self.io_n)

    def fixed_depths(self) -> dict[str, int]:
        """The part's inner FIFOs, as deep as a frame's engine words (codegen's STREAM
        pragmas): the in converter fills the next frame's input while the engine computes,
        and the out converter drains a frame's output while the engine starts the next."""
        w_in, w_out = self.io_words()
        return {TO_ENGINE: w_in, FROM_ENGINE: w_out}

    def processes(self) -> list[Process]:
        """0: the engine (OP_IN one engine word a cycle, the ops' tiles as the rows let them
        run, OP_OUT's wait, OP_OUT one word a cycle); 2 and 3: the in and out converters
        (vg::width_convert), as the C++ counts them (1: the reader, inside the tiles' time). Ports: inputs (the part's
        input, to_engine, from_engine), outputs (to_engine, from_engine, the part's output)."""
        e_in, e_out = self.edges()
        w_in, w_out = self.io_words()
        out_op = next(o for o in self.part.ops if o.kind == OP_OUT)
        runs = [JobRun(w_in, 1, (1,), (0,))]
        runs += [JobRun(t, c, (0,), (0,)) for t, c in self.tile_cycles()]
        runs += [JobRun(1, out_op.lrows, (0,), (0,)), JobRun(w_out, 1, (0,), (1,))]
        (p_in,), (p_out,) = e_in.processes(), e_out.processes()
        return [Process(0, "engine", (1,), (1,), tuple(r for r in runs if r.count)),
                Process(2, "in", (0,), (0,), p_in.jobs), Process(3, "out", (2,), (2,), p_out.jobs)]

    def loop_counts(self) -> list[int]:
        """What the C++ counts a frame (hls/schedule.py): the engine's loop (program_iters),
        the reader's (the rows' words), the in and out converters' (vg::width_convert)."""
        e_in, e_out = self.edges()
        return [sum(o.iters for o in self.part.ops), self.part.words(), e_in.cycles(), e_out.cycles()]

    def cycles(self) -> int:
        """The slowest of its concurrent processes (DATAFLOW)."""
        return max(p.cycles for p in self.processes())

    def output_times(self, ins, latency: int) -> tuple[float, float]:
        """Frame 0's output: after the input map has arrived (the first op needs all of it),
        the engine's frame, and the out converter's drain."""
        (_, end_in) = ins[0]
        engine = self.processes()[0].cycles
        _, e_out = self.edges()
        start = end_in + engine + latency
        return start, start + e_out.cycles()

    def ports(self) -> Ports:
        t = str(self.part.map_type)
        w_in, w_out = self.io_words()
        return ([(self.in_n, str(self.in_dtype), self.in_words), (self.io_n, t, w_in), (self.io_n, t, w_out)],
                [(self.io_n, t, w_in), (self.io_n, t, w_out), (self.out_n, str(self.out_dtype), self.out_words)])

    def macs(self) -> int:
        return sum(o.macs() for o in self.part.ops)

    def weight_count(self) -> int:
        return sum(o.cout8 * 8 * (8 * o.k * o.k if o.kind == OP_GCONV else o.cin8 * 8)
                   for o in self.part.ops if o.kind in (OP_GCONV, OP_DENSE))

    def folding(self) -> dict[str, int]:
        return {"GP": self.part.gp}

    def ddr_bytes(self) -> int:
        return self.part.words() * self.part.plan.port_bits // 8

    def buffer_bits(self) -> dict[str, int]:
        p = self.part.plan
        return {"maps": p.maps * p.slot_chunks * 8 * self.part.map_type.bits,
                "row_buffer": max(o.wrows for o in p.ops) * PE * p.gp * 8 * self.part.w_bits}

    def resources(self, memory: str = "auto", mac: str = "auto") -> R.Resources:
        part, p = self.part, self.part.plan
        gp, mb, acc = p.gp, part.map_type.bits, part.acc_bits
        sf_max = max(o.wrows for o in p.ops)
        wrow, trow = PE * gp * 8 * part.w_bits, PE * gp * acc
        # the MAC array (PE x GP x 8 products of a weight and a map code; two lanes' a DSP48E2
        # where they fit, as the code packs them), its adder trees, the GP x PE accumulators
        # and a dense tile's sum over the GP groups
        if part.mac_pack() == 2:  # two lanes a DSP48E2 (vg_shared.h MAC_PACK 2)
            r = R.packed_mac_pairs(PE // 2 * gp, 8, part.w_bits + part.pack_shift(), mb, acc)
        else:
            r = R.mac_lanes(PE * gp * 8, part.w_bits, mb, gp * 8, PE, mac)
        r = r + R.Resources(lut=2 * PE * gp * acc)
        # thresholds: a tile's in registers, compared on up to 2 GP chunks (16 GP lanes) a cycle
        r = r + R.Resources(ff=PE * gp * part.nt * acc) + R.comparators(PE * gp, part.nt, acc)
        # the map slots in 2 GP banks of 8-code chunks, the tile's weight rows, the row FIFOs
        r = r + R.memory(-(-p.maps * p.slot_chunks // (2 * gp)), 8 * mb, 2 * gp,
                         "uram" if part.maps_impl == "uram" else "auto")
        r = r + R.memory(sf_max, wrow)
        r = r + R.fifo(2 * sf_max, wrow) + R.fifo(2 * part.nt, trow)
        for depth in self.fixed_depths().values():  # the frame FIFOs at the edges
            r = r + R.fifo(depth, 8 * gp * mb)
        # the reader: its AXI4 master and the row it assembles from the port's words
        r = r + R.ddr_reader(p.port_bits) + R.Resources(ff=max(wrow, trow))
        r = R.finish(r)
        for e in self.edges():
            r = r + e.resources()
        return r

    def input_limits_speed(self) -> bool:
        return False


@dataclass
class PartNode:
    """The shared part in the place of its nodes, shaped as a Node for the estimate and the
    simulators (name, kind, layer, streams, memory, mac, engine()). Its streams: the part's
    input and output and the two inner FIFOs between its converters and the engine."""

    name: str
    layer: str
    inputs: list[str]
    outputs: list[str]
    block: SharedBlock
    kind: str = "shared_block"
    memory: str = SHARED
    mac: str = "auto"

    def engine(self) -> SharedBlock:
        return self.block




def part_node(acc: Accelerator, part: Optional[SharedPart] = None) -> Optional[PartNode]:
    """The description's shared part (or `part`, a program for it) as one node (None: it
    has none)."""
    if part is None:
        if acc.shared is None:
            return None
        part = spec_part(acc)
    s_in, s_out = acc.stream(part.in_stream), acc.stream(part.out_stream)
    block = SharedBlock(part, s_in.n, IntType.parse(s_in.dtype), s_in.words, s_out.n, IntType.parse(s_out.dtype),
                        s_out.words)
    return PartNode(PART_NODE, "+".join(part.plan.stages), [part.in_stream, TO_ENGINE, FROM_ENGINE],
                    [TO_ENGINE, FROM_ENGINE, part.out_stream], block)


def hardware_nodes(acc: Accelerator) -> list[Any]:
    """The design's engines in dataflow order: its own nodes, and the shared part (one
    PartNode) where its first node was."""
    pn = part_node(acc)
    out: list[Any] = []
    placed = False
    for n in acc.nodes:
        if n.memory != SHARED:
            out.append(n)
        elif pn is not None and not placed:
            out.append(pn)
            placed = True
    return out


def hardware_streams(acc: Accelerator) -> list[Stream]:
    """The streams the hardware has: all but those inside the shared part."""
    shared = {n.name for n in acc.nodes if n.memory == SHARED}
    return [s for s in acc.streams if not (s.producer in shared and s.consumer in shared)]


def is_part(n: Any) -> bool:
    return isinstance(n, PartNode)


def own(n: Any) -> Optional[Node]:
    """n as a description node (None for the shared part)."""
    return None if is_part(n) else n
