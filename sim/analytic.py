"""The fast analytic path: throughput, first-output times and batch-1 latency from the engines'
cycle formulas, without simulating jobs.

Model (unbounded FIFOs, as the event simulation's reference run): every stream is produced
over an interval [start, end] of cycles. A node starts producing once it has received the part
of its input its first output needs (`lead`: the fraction of the input frame consumed by the
engine's jobs (hls/engines.py) up to its first writing job: the fill rows for a sliding window,
one vector for an engine, the whole frame for a pool or an SE frame buffer), plus that job. It ends no
earlier than its last input plus its last job (`tail`), and no earlier than its start plus
its own cycles per frame. Throughput is set by the slowest node: fps = clock / max cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from flow.accel import HOST, Accelerator
from hls.engines import Eltwise
from sim.programs import LATENCY


@dataclass
class NodeTiming:
    name: str
    kind: str
    cycles: int  # per frame
    start: float  # first output word of frame 0
    end: float  # last output word of frame 0


@dataclass
class Analytic:
    nodes: dict[str, NodeTiming]
    bottleneck: str
    cycles_per_frame: int
    latency_cycles: float

    def fps(self, clock_mhz: float) -> float:
        return clock_mhz * 1e6 / self.cycles_per_frame

    def latency_ms(self, clock_mhz: float) -> float:
        return self.latency_cycles / (clock_mhz * 1e3)


def _lead_and_tail(e) -> tuple[float, int, int]:
    """(fraction of the input frame consumed before the first job that writes output, that
    job's cycles, the last job's cycles), from the engine's own job list (hls/engines.py)."""
    (p,) = e.processes()
    total = sum(r.count * r.consume[0] for r in p.jobs)
    before = 0
    first = p.jobs[0]
    for r in p.jobs:
        if any(r.produce):
            before += r.consume[0]
            first = r
            break
        before += r.count * r.consume[0]
    return min(1.0, before / total) if total else 0.0, first.cycles, p.jobs[-1].cycles


def analyse(acc: Accelerator) -> Analytic:
    streams = acc.streams_by_name()
    t_start: dict[str, float] = {}
    t_end: dict[str, float] = {}
    s_in = streams[acc.input["stream"]]
    t_start[s_in.name], t_end[s_in.name] = 0.0, float(s_in.words)
    nodes: dict[str, NodeTiming] = {}
    for n in acc.nodes:
        e = n.engine()
        cyc = e.cycles()
        lat = LATENCY[n.kind]
        if isinstance(e, Eltwise) and e.kind == "pool":  # all input, then C/N words out
            start = t_end[n.inputs[0]] + e.ch // e.n + lat
            end = start
        elif isinstance(e, Eltwise) and e.kind == "se_scale":
            x, g = n.inputs
            f = e.ch // e.n
            start = max(t_end[x], t_end[g]) + f + lat  # whole frame buffered, gate read
            end = start + e.words
        else:
            frac, first, last = _lead_and_tail(e)
            start = max(t_start[i] + frac * (t_end[i] - t_start[i]) for i in n.inputs) + first + lat
            end = max(max(t_end[i] for i in n.inputs) + last + lat, start + cyc - first)
        for o in n.outputs:
            t_start[o], t_end[o] = start, end
        nodes[n.name] = NodeTiming(n.name, n.kind, cyc, start, end)
    out = acc.output["stream"]
    sink_words = streams[out].words
    latency = max(t_end[out], t_start[out] + sink_words)
    host_in = s_in.words
    worst = max(nodes.values(), key=lambda t: t.cycles)
    cpf = max(worst.cycles, host_in, sink_words)
    bottleneck = worst.name if worst.cycles >= max(host_in, sink_words) else HOST
    return Analytic(nodes, bottleneck, cpf, latency)
