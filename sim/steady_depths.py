"""The FIFO depths a design needs at its steady state, computed from the programs without
simulating: every process runs frame after frame at the period T of the rate asked for.

Why: the event simulation of a few frames (sim/fifo_sizing.py) starts with empty FIFOs and
does not show what the frames need once they overlap down a deep pipeline. Measured
(2026-12-08, estimates):

- the full-size VarGFaceNet at 1000 FPS (stage 3 units 1-4 shared): its sliding windows read
  nothing while they give their last rows and read the next frame's fill rows before they
  give anything; with input FIFOs under a row deep (stage 4: 960 words, a row is 1,120) the
  layers upstream stalled for a row each frame, and the design ran at 216,003 cycles a frame
  instead of its shared engine's 198,656;
- the 0.25x network at 64 x 64 pixels, asked for 1050 FPS: its residual shortcuts must hold
  the main branch's delay, over a frame where the branch has an SE block (the scale waits
  for the gates of the whole frame) and, on 4 x 4 maps, half a frame more for each 3 x 3
  window's fill rows; cut to 1.05 frames they ran at 360,162 cycles a frame instead of
  190,476.

The model, in frames of T cycles:

1. A stream's words arrive when the jobs that write them end (the host writes a word a
   cycle).
2. A process's jobs run in order, each after the one before ends, and no earlier than the
   last word it reads has arrived (`_in_order`).
3. A job that writes runs no earlier than its consumer needs its first word: the consumer's
   jobs that read before it, as a fraction of all that read (`_needed_at`). A consumer that
   reads the frame in one job (an SE block's FC) needs it all at once, one that reads row by
   row spreads it over the frame. The process's writing jobs start at d0 plus that fraction,
   d0 the least that rule 2 allows. This keeps a fast producer of a slow consumer (a sliding
   window before its convolution) paced by the consumer, so that what it has not yet read
   waits in its input FIFO, the narrow one, rather than in its output FIFO. Not a process
   that reads a stream whose depth the hardware fixes (the converter in front of a FIFO
   packed into URAM: the frame must wait in the packed FIFO, not on the narrow side; paced,
   the full-size VarGFaceNet's packed design lost 22% of its rate at the steady state). And
   the converter after it does not know when its consumer starts reading (an SE scale, after
   the gates): what the model leaves on the narrow side past its fixed depth is moved into the
   packed FIFO, in its words (`_into_packed`).
4. A FIFO must hold, at each of its consumer's job starts, the words that have arrived (this
   frame's and the next ones') and are not yet read, plus one job of its producer's (a job
   reserves its words when it starts, sim/events.py).

What the model leaves out: the processes' rates beyond their own jobs (a process slower than
T is the sizing's problem, not this one's) and backpressure (the depths are those at which
there is none). The sizing takes these depths as a floor (sim/fifo_sizing.py).
"""

from __future__ import annotations

import numpy as np

from sim.programs import Program, fixed_depths

NEXT_FRAMES = 8  # frames after the one read whose words may already be waiting


def _in_order(earliest: np.ndarray, cycles: np.ndarray, period: float) -> np.ndarray:
    """Start times of a process's jobs: job j at earliest[j] or when job j - 1 ends, and the
    next frame's first job after this frame's last (the pattern repeats every frame)."""
    ran = np.concatenate([[0.0], np.cumsum(cycles)[:-1]]) / period
    t = np.maximum.accumulate(earliest - ran) + ran
    for _ in range(2):
        earliest = earliest.copy()
        earliest[0] = max(earliest[0], t[-1] + cycles[-1] / period - 1.0)
        t = np.maximum.accumulate(earliest - ran) + ran
    return t


def _needed_at(p: Program, reader: dict[str, tuple[Program, int]]) -> np.ndarray:
    """For each job of p, the fraction of the frame before which its consumers need its
    first word: the consumer's reading jobs before the one that reads it, over all its
    reading jobs (the earliest over p's outputs)."""
    at = np.ones(len(p.cycles))
    for j, s in enumerate(p.outputs):
        w = p.produce[:, j].astype(np.int64)
        first = np.concatenate([[0], np.cumsum(w)[:-1]])  # words before each job's first
        if s not in reader:
            at = np.minimum(at, first / max(int(w.sum()), 1))
            continue
        c, k = reader[s]
        reads = c.consume[:, k].astype(np.int64)
        read_cum = np.cumsum(reads[reads > 0])
        at = np.minimum(at, np.searchsorted(read_cum, first, side="right") / len(read_cum))
    return at


def steady_depths(progs: list[Program], period: float) -> dict[str, int]:
    """Each stream's depth in words at the steady state of `period` cycles a frame (the module
    docstring's model). `progs` in dataflow order (sim/programs.py)."""
    arrive: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # words written by, and the times
    writer = {s: (p, j) for p in progs for j, s in enumerate(p.outputs)}
    reader = {s: (p, k) for p in progs for k, s in enumerate(p.inputs)}
    depths: dict[str, int] = {}
    fixed = fixed_depths(progs)
    for p in progs:
        cycles = p.cycles.astype(float)
        reads = [np.cumsum(p.consume[:, k].astype(np.int64)) for k in range(len(p.inputs))]
        ready = np.zeros(len(cycles))  # when each job's inputs are there
        for k, s in enumerate(p.inputs):
            words, times = arrive.get(s, (reads[k], (reads[k] - 1) / period))  # the host: a word a cycle
            last = times[np.minimum(np.searchsorted(words, reads[k]), len(words) - 1)]
            ready = np.maximum(ready, np.where(p.consume[:, k] > 0, last, 0.0))
        t = _in_order(ready, cycles, period)
        writes = p.produce.sum(axis=1) > 0 if p.produce.size else np.zeros(len(cycles), bool)
        if writes.any() and not any(s in fixed for s in p.inputs):
            needed = _needed_at(p, reader)
            d0 = float((t - needed)[writes].max())
            t = _in_order(np.maximum(ready, np.where(writes, d0 + needed, 0.0)), cycles, period)
        ends = t + (cycles + p.latency) / period
        for j, s in enumerate(p.outputs):
            w = p.produce[:, j].astype(np.int64)
            arrive[s] = (np.cumsum(w)[w > 0], ends[w > 0])
        for k, s in enumerate(p.inputs):
            if reads[k][-1] == 0:
                continue
            words, times = arrive.get(s, (reads[k], (reads[k] - 1) / period))
            got = sum(np.where(i > 0, words[np.maximum(i - 1, 0)], 0)
                      for i in (np.searchsorted(times + f, t, side="right") for f in range(NEXT_FRAMES)))
            taken = np.concatenate([[0], reads[k][:-1]])
            w = writer.get(s)
            job = int(w[0].produce[:, w[1]].max()) if w is not None else 0
            depths[s] = int(max(0, (got - taken).max())) + job
    return _into_packed(progs, depths)


def _into_packed(progs: list[Program], depths: dict[str, int]) -> dict[str, int]:
    """Each stream whose depth the hardware fixes (a packed FIFO's narrow side after its
    unpack converter; the shared part's frame FIFO after its input converter) keeps that
    depth: the words the model puts there beyond it wait in the one stream its writer reads
    instead (the packed FIFO; the part's input), in that stream's words."""
    out = dict(depths)
    for p in progs:
        for s, fixed in p.fixed.items():
            if len(p.inputs) != 1 or out.get(s, 0) <= fixed:
                continue
            wide = p.inputs[0]
            k = int(p.produce[:, p.outputs.index(s)].sum()) / max(int(p.consume[:, 0].sum()), 1)
            out[wide] = out.get(wide, 0) + int(np.ceil((out[s] - fixed) / k))
            out[s] = fixed
    return out
