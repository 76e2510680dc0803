"""Each engine node as a process for the dataflow simulator: the sequence of jobs it runs per
frame, what each job consumes and produces, and how long it takes.

A job is one pipelined stretch of the engine's loops, normally one pixel: the C++ engines
(hls/include) run one loop iteration per cycle (II = 1), so a job of n iterations takes n
cycles. The simulator takes a job's input words at its start and makes its output words
visible `latency` cycles after its end; FIFOs therefore need room for one job's words
(`min_depth`). The job lists follow the loop structure of each template:

  swg       per padded input position: read C/in_n words (zeros at padding, no read), then,
            where a window is complete, emit K*K*C/SIMD words
  mvau      per output vector: G*NF*SF cycles, reads G*SF words, writes G*NF words
  eltwise   per pixel: C/N cycles, reads and writes C/N words per port
  pool      per pixel: read C/N words; then write C/N sums
  se_scale  two processes around a ping-pong frame buffer: fill (per pixel: read C/N words)
            and emit (read C/N gate words; per pixel: write C/N words). Token streams model
            the two buffers: `<node>.full` (fill -> emit, one token per filled frame) and
            `<node>.free` (emit -> fill, starting with 2 tokens); emit starts only on a full
            buffer and frees it when its frame is out
  width_convert  per lcm(in_n, out_n) elements
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from flow.accel import Accelerator, Node
from hls.engines import MVAU, SWG, Eltwise, WidthConvert

# Pipeline depth of each engine kind (cycles from a job's last iteration to its output being
# visible downstream): an estimate of the HLS pipelines' depths (read, MAC/compare, write).
LATENCY = {"swg": 2, "mvau": 5, "threshold": 3, "add": 3, "pool": 2, "se_scale": 4,
           "duplicate": 1, "width_convert": 1, "host": 0}


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
    initial: dict[str, int] = field(default_factory=dict)  # tokens in an output at cycle 0

    @property
    def frame_cycles(self) -> int:
        return int(self.cycles.sum())

    def max_job_consume(self) -> np.ndarray:
        return self.consume.max(axis=0) if self.consume.size else np.zeros(0, int)

    def max_job_produce(self) -> np.ndarray:
        return self.produce.max(axis=0) if self.produce.size else np.zeros(0, int)


def _uniform(n: int, cyc: int, cons: list[int], prod: list[int]) -> tuple[np.ndarray, ...]:
    return (np.full(n, cyc, np.int64), np.tile(np.asarray(cons, np.int64), (n, 1)).reshape(n, len(cons)),
            np.tile(np.asarray(prod, np.int64), (n, 1)).reshape(n, len(prod)))


def node_programs(n: Node) -> list[Program]:
    """The process(es) of a node: one, or two for an SE scale (fill and emit)."""
    e = n.engine()
    if isinstance(e, Eltwise) and e.kind == "se_scale":
        f = e.ch // e.n
        full, free = f"{n.name}.full", f"{n.name}.free"
        cyc = np.full(e.pixels, f, np.int64)
        cons = np.zeros((e.pixels, 2), np.int64)
        cons[:, 0] = f
        cons[0, 1] = 1  # a free buffer
        prod = np.zeros((e.pixels, 1), np.int64)
        prod[-1, 0] = 1  # a full buffer
        fill = Program(f"{n.name}.fill", "se_fill", cyc, cons, prod, [n.inputs[0], free], [full],
                       LATENCY["se_scale"])
        cyc = np.full(e.pixels + 1, f, np.int64)
        cons = np.zeros((e.pixels + 1, 2), np.int64)
        cons[0] = [f, 1]  # the gate words and a full buffer
        prod = np.zeros((e.pixels + 1, 2), np.int64)
        prod[1:, 0] = f
        prod[-1, 1] = 1  # the buffer is free again
        emit = Program(f"{n.name}.emit", "se_emit", cyc, cons, prod, [n.inputs[1], full],
                       [n.outputs[0], free], LATENCY["se_scale"], initial={free: 2})
        return [fill, emit]
    return [node_program(n, e)]


def node_program(n: Node, e=None) -> Program:
    e = e if e is not None else n.engine()
    if isinstance(e, SWG):
        hp, wp = e.ifm_h + 2 * e.pad, e.ifm_w + 2 * e.pad
        y, x = np.meshgrid(np.arange(hp), np.arange(wp), indexing="ij")
        inside = ((y >= e.pad) & (y < e.pad + e.ifm_h) & (x >= e.pad) & (x < e.pad + e.ifm_w)).ravel()
        emit = ((y >= e.k - 1) & (x >= e.k - 1) & ((y - (e.k - 1)) % e.stride == 0)
                & ((x - (e.k - 1)) % e.stride == 0)).ravel()
        rd = e.ch // e.in_n
        cyc = rd + emit * e.window_words
        cons = (inside * rd)[:, None]
        prod = (emit * e.window_words)[:, None]
    elif isinstance(e, MVAU):
        cyc, cons, prod = _uniform(e.pixels, e.groups * e.nf * e.sf, [e.groups * e.sf], [e.groups * e.nf])
    elif isinstance(e, WidthConvert):
        l = math.lcm(e.in_n, e.out_n)
        jobs = e.total // l
        cyc, cons, prod = _uniform(jobs, l // e.in_n, [l // e.in_n], [l // e.out_n])
    else:
        assert isinstance(e, Eltwise)
        f = e.ch // e.n
        if e.kind == "pool":
            c1, i1, o1 = _uniform(e.pixels, f, [f], [0])
            c2, i2, o2 = _uniform(1, f, [0], [f])
            cyc, cons, prod = np.concatenate([c1, c2]), np.concatenate([i1, i2]), np.concatenate([o1, o2])
        elif e.kind == "add":
            cyc, cons, prod = _uniform(e.pixels, f, [f, f], [f])
        elif e.kind == "duplicate":
            cyc, cons, prod = _uniform(e.pixels, f, [f], [f, f])
        else:  # threshold
            cyc, cons, prod = _uniform(e.pixels, f, [f], [f])
    return Program(n.name, n.kind, np.asarray(cyc, np.int64), np.asarray(cons, np.int64),
                   np.asarray(prod, np.int64), list(n.inputs), list(n.outputs), LATENCY[n.kind])


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
    return [src] + [p for n in acc.nodes for p in node_programs(n)] + [sink]


def min_depths(progs: list[Program]) -> dict[str, int]:
    """Smallest FIFO depth per stream at which one job of its producer and of its consumer
    fit (below it the simulated design cannot move at all); at least 2 (the frame-buffer
    token streams of an SE scale: exactly 2, its two buffers)."""
    need: dict[str, int] = {}
    for p in progs:
        for s, k in p.initial.items():
            need[s] = max(need.get(s, 2), k)
    for p in progs:
        for s, w in zip(p.inputs, p.max_job_consume()):
            need[s] = max(need.get(s, 2), int(w))
        for s, w in zip(p.outputs, p.max_job_produce()):
            need[s] = max(need.get(s, 2), int(w))
    return need
