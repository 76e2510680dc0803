"""The partition: which blocks the shared block engine runs (issue 27), named by the user
(`--shared-stages stage4`) or searched by the flow (`--shared-stages auto`,
flow/partition_search.py, from the candidates and scores defined here), and the engine's array
size GP, given or chosen here for the frame's cycle budget. The description then carries the
shared part (hls/shared_part.py share)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from hls.accel import Accelerator
from hls.boards import Board
from hls.engines import EngineError
from hls.estimate import ddr_traffic, estimate, frame_cycles
from hls.shared_program import GAP, ProgramError, blocks, part_layers
from model.arch import Arch

GP_MAX = 32  # the largest array tried: 16 x 32 x 8 = 4096 MACs a cycle
AUTO = "auto"  # --shared-stages auto: the flow searches the partition
NONE = "none"  # --shared-stages none: every layer resident


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
        except (ProgramError, EngineError) as e:  # EngineError: the part's stream converters refuse its maps
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
    except (ProgramError, EngineError) as e:
        raise PartitionError(f"shared stages {', '.join(choice.stages)} at GP {gp}: {e}") from None


def parse_stages(names: Optional[Sequence[str]]) -> Optional[tuple[str, ...]]:
    """--shared-stages as given: None (not given, or "none": every layer resident), (AUTO,)
    for the search, else the stage or block names (PartitionError for "auto" or "none" among
    other names)."""
    if not names:
        return None
    names = tuple(names)
    special = [n for n in names if n in (AUTO, NONE)]
    if special and len(names) > 1:
        raise PartitionError(f"--shared-stages {' '.join(names)}: {special[0]} stands alone "
                             f"(or name the stages)")
    return None if names == (NONE,) else names


def choice(names: Optional[Sequence[str]], gp: Optional[int]) -> Optional[SharedChoice]:
    """The SharedChoice of --shared-stages and --shared-gp (parse_stages; None: all resident;
    PartitionError for a GP with no shared part)."""
    stages = parse_stages(names)
    if stages is None:
        if gp is not None and names:
            raise PartitionError(f"--shared-gp {gp} with --shared-stages {NONE}: there is no shared part to size")
        return None
    return SharedChoice(stages, gp)


def compact(arch: Arch, chosen: Sequence[str]) -> tuple[str, ...]:
    """Contiguous blocks (hls/shared_program.py blocks) named shortly: a stage whose blocks
    are all chosen by the stage's name, the others by their own."""
    stage_of = {".".join(layer.name.split(".")[:2]): layer.stage for layer in arch.layers}
    by_stage: dict[str, list[str]] = {}
    for b in blocks(arch):
        by_stage.setdefault(stage_of[b], []).append(b)
    out: list[str] = []
    for b in chosen:
        st = stage_of[b]
        if all(x in chosen for x in by_stage[st]):
            if st not in out:
                out.append(st)
        else:
            out.append(b)
    return tuple(out)


def block_ranges(arch: Arch) -> list[tuple[str, ...]]:
    """The partitions searched: every contiguous range of the network's blocks (the part has
    one input map and one output map, so it is a range; whether the engine runs it is for
    score to find out)."""
    bl = blocks(arch)
    return [compact(arch, bl[i:j]) for i in range(len(bl)) for j in range(i + 1, len(bl) + 1)]


@dataclass(frozen=True)
class Scored:
    """One partition's design by the estimate: its resources, frame rate and DDR traffic."""

    stages: tuple[str, ...]  # () : every layer resident
    gp: Optional[int]
    utilisation: dict[str, float]
    overshoot: float  # DesignEstimate.overshoot: 0 when within the fraction of every resource
    fps: float  # the FPS target, or (--fit) the design's own; its own where slower than the target
    ddr_bytes: int  # weights and rows read from DDR a frame (the shared part's and DDR nodes')
    ddr_fraction: float  # of one HP port's peak at fps
    meets: bool = True  # it reaches the FPS target (always with --fit)

    @property
    def name(self) -> str:
        if not self.stages:
            return "all resident"
        return ", ".join(self.stages) if len(self.stages) <= 2 else f"{self.stages[0]} .. {self.stages[-1]}"

    def key(self) -> tuple[float, float, int]:
        """The search's order, best first: reaching the FPS target, then least over the budget,
        then fastest, then least DDR traffic (so sharing is chosen only where it pays). A part
        whose engine cannot reach the target at any GP its channels allow (the full-size
        VarGFaceNet's stage 2 enters with 40 channels: GP 1 or 5, 418,961 cycles a frame)
        ranks after every design that does, however few resources it takes."""
        return (not self.meets, round(self.overshoot, 6), -round(self.fps, 3), self.ddr_bytes)

    def row(self) -> str:
        u = self.utilisation
        return (f"{self.name:<34}{'' if self.gp is None else self.gp:>4}{self.fps:>9.0f}"
                + "".join(f"{100 * u[k]:>7.0f}%" for k in ("LUT", "FF", "DSP", "BRAM36", "URAM"))
                + f"{self.ddr_bytes / 1e6:>9.3f}{100 * self.ddr_fraction:>6.0f}%")


ROW_HEAD = (f"{'shared part':<34}{'GP':>4}{'FPS':>9}{'LUT':>8}{'FF':>8}{'DSP':>8}{'BRAM36':>8}{'URAM':>8}"
            f"{'DDR MB':>9}{'HP':>7}")


def score(acc: Accelerator, board: Board, fraction: float, fps: Optional[float]) -> Scored:
    """A design's Scored (its shared part, if any, from its description); fps None: the
    design's own frame rate."""
    est = estimate(acc)
    own = acc.clock_mhz * 1e6 / frame_cycles(acc, board)
    rate = min(fps, own) if fps else own
    t = ddr_traffic(acc, board, rate)
    sh = acc.shared or {}
    return Scored(tuple(sh.get("stages", ())), sh.get("gp"), est.utilisation(board), est.overshoot(board, fraction),
                  rate, int(t["bytes_per_frame"]), t["fraction_of_hp_port"], fps is None or own >= fps * (1 - 1e-9))


def predict(acc: Accelerator, choice: SharedChoice, board: Board, fraction: float, fps: Optional[float],
            budget: Optional[int]) -> Optional[Scored]:
    """A resident design's Scored with `choice` shared and nothing else changed (the other
    nodes' folding and memories as they are: the search refolds the best few); None where the
    engine cannot run the part."""
    try:
        shared = apply(acc, choice, board, budget)
    except PartitionError:
        return None
    return score(shared, board, fraction, fps)
