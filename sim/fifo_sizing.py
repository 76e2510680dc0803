"""FIFO depths: the smallest the simulation shows to neither deadlock nor lower throughput.

1. Simulate with unbounded FIFOs: the reference throughput and each FIFO's peak occupancy.
   With every depth at its peak the schedule is exactly the unbounded one (no producer ever
   finds a FIFO full), so these peaks are always a safe answer. It is FINN's method (it reads
   them from an RTL simulation), but it over-sizes: a fast process runs ahead and fills the
   FIFO in front of a slower one although stalling it would cost nothing.
2. So the depths are taken from a second unbounded run in which every process is slowed to
   the bottleneck's cycles per frame (rate-matched, as in a balanced pipeline): what is left
   in a FIFO there is what the structure needs, the skew a residual or branch-merge join must
   absorb while the other branch catches up (a sliding window's rows, an SE block's whole
   frame), and the burstiness of sliding windows; it can also be more than the real peak
   (slowed branches skew more), so each depth is the smaller of the two, and at least one
   job's words; a sliding window's input at least its fill (the rows it reads at a frame's
   start before it writes), capped at the peak. With `steady`, every depth is also at least
   what the steady state needs by sim/steady_depths.py's model (the frames overlapping down
   the pipeline at the goal's period: a sliding window's swing between its fill rows and its
   last rows, a join's wait for its slower branch), which the few frames simulated here do
   not show.
3. The real design is simulated with these depths; FIFOs are deepened round by round (to
   their step-1 peak on a deadlock, by doubling on lost throughput)
   where it deadlocks (the full FIFOs the deadlock report names) or loses throughput (FIFOs
   whose producer was blocked while their consumer starved). After `rounds` rounds the
   peaks of step 1 are used instead, and the FIFOs are given back their refined depths by
   group testing: all of them at once, and where the simulation then shows a deadlock or lost
   throughput, each half separately, and so on (at most `shrink` simulations); a group is
   kept only where the simulation holds, so the result is as safe as the peaks. The blame
   heuristic can miss the few FIFOs that cost throughput while the others are fine: in a
   64x64 VarGFaceNet it left all 260 FIFOs, 4.9 Mbit, at their peaks.
4. FIFOs still deeper than a frame of their stream are cut to just over one frame (not below
   the steady-state floor), again by group testing, where the simulation holds
   (`_trim_to_frame`: step 2 over-estimates the FIFOs that wait for an SE block's gate, and
   the unbounded peak is no smaller where the upstream runs ahead; a full-size VarGFaceNet's
   stage-3 shortcuts came out two frames deep).
5. The depths are simulated once more over enough frames for the steady state (as deep in
   frames as the pipeline is, sim/events.py steady_frames; steps 1-4 run over FRAMES frames to
   keep the many simulations cheap). Where they do not hold there, the frame-deep FIFOs are
   doubled and the FIFOs that simulation blames deepened by half until it holds
   (`_hold_steady`): a FIFO that fills only once the frames overlap all the way down the
   pipeline back-pressures its producers after the first few frames. With step 2's floor
   this check held at once on the designs measured (2026-12-08).

What must hold is the unbounded throughput within `tolerance`, or, when the design was folded
for a requested frame rate (`target_cycles`, the clock over the FPS asked for), that rate if it
is slower: folding is discrete, so a design often runs faster than asked, and that surplus is
slack the FIFOs need not protect. Without it, a design whose every layer runs at the
bottleneck's rate (nothing can absorb a stall) may need every FIFO at its unbounded peak.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Callable, Optional

import numpy as np

from sim.events import SimResult, simulate, simulate_steady
from sim.programs import Program, fixed_depths, min_depths, programs
from sim.steady_depths import steady_depths


@dataclass
class Sizing:
    depths: dict[str, int]
    reference: SimResult  # unbounded FIFOs, real rates
    final: SimResult  # with `depths`
    rounds: int
    fell_back: bool
    given_back: int = 0  # after a fall-back: FIFOs returned from their peak to the refined depth
    goal_cycles: float = 0.0  # the cycles per frame the depths had to hold
    requested: bool = False  # the goal is the requested frame rate, not the unbounded throughput
    trimmed: int = 0  # FIFOs cut from more than a frame to just over one (_trim_to_frame)
    steady_frames: int = 0  # frames of the steady-state check (_hold_steady); 0: not run
    steady_deepened: int = 0  # FIFOs that check deepened
    holds_steady: bool = True  # whether the depths hold the goal over steady_frames

    def describe(self) -> str:
        """How the depths were found, for logs (the flow's build, sim/run.py)."""
        goal = (f"holding the requested {self.goal_cycles:,.0f} cycles per frame" if self.requested
                else "holding the unbounded throughput")
        trim = f"; {self.trimmed} FIFOs cut to just over a frame" if self.trimmed else ""
        steady = ""
        if self.steady_frames:
            cpf = self.final.cycles_per_frame() or 0.0
            steady = (f"; over {self.steady_frames} frames ("
                      + ("settled" if self.final.settled else "not settled: the latest interval while fed")
                      + "): "
                      + ("held" if self.holds_steady else f"NOT held, {cpf:,.0f} cycles per frame")
                      + (f" after deepening {self.steady_deepened} FIFOs" if self.steady_deepened else ""))
        if not self.fell_back:
            return f"{self.rounds} rounds, {goal}{trim}{steady}"
        return (f"{self.rounds} rounds did not converge {goal}: fell back to the unbounded peaks, then "
                f"gave {self.given_back} FIFOs back their refined depth where the simulation kept it{trim}{steady}")

    def as_dict(self) -> dict:
        """The sizing's outcome for reports (estimate.json's `fifo_sizing`)."""
        return {"rounds": self.rounds, "fell_back_to_unbounded_peaks": self.fell_back,
                "given_back": self.given_back, "trimmed_to_a_frame": self.trimmed,
                "goal_cycles_per_frame": round(self.goal_cycles, 1),
                "goal": "requested frame rate" if self.requested else "unbounded throughput",
                "unbounded_cycles_per_frame": self.reference.cycles_per_frame(),
                "cycles_per_frame": self.final.cycles_per_frame(),
                "steady_state_frames": self.steady_frames, "steady_state_deepened": self.steady_deepened,
                "holds_at_steady_state": self.holds_steady}


def rate_matched(progs: list[Program]) -> list[Program]:
    """Every process stretched to the slowest process's cycles per frame."""
    slowest = max(p.frame_cycles for p in progs)
    out = []
    for p in progs:
        f = slowest / max(p.frame_cycles, 1)
        out.append(replace(p, cycles=np.ceil(p.cycles * f).astype(np.int64)))
    return out


FRAMES = 3  # frames simulated per sizing round


def write_depths(acc, sz: "Sizing", progs: list[Program]) -> None:
    """The sizing's depths into the description; a stream the hardware fixes (a program's
    `fixed`: the narrow sides of a packed FIFO) gets the fixed depth the simulation used, and
    one the simulation does not see (inside a shared part) keeps its own."""
    fixed = fixed_depths(progs)
    for st in acc.streams:
        st.depth = fixed.get(st.name, sz.depths.get(st.name, st.depth))


def size_and_place(acc, place: Callable[[], None], target_cycles: Optional[float] = None,
                   frames: int = FRAMES, limit: int = 3) -> "Sizing":
    """The design's FIFOs sized (size_fifos, the depths written into `acc`), then `place()`
    (the caller's memory and multiplier placement, hls/estimate.py place_resources). Where that
    packed FIFOs into URAM (hls/fifo_packing.py), the design has new converters and streams
    whose words move in groups: it is sized again, the packed FIFOs with it, and placed again,
    until the placement packs nothing more (at most `limit` sizings). One sizing's depths on a
    packed design can deadlock: the full-size VarGFaceNet at 1000 FPS did (2026-12-07), its
    joins trimmed to a frame meeting a shortcut whose words now come k at a time."""
    def sized() -> Sizing:
        progs = programs(acc)
        sz = size_fifos(progs, frames=frames, target_cycles=target_cycles)
        write_depths(acc, sz, progs)
        return sz

    sz = sized()
    for _ in range(limit - 1):
        streams = len(acc.streams)
        place()
        if len(acc.streams) == streams:
            break
        sz = sized()
    return sz


def size_fifos(progs: list[Program], frames: int = FRAMES, rounds: int = 12,
               tolerance: float = 0.01, shrink: int = 64,
               target_cycles: Optional[float] = None, trim: bool = True, steady: bool = True) -> Sizing:
    """The depths (the module's steps 1-4 over `frames` frames), then, with `steady`, checked
    over enough frames for the steady state and deepened where they do not hold it there
    (_hold_steady)."""
    sz = _size_over(progs, frames, rounds, tolerance, shrink, target_cycles, trim, steady)
    return _hold_steady(progs, sz, frames) if steady else sz


def _size_over(progs: list[Program], frames: int, rounds: int, tolerance: float, shrink: int,
               target_cycles: Optional[float], trim: bool, steady: bool = False) -> Sizing:
    ref = simulate(progs, {}, frames)
    if ref.deadlock:  # cannot happen with unbounded FIFOs unless a program is inconsistent
        raise RuntimeError(f"the design deadlocks even with unbounded FIFOs: {ref.deadlock}")
    if target_cycles is not None and target_cycles <= 0:
        raise ValueError(f"target_cycles {target_cycles}: must be positive")
    own = (ref.cycles_per_frame() or 0.0) * (1 + tolerance)
    requested = target_cycles is not None and target_cycles > own
    goal = target_cycles if requested else own
    lmin = min_depths(progs)
    matched = simulate(rate_matched(progs), {}, frames)
    depths = {s: max(min(f.peak, ref.fifos[s].peak), lmin.get(s, 2))
              for s, f in matched.fifos.items()}
    # A sliding window reads its fill rows at every frame start before it writes anything:
    # unless its input FIFO holds them, everything upstream stalls at each frame boundary
    # (full-size VarGFaceNet lost 1.2% to it and the rounds below did not converge).
    for p in progs:
        if p.buffers_lead:
            for s, w in zip(p.inputs, p.lead_consume()):
                depths[s] = max(depths[s], min(int(w), max(ref.fifos[s].peak, 2)))
    fixed = fixed_depths(progs)
    floor = {s: d for s, d in steady_depths(progs, goal).items() if s in depths and s not in fixed} if steady else {}
    for s, d in floor.items():
        depths[s] = max(depths[s], d)
    lmin = {**lmin, **{s: max(lmin.get(s, 2), d) for s, d in floor.items()}}  # what trims and give-backs keep

    holds = _holds(goal)
    res = ref
    for r in range(1, rounds + 1):
        res = simulate(progs, depths, frames)
        if holds(res):
            depths, res, trimmed = _trim_to_frame(progs, depths, res, lmin, frames, holds) if trim else (depths, res, 0)
            return Sizing(depths, ref, res, r, False, 0, goal, requested, trimmed)
        blamed = _blamed(progs, res)
        if not blamed:
            break
        for s in blamed:  # deadlock: to the peak at once; lost throughput: doubling
            depths[s] = (max(ref.fifos[s].peak, depths[s]) if res.deadlock
                         else min(max(2 * depths[s], depths[s] + 1), max(ref.fifos[s].peak, depths[s] + 1)))
    peaks = {s: max(f.peak, lmin.get(s, 2)) for s, f in ref.fifos.items()}
    gaps = sorted((s for s in peaks if depths.get(s, peaks[s]) < peaks[s]),
                  key=lambda s: peaks[s] - depths[s], reverse=True)
    best, final, given = _give_back(progs, peaks, simulate(progs, peaks, frames),
                                    {s: depths[s] for s in gaps}, frames, holds, shrink)
    best, final, trimmed = _trim_to_frame(progs, best, final, lmin, frames, holds) if trim else (best, final, 0)
    return Sizing(best, ref, final, rounds, True, given, goal, requested, trimmed)


def _give_back(progs: list[Program], best: dict[str, int], final: SimResult, smaller: dict[str, int],
               frames: int, holds, budget: int) -> tuple[dict[str, int], SimResult, int]:
    """Group testing: all of `smaller` (depths below `best`'s, in order of preference) at
    once, and where the simulation then does not hold, each half separately, and so on (at
    most `budget` simulations), each trial on top of what was kept. (depths, their
    simulation, FIFOs given their smaller depth)."""
    order = list(smaller)
    groups = [order] if order else []
    given = 0
    for _ in range(budget):
        if not groups:
            break
        g = groups.pop(0)
        trial = {**best, **{s: smaller[s] for s in g}}
        res = simulate(progs, trial, frames)
        if holds(res):
            best, final, given = trial, res, given + len(g)
        elif len(g) > 1:
            groups[:0] = [g[:len(g) // 2], g[len(g) // 2:]]
    return best, final, given


STEADY_ROUNDS = 6  # deepenings _hold_steady tries after the frame-deep FIFOs'
STEADY_GIVE_BACK = 3  # simulations it spends giving frame-deep FIFOs their depth back
STEADY_GROWTH = 1.5  # each deepens a blamed FIFO by half


def _hold_steady(progs: list[Program], sz: Sizing, frames: int) -> Sizing:
    """The sized depths simulated until the frames settle into their steady state
    (sim/events.py simulate_steady, from the reference's steady_frames). Where they do not
    hold the goal there, every frame-deep FIFO (a residual's shortcut, an SE block's frame:
    what they must hold depends on how the frames overlap, which a few frames do not show) is
    doubled, and the ones that need not be are given back by group testing over as many
    frames (at most STEADY_GIVE_BACK simulations); if that does not hold either, the FIFOs the
    simulation blames are deepened by half, as the rounds do, at most STEADY_ROUNDS times.
    Measured (2026-12-07): the full-size VarGFaceNet at 1000 FPS held 3 frames and lost 43% of
    its rate from the fifth (three shortcuts cut to just over a frame; all three at 1.5 times
    held 8 frames, any two did not); the 64x64 one folded for 1050 FPS lost 47% over 24
    frames, its 26 frame-deep FIFOs at 1.5 times still lost 34%, and doubled held.
    Sizing.holds_steady says whether it held."""
    long = max(frames, sz.reference.steady_frames())
    holds = _holds(sz.goal_cycles)  # at the steady state, or the latest interval while fed
    fixed = fixed_depths(progs)
    words = _frame_words(progs)
    depths = dict(sz.depths)
    res = _steady(progs, depths, long, "the sized depths")
    if holds(res):
        return replace(sz, final=res, steady_frames=res.frames)
    deep = {s: d for s, d in depths.items() if s not in fixed and words.get(s, 0) >= TRIM_MIN_WORDS
            and d >= 0.9 * words[s]}
    grown = {**depths, **{s: 2 * d for s, d in deep.items()}}
    res = _steady(progs, grown, long, f"{len(deep)} frame-deep FIFOs doubled")
    if holds(res):
        best, res, given = _give_back(progs, grown, res, deep, res.frames, holds, STEADY_GIVE_BACK)
        return replace(sz, depths=best, final=res, steady_frames=res.frames, steady_deepened=len(deep) - given)
    depths, deepened = grown, set(deep)
    for _ in range(STEADY_ROUNDS):
        blamed = _blamed(progs, res) - fixed.keys()
        if not blamed:
            break
        for s in blamed:
            depths[s] = max(math.ceil(STEADY_GROWTH * depths[s]), depths[s] + 1)
        deepened |= blamed
        res = _steady(progs, depths, long, f"{len(blamed)} blamed FIFOs deepened")
        if holds(res):
            break
    return replace(sz, depths=depths, final=res, steady_frames=res.frames, steady_deepened=len(deepened),
                   holds_steady=holds(res))


def _holds(goal: float) -> Callable[[SimResult], bool]:
    """Whether a simulation holds `goal` cycles a frame, without a deadlock."""
    def holds(res: SimResult) -> bool:
        cpf = res.cycles_per_frame()
        return res.deadlock is None and cpf is not None and cpf <= goal
    return holds


def _blamed(progs: list[Program], res: SimResult) -> set[str]:
    """The FIFOs to deepen after a simulation that did not hold: the full ones of a deadlock,
    else the too shallow ones and those along the bottleneck's hold-ups."""
    if res.deadlock:
        return set(res.deadlock.full)
    return _too_shallow(progs, res) | _bottleneck_chain(progs, res)


def _steady(progs: list[Program], depths: dict[str, int], least: int, what: str) -> SimResult:
    """simulate_steady with a progress line (at full size one takes 1-3 min)."""
    t0 = time.perf_counter()
    res = simulate_steady(progs, depths, least)
    print(f"  steady-state check, {what}: {res.cycles_per_frame() or 0:,.0f} cycles a frame over {res.frames} "
          f"frames{'' if res.settled else ' (not settled)'} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return res


def _frame_words(progs: list[Program]) -> dict[str, int]:
    """Words a frame per stream."""
    return {s: int(p.produce[:, j].sum()) if p.produce.size else 0
            for p in progs for j, s in enumerate(p.outputs)}


FRAME_MARGIN = 1.05  # a trimmed FIFO holds its stream's frame and 5% more
TRIM_MIN_WORDS = 512  # streams with fewer words a frame are not worth a simulation


def _trim_to_frame(progs: list[Program], depths: dict[str, int], res: SimResult, lmin: dict[str, int],
                   frames: int, holds, budget: int = 16) -> tuple[dict[str, int], SimResult, int]:
    """FIFOs that the estimates above leave deeper than a frame (a residual's shortcut or an
    SE scale's input: they must hold a frame while the gate is computed) cut to
    FRAME_MARGIN of a frame where the simulation still holds the goal at the cycles per frame
    the design had before (a cut never trades the surplus over a requested rate for BRAM:
    on the default design that would have cost 1324 -> 1269 FPS for 8.5 BRAM36). The rate-matched run
    over-estimates them: it stretches each process of the SE branch after the pool (its
    thresholds, the width converters, FC1, FC2: one vector a frame, 160 to 1,280 cycles) to
    the bottleneck's whole frame, so the gate comes frames late; and in the unbounded run the
    upstream runs ahead. Measured on the full-size VarGFaceNet at 1000 FPS (2026-12-01): a
    stage-3 shortcut of 31,360 words a frame peaked at 94,080 words rate-matched and 62,720
    unbounded, and with it and the other seven such FIFOs at 1.1 frames the simulated
    throughput was unchanged."""
    words = _frame_words(progs)
    target = {s: max(lmin.get(s, 2), math.ceil(FRAME_MARGIN * words[s])) for s in depths if s in words}
    over = sorted((s for s, t in target.items() if words[s] >= TRIM_MIN_WORDS and depths[s] > t),
                  key=lambda s: depths[s] - target[s], reverse=True)
    before = res.cycles_per_frame() or 0.0

    def keeps(trial: SimResult) -> bool:  # the goal, and no throughput given for the BRAM
        cpf = trial.cycles_per_frame()
        return holds(trial) and cpf is not None and cpf <= before

    return _give_back(progs, depths, res, {s: target[s] for s in over}, frames, keeps, budget)


def _too_shallow(progs: list[Program], res: SimResult, keep: float = 0.1,
                 most: int = 25) -> set[str]:
    """Streams whose producer was blocked and whose consumer starved, the worst first."""
    prod = {s: p.name for p in progs for s in p.outputs}
    cons = {s: p.name for p in progs for s in p.inputs}
    score = {s: min(res.procs[prod[s]].blocked, res.procs[cons[s]].starved)
             for s in prod if s in cons}
    top = max(score.values(), default=0)
    if top == 0:
        return set()
    ranked = sorted((v, s) for s, v in score.items() if v >= keep * top)[::-1][:most]
    return {s for _, s in ranked}


def _bottleneck_chain(progs: list[Program], res: SimResult) -> set[str]:
    """The FIFOs through which the bottleneck process was held up: downstream along blocked
    consumers when it was blocked, upstream along starved producers when it was starved."""
    by_name = {p.name: p for p in progs}
    prod = {s: p.name for p in progs for s in p.outputs}
    cons = {s: p.name for p in progs for s in p.inputs}
    b = res.bottleneck()
    out: set[str] = set()

    def walk(held, streams, neighbour) -> None:
        todo, seen = [b], {b}
        while todo:
            name = todo.pop()
            if not held(name):
                continue
            for s in streams(by_name[name]):
                out.add(s)
                n = neighbour.get(s)
                if n and n not in seen:
                    seen.add(n)
                    todo.append(n)

    # downstream along blocked producers, upstream along starved consumers
    walk(lambda n: res.procs[n].blocked > 0, lambda p: p.outputs, cons)
    walk(lambda n: res.procs[n].starved > by_name[n].cycles[0], lambda p: p.inputs, prod)
    return out
