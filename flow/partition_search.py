"""The flow's choice of the partition (`--shared-stages auto`, issue 27 item 1): which
contiguous blocks the shared block engine runs, from the board's budget and the FPS target.

1. Fold the network all resident, for the FPS target (or, with --fit, for the board).
2. Score every contiguous range of blocks on that folding (flow/partition.py predict): the
   resident design with the range shared at the GP its frame budget needs, nothing refolded.
   Ranges the engine cannot run (an FC without an activation, mixed output widths, a global
   pool) and ranges whose DDR traffic exceeds `ddr_limit` of one HP port drop out.
3. Refold the best `shortlist` of them (one of each predicted design) with the range shared (the other nodes' folding and
   memories re-placed around the part) and score those designs.
4. For an FPS target: fold and size the best `sized` of those and the resident design as the
   build does (fold_and_size: event simulations, 2-5 min each at full size), and score them
   again; the FIFOs can take a third of the BRAM and push memories into LUTs (VarGFaceNet
   1.25x at 1000 FPS with stage 3's first four units shared: LUT 123% and BRAM36 115% before,
   180% and 94% sized). By default only the best is sized, and the build keeps that sizing.
5. Keep the best by Scored.key: reaching the FPS target, then least over the budget, then
   fastest (--fit), then least DDR traffic. The all-resident design is one of the candidates, so a design that fits as it is
   shares nothing.

With --fit the scores are those before the FIFOs are sized (the fit's own search sizes once,
afterwards), the ranges are predicted at the resident design's frame budget, and the DDR limit
is checked at each refolded design's own FPS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from flow.folding import fold_and_size, fold_for_board, fold_for_fps
from flow.lowering import Folding
from flow.partition import (AUTO, PartitionError, ROW_HEAD, Scored, SharedChoice, block_ranges, predict,
                            score)
from flow.requantize import Forms
from hls.boards import Board
from hls.estimate import DDR_BUDGET
from hls.shared_program import GAP
from model.arch import Arch
from model.quant import QuantConfig

DDR_LIMIT = DDR_BUDGET  # of one HP port's peak
SHORTLIST = 8  # ranges refolded after the prediction (a fold takes 1-3 s at full size)
# of the refolded designs and the resident one, the best few folded and sized as the build does
# (2-5 min each at full size, measured on VarGFaceNet 1.25x at 1000 FPS, 2026-12-07): by default
# the best one only, whose sizing the build reuses, so the search costs only its folds
SIZED = 1


@dataclass
class Search:
    """What the search tried and kept."""

    chosen: Optional[SharedChoice]  # None: every layer resident
    resident: Scored
    refolded: list[Scored] = field(default_factory=list)
    ranges: int = 0  # contiguous ranges of blocks scored
    runnable: int = 0  # of them, those the engine runs
    over_ddr: int = 0  # of those, left out for their DDR traffic
    ddr_limit: float = DDR_LIMIT
    # the designs folded and sized for the FPS target, by their shared stages (() resident):
    # fold_and_size's (folding result, sizing), and their scores
    sized: dict[tuple[str, ...], tuple[Any, Any]] = field(default_factory=dict)
    sized_scores: list[Scored] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The search's table for the user: the resident design and the refolded ranges, the
        kept one marked (estimates before FIFO sizing)."""
        kept = self.chosen.stages if self.chosen else ()
        if not self.ranges:
            r = self.resident
            return [f"partition search (--shared-stages auto): the resident design is within the budget "
                    f"(LUT {100 * r.utilisation['LUT']:.0f}%, BRAM36 {100 * r.utilisation['BRAM36']:.0f}%, DDR "
                    f"{100 * r.ddr_fraction:.0f}% of one HP port by the estimate before FIFO sizing): nothing shared"]
        out = [f"partition search (--shared-stages auto): {self.ranges} contiguous block ranges, "
               f"{self.runnable} the shared engine runs, {self.over_ddr} of them over {100 * self.ddr_limit:.0f}% "
               f"of one HP port; the best {len(self.refolded)} refolded (estimates before FIFO sizing):",
               "    " + ROW_HEAD]
        for s in [self.resident] + self.refolded:
            out.append(("  * " if s.stages == kept and not self.sized_scores else "    ") + s.row())
        if self.sized_scores:
            out.append(f"  the best {len(self.sized_scores)} folded and sized as the build does (the FIFOs' "
                       f"memories placed):")
            for s in self.sized_scores:
                out.append(("  * " if s.stages == kept else "    ") + s.row())
        out.append(f"  kept: {'every layer resident' if not kept else ', '.join(kept) + ' shared'}")
        return out


def search(arch: Arch, quant: QuantConfig, board: Board, clock_mhz: float, fps: Optional[float], fraction: float,
           user: Optional[Folding] = None, forms: Optional[Forms] = None, gp: Optional[int] = None,
           gap: int = GAP, ddr_limit: float = DDR_LIMIT, shortlist: int = SHORTLIST, sized: int = SIZED,
           say: Callable[[str], None] = lambda _: None) -> Search:
    """The partition for `fps` (None: the fastest that fits `fraction` of the board)."""
    def fold(choice: Optional[SharedChoice]):
        if fps:
            return fold_for_fps(arch, quant, board, fps, clock_mhz=clock_mhz, fraction=fraction, user=user,
                                forms=forms, shared=choice)
        return fold_for_board(arch, quant, board, fraction=fraction, clock_mhz=clock_mhz, user=user, forms=forms,
                              shared=choice)

    base = fold(None)
    resident = score(base.accelerator, board, fraction, fps)
    found = Search(None, resident, ddr_limit=ddr_limit)
    if resident.overshoot == 0 and resident.ddr_fraction <= ddr_limit:
        return found  # it fits as it is: sharing would only add DDR traffic
    ranges = block_ranges(arch)
    say(f"partition search: scoring {len(ranges)} block ranges on the resident folding...")
    budget = base.requested_cycles or base.cycles_per_frame
    scored = [p for p in (predict(base.accelerator, SharedChoice(r, gp, gap), board, fraction, fps, budget)
                          for r in ranges) if p is not None]
    found.ranges, found.runnable = len(ranges), len(scored)
    within = [p for p in scored if p.ddr_fraction <= ddr_limit]
    found.over_ddr = len(scored) - len(within)
    for p in _distinct(sorted(within, key=Scored.key))[:shortlist]:
        say(f"partition search: refolding with {p.name} shared...")
        try:
            found.refolded.append(score(fold(SharedChoice(p.stages, gp, gap)).accelerator, board, fraction, fps))
        except PartitionError:
            continue  # the refolded budget asks a GP the part refuses
    pool = [resident] + [s for s in found.refolded if s.ddr_fraction <= ddr_limit]
    if fps and sized:
        pool = _size_best(found, sorted(pool, key=Scored.key)[:sized], arch, quant, board, clock_mhz, fps, fraction,
                          user, forms, gp, gap, say)
    best = min(pool, key=Scored.key)
    found.chosen = SharedChoice(best.stages, gp, gap) if best.stages else None
    return found


def _distinct(ranked: list[Scored]) -> list[Scored]:
    """One range of each predicted design: units of one stage have the same shapes, so a
    stage's ranges of the same length score alike (VarGFaceNet's stage 3 units 1-4, 2-5 and
    3-6); the first of them stands for the others, and the refolds go to different designs."""
    seen: set[tuple] = set()
    out = []
    for p in ranked:
        sig = (tuple(round(v, 6) for v in p.utilisation.values()), p.gp, p.ddr_bytes)
        if sig not in seen:
            seen.add(sig)
            out.append(p)
    return out


def _size_best(found: Search, pool: list[Scored], arch: Arch, quant: QuantConfig, board: Board, clock_mhz: float,
               fps: float, fraction: float, user, forms, gp, gap, say) -> list[Scored]:
    """`pool` folded and sized as the build would (fold_and_size), scored again: the FIFOs
    can take a third of the BRAM and push memories into LUTs, which the unsized estimate does
    not see. The sized designs are kept in found.sized for the caller to reuse."""
    out = []
    for p in pool:
        choice = SharedChoice(p.stages, gp, gap) if p.stages else None
        say(f"partition search: sizing the FIFOs of {p.name}{' shared' if p.stages else ''}...")
        try:
            fr, sz = fold_and_size(arch, quant, board, clock_mhz, fps, fraction, user, forms=forms, shared=choice)
        except PartitionError:
            continue
        found.sized[p.stages] = (fr, sz)
        out.append(score(fr.accelerator, board, fraction, fps))
    found.sized_scores = out
    return out or pool


def resolve(choice: Optional[SharedChoice], arch: Arch, quant: QuantConfig, board: Board, clock_mhz: float,
            fps: Optional[float], fraction: float, user: Optional[Folding] = None, forms: Optional[Forms] = None,
            say: Callable[[str], None] = print) -> tuple[Optional[SharedChoice], Optional[tuple[Any, Any]]]:
    """The partition to build: `choice` as named, or for AUTO the search's (its table said);
    with the search's folded and sized design for it where it made one (fold_and_size's
    (folding result, sizing)), else None."""
    if choice is None or choice.stages != (AUTO,):
        return choice, None
    found = search(arch, quant, board, clock_mhz, fps, fraction, user, forms, choice.gp, choice.gap, say=say)
    for line in found.lines():
        say(line)
    return found.chosen, found.sized.get(found.chosen.stages if found.chosen else ())
