"""Assembles the simulator's results (analytic path, event simulation, FIFO sizing, resource
estimate) into one report: a dict with documented keys (the --json output) and a text table.

JSON keys:
  design, board, clock_mhz, frames
  fps               steady-state frames per second of the event simulation at the clock
  latency_ms        batch-1 latency (first input word to last output word of frame 0)
  cycles_per_frame  event simulation; analytic: {cycles_per_frame, fps, latency_ms, bottleneck}
  layers            per engine node: name, layer (of the architecture), kind, folding,
                    cycles (per frame, from the engine formula), macs, busy, starved, blocked
                    (event simulation, cycles over all frames), first_output (cycle)
  fifos             per stream: name, producer, consumer, width_bits, depth (recommended),
                    peak (occupancy in the simulation with the recommended depths),
                    peak_unbounded
  buffers           bits by purpose (weights, thresholds, line_buffer, fifo, other)
  resources         estimated LUT, FF, DSP, BRAM36, URAM (the hls/resources.py model), the
                    board's budget and the utilisation
  stages            per part of the architecture (head, stage2, ..., emb, fc: the first name
                    component of its layers): estimated LUT, DSP, BRAM36, URAM (FIFOs not
                    included), buffer bits by purpose, macs, weights (count), reuse (MACs per
                    weight per frame), and what-if figures for computing the part on a shared
                    engine that streams its weights and thresholds from DDR: ddr_bytes_per_frame
                    and ddr_fraction (that traffic at the simulated FPS over one HP port's peak)
  partition         which blocks are resident and which the shared block engine runs:
                    resident (the stages with resident nodes), shared (null, or its stages or
                    blocks, gp, ops, cycles a frame, the rows' bytes a frame and their fraction
                    of one HP port's peak at the simulated FPS, its estimated resources)
  ddr               the nodes that read their weights from DDR (memory "ddr"): bytes per
                    frame by node and in all, bytes/s at the simulated FPS and its fraction of
                    one HP port's peak (hls/estimate.py ddr_traffic)
  cache_load        the URAM caches' start-up load: nodes, rows, bytes and a lower bound on
                    its cycles (hls/estimate.py cache_load; once, not per frame), and the
                    resources of their loader's master (in the total, in no stage)
  fits              whether every estimated resource is within the board (and within 80%)
  deadlock          null, or {cycle, full, waiting}
"""

from __future__ import annotations

from typing import Any, Optional

from hls.accel import Accelerator
from hls.boards import Board
from hls.estimate import DesignEstimate, cache_load, ddr_traffic, estimate, node_buffer_bits, timed_engine
from hls.shared_cost import hardware_nodes, hardware_streams
from sim.analytic import Analytic
from sim.events import SimResult


def stage_rows(acc: Accelerator, est: DesignEstimate, board: Board, clock_mhz: float,
               fps: Optional[float]) -> list[dict[str, Any]]:
    """The design by part of the architecture (see `stages` above), in network order."""
    rows: dict[str, dict[str, Any]] = {}
    for n in hardware_nodes(acc):  # the shared part as one row, named for its stages
        stage = n.layer.split(".")[0]
        r = rows.setdefault(stage, {"stage": stage, "LUT": 0.0, "DSP": 0.0, "BRAM36": 0.0, "URAM": 0.0,
                                    "buffers": {}, "macs": 0, "weights": 0, "streamed": 0})
        for k, v in est.per_node[n.name].as_dict().items():
            if k in r:
                r[k] += v
        for k, v in node_buffer_bits(n).items():
            r["buffers"][k] = r["buffers"].get(k, 0) + v
        e = n.engine()
        r["macs"] += e.macs()
        r["weights"] += e.weight_count()
        r["streamed"] += e.ddr_bytes() if n.memory == "shared" else 0  # the shared part's rows, read each frame
    port = board.hp_port_bytes_per_s(clock_mhz)
    for r in rows.values():
        r["reuse"] = r["macs"] / r["weights"] if r["weights"] else None
        r["ddr_bytes_per_frame"] = (r["buffers"].get("weights", 0) + r["buffers"].get("thresholds", 0)) / 8 \
            + r.pop("streamed")
        r["ddr_fraction"] = r["ddr_bytes_per_frame"] * fps / port if fps else None
    return list(rows.values())


def partition(acc: Accelerator, est: DesignEstimate, board: Board, clock_mhz: float,
              fps: Optional[float]) -> dict[str, Any]:
    """The design's partition (see `partition` above)."""
    resident: list[str] = []
    shared = None
    for n in hardware_nodes(acc):
        if n.memory == "shared":
            sh, e = acc.shared, n.engine()
            rate = e.ddr_bytes() * fps if fps else 0.0
            shared = {"stages": sh["stages"], "gp": sh["gp"], "ops": sh["ops"], "cycles": e.cycles(),
                      "bytes_per_frame": e.ddr_bytes(),
                      "fraction_of_hp_port": rate / board.hp_port_bytes_per_s(clock_mhz),
                      "resources": est.per_node[n.name].as_dict()}
        elif n.layer.split(".")[0] not in resident:
            resident.append(n.layer.split(".")[0])
    return {"resident": resident, "shared": shared}


def build_report(acc: Accelerator, board: Board, clock_mhz: float, an: Analytic, ev: SimResult,
                 depths: dict[str, int], unbounded: Optional[SimResult] = None) -> dict[str, Any]:
    est = estimate(acc)
    layers = []
    for n in hardware_nodes(acc):
        e = timed_engine(n, board)
        names = {n.name} | {f"{n.name}.{p.name}" for p in e.processes() if p.name}
        procs = [p for name, p in ev.procs.items() if name in names]
        fold = e.folding()
        first = [p.first_output for p in procs if p.first_output is not None]
        layers.append({
            "name": n.name, "layer": n.layer, "kind": n.kind, "folding": fold,
            "cycles": e.cycles(), "macs": e.macs(),
            "busy": sum(p.busy for p in procs), "starved": sum(p.starved for p in procs),
            "blocked": sum(p.blocked for p in procs),
            "first_output": min(first) if first else None,
        })
    fifos = []
    for s in hardware_streams(acc):
        f = ev.fifos.get(s.name)
        fifos.append({
            "name": s.name, "producer": s.producer, "consumer": s.consumer,
            "width_bits": s.width_bits, "depth": depths.get(s.name, s.depth),
            "peak": f.peak if f else None,
            "peak_unbounded": unbounded.fifos[s.name].peak if unbounded and s.name in unbounded.fifos else None,
        })
    buffers: dict[str, int] = {}
    for n in hardware_nodes(acc):
        for k, v in node_buffer_bits(n).items():
            buffers[k] = buffers.get(k, 0) + v
    buffers["fifo"] = sum(d["depth"] * d["width_bits"] for d in fifos)
    tot = est.total.as_dict()
    cpf = ev.cycles_per_frame()
    lat = ev.latency_cycles()
    fps = clock_mhz * 1e6 / cpf if cpf else None
    return {
        "design": acc.name, "board": board.name, "clock_mhz": clock_mhz, "frames": ev.frames,
        "fps": fps,
        "latency_ms": lat / (clock_mhz * 1e3) if lat else None,
        "cycles_per_frame": cpf,
        "analytic": {"cycles_per_frame": an.cycles_per_frame, "fps": an.fps(clock_mhz),
                     "latency_ms": an.latency_ms(clock_mhz), "bottleneck": an.bottleneck},
        "layers": layers, "fifos": fifos, "buffers": buffers,
        "resources": {"estimate": tot, "board": board.budget(1.0),
                      "utilisation": est.utilisation(board),
                      "model": "hls/resources.py analytic estimate (not a synthesis result)"},
        "stages": stage_rows(acc, est, board, clock_mhz, fps),
        "partition": partition(acc, est, board, clock_mhz, fps),
        "ddr": ddr_traffic(acc, board, fps),
        "cache_load": cache_load(acc, board),
        "fits": {"board": est.fits(board, 1.0), "within_80_percent": est.fits(board, 0.8),
                 "over_80_percent": est.over(board, 0.8)},
        "deadlock": None if ev.deadlock is None else {
            "cycle": ev.deadlock.cycle, "full": ev.deadlock.full, "waiting": ev.deadlock.waiting},
        "total_macs": sum(l["macs"] for l in layers),
    }


def format_report(r: dict[str, Any], top: Optional[int] = None) -> str:
    lines = [f"design {r['design']} on {r['board']} at {r['clock_mhz']:g} MHz, "
             f"{r['frames']} frames event-simulated"]
    lines.append(f"{'node':<34}{'kind':<14}{'PE':>5}{'SIMD':>6}{'cycles':>10}{'busy%':>7}"
                 f"{'starved':>10}{'blocked':>10}{'1st out':>10}")
    total = r["frames"] * (r["cycles_per_frame"] or 1)
    rows = sorted(r["layers"], key=lambda l: -l["cycles"]) if top else r["layers"]
    for l in rows[:top] if top else rows:
        f = l["folding"]
        busy = 100.0 * l["busy"] / max(total, 1)
        lines.append(f"{l['name'][:33]:<34}{l['kind']:<14}{str(f.get('PE', '')):>5}"
                     f"{str(f.get('SIMD', '')):>6}{l['cycles']:>10}{busy:>7.1f}{l['starved']:>10}"
                     f"{l['blocked']:>10}{str(l['first_output']):>10}")
    if top and len(r["layers"]) > top:
        lines.append(f"... {len(r['layers']) - top} more nodes (the slowest {top} shown; --all for every node)")
    a = r["analytic"]
    lines.append("")
    if r["deadlock"]:
        lines.append(f"DEADLOCK at cycle {r['deadlock']['cycle']}: full FIFOs {', '.join(r['deadlock']['full'])}")
        lines += ["  " + w for w in r["deadlock"]["waiting"][:20]]
    else:
        lines.append(f"throughput: {r['fps']:.1f} FPS simulated ({r['cycles_per_frame']:.0f} cycles/frame); "
                     f"analytic {a['fps']:.1f} FPS, bottleneck {a['bottleneck']}")
        lines.append(f"batch-1 latency: {r['latency_ms']:.3f} ms simulated, {a['latency_ms']:.3f} ms analytic")
    b = r["buffers"]
    lines.append("buffers (Mbit): " + ", ".join(f"{k} {v / 1e6:.2f}" for k, v in sorted(b.items())))
    est, bud, ut = r["resources"]["estimate"], r["resources"]["board"], r["resources"]["utilisation"]
    lines.append("resources (estimate): " + ", ".join(
        f"{k} {est[k]:,.0f}/{bud[k]:,.0f} ({100 * ut[k]:.0f}%)" for k in ("LUT", "FF", "DSP", "BRAM36", "URAM")))
    fits = r["fits"]
    lines.append(f"fits {r['board']}: {'yes' if fits['board'] else 'no'}; within 80% of every resource: "
                 f"{'yes' if fits['within_80_percent'] else 'no (over: ' + ', '.join(fits['over_80_percent']) + ')'}")
    lines += format_partition(r.get("partition"))
    d = r.get("ddr") or {}
    if d.get("nodes"):
        readers = ", ".join(sorted(d["nodes"])) if len(d["nodes"]) <= 3 else f"{len(d['nodes'])} nodes"
        lines.append(f"weights read from DDR ({readers}): {d['bytes_per_frame'] / 1e6:.3f} MB/frame, "
                     f"{d['bytes_per_s'] / 1e9:.2f} GB/s at the simulated FPS = "
                     f"{100 * d['fraction_of_hp_port']:.0f}% of one HP port's peak "
                     f"({d['hp_port_bytes_per_s'] / 1e9:.1f} GB/s)")
    c = r.get("cache_load") or {}
    if c.get("nodes"):
        lines.append(f"URAM caches ({c['nodes']} nodes): loaded once at start-up, {c['bytes'] / 1e6:.3f} MB through one "
                     f"master, at least {c['min_cycles']:,} cycles ({c['min_cycles'] / (r['clock_mhz'] * 1e3):.2f} ms) "
                     f"at one HP port's peak (burst round trips not modelled)")
    lines += format_stages(r["stages"])
    big = sorted(r["fifos"], key=lambda f: -f["depth"])[:5]
    lines.append("deepest FIFOs (words): " + ", ".join(f"{f['name']} {f['depth']}" for f in big))
    return "\n".join(lines)


def format_partition(p: Optional[dict[str, Any]]) -> list[str]:
    """The partition's lines of the text report."""
    if not p:
        return []
    if not p["shared"]:
        return ["partition: every layer resident (no shared block engine)"]
    sh = p["shared"]
    res = sh["resources"]
    return [f"partition: resident {', '.join(p['resident'])}; shared block engine runs {', '.join(sh['stages'])} "
            f"(GP {sh['gp']}, {sh['ops']} ops, {sh['cycles']:,} cycles a frame; its rows {sh['bytes_per_frame'] / 1e6:.3f} "
            f"MB/frame from DDR = {100 * sh['fraction_of_hp_port']:.0f}% of one HP port at the simulated FPS; "
            f"LUT {res['LUT']:,.0f}, DSP {res['DSP']:,.0f}, BRAM36 {res['BRAM36']:,.0f})"]


def format_stages(stages: list[dict[str, Any]]) -> list[str]:
    """The per-stage table: where the resources and the weights are, and what streaming a
    stage's parameters from DDR would cost (a what-if, not a design the flow builds yet)."""
    lines = ["by stage (estimate; DDR columns: if the stage's weights and thresholds were streamed "
             "from DDR each frame, at the simulated FPS, over one HP port's peak):",
             f"  {'stage':<8}{'LUT':>9}{'DSP':>6}{'BRAM36':>8}{'URAM':>6}{'MMAC':>8}{'weights Mbit':>13}"
             f"{'thr Mbit':>9}{'reuse':>7}{'DDR MB/frame':>13}{'of HP port':>11}"]
    for r in stages:
        b = r["buffers"]
        frac = "" if r["ddr_fraction"] is None else f"{100 * r['ddr_fraction']:.0f}%"
        reuse = "" if r["reuse"] is None else f"{r['reuse']:.0f}"
        lines.append(f"  {r['stage']:<8}{r['LUT']:>9,.0f}{r['DSP']:>6,.0f}{r['BRAM36']:>8,.0f}{r['URAM']:>6,.0f}"
                     f"{r['macs'] / 1e6:>8.1f}{b.get('weights', 0) / 1e6:>13.2f}{b.get('thresholds', 0) / 1e6:>9.2f}"
                     f"{reuse:>7}{r['ddr_bytes_per_frame'] / 1e6:>13.3f}{frac:>11}")
    return lines
