"""Per-node and whole-design resource and cycle estimates of an accelerator description, and
the placement of large memories into URAM. Pure Python; used by the folding search, the
simulator's report and the flow's report (one definition)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

from hls.accel import Accelerator, Node
from hls.boards import Board, get_board
from hls.engines import Engine, Process
from hls import resources as R
from hls.fifo_packing import place_fifos


def node_resources(n: Node, e=None) -> R.Resources:
    """The node's engine's estimate with the node's memory and MAC styles."""
    return (e if e is not None else n.engine()).resources(n.memory, n.mac)


def node_buffer_bits(n: Node, e=None) -> dict[str, int]:
    """Storage a node holds, by purpose (bits)."""
    return (e if e is not None else n.engine()).buffer_bits()


# ---- timing: the engine's loop, and the HP port behind a node that reads DDR ---------------------
def ddr_row_period(n: Node, board: Board) -> int:
    """Cycles between the weight rows a node reading DDR (memory "ddr") gets: its AXI4
    master's word is one row, and one HP port delivers hp_port_bits a cycle at the PL clock
    (UG1085), so a 256-bit row arrives at most every 2 cycles. 1 for every other node. The C++
    loop runs at II = 1 (the schedule check counts that); this is the port's limit on it."""
    if n.memory != "ddr":
        return 1
    e = n.engine()
    row_bits = e.ddr_bytes() * 8 // max(1, e.cycles())  # the loop takes one row a cycle
    return max(1, -(-row_bits // board.hp_port_bits))


@dataclass(frozen=True)
class PortLimited:
    """An engine whose every loop iteration waits `period` cycles for its weight row (a DDR
    node behind a narrower port): its jobs take `period` times their cycles. An upper bound:
    the reader's stream lets it run a few rows ahead while the engine waits for input."""

    inner: Engine
    period: int

    def __getattr__(self, k: str) -> Any:
        return getattr(self.inner, k)

    def processes(self) -> list[Process]:
        return [replace(p, jobs=tuple(replace(r, cycles=r.cycles * self.period) for r in p.jobs))
                for p in self.inner.processes()]

    def cycles(self) -> int:
        return sum(p.cycles for p in self.processes())

    def output_times(self, ins: Sequence[tuple[float, float]], latency: int) -> tuple[float, float]:
        return Engine.output_times(self, ins, latency)  # type: ignore[arg-type]


def timed_engine(n: Node, board: Optional[Board] = None) -> Engine:
    """The node's engine as the FPS estimate and the simulator time it (board: the node's
    design's, by default ZCU104's port, the same on every board here)."""
    e = n.engine()
    period = ddr_row_period(n, board if board is not None else get_board("zcu104"))
    return e if period == 1 else PortLimited(e, period)  # type: ignore[return-value]


def frame_cycles(acc: Accelerator, board: Optional[Board] = None) -> int:
    """Cycles a frame at the slowest node or the shared part (the design's initiation interval)."""
    from hls.shared_cost import hardware_nodes

    b = board if board is not None else get_board(acc.board)
    return max(1, max(timed_engine(n, b).cycles() for n in hardware_nodes(acc)))


@dataclass
class DesignEstimate:
    per_node: dict[str, R.Resources]
    fifos: R.Resources
    total: R.Resources

    def fits(self, board: Board, fraction: float = 1.0) -> bool:
        return not self.over(board, fraction)

    def over(self, board: Board, fraction: float = 1.0) -> list[str]:
        """The resources above fraction x the board's budget."""
        b = board.budget(fraction)
        t = self.total.as_dict()
        return [k for k in ("LUT", "FF", "DSP", "BRAM36", "URAM") if t[k] > b[k]]

    def overshoot(self, board: Board, fraction: float) -> float:
        """How far over fraction x the board the design is: the sum, over the resources, of
        the utilisation above `fraction` (0 when it fits); the folding's re-pricing and the
        partition search minimise it."""
        return sum(max(0.0, v - fraction) for v in self.utilisation(board).values())

    def utilisation(self, board: Board) -> dict[str, float]:
        b = board.budget(1.0)
        t = self.total.as_dict()
        return {k: (t[k] / b[k] if b[k] else (0.0 if t[k] == 0 else float("inf"))) for k in t}


def cache_loader(acc: Accelerator) -> R.Resources:
    """The URAM caches' one loader (vg_ddr.h fill_cache): its AXI4 master, of the widest
    cache row's port, with a cache master's burst settings; nothing without caches. A cache
    node itself adds only its fill stream (MVAU.resources)."""
    from hls.params_buffer import cache_port_bits

    bits = cache_port_bits(acc)
    return R.ddr_reader(bits, "uram") if bits else R.Resources()


def cache_load(acc: Accelerator, board: Board) -> dict:
    """The URAM caches' start-up load (a loading frame only): the loader reads every cache's
    rows, one word of its width a row, through one master behind one HP port, so at least
    rows x ceil(word bits / port bits) cycles (the port's peak, UG1085; its loop also runs at
    most a row a cycle). A lower bound: each burst's round trip (one outstanding at a time)
    comes on top and is not modelled, nor the engines' wait for their caches. `resources`:
    the loader's master (cache_loader), part of the design's total but of no node's."""
    from hls.params_buffer import cache_master

    m = cache_master(acc)
    if m is None:
        return {"nodes": 0, "rows": 0, "bytes": 0, "min_cycles": 0, "resources": R.Resources().as_dict()}
    rows = sum(r.rows for r in m.regions)
    return {"nodes": len(m.regions), "rows": rows, "bytes": rows * m.port_bits // 8,
            "min_cycles": rows * max(1, -(-m.port_bits // board.hp_port_bits)),
            "resources": cache_loader(acc).as_dict()}


def estimate(acc: Accelerator) -> DesignEstimate:
    """Per engine (the shared part as one, hls/shared_cost.py) and in total, with the FIFOs
    of the streams the hardware has."""
    from hls.shared_cost import hardware_nodes, hardware_streams

    per = {n.name: node_resources(n) for n in hardware_nodes(acc)}
    fifo = R.Resources()
    for s in hardware_streams(acc):
        fifo = fifo + R.fifo(s.depth, s.width_bits, s.impl)
    total = fifo + cache_loader(acc)
    for r in per.values():
        total = total + r
    return DesignEstimate(per, fifo, total)


def _move_gain(n: Node, style: str) -> tuple[int, R.Resources]:
    """(BRAM18 saved, the resources added) if node n's memory went from auto to `style`."""
    before = node_resources(n)
    n.memory = style
    after = node_resources(n)
    n.memory = "auto"
    return before.bram18 - after.bram18, R.Resources(lut=after.lut - before.lut, uram=after.uram - before.uram)


# the share of one HP port the weight traffic may take (issue 27's target; the flow's partition
# search keeps to it, sim/targets.py judges by it): the rest is left to the DMA and the PS
DDR_BUDGET = 0.5


def place_memories(acc: Accelerator, board: Board, fraction: float = 0.8,
                   ddr_budget: float = DDR_BUDGET) -> None:
    """While the design's BRAM is above fraction x the board's, rebinds the memories whose
    node leaves the style to the flow (`memory` auto; in place, a user's ram_style is kept):

    0. the shared engine's map slots into URAM (place_shared_maps: nothing to load, no LUTs);

    1. ROMs (weights) read about once a frame (an engine on a single vector: the embedding's
       last layers, the FC) into DDR, most BRAM saved first, while their traffic at the
       design's throughput stays within `ddr_budget` of one HP port's peak;
    2. ROMs of engines that can read the parameter buffer into URAM caches that the buffer
       fills at start-up (memory "uram": vg_ddr.h mvau_cached; no traffic per frame), most
       BRAM saved per URAM first, each saving at least 2 BRAM36 per URAM288 (which holds as
       much as 8), within the URAM budget; each cache brings its fill stream from the
       design's one loader, whose LUTs may not be what breaks the LUT budget (`_take_uram`;
       the loader's master is counted once, by `estimate`);
    2b. FIFOs that hold BRAM into the URAM left, packed into its 72-bit words
       (hls/fifo_packing.py: a block saves up to 8 BRAM36). After the caches, not before:
       taking URAM first, the FIFOs left weights to LUTRAM (full-size VarGFaceNet at 1000 FPS,
       2026-12-07: LUT 199% -> 208%, BRAM36 116% -> 104%);
    3. then ROMs that the estimate puts in BRAM into LUTRAM, fewest LUTs per BRAM saved
       first, while the LUT budget has room.

    Weights never go to URAM as a ROM: UltraScale+ URAM has no initial contents from a
    bitstream (UG901); a cache is loaded by the design itself. The generated code binds every
    placement (the config's W_STORAGE; a DDR node or a cache reads the
    parameter buffer), so the estimate is what synthesis is told."""
    budget = board.budget(fraction)
    tot = estimate(acc).total
    room = {"BRAM36": tot.bram36, "URAM": float(tot.uram), "LUT": tot.lut}  # the design's use
    fps = acc.clock_mhz * 1e6 / frame_cycles(acc, board)
    ddr_room = ddr_budget * board.hp_port_bytes_per_s(acc.clock_mhz) - ddr_traffic(acc, board, fps)["bytes_per_s"]
    place_shared_maps(acc, budget, room)
    to_uram, to_ddr, to_lutram = _placement_candidates(acc, fps)
    for _, n, saved, (rate, luts) in sorted(to_ddr, key=lambda t: t[0]):
        if room["BRAM36"] <= budget["BRAM36"]:
            return
        if rate > ddr_room:
            continue
        n.memory = "ddr"
        room["BRAM36"] -= saved / 2
        ddr_room -= rate
        room["LUT"] += luts  # the reader's
    _take_uram(to_uram, budget, room)
    place_fifos(acc, board, fraction, room)  # deep narrow FIFOs into the URAM the caches left
    for _, n, saved, luts in sorted(to_lutram, key=lambda t: t[0]):
        if room["BRAM36"] <= budget["BRAM36"]:
            return
        if n.memory != "auto" or room["LUT"] + luts > budget["LUT"]:
            continue
        n.memory = "lutram"
        room["BRAM36"] -= saved / 2
        room["LUT"] += luts


def place_resources(acc: Accelerator, board: Board, fraction: float = 0.8,
                    fixed: frozenset[str] = frozenset()) -> list[str]:
    """The design's memories placed (place_memories); then, where LUTs are still over, lane
    pairs moved into DSPs (place_multipliers, keeping the nodes in `fixed`), and the memories
    placed again with the LUTs that freed. In place; returns the nodes moved to DSPs."""
    place_memories(acc, board, fraction)
    moved = place_multipliers(acc, board, fraction, fixed)
    if moved:
        place_memories(acc, board, fraction)
    return moved


def place_multipliers(acc: Accelerator, board: Board, fraction: float = 0.8,
                      fixed: frozenset[str] = frozenset()) -> list[str]:
    """While the design's LUTs are above fraction x the board's, moves MVAUs whose lanes
    multiply in LUTs to two products per DSP48E2 (vg_mvau.h MAC_PACK = 2, which binds the
    packed product to a DSP: the code, not only the estimate, says DSP), most LUTs saved per
    DSP first, while the DSP budget has room. Only where the engine can pack at its folding:
    two PE lanes (an even PE) or two SIMD elements of a lane (an even SIMD), the packed
    operands within 27 x 18 bits; of the two, each node takes the one that saves more LUTs
    per DSP. Nodes named in `fixed` (a user's folding entry with resType, mac_pack or
    mac_pair) are kept. In place; returns the nodes moved.

    A separate pass rather than a price in the folding search: there every node of a kind
    flips together when a price crosses its break-even (measured on the full-size
    VarGFaceNet at 1000 FPS: DSP 7% -> 143% in one re-pricing round), here one node at a time."""
    from hls.accel import engine_params
    from hls.engines import MVAU

    budget = board.budget(fraction)
    tot = estimate(acc).total
    lut, dsp = tot.lut, float(tot.dsp)
    cands = []
    for n in acc.nodes:
        e = n.engine()
        if n.name in fixed or not isinstance(e, MVAU) or e.pack != 1 or n.memory == "shared":
            continue
        before = node_resources(n)
        options = []
        for pack, pair in e.packings(e.pe, e.simd):
            packed = replace(e, pack=pack, pair=pair)
            after = packed.resources(n.memory, "dsp")
            saved, used = before.lut - after.lut, after.dsp - before.dsp
            if saved > 0 and used > 0:
                options.append((saved / used, n, packed, saved, used))
        if options:
            cands.append(max(options, key=lambda t: t[0]))
    moved = []
    for _, n, packed, saved, used in sorted(cands, key=lambda t: -t[0]):
        if lut <= budget["LUT"]:
            break
        if dsp + used > budget["DSP"]:
            continue
        n.params, n.mac = engine_params(packed), "dsp"
        lut, dsp = lut - saved, dsp + used
        moved.append(n.name)
    return moved


def release_multipliers(acc: Accelerator, board: Board, fraction: float = 0.8,
                        fixed: frozenset[str] = frozenset()) -> list[str]:
    """While the design's DSPs are above fraction x the board's, moves MVAUs with lane pairs
    in DSPs (MAC_PACK 2; not those in `fixed`) back to one lane per LUT multiplier, fewest
    LUTs added per DSP freed first. For DSPs that something priced after place_multipliers
    took (sim/run.py --requant-assumed: the requantizations' multipliers); the folding never
    needs it, since it places pairs only within the DSP budget. In place; returns the nodes
    moved back."""
    from hls.accel import engine_params
    from hls.engines import MVAU

    dsp = float(estimate(acc).total.dsp)
    cands = []
    for n in acc.nodes:
        e = n.engine()
        if n.name in fixed or not isinstance(e, MVAU) or e.pack != 2 or n.memory == "shared":
            continue
        plain = replace(e, pack=1, pair="pe")
        before, after = node_resources(n), plain.resources(n.memory, "auto")
        freed, added = before.dsp - after.dsp, after.lut - before.lut
        if freed > 0:
            cands.append((added / freed, n, plain, freed))
    back = []
    for _, n, plain, freed in sorted(cands, key=lambda t: t[0]):
        if dsp <= board.budget(fraction)["DSP"]:
            break
        n.params, n.mac = engine_params(plain), "auto"
        dsp -= freed
        back.append(n.name)
    return back


MAPS_URAM_VERSION = 9  # the description version that binds the shared engine's map slots to URAM


def place_shared_maps(acc: Accelerator, budget: dict[str, float], room: dict[str, float]) -> bool:
    """The shared engine's map slots moved from BRAM to URAM (the description's
    `shared.maps_impl`, version 9) while BRAM is over its budget, if that saves at least 2
    BRAM36 per URAM288 and the URAM budget has room. The cheapest URAM move there is: the
    engine writes every slot within the frame before reading it, so there is nothing to load
    and no fill stream (measured on the full-size VarGFaceNet on KV260 with stages 3 and 4
    shared at GP 1, 2026-12-08: two banks of 24.5k x 32 bits, 48 BRAM36 as BRAM). `room` is
    the design's use, updated in place; returns whether the slots moved."""
    from hls.shared_cost import part_node

    if acc.shared is None or acc.shared.get("maps_impl", "bram") != "bram" or room["BRAM36"] <= budget["BRAM36"]:
        return False
    spec = acc.shared
    before = part_node(acc).engine().resources()
    acc.shared = {**spec, "maps_impl": "uram"}
    after = part_node(acc).engine().resources()
    saved, used = before.bram36 - after.bram36, after.uram - before.uram
    if used <= 0 or saved < 2 * used or room["URAM"] + used > budget["URAM"]:
        acc.shared = spec
        return False
    acc.version = max(acc.version, MAPS_URAM_VERSION)
    room["BRAM36"] -= saved
    room["URAM"] += used
    return True


def _take_uram(cands, budget: dict[str, float], room: dict[str, float]) -> None:
    """The moves of weights into URAM caches, most BRAM saved per URAM first, within the URAM
    budget, while BRAM is over its budget. A cache's fill stream must not be what breaks the
    LUT budget (a design already over it still gets its BRAM down: the report then shows how
    far each resource is off)."""
    for _, n, saved, (used, luts) in sorted(cands, key=lambda t: -t[0]):
        if room["BRAM36"] <= budget["BRAM36"]:
            return
        if n.memory != "auto" or room["URAM"] + used > budget["URAM"] \
                or room["LUT"] <= budget["LUT"] < room["LUT"] + luts:
            continue
        n.memory = "uram"  # a cache the parameter buffer fills
        room["BRAM36"] -= saved / 2
        room["URAM"] += used
        room["LUT"] += luts


def _placement_candidates(acc: Accelerator, fps: float):
    """The moves place_memories may make, each (sort key, node, BRAM18 saved, what it uses:
    URAM and LUTs; DDR bytes/s at `fps` and the reader's LUTs; LUTs), for the nodes in BRAM whose
    style is left to the flow. A move to DDR never slows the design: a node whose words take
    at most a fraction f of the port's bytes a frame waits for them at most f of the frame
    (ddr_row_period), and the DDR budget keeps f <= ddr_budget < 1."""
    to_uram: list[tuple[float, Node, int, tuple[int, float]]] = []
    to_ddr: list[tuple[float, Node, int, tuple[float, float]]] = []
    to_lutram: list[tuple[float, Node, int, float]] = []
    for n in acc.nodes:
        e = n.engine()
        if n.memory != "auto" or e.storage("auto") != "bram":
            continue
        if e.ddr_capable and e.memory_problem("uram") is None:
            saved, added = _move_gain(n, "uram")
            if saved > 0 and added.uram > 0 and saved / 2 >= added.uram * 2:
                to_uram.append((saved / added.uram, n, saved, (added.uram, added.lut)))
        if e.memory_role == "rom":
            saved, added = _move_gain(n, "lutram")
            if saved > 0:
                to_lutram.append((added.lut / saved, n, saved, added.lut))
            depth, width = e.bound_memory()
            # read about once a frame (the port's padding may double the bytes)
            if e.ddr_capable and e.memory_problem("ddr") is None and e.ddr_bytes() * 8 <= 2 * depth * width:
                saved, added = _move_gain(n, "ddr")
                if saved > 0:
                    to_ddr.append((-saved, n, saved, (e.ddr_bytes() * fps, added.lut)))
    return to_uram, to_ddr, to_lutram


def ddr_traffic(acc: Accelerator, board: Board, fps: Optional[float]) -> dict:
    """What the nodes that read their weights from DDR (memory "ddr") and the shared part
    (its rows) read, per frame and at `fps`, against one HP port's peak at the design's clock
    (hls/boards.py). An estimate of sustained bandwidth: it leaves out burst latency and the
    DMA's own traffic on the port."""
    from hls.shared_cost import part_node

    nodes = {n.name: n.engine().ddr_bytes() for n in acc.nodes if n.memory == "ddr"}
    pn = part_node(acc)
    if pn is not None:
        nodes[pn.name] = pn.engine().ddr_bytes()
    per_frame = sum(nodes.values())
    peak = board.hp_port_bytes_per_s(acc.clock_mhz)
    rate = per_frame * fps if fps else 0.0
    return {"nodes": nodes, "bytes_per_frame": per_frame, "bytes_per_s": rate,
            "hp_port_bytes_per_s": peak, "fraction_of_hp_port": rate / peak if peak else 0.0}


def ddr_overload(traffic: dict, fps: float) -> Optional[str]:
    """Why a design's weight traffic (ddr_traffic at `fps`) cannot be read in time, or None:
    more bytes a second than one HP port's peak."""
    if traffic["fraction_of_hp_port"] <= 1.0:
        return None
    return (f"it reads {traffic['bytes_per_s'] / 1e9:.2f} GB/s of weights from DDR at its {fps:.0f} FPS, "
            f"{100 * traffic['fraction_of_hp_port']:.0f}% of one HP port's peak "
            f"({traffic['hp_port_bytes_per_s'] / 1e9:.2f} GB/s): over by "
            f"{(traffic['bytes_per_s'] - traffic['hp_port_bytes_per_s']) / 1e9:.2f} GB/s")
