"""Each engine node as a process for the dataflow simulator: the sequence of jobs it runs per
frame, what each job consumes and produces, and how long it takes.

The jobs are the engine's own schedule (hls/engines/ `processes()`): a job is a stretch of
the engine's flattened pipelined loop, whose iteration count is its cycles (II = 1), and the
schedule check (`python -m hls.schedule`, tests/test_hls_schedule.py) counts the same
iterations in the C++ engines. So code, formulas and simulator share one definition. The
simulator takes a job's input words at its start and makes its output words visible
`latency` cycles after its end; FIFOs therefore need room for one job's words (`min_depth`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from hls.accel import Accelerator, Node
from hls.boards import Board, get_board
from hls.estimate import timed_engine
from hls.fifo_packing import narrow_depth
from hls.shared_cost import hardware_nodes
from hls.engines import JobRun, Process

# Each engine kind's pipeline depth (cycles from a job's last iteration to its output being
# visible downstream) is its class's `latency` (hls/engines/): an estimate of the HLS
# pipelines' depths (read, MAC/compare, write). The DMA ends have none.


@dataclass
class Program:
    """Per-frame jobs of one process: cycles, words consumed per input, produced per output."""

    name: str
    kind: str
    cycles: np.ndarray  # (jobs,)
    consume: np.ndarray  # (jobs, inputs)
    produce: np.ndarray  # (jobs, outputs)
    inputs: list[str]
    outputs: list[str]
    latency: int
    buffers_lead: bool = False  # its engine's: the FIFO in front should hold its lead
    fixed: dict = field(default_factory=dict)  # depths of its streams that the hardware fixes

    @property
    def frame_cycles(self) -> int:
        return int(self.cycles.sum())

    def max_job_consume(self) -> np.ndarray:
        return self.consume.max(axis=0) if self.consume.size else np.zeros(0, int)

    def max_job_produce(self) -> np.ndarray:
        return self.produce.max(axis=0) if self.produce.size else np.zeros(0, int)

    def lead_consume(self) -> np.ndarray:
        """Words read from each input before the first job that writes (a sliding window's
        fill rows)."""
        writes = np.flatnonzero(self.produce.sum(axis=1)) if self.produce.size else np.zeros(0, int)
        first = int(writes[0]) if writes.size else len(self.cycles)
        return self.consume[:first].sum(axis=0) if self.consume.size else np.zeros(0, int)


def _uniform(n: int, cyc: int, cons: list[int], prod: list[int]) -> tuple[np.ndarray, ...]:
    return (np.full(n, cyc, np.int64), np.tile(np.asarray(cons, np.int64), (n, 1)).reshape(n, len(cons)),
            np.tile(np.asarray(prod, np.int64), (n, 1)).reshape(n, len(prod)))


def _arrays(runs: tuple[JobRun, ...], n_in: int, n_out: int) -> tuple[np.ndarray, ...]:
    counts = np.asarray([r.count for r in runs], np.int64)
    cyc = np.repeat(np.asarray([r.cycles for r in runs], np.int64), counts)
    cons = np.repeat(np.asarray([r.consume for r in runs], np.int64).reshape(len(runs), n_in), counts, axis=0)
    prod = np.repeat(np.asarray([r.produce for r in runs], np.int64).reshape(len(runs), n_out), counts, axis=0)
    return cyc, cons, prod


def _program(n: Node, p: Process, latency: int, buffers_lead: bool = False) -> Program:
    cyc, cons, prod = _arrays(p.jobs, len(p.inputs), len(p.outputs))
    return Program(f"{n.name}.{p.name}" if p.name else n.name, n.kind, cyc, cons, prod,
                   [n.inputs[i] for i in p.inputs], [n.outputs[i] for i in p.outputs], latency, buffers_lead)


def node_programs(n: Node, board: Optional[Board] = None) -> list[Program]:
    """The processes of a node (a node reading DDR: its jobs as the board's HP port lets them
    run, hls/estimate.py)."""
    e = timed_engine(n, board)
    progs = [_program(n, p, e.latency, e.buffers_lead) for p in e.processes()]
    fixed = e.fixed_depths()  # the shared part's inner FIFOs
    for p in progs:
        p.fixed = {s: d for s, d in fixed.items() if s in p.outputs}
    return progs


def host_programs(acc: Accelerator) -> tuple[Program, Program]:
    """The DMA ends: the source writes one input word per cycle, the sink reads one output
    word per cycle."""
    s_in = acc.stream(acc.input["stream"])
    s_out = acc.stream(acc.output["stream"])
    c1, i1, o1 = _uniform(s_in.words, 1, [], [1])
    src = Program("host.in", "host", c1, i1.reshape(s_in.words, 0), o1, [], [s_in.name], 0)
    c2, i2, o2 = _uniform(s_out.words, 1, [1], [])
    sink = Program("host.out", "host", c2, i2, o2.reshape(s_out.words, 0), [s_out.name], [], 0)
    return src, sink


def programs(acc: Accelerator) -> list[Program]:
    src, sink = host_programs(acc)
    board = get_board(acc.board)
    progs = [src] + [p for n in hardware_nodes(acc) for p in node_programs(n, board)] + [sink]
    fixed = packing_fixed(acc)
    if fixed:
        need = full_rate_depths(progs)
        for p in progs:
            p.fixed.update({s: max(d, need.get(s, 2)) for s, d in fixed.items() if s in p.outputs})
    return progs


def _job_words(progs: list[Program]) -> tuple[dict[str, int], dict[str, int]]:
    """Per stream, the most words one job of its producer puts and of its consumer takes."""
    put: dict[str, int] = {}
    take: dict[str, int] = {}
    for p in progs:
        for s, w in zip(p.outputs, p.max_job_produce()):
            put[s] = max(put.get(s, 1), int(w))
        for s, w in zip(p.inputs, p.max_job_consume()):
            take[s] = max(take.get(s, 1), int(w))
    return put, take


def fixed_depths(progs: list[Program]) -> dict[str, int]:
    """The streams whose depth the hardware fixes (a packed FIFO's narrow sides, the shared
    part's frame FIFOs) and those depths: not the sizing's to change."""
    return {s: d for p in progs for s, d in p.fixed.items()}


def full_rate_depths(progs: list[Program]) -> dict[str, int]:
    """Per stream, a depth at which jobs of a words (its producer's) and of b words (its
    consumer's) never slow each other below their own rate: 2 (a + b). A job reserves its
    output words when it starts and its consumer takes a job's words when it starts, so the
    producer's next job needs room for a words beside the a of the job that just ended and up
    to b - 1 left over; a + b - gcd(a, b), the least depth free of deadlock, let the head of
    the full-size VarGFaceNet run its packed FIFOs' converters at 13/8 of their cycles
    (2026-12-07: 981 FPS for a shared engine that runs 1007). A fixed FIFO must have it; a
    sized one finds its own."""
    put, take = _job_words(progs)
    return {s: narrow_depth(put[s], take.get(s, 1)) for s in put}


def packing_fixed(acc: Accelerator) -> dict[str, int]:
    """The narrow streams on either side of a FIFO packed into URAM (hls/fifo_packing.py) keep
    the depth the packing gave them, a converter job's words: the sizing deepens the packed
    FIFO itself, not them (left free, it moved a frame's worth back into the narrow FIFO in
    front of the join, in BRAM again: full-size VarGFaceNet on KV260, 2026-12-07)."""
    streams = acc.streams_by_name()
    nodes = {n.name: n for n in acc.nodes}
    fixed: dict[str, int] = {}
    for w in acc.streams:
        if w.impl == "uram" and w.producer in nodes and w.consumer in nodes:
            for s in (nodes[w.producer].inputs[0], nodes[w.consumer].outputs[0]):
                fixed[s] = streams[s].depth
    return fixed


def min_depths(progs: list[Program]) -> dict[str, int]:
    """Smallest FIFO depth per stream at which one job of its producer and of its consumer
    fit (below it the simulated design cannot move at all); at least 2."""
    put, take = _job_words(progs)
    return {s: max(2, put.get(s, 1), take.get(s, 1)) for s in put.keys() | take.keys()}
