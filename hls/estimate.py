"""Per-node and whole-design resource and cycle estimates of an accelerator description, and
the placement of large memories into URAM. Pure Python; used by the folding search, the
simulator's report and the flow's report (one definition)."""

from __future__ import annotations

from dataclasses import dataclass

from hls.accel import Accelerator, Node
from hls.boards import Board
from hls import resources as R


def node_resources(n: Node, e=None) -> R.Resources:
    """The node's engine's estimate with the node's memory and MAC styles."""
    return (e if e is not None else n.engine()).resources(n.memory, n.mac)


def node_buffer_bits(n: Node, e=None) -> dict[str, int]:
    """Storage a node holds, by purpose (bits)."""
    return (e if e is not None else n.engine()).buffer_bits()


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

    def utilisation(self, board: Board) -> dict[str, float]:
        b = board.budget(1.0)
        t = self.total.as_dict()
        return {k: (t[k] / b[k] if b[k] else (0.0 if t[k] == 0 else float("inf"))) for k in t}


def estimate(acc: Accelerator) -> DesignEstimate:
    per = {n.name: node_resources(n) for n in acc.nodes}
    fifo = R.Resources()
    for s in acc.streams:
        fifo = fifo + R.fifo(s.depth, s.width_bits)
    total = fifo
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


def place_memories(acc: Accelerator, board: Board, fraction: float = 0.8) -> None:
    """While the design's BRAM is above fraction x the board's, rebinds the memories whose
    node leaves the style to the flow (`memory` auto; in place, a user's ram_style is kept):

    1. run-time RAMs (SE frame buffers) into URAM, most BRAM saved per URAM first, while the
       URAM budget has room; a move must save at least 2 BRAM36 per URAM288 (which holds as
       much as 8);
    2. then ROMs (weights) that the estimate puts in BRAM into LUTRAM, fewest LUTs per BRAM
       saved first, while the LUT budget has room.

    Weights never go to URAM: UltraScale+ URAM has no initial contents from a bitstream
    (UG901), and the design has no path that loads it. The generated code binds every
    placement (the config's W_STORAGE / FRAME_STORAGE), so the estimate is what synthesis is
    told."""
    budget = board.budget(fraction)
    est = estimate(acc)
    bram, uram, lut = est.total.bram36, est.total.uram, est.total.lut
    to_uram: list[tuple[float, Node, int, int]] = []
    to_lutram: list[tuple[float, Node, int, float]] = []
    for n in acc.nodes:
        if n.memory != "auto":
            continue
        e = n.engine()
        if e.storage("auto") != "bram":
            continue
        if e.memory_role == "ram":
            saved, added = _move_gain(n, "uram")
            if saved > 0 and added.uram > 0 and saved / 2 >= added.uram * 2:
                to_uram.append((saved / added.uram, n, saved, added.uram))
        elif e.memory_role == "rom":
            saved, added = _move_gain(n, "lutram")
            if saved > 0:
                to_lutram.append((added.lut / saved, n, saved, added.lut))
    for _, n, saved, used in sorted(to_uram, key=lambda t: -t[0]):
        if bram <= budget["BRAM36"]:
            return
        if uram + used > budget["URAM"]:
            continue
        n.memory = "uram"
        bram -= saved / 2
        uram += used
    for _, n, saved, luts in sorted(to_lutram, key=lambda t: t[0]):
        if bram <= budget["BRAM36"]:
            return
        if lut + luts > budget["LUT"]:
            continue
        n.memory = "lutram"
        bram -= saved / 2
        lut += luts
