"""The fast analytic path: throughput, first-output times and batch-1 latency from the engines'
cycle formulas, without simulating jobs.

Model (unbounded FIFOs, as the event simulation's reference run): every stream is produced
over an interval [start, end] of cycles. A node starts producing once it has received the part
of its input its first output needs (`lead`: the fraction of the input frame consumed by the
engine's jobs up to its first writing job (each kind's `output_times`, hls/engines/): the fill rows for a sliding window,
one vector for an engine, the whole frame for a pool or an SE scale), plus that job. It ends no
earlier than its last input plus its last job (`tail`), and no earlier than its start plus
its own cycles per frame. Throughput is set by the slowest node: fps = clock / max cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from hls.accel import HOST, Accelerator
from hls.boards import get_board
from hls.estimate import timed_engine
from hls.shared_cost import hardware_nodes


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


def analyse(acc: Accelerator) -> Analytic:
    streams = acc.streams_by_name()
    t_start: dict[str, float] = {}
    t_end: dict[str, float] = {}
    s_in = streams[acc.input["stream"]]
    t_start[s_in.name], t_end[s_in.name] = 0.0, float(s_in.words)
    nodes: dict[str, NodeTiming] = {}
    board = get_board(acc.board)
    for n in hardware_nodes(acc):  # the shared part as one node
        e = timed_engine(n, board)
        cyc = e.cycles()
        # (the shared part's inner streams are its own: its first input is the part's)
        start, end = e.output_times([(t_start[i], t_end[i]) for i in n.inputs if i in t_start], e.latency)
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
