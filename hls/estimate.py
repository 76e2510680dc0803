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


def place_memories(acc: Accelerator, board: Board, fraction: float = 0.8) -> None:
    """Moves BRAM-backed memories (weights, SE frame buffers) into URAM, best BRAM saved per
    URAM spent first, while the design's BRAM is above fraction x the board's and the URAM
    budget has room (in place). A memory whose URAM form is not smaller in capacity terms
    (one URAM288 holds as much as 8 BRAM36) stays in BRAM; an engine whose estimate does not
    change with its memory style has nothing to move."""
    cands: list[tuple[float, Node, int, int]] = []
    for n in acc.nodes:
        if n.memory == "auto":  # keep a user's ram_style
            before = node_resources(n)
            if not before.bram18:
                continue
            n.memory = "uram"
            after = node_resources(n)
            n.memory = "auto"
            saved = before.bram18 - after.bram18
            used = after.uram - before.uram
            if saved > 0 and used > 0 and saved / 2 >= used * 2:  # at least 2 BRAM36 per URAM
                cands.append((saved / used, n, saved, used))
    cands.sort(key=lambda t: -t[0])
    est = estimate(acc)
    bram, uram = est.total.bram36, est.total.uram
    for _, n, saved, used in cands:
        if bram <= board.bram36 * fraction:
            break
        if uram + used > board.uram * fraction:
            continue
        n.memory = "uram"
        bram -= saved / 2
        uram += used
