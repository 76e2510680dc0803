"""Each engine node as a process for the dataflow simulator: the sequence of jobs it runs per
frame, what each job consumes and produces, and how long it takes.

The jobs are the engine's own schedule (hls/engines.py `processes()`): a job is a stretch of
the engine's flattened pipelined loop, whose iteration count is its cycles (II = 1), and the
schedule check (`python -m hls.schedule`, tests/test_hls_schedule.py) counts the same
iterations in the C++ engines. So code, formulas and simulator share one definition. The
simulator takes a job's input words at its start and makes its output words visible
`latency` cycles after its end; FIFOs therefore need room for one job's words (`min_depth`).

An SE scale is two processes around a ping-pong frame buffer: fill and emit. Token streams
model the two buffers: `<node>.full` (fill -> emit, one token per filled frame) and
`<node>.free` (emit -> fill, starting with 2 tokens); emit starts only on a full buffer and
frees it when its frame is out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from flow.accel import Accelerator, Node
from hls.engines import JobRun, Process

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


def _program(n: Node, p: Process) -> Program:
    cyc, cons, prod = _arrays(p.jobs, len(p.inputs), len(p.outputs))
    return Program(f"{n.name}.{p.name}" if p.name else n.name, n.kind, cyc, cons, prod,
                   [n.inputs[i] for i in p.inputs], [n.outputs[i] for i in p.outputs],
                   LATENCY[n.kind])


def node_programs(n: Node) -> list[Program]:
    """The process(es) of a node: one, or two for an SE scale (fill and emit, joined by the
    frame buffers' token streams)."""
    procs = n.engine().processes()
    if n.kind != "se_scale":
        return [_program(n, p) for p in procs]
    fill, emit = (_program(n, p) for p in procs)
    full, free = f"{n.name}.full", f"{n.name}.free"
    # fill: its first job takes a free buffer, its last job hands over a full one
    fill.consume = np.concatenate([fill.consume, np.zeros((len(fill.cycles), 1), np.int64)], axis=1)
    fill.consume[0, 1] = 1
    fill.produce = np.zeros((len(fill.cycles), 1), np.int64)
    fill.produce[-1, 0] = 1
    fill.inputs, fill.outputs = fill.inputs + [free], [full]
    # emit: its first job (the gates) takes the full buffer, its last job frees it
    emit.consume = np.concatenate([emit.consume, np.zeros((len(emit.cycles), 1), np.int64)], axis=1)
    emit.consume[0, 1] = 1
    emit.produce = np.concatenate([emit.produce, np.zeros((len(emit.cycles), 1), np.int64)], axis=1)
    emit.produce[-1, 1] = 1
    emit.inputs, emit.outputs = emit.inputs + [full], emit.outputs + [free]
    emit.initial = {free: 2}
    return [fill, emit]


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
