"""The partition: which stages the shared block engine runs (issue 27), chosen by the user
(`--shared-stages`), and the engine's array size GP, given or chosen here for the frame's
cycle budget. The description then carries the shared part (hls/shared_part.py share)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from hls.accel import Accelerator
from hls.boards import Board
from hls.shared_program import GAP, ProgramError, part_layers
from model.arch import Arch

GP_MAX = 32  # the largest array tried: 16 x 32 x 8 = 4096 MACs a cycle


class PartitionError(ValueError):
    """A partition that cannot be built; the message names the problem."""


@dataclass(frozen=True)
class SharedChoice:
    stages: tuple[str, ...]
    gp: Optional[int] = None  # None: the smallest array that meets the frame's cycle budget
    gap: int = GAP

    def layers(self, arch: Arch) -> set[str]:
        """The layers the shared engine runs."""
        try:
            return {layer.name for layer in part_layers(arch, self.stages)}
        except ProgramError as e:
            raise PartitionError(str(e)) from None


def part_cycles(acc: Accelerator, stages: tuple[str, ...], gp: int, gap: int) -> int:
    """The shared part's frame cycles with an array of GP groups (hls/shared_cost.py)."""
    from hls.shared_cost import part_node
    from hls.shared_part import shared_part

    node = part_node(acc, shared_part(acc, stages, gp, gap))
    assert node is not None
    return node.engine().cycles()


def choose_gp(acc: Accelerator, choice: SharedChoice, budget: Optional[int]) -> int:
    """choice.gp, or the smallest GP the program runs on whose part takes at most `budget`
    cycles a frame (the fastest one when none does; GP_MAX tried at most)."""
    if choice.gp is not None:
        return choice.gp
    best: Optional[tuple[int, int]] = None
    problems = []
    for gp in range(1, GP_MAX + 1):
        try:
            cyc = part_cycles(acc, choice.stages, gp, choice.gap)
        except ProgramError as e:
            problems.append(f"GP {gp}: {e}")
            continue
        if budget is not None and cyc <= budget:
            return gp
        if best is None or cyc < best[1]:
            best = (gp, cyc)
    if best is None:
        first = problems[0].split(": ", 1)[1] if problems else ""
        if problems and all(p.split(": ", 1)[1] == first for p in problems):  # the same at every GP
            raise PartitionError(f"the shared engine cannot run {', '.join(choice.stages)}: {first}")
        raise PartitionError(f"the shared engine cannot run {', '.join(choice.stages)} at any GP up to "
                             f"{GP_MAX}: {problems[0] if problems else ''}")
    return best[0]


def apply(acc: Accelerator, choice: Optional[SharedChoice], board: Board, budget: Optional[int]) -> Accelerator:
    """The description with its shared part (unchanged without a choice)."""
    if choice is None:
        return acc
    from hls.shared_part import share

    gp = choose_gp(acc, choice, budget)
    try:
        return share(acc, list(choice.stages), gp, choice.gap)
    except ProgramError as e:
        raise PartitionError(f"shared stages {', '.join(choice.stages)} at GP {gp}: {e}") from None
