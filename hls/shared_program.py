"""The shared block engine's layer program for a part of a network, and what it would cost:
cycles from the engine's loop (vg_shared.h, counted equal in tb_shared.cpp), DDR bytes of the
weight and threshold rows it streams, and the frame time when the rows come through one HP
port (issue 27, items 1 and 4; an estimate for planning the partition).

    python -m hls.shared_program --model vargfacenet --stages stage4 --gp 5 --fps 1000
    python -m hls.shared_program --model vargnet --width 1.0 --input 224 --stages stage5 --gp 4

The program (vg::shared_block) runs a part with one input map and one output map: OP_IN, then
each layer in network order (group convs of 8 inputs a group and 8 or 16 outputs, dense 1x1
layers and FCs, residual adds, global pools, and SE blocks as pool, FC1, FC2 to the gate and
scale), then OP_OUT, all from on-chip map slots. The slots are allocated here: a value takes a
free slot and frees it after its last use; an add's operands take slots of opposite parity.
The DDR-bound figure assumes the reader (vg::shared_reader, one word of the master a cycle)
runs ahead of the engine through a FIFO at the port's peak: a tile then takes max(its engine
cycles, its rows' words) cycles. That holds while a DDR round trip is within the words the
reader's master keeps in flight (hidden_round_trip: 256 cycles, 1.28 us at 200 MHz); DRAM
refresh and other masters' traffic are not modelled: the numbers are upper bounds on
throughput. GAP (--gap) is the engine loop's pipeline depth as assumed
here: only a synthesis report gives it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hls.boards import BOARDS, get_board
from hls.engines.base import IntType, acc_bits, clog2, threshold_out
from hls.resources import AXI_MAX_READ_BURST, axi_read_outstanding
from model.arch import Arch, Layer, named

# vg::shared_op_kind
OP_GCONV, OP_DENSE, OP_ADD, OP_SCALE, OP_POOL, OP_IN, OP_OUT = range(7)
KIND_NAMES = ("gconv", "dense", "add", "scale", "pool", "in", "out")
PE = 16  # the engine's lanes (vg_shared.h)
GAP = 12  # assumed pipeline depth of the engine's loop (cycles); only synthesis reports it


class ProgramError(ValueError):
    """A layer the shared engine cannot run, or a bad request."""


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class SharedOp:
    """One op of the program: vg::shared_op and its derived fields, as make_op sets them."""

    layer: str
    kind: int
    src: int
    src2: int
    dst: int
    h: int
    w: int
    k: int
    stride: int
    pad: int
    cin8: int
    cout8: int
    mh: int
    obias: int
    gp: int
    nt: int
    gap: int = GAP

    @property
    def conv(self) -> bool:
        return self.kind in (OP_GCONV, OP_DENSE)

    @property
    def ew(self) -> bool:
        return self.kind in (OP_ADD, OP_SCALE, OP_POOL)

    @property
    def oh(self) -> int:
        if self.kind == OP_GCONV:
            return (self.h + 2 * self.pad - self.k) // self.stride + 1
        return 1 if self.kind == OP_POOL else self.h

    @property
    def ow(self) -> int:
        if self.kind == OP_GCONV:
            return (self.w + 2 * self.pad - self.k) // self.stride + 1
        return 1 if self.kind == OP_POOL else self.w

    @property
    def wrows(self) -> int:
        return self.k * self.k if self.kind == OP_GCONV else _cdiv(self.cin8, self.gp) if self.kind == OP_DENSE else 0

    @property
    def sf(self) -> int:
        """Steps a pixel."""
        if self.conv:
            return self.wrows
        return self.cin8 // self.gp if self.kind in (OP_IN, OP_OUT) else 1

    @property
    def q(self) -> int:
        """Thresholds a lane in one threshold row."""
        return {OP_GCONV: 1, OP_DENSE: self.gp}.get(self.kind, 2 if self.ew else 0)

    @property
    def trows(self) -> int:
        return _cdiv(self.nt, self.q) if self.q else 0

    @property
    def lrows(self) -> int:
        load = self.wrows + self.trows + (1 if self.kind == OP_SCALE else 0)
        return 0 if self.kind == OP_IN else max(load, self.gap)

    @property
    def tiles(self) -> int:
        if self.kind == OP_DENSE:
            return _cdiv(self.cout8, 2)
        return 1 if self.kind in (OP_IN, OP_OUT) else self.cin8 // self.gp

    @property
    def pixels(self) -> int:
        """The pixels walked: the output map's for a convolution, the input's otherwise."""
        return self.oh * self.ow if self.conv else self.h * self.w

    @property
    def iters(self) -> int:
        """The engine's cycles for the op (make_op's iters)."""
        return self.tiles * (self.lrows + self.pixels * self.sf)

    def macs(self) -> int:
        if self.kind == OP_GCONV:
            return self.oh * self.ow * self.cout8 * 8 * 8 * self.k * self.k
        return self.oh * self.ow * self.cout8 * 8 * 8 * self.cin8 if self.kind == OP_DENSE else 0

    def array_macs(self) -> int:
        """The MACs the array offers over the op's compute steps (PE x GP x 8 a cycle)."""
        return self.tiles * self.pixels * self.sf * PE * self.gp * 8 if self.conv else 0

    def check(self) -> None:
        name = self.layer
        if self.kind != OP_DENSE and self.cin8 % self.gp:
            raise ProgramError(f"{name}: {self.cin8 * 8} input channels are not a multiple of GP x 8 = "
                               f"{self.gp * 8}: choose a GP that divides {self.cin8}")
        if self.kind == OP_GCONV and self.mh not in (8, 16):
            raise ProgramError(f"{name}: a group conv with {self.mh} outputs a group; the engine "
                               f"takes 8 or 16")
        if self.kind == OP_DENSE and (self.k, self.stride, self.pad) != (1, 1, 0):
            raise ProgramError(f"{name}: a dense layer must be 1x1, stride 1, no padding")


def conv_op(layer: Layer, in_shape: tuple[int, int, int], src: int, dst: int, gp: int, nt: int, obias: int,
            gap: int = GAP) -> SharedOp:
    """The program entry of one conv / fc layer (ProgramError if the engine cannot run it)."""
    c, h, w = in_shape
    if layer.op == "fc":
        c, h, w = layer.cin, 1, 1
    if layer.op not in ("conv", "fc"):
        raise ProgramError(f"{layer.name}: a {layer.op} layer is not a convolution")
    if c % 8 or layer.cout % 8:
        raise ProgramError(f"{layer.name}: channels {c} -> {layer.cout} are not multiples of 8")
    if layer.quant is None:
        raise ProgramError(f"{layer.name}: its output is the raw accumulator (no activation); the engine "
                           f"writes codes: keep it resident")
    # a k x k conv of 8 inputs a group is the engine's group conv, one group or many (the
    # 0.25x network's stage-2 downsampling convs have 8 inputs and groups = 1)
    if layer.op == "conv" and (layer.grouped or (layer.k > 1 and layer.cin // layer.groups == 8)):
        if layer.cin // layer.groups != 8:
            raise ProgramError(f"{layer.name}: {layer.cin // layer.groups} inputs a group, not S = 8")
        op = SharedOp(layer.name, OP_GCONV, src, -1, dst, h, w, layer.k, layer.stride, layer.pad, c // 8,
                      layer.cout // 8, layer.cout // layer.groups, obias, gp, nt, gap)
    else:
        if layer.op == "conv" and (layer.k != 1 or layer.stride != 1):
            raise ProgramError(f"{layer.name}: a dense {layer.k}x{layer.k} stride-{layer.stride} conv "
                               f"(the engine's dense layers are 1x1)")
        op = SharedOp(layer.name, OP_DENSE, src, -1, dst, h, w, 1, 1, 0, c // 8, layer.cout // 8, 16, obias,
                      gp, nt, gap)
    op.check()
    return op


def wwords(gp: int, w_bits: int, port_bits: int) -> int:
    """Words of the master a weight row takes (vg::shared_wwords)."""
    return _cdiv(PE * gp * 8 * w_bits, port_bits)


def twords(gp: int, thr_bits: int, port_bits: int) -> int:
    """Words of the master a threshold row takes (vg::shared_twords)."""
    return _cdiv(PE * gp * thr_bits, port_bits)


def engine_bits(ops: list[SharedOp], gp: int, map_type: IntType, w_bits: int, value_bits: int = 0) -> int:
    """The engine's ACC_BITS (= THR_BITS): its widest dense tile, an SE product of two map codes,
    a pool's sum (vg_shared.h's static asserts), and the nodes' values and thresholds."""
    sf_max = max(o.wrows for o in ops)
    pool = max([o.h * o.w for o in ops if o.kind == OP_POOL] or [1])
    return max(acc_bits(sf_max * gp * 8, map_type, w_bits), acc_bits(1, map_type, map_type.bits + 1),
               map_type.bits + 2 + clog2(pool), value_bits + 1)


def op_words(op: SharedOp, ww: int, tw: int) -> int:
    """The op's words in the engine's region of the buffer (vg::program_words: the reader's
    cycles for it)."""
    return op.tiles * (op.wrows * ww + op.trows * tw)


class _Slots:
    """The map slots: a value takes a free slot when made and frees it after its last use; an
    add's operands take slots of opposite parity (their windows meet distinct banks)."""

    def __init__(self) -> None:
        self.owner: list[Optional[str]] = []
        self.of: dict[str, int] = {}

    def take(self, value: str, parity: Optional[int] = None) -> int:
        for i, o in enumerate(self.owner):
            if o is None and (parity is None or i % 2 == parity):
                self.owner[i] = value
                self.of[value] = i
                return i
        while parity is not None and len(self.owner) % 2 != parity:
            self.owner.append(None)
        self.owner.append(value)
        self.of[value] = len(self.owner) - 1
        return self.of[value]

    def free(self, value: str) -> None:
        self.owner[self.of[value]] = None


def part_layers(arch: Arch, parts: Sequence[str]) -> list[Layer]:
    """The layers of a part named by stages ("stage4") or blocks ("stage3.unit6": a prefix of
    its layers' names), in network order (ProgramError for a name that matches no layer)."""
    unknown = [p for p in parts if not any(layer.stage == p or layer.name.startswith(p + ".") for layer in arch.layers)]
    if unknown:
        raise ProgramError(f"{arch.name} has no stage or block {', '.join(unknown)} (its stages: "
                           f"{', '.join(arch.stages())})")
    return [layer for layer in arch.layers
            if layer.stage in parts or any(layer.name.startswith(p + ".") for p in parts)]


def blocks(arch: Arch) -> list[str]:
    """The network's blocks in order: the first two parts of a layer's name ("stage4.unit1")."""
    out: list[str] = []
    for layer in arch.layers:
        b = ".".join(layer.name.split(".")[:2])
        if layer.op != "input" and (not out or out[-1] != b):
            out.append(b)
    return out


def _part_edges(arch: Arch, chosen: list[Layer], stages: Sequence[str]) -> tuple[list[str], list[str]]:
    """The one map the part takes and the one it gives (ProgramError otherwise)."""
    names = {layer.name for layer in chosen}
    outside = sorted({i for layer in chosen for i in layer.inputs if i not in names})
    if len(outside) != 1:
        raise ProgramError(f"stages {', '.join(stages)} take {len(outside)} inputs ({', '.join(outside)}); "
                           f"the shared part takes one map")
    consumers: dict[str, list[str]] = {}
    for layer in arch.layers:
        for i in layer.inputs:
            consumers.setdefault(i, []).append(layer.name)
    results = [layer.name for layer in chosen
               if any(c not in names for c in consumers.get(layer.name, [])) or not consumers.get(layer.name)]
    if len(results) != 1:
        raise ProgramError(f"stages {', '.join(stages)} give {len(results)} maps to the rest of the network "
                           f"({', '.join(results)}); the shared part gives one")
    return outside, results


def build_program(arch: Arch, stages: Sequence[str], gp: int, nt: int, act_obias: int, gate_obias: int,
                  gap: int = GAP) -> tuple[list[SharedOp], int, int]:
    """The program of `stages` (in network order, from OP_IN of the part's one input to OP_OUT of
    its one output), the number of map slots and the chunks a slot must hold."""
    chosen = part_layers(arch, stages)
    outside, results = _part_edges(arch, chosen, stages)
    last_use = {}
    for n, layer in enumerate(chosen):
        for i in layer.inputs:
            last_use[i] = n
    add_pairs = {}
    for layer in chosen:
        if layer.op == "add":
            a, b = layer.inputs
            add_pairs[a], add_pairs[b] = b, a
    slots = _Slots()
    sizes = []

    def chunks(shape: tuple[int, int, int]) -> int:
        sizes.append(shape[0] // 8 * shape[1] * shape[2])
        return sizes[-1]

    def make(value: str) -> int:
        other = add_pairs.get(value)
        parity = 1 - slots.of[other] % 2 if other in slots.of and slots.owner[slots.of[other]] == other else None
        return slots.take(value, parity)

    src = arch[outside[0]]
    c, h, w = src.out_shape
    if c % 8:
        raise ProgramError(f"{src.name}: {c} channels are not a multiple of 8")
    chunks(src.out_shape)
    ops = [SharedOp(f"{src.name} (in)", OP_IN, -1, -1, make(src.name), h, w, 1, 1, 0, c // 8, c // 8, 8, 0,
                    gp, 0, gap)]
    for n, layer in enumerate(chosen):
        ins = [slots.of[i] for i in layer.inputs]
        shape = arch[layer.inputs[0]].out_shape
        chunks(layer.out_shape)
        if layer.op in ("conv", "fc"):
            ops.append(conv_op(layer, shape, ins[0], make(layer.name), gp, nt, act_obias, gap))
        elif layer.op == "add":
            ops.append(SharedOp(layer.name, OP_ADD, ins[0], ins[1], make(layer.name), shape[1], shape[2], 1, 1, 0,
                                shape[0] // 8, shape[0] // 8, 8, act_obias, gp, nt, gap))
        elif layer.op == "pool":
            ops.append(SharedOp(layer.name, OP_POOL, ins[0], -1, make(layer.name), shape[1], shape[2], 1, 1, 0,
                                shape[0] // 8, shape[0] // 8, 8, act_obias, gp, nt, gap))
        elif layer.op == "se":
            ops.extend(_se_ops(layer, shape, ins[0], slots, make, gp, nt, act_obias, gate_obias, gap))
        else:
            raise ProgramError(f"{layer.name}: a {layer.op} layer; the engine runs conv, fc, add, pool and se")
        for i in set(layer.inputs):
            if last_use.get(i) == n and i not in results:
                slots.free(i)
        ops[-1].check()
    ops.append(SharedOp(f"{results[0]} (out)", OP_OUT, slots.of[results[0]], -1, -1, *arch[results[0]].out_shape[1:],
                        1, 1, 0, arch[results[0]].out_shape[0] // 8, arch[results[0]].out_shape[0] // 8, 8, 0, gp, 0,
                        gap))
    slot = max(sizes)
    slot += (gp - slot % (2 * gp)) % (2 * gp)  # = GP mod 2 GP: slots of opposite parity meet distinct banks
    return ops, len(slots.owner), slot


def _se_ops(layer: Layer, shape: tuple[int, int, int], x: int, slots: _Slots, make: Any, gp: int, nt: int,
            act_obias: int, gate_obias: int, gap: int) -> list[SharedOp]:
    """An SE block: pool (to a 1 x 1 map), FC1 and FC2 (dense, to the gate codes), the scale."""
    c, h, w = shape
    # FC1's outputs padded to whole chunks: the pad lanes' weights are zero and so are FC2's
    # weights that read them (op_rows), so the gate codes are the layer's exactly
    r8 = _cdiv(c // layer.reduction, 8)
    n = layer.name
    pool = SharedOp(f"{n}.pool", OP_POOL, x, -1, slots.take(f"{n}.pool"), h, w, 1, 1, 0, c // 8, c // 8, 8,
                    act_obias, gp, nt, gap)
    fc1 = SharedOp(f"{n}.fc1", OP_DENSE, pool.dst, -1, slots.take(f"{n}.fc1"), 1, 1, 1, 1, 0, c // 8, r8, 16,
                   act_obias, gp, nt, gap)
    slots.free(f"{n}.pool")
    fc2 = SharedOp(f"{n}.fc2", OP_DENSE, fc1.dst, -1, slots.take(f"{n}.gate"), 1, 1, 1, 1, 0, r8, c // 8, 16,
                   gate_obias, gp, nt, gap)
    slots.free(f"{n}.fc1")
    scale = SharedOp(f"{n}.scale", OP_SCALE, x, fc2.dst, make(n), h, w, 1, 1, 0, c // 8, c // 8, 8, act_obias,
                     gp, nt, gap)
    slots.free(f"{n}.gate")
    for o in (pool, fc1, fc2, scale):
        o.check()
    return [pool, fc1, fc2, scale]


@dataclass
class Plan:
    """A program and its figures (see the module docstring for the model)."""

    model: str
    stages: list[str]
    gp: int
    board: str
    clock_mhz: float
    ops: list[SharedOp]
    maps: int
    slot_chunks: int
    w_bits: int
    thr_bits: int
    map_bits: int

    @property
    def port_bits(self) -> int:
        return get_board(self.board).hp_port_bits

    def op_words(self, op: SharedOp) -> int:
        return op_words(op, wwords(self.gp, self.w_bits, self.port_bits),
                        twords(self.gp, self.thr_bits, self.port_bits))

    def op_bytes(self, op: SharedOp) -> int:
        return self.op_words(op) * self.port_bits // 8

    def op_tile_cycles(self, op: SharedOp) -> int:
        """A tile's cycles when the reader (one word a cycle) runs ahead of the engine through
        a FIFO and the engine waits for rows: max(its loop's cycles, its rows' words)."""
        return max(op.iters // op.tiles, self.op_words(op) // op.tiles) if op.tiles else 0

    def words(self) -> int:
        """Words of the master all rows take (the reader's cycles a frame)."""
        return sum(self.op_words(o) for o in self.ops)

    def op_ddr_cycles(self, op: SharedOp) -> int:
        """Cycles of an op when the rows come at the port's peak (op_tile_cycles a tile)."""
        return op.tiles * self.op_tile_cycles(op)

    def rows(self) -> list[dict[str, Any]]:
        return [{"layer": o.layer, "kind": KIND_NAMES[o.kind], "map": f"{o.h}x{o.w}", "k": o.k,
                 "stride": o.stride, "cin": o.cin8 * 8, "cout": o.cout8 * 8, "src": o.src, "src2": o.src2,
                 "dst": o.dst, "tiles": o.tiles, "sf": o.sf, "trows": o.trows, "cycles": o.iters,
                 "ddr_cycles": self.op_ddr_cycles(o), "ddr_bytes": self.op_bytes(o), "macs": o.macs(),
                 "use": o.macs() / o.array_macs() if o.array_macs() else None} for o in self.ops]

    def summary(self, fps: Optional[float] = None) -> dict[str, Any]:
        board = get_board(self.board)
        cycles = sum(o.iters for o in self.ops)
        ddr_cycles = sum(self.op_ddr_cycles(o) for o in self.ops)
        nbytes = sum(self.op_bytes(o) for o in self.ops)
        hz = self.clock_mhz * 1e6
        frame_fps = hz / ddr_cycles
        at = fps if fps is not None else frame_fps
        convs = [o for o in self.ops if o.conv]
        return {"model": self.model, "stages": self.stages, "gp": self.gp, "macs_per_cycle": PE * self.gp * 8,
                "board": self.board, "clock_mhz": self.clock_mhz, "ops": len(self.ops),
                "engine_cycles": cycles, "ddr_bound_cycles": ddr_cycles,
                "fps_engine": hz / cycles, "fps_ddr_bound": frame_fps,
                "macs": sum(o.macs() for o in self.ops),
                "mac_use": sum(o.macs() for o in convs) / (PE * self.gp * 8 * ddr_cycles),
                "ddr_bytes_per_frame": nbytes, "ddr_fps": at,
                "ddr_fraction": nbytes * at / board.hp_port_bytes_per_s(self.clock_mhz),
                "weight_buffer_bits": max(o.wrows for o in self.ops) * PE * self.gp * 8 * self.w_bits,
                "hidden_round_trip_cycles": hidden_round_trip(),
                "maps": self.maps, "slot_chunks": self.slot_chunks,
                "map_bits_total": self.maps * self.slot_chunks * 8 * self.map_bits}


def hidden_round_trip() -> int:
    """The longest DDR round trip (AR to first R beat, cycles of the PL clock) after which the
    reader still gets one word a cycle: its master keeps num_read_outstanding bursts of
    max_read_burst_length words in flight (the pragmas codegen writes, hls/resources.py), so a
    burst asked for that many words earlier arrives in time. A longer round trip would slow
    the rows to in-flight words / round trip; only a board measurement gives the real one."""
    return axi_read_outstanding("ddr") * AXI_MAX_READ_BURST


def plan(arch: Arch, stages: Sequence[str], gp: int, board: str, clock_mhz: float,
         w_bits: int = 4, act_bits: int = 4, gap: int = GAP) -> Plan:
    """The program of `stages`' layers in network order, on an engine of GP groups (w4a4 unless
    told: NT = 2^act_bits - 1; signed activations and unsigned gates of act_bits, so maps of
    act_bits + 1 bits; thresholds as wide as the widest accumulator)."""
    if gp < 1:
        raise ProgramError(f"GP must be at least 1, not {gp}")
    act = IntType(act_bits, True)
    nt, act_obias = threshold_out(act)
    _, gate_obias = threshold_out(IntType(act_bits, False))
    ops, maps, slot = build_program(arch, stages, gp, nt, act_obias, gate_obias, gap)
    return Plan(arch.name, list(stages), gp, board, clock_mhz, ops, maps, slot, w_bits,
                engine_bits(ops, gp, IntType(act_bits + 1, True), w_bits), act_bits + 1)


def format_plan(p: Plan, fps: Optional[float]) -> str:
    s = p.summary(fps)
    out = [f"shared engine program: {p.model}, stages {' '.join(p.stages)}, GP = {p.gp} "
           f"({s['macs_per_cycle']} MACs a cycle), {p.board} at {p.clock_mhz:g} MHz (estimate)",
           f"  {'op':32s}{'kind':>6s}{'map':>7s}{'k/s':>5s}{'cin':>6s}{'cout':>6s}{'slots':>9s}{'tiles':>6s}"
           f"{'SF':>4s}{'cycles':>10s}{'DDR-bound':>11s}{'kB':>8s}{'use':>6s}"]
    for r in p.rows():
        slots = f"{r['src']},{r['src2']}>{r['dst']}".replace("-1", "-")
        use = f"{100 * r['use']:>5.0f}%" if r["use"] is not None else f"{'':6s}"
        out.append(f"  {r['layer']:32s}{r['kind']:>6s}{r['map']:>7s}{r['k']:>3d}/{r['stride']:d}{r['cin']:>6d}"
                   f"{r['cout']:>6d}{slots:>9s}{r['tiles']:>6d}{r['sf']:>4d}{r['cycles']:>10,d}{r['ddr_cycles']:>11,d}"
                   f"{r['ddr_bytes'] / 1e3:>8.1f}{use}")
    out.append(f"  engine cycles {s['engine_cycles']:,} ({s['fps_engine']:.0f} FPS); with the rows at the HP "
               f"port's peak {s['ddr_bound_cycles']:,} ({s['fps_ddr_bound']:.0f} FPS); MAC use "
               f"{100 * s['mac_use']:.0f}%")
    out.append(f"  DDR {s['ddr_bytes_per_frame'] / 1e6:.3f} MB a frame: {100 * s['ddr_fraction']:.0f}% of one "
               f"{p.port_bits}-bit HP port at {s['ddr_fps']:.0f} FPS")
    out.append(f"  the reader keeps {s['hidden_round_trip_cycles']} words in flight: a DDR round trip up to "
               f"{s['hidden_round_trip_cycles']} cycles ({s['hidden_round_trip_cycles'] / p.clock_mhz:.2f} us) leaves "
               f"it at one word a cycle")
    out.append(f"  on chip: weight buffer {s['weight_buffer_bits'] / 1e3:.0f} kbit; maps {s['maps']} slots of "
               f"{s['slot_chunks']:,} chunks, {s['map_bits_total'] / 1e3:.0f} kbit")
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.shared_program", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default="vargfacenet",
                    help="the architecture (default vargfacenet)")
    ap.add_argument("--width", type=float, default=None, help="width multiplier (default: the model's full size)")
    ap.add_argument("--input", type=int, default=None, help="input size (default: 112 / 224)")
    ap.add_argument("--stages", nargs="+", default=["stage4"],
                    help="the stages (stage4) or blocks (stage3.unit6) the shared engine runs (default: stage4)")
    ap.add_argument("--gp", type=int, default=8, help="groups of 8 inputs the MAC array takes a cycle "
                                                      "(16 x GP x 8 MACs; default 8)")
    ap.add_argument("--board", choices=sorted(BOARDS), default="zcu104", help="board (its HP port width)")
    ap.add_argument("--clock-mhz", type=float, default=200.0, help="PL clock (default 200)")
    ap.add_argument("--fps", type=float, default=None,
                    help="frame rate for the DDR fraction (default: the program's own DDR-bound rate)")
    ap.add_argument("--gap", type=int, default=GAP,
                    help=f"the engine loop's pipeline depth assumed: the least load phase of an op that reads "
                         f"a slot (default {GAP}; only a synthesis report gives the real one)")
    ap.add_argument("--json", type=Path, help="also write the rows and the summary here")
    a = ap.parse_args(argv)
    try:
        if a.gap < 0:
            raise ProgramError(f"--gap must be at least 0, not {a.gap}")
        arch = named(a.model, a.width, a.input)
        p = plan(arch, a.stages, a.gp, a.board, a.clock_mhz, gap=a.gap)
    except (ProgramError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_plan(p, a.fps))
    if a.json:
        tmp = a.json.with_suffix(a.json.suffix + ".partial")
        tmp.write_text(json.dumps({"summary": p.summary(a.fps), "rows": p.rows(),
                                   "ops": [asdict(o) for o in p.ops]}, indent=1))
        tmp.replace(a.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
