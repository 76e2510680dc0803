"""Event-driven simulation of the dataflow: processes (sim/programs.py) joined by bounded FIFOs
with backpressure, over several consecutive frames.

A process starts its next job when every input FIFO holds the words the job reads and every
output FIFO has room for the words it writes (counting words still in flight); it then takes
the input words, is busy for the job's cycles, and its output words appear `latency` cycles
after the job ends. Waiting for input counts as starved, waiting for room as blocked. When
no event is left and some process has not finished, the design has deadlocked: the report
names the cycle, the waiting processes and the full or empty FIFOs they wait on.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Optional

from sim.programs import Program, fixed_depths

UNBOUNDED = 1 << 40


@dataclass
class ProcStats:
    name: str
    kind: str
    busy: int = 0
    starved: int = 0
    blocked: int = 0
    first_output: Optional[int] = None
    finished: Optional[int] = None
    frame_done: list[int] = field(default_factory=list)


@dataclass
class FifoStats:
    name: str
    depth: int
    peak: int = 0
    trace_t: list[int] = field(default_factory=list)
    trace_v: list[int] = field(default_factory=list)


@dataclass
class Deadlock:
    cycle: int
    waiting: list[str]  # "process: waits for <stream> (full 4/4)" lines
    streams: list[str]  # every stream in the wait-for chains
    full: list[str]  # the full streams whose producers are blocked: the ones to deepen

    def __str__(self) -> str:
        return (f"deadlock at cycle {self.cycle}: full FIFOs {', '.join(self.full)}; "
                f"{len(self.streams)} streams in the wait chains\n  " + "\n  ".join(self.waiting))


@dataclass
class SimResult:
    frames: int
    procs: dict[str, ProcStats]
    fifos: dict[str, FifoStats]
    deadlock: Optional[Deadlock]
    end_cycle: int
    sink: str
    settled_cycles: Optional[float] = None  # the steady state's interval, once reached (_settled)
    fed_cycles: Optional[float] = None  # the sink's last interval while the source still fed

    @property
    def settled(self) -> bool:
        return self.settled_cycles is not None

    def frame_ends(self) -> list[int]:
        return self.procs[self.sink].frame_done

    def bottleneck(self) -> str:
        """The process with the most busy cycles: it sets the steady-state rate."""
        return max(self.procs.values(), key=lambda p: p.busy).name

    def cycles_per_frame(self) -> Optional[float]:
        """The steady state's interval where the simulation reached it (settled_cycles), else
        the sink's last interval while the source still fed where the frames were enough to
        see one (fed_cycles), else the interval between the bottleneck process's last two
        frames. A deep pipeline needs many frames before its interval settles:
        simulate_steady runs enough."""
        if self.settled_cycles is not None:
            return float(self.settled_cycles)
        if self.fed_cycles is not None and self.frames >= STEADY_MIN_FED:
            return float(self.fed_cycles)
        ends = self.procs[self.bottleneck()].frame_done
        if len(ends) >= 2:
            return float(ends[-1] - ends[-2])
        ends = self.frame_ends()
        return float(ends[0]) if ends else None

    def latency_cycles(self) -> Optional[int]:
        """Batch-1 latency: first input word of frame 0 to its last output word."""
        ends = self.frame_ends()
        return ends[0] if ends else None

    def steady_frames(self) -> int:
        """Frames a simulation of this design needs for a steady-state interval (steady_frames
        of its latency and cycles per frame)."""
        return steady_frames(self.latency_cycles() or 0, self.cycles_per_frame() or 1)


MOST_FRAMES = 96  # the longest simulation steady_frames and simulate_steady run
STEADY_MIN_FED = 8  # frames from which the sink's interval while fed stands for the rate


def steady_frames(latency_cycles: float, cycles_per_frame: float) -> int:
    """Frames to simulate for the bottleneck's last interval to be the steady state: the first
    frames run into empty FIFOs, and a FIFO that fills only once the frames overlap all the way
    down the pipeline (latency / cycles per frame frames deep) back-pressures its producers
    only then. Two frames more give an interval wholly in that regime. Measured on the
    full-size VarGFaceNet at 1000 FPS (2026-12-07, 14.3 frames deep): its sized FIFOs held
    203,437 cycles a frame over 3 frames and 359,732 from the fifth frame on; the default
    0.25x design read 1324 FPS over 2 frames and 1027 over 8 (its FIFOs hold the requested
    1000)."""
    deep = math.ceil(latency_cycles / max(cycles_per_frame, 1.0))
    return int(min(MOST_FRAMES, max(3, deep + 2)))


def simulate_steady(progs: list[Program], depths: dict[str, int], least: int = 3, **kw) -> "SimResult":
    """simulate() over `least` frames and, unless the result settled (a frame ended in the
    state of one of the few before it), once more over twice as many, no more than
    MOST_FRAMES; the result's `settled` says whether it did. Its cycles_per_frame is then the
    steady state's, or the latest while the source fed, not the first frames' (which run into
    empty FIFOs: the 64x64 VarGFaceNet's FIFOs sized over 3 frames gave 152,392 cycles over
    2 frames, 244,570 over 12 and settled at 360,162 from the 19th)."""
    f = min(MOST_FRAMES, max(1, least))
    res = simulate(progs, depths, f, **kw)
    if res.settled or res.deadlock is not None or f >= MOST_FRAMES:
        return res
    return simulate(progs, depths, min(MOST_FRAMES, 2 * f), **kw)


# simulate() is longer than the house limit on purpose: it is the simulator's hot loop (a
# million events for a full-size design), written over flat lists and locals because CPython
# pays a call and attribute lookups per event for every piece split out; the wiring and the
# deadlock analysis, which run once, are the separate functions below.
def simulate(progs: list[Program], depths: dict[str, int], frames: int = 2,
             trace: bool = False, trace_step: int = 1) -> SimResult:
    """Runs `frames` frames through the processes; depths: FIFO depth per stream (words).

    trace: record each FIFO's occupancy over time, at most one sample per trace_step cycles
    per FIFO (plus the final state)."""
    P = len(progs)
    jobs = [len(p.cycles) for p in progs]
    cyc = [p.cycles.tolist() for p in progs]
    cons = [p.consume.tolist() for p in progs]
    prod = [p.produce.tolist() for p in progs]
    lat = [p.latency for p in progs]
    wire = _wire(progs, depths)
    fifo_names, fidx, depth, producer, consumer, ins, outs = \
        wire.names, wire.index, wire.depth, wire.producer, wire.consumer, wire.ins, wire.outs
    F = len(fifo_names)
    count = [0] * len(fifo_names)  # visible words
    inflight = [0] * F
    stats = [ProcStats(p.name, p.kind) for p in progs]
    fstats = [FifoStats(s, depth[fidx[s]]) for s in fifo_names]
    total_jobs = [jobs[i] * frames for i in range(P)]
    nxt = [0] * P  # next job index
    busy = [False] * P
    wait_since = [-1] * P
    wait_kind = [0] * P  # 1 starved, 2 blocked
    heap: list[tuple[int, int, int, int, tuple]] = []
    seq = 0
    TRY, DELIVER, END = 0, 1, 2
    for i in range(P):
        heap.append((0, seq, TRY, i, ()))
        seq += 1
    heapq.heapify(heap)
    t = 0
    last_sample = [-trace_step] * F
    states: list[tuple[int, tuple]] = []  # (cycle, state) at the sink's frame ends

    def record(f: int, now: int) -> None:
        v = count[f] + inflight[f]
        if v > fstats[f].peak:
            fstats[f].peak = v
        if trace and now - last_sample[f] >= trace_step:
            fstats[f].trace_t.append(now)
            fstats[f].trace_v.append(v)
            last_sample[f] = now

    while heap:
        t, _, kind, i, payload = heapq.heappop(heap)
        if kind == DELIVER:
            for f, w in payload:
                inflight[f] -= w
                count[f] += w
                record(f, t)
                c = consumer[f]
                if c >= 0 and wait_since[c] >= 0 and not busy[c]:
                    heapq.heappush(heap, (t, seq, TRY, c, ()))
                    seq += 1
            if stats[i].first_output is None:
                stats[i].first_output = t
            continue
        if kind == END:
            busy[i] = False
        # try to start the next job of process i
        if busy[i] or nxt[i] >= total_jobs[i]:
            continue
        j = nxt[i] % jobs[i]
        cj, pj = cons[i][j], prod[i][j]
        why = 0
        for k, f in enumerate(ins[i]):
            if count[f] < cj[k]:
                why = 1
                break
        if not why:
            for k, f in enumerate(outs[i]):
                if pj[k] and count[f] + inflight[f] + pj[k] > depth[f]:
                    why = 2
                    break
        if why:
            if wait_since[i] < 0:
                wait_since[i] = t
            wait_kind[i] = why
            continue
        if wait_since[i] >= 0:
            if wait_kind[i] == 1:
                stats[i].starved += t - wait_since[i]
            else:
                stats[i].blocked += t - wait_since[i]
            wait_since[i] = -1
        for k, f in enumerate(ins[i]):
            w = cj[k]
            if w:
                count[f] -= w
                record(f, t)
                pr = producer[f]
                if pr >= 0 and wait_since[pr] >= 0 and not busy[pr]:
                    heapq.heappush(heap, (t, seq, TRY, pr, ()))
                    seq += 1
        deliver = []
        for k, f in enumerate(outs[i]):
            w = pj[k]
            if w:
                inflight[f] += w
                deliver.append((f, w))
                record(f, t)
        d = cyc[i][j]
        stats[i].busy += d
        end = t + d
        nxt[i] += 1
        busy[i] = True
        if deliver:
            heapq.heappush(heap, (end + lat[i], seq, DELIVER, i, tuple(deliver)))
            seq += 1
        heapq.heappush(heap, (end, seq, END, i, ()))
        seq += 1
        if nxt[i] % jobs[i] == 0:
            stats[i].frame_done.append(end + lat[i])
            if i == P - 1 and nxt[0] < total_jobs[0]:  # the sink, while the source still feeds
                done = nxt[i] // jobs[i]
                states.append((end + lat[i], tuple(count[f] + inflight[f] for f in range(F))
                               + tuple(nxt[k] - done * jobs[k] for k in range(P))))
        if nxt[i] == total_jobs[i]:
            stats[i].finished = end + lat[i]

    unfinished = [i for i in range(P) if nxt[i] < total_jobs[i]]
    deadlock = _deadlock(progs, wire, unfinished, busy, [nxt[i] % jobs[i] for i in range(P)], cons, prod,
                         count, inflight, t) if unfinished else None
    return SimResult(frames, {p.name: s for p, s in zip(progs, stats)},
                     {f.name: f for f in fstats}, deadlock, t, progs[-1].name, *_settled(states))


PERIODS = 4  # the longest repeat, in frames, _settled looks for


def _settled(states: list[tuple[int, tuple]]) -> tuple[Optional[float], Optional[float]]:
    """(the steady state's cycles a frame, the sink's last interval while the source fed).
    The first where a frame ended in the same state as one of the PERIODS before it (every
    FIFO as full, every process as many jobs ahead of the sink) while the source was still
    feeding: the simulation is deterministic, so from there on the frames repeat (up to the
    phases within jobs). None where none did (too few frames; or a design whose fast
    upstream keeps drifting: the second figure is then the best measure, free of the drain
    at the end, when the source has stopped and the last frames run ahead)."""
    fed = float(states[-1][0] - states[-2][0]) if len(states) >= 2 else None
    for p in range(1, PERIODS + 1):
        if len(states) > p and states[-1][1] == states[-1 - p][1]:
            return (states[-1][0] - states[-1 - p][0]) / p, fed
    return None, fed


@dataclass
class _Wiring:
    """The FIFOs by index: names, depths, producer and consumer process of each, the FIFOs
    each process reads and writes, and the tokens in each at cycle 0."""

    names: list[str]
    index: dict[str, int]
    depth: list[int]
    producer: list[int]
    consumer: list[int]
    ins: list[list[int]]
    outs: list[list[int]]


def _wire(progs: list[Program], depths: dict[str, int]) -> _Wiring:
    names = sorted({s for p in progs for s in p.inputs + p.outputs})
    idx = {s: i for i, s in enumerate(names)}
    fixed = fixed_depths(progs)
    w = _Wiring(names, idx, [fixed.get(s, depths.get(s, UNBOUNDED)) for s in names], [-1] * len(names),
                [-1] * len(names), [[idx[s] for s in p.inputs] for p in progs],
                [[idx[s] for s in p.outputs] for p in progs])
    for i in range(len(progs)):
        for f in w.ins[i]:
            w.consumer[f] = i
        for f in w.outs[i]:
            w.producer[f] = i
    return w


def _deadlock(progs: list[Program], w: _Wiring, unfinished: list[int], busy: list[bool],
              job: list[int], cons: list, prod: list, count: list[int], inflight: list[int],
              t: int) -> Deadlock:
    """Who waits for what when the event queue ran dry with processes unfinished."""
    lines, streams, full = [], set(), set()
    waiting = {i for i in unfinished if not busy[i]}
    for i in sorted(waiting):
        j = job[i]
        for k, f in enumerate(w.outs[i]):
            if prod[i][j][k] and count[f] + inflight[f] + prod[i][j][k] > w.depth[f]:
                lines.append(f"{progs[i].name}: waits for room in {w.names[f]} "
                             f"(full: {count[f] + inflight[f]}/{w.depth[f]})")
                streams.add(w.names[f])
                full.add(w.names[f])
        for k, f in enumerate(w.ins[i]):
            # a starved process belongs to the deadlock when its producer waits as well
            if count[f] < cons[i][j][k] and w.producer[f] in waiting:
                lines.append(f"{progs[i].name}: waits for input {w.names[f]} "
                             f"(holds {count[f]}, needs {cons[i][j][k]})")
                streams.add(w.names[f])
    return Deadlock(t, lines, sorted(streams), sorted(full))
