"""The shared block engine's layer program for a part of a network, and what it would cost:
cycles from the engine's loop (vg_shared.h, counted equal in tb_shared.cpp), DDR bytes of the
weight and threshold rows it streams, and the frame time when the rows come through one HP
port (issue 27, items 1 and 4; an estimate for planning the partition).

    python -m hls.shared_program --model vargfacenet --stages stage4 embedding --gp 8
    python -m hls.shared_program --model vargnet --width 1.0 --input 224 --stages stage5 head --gp 4

What the engine runs today (vg::shared_conv): group convolutions (8 inputs a group, 8 or 16
outputs) and dense 1x1 layers from on-chip map slots, with thresholds. The blocks' residual
adds and SE pieces are not in it yet: they are listed, not counted. The DDR-bound figure
assumes the reader streams rows ahead of the engine (a FIFO in between) at the port's peak:
a tile then takes max(its engine cycles, its rows' bits / port bits) cycles. Burst latency and
DRAM refresh are not modelled; the numbers are upper bounds on throughput.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hls.boards import BOARDS, get_board
from hls.engines.base import IntType, acc_bits, threshold_out
from model.arch import Arch, Layer, named

OP_GCONV, OP_DENSE = 0, 1  # vg::shared_op_kind
PE = 16  # the engine's lanes (vg_shared.h)


class ProgramError(ValueError):
    """A layer the shared engine cannot run, or a bad request."""


@dataclass(frozen=True)
class ConvOp:
    """One layer of the program: vg::conv_op and its derived fields, as make_conv_op sets them."""

    layer: str
    kind: int
    h: int
    w: int
    k: int
    stride: int
    pad: int
    cin8: int
    cout8: int
    mh: int
    gp: int
    nt: int

    @property
    def oh(self) -> int:
        return (self.h + 2 * self.pad - self.k) // self.stride + 1

    @property
    def ow(self) -> int:
        return (self.w + 2 * self.pad - self.k) // self.stride + 1

    @property
    def sf(self) -> int:
        return self.k * self.k if self.kind == OP_GCONV else self.cin8 // self.gp

    @property
    def trows(self) -> int:
        return self.nt if self.kind == OP_GCONV else -(-self.nt // self.gp)

    @property
    def tiles(self) -> int:
        return self.cin8 // self.gp if self.kind == OP_GCONV else self.cout8 // 2

    @property
    def iters(self) -> int:
        """The engine's cycles for the layer (vg::conv_op_iters)."""
        return self.tiles * (self.sf + self.trows + self.oh * self.ow * self.sf)

    def macs(self) -> int:
        per_out = 8 * self.k * self.k if self.kind == OP_GCONV else 8 * self.cin8
        return self.oh * self.ow * self.cout8 * 8 * per_out

    def array_macs(self) -> int:
        """The MACs the array offers over the layer's compute steps (PE x GP x 8 a cycle)."""
        return self.tiles * self.oh * self.ow * self.sf * PE * self.gp * 8

    def check(self) -> None:
        name = self.layer
        if self.cin8 % self.gp:
            raise ProgramError(f"{name}: {self.cin8 * 8} input channels are not a multiple of GP x 8 = "
                               f"{self.gp * 8}: choose a GP that divides {self.cin8}")
        if self.kind == OP_GCONV and self.mh not in (8, 16):
            raise ProgramError(f"{name}: a group conv with {self.mh} outputs a group; the engine "
                               f"takes 8 or 16")
        if self.kind == OP_DENSE and (self.k, self.stride, self.pad) != (1, 1, 0):
            raise ProgramError(f"{name}: a dense layer must be 1x1, stride 1, no padding")
        if self.kind == OP_DENSE and self.cout8 % 2:
            raise ProgramError(f"{name}: {self.cout8 * 8} outputs are not a multiple of 16")


def op_for(layer: Layer, in_shape: tuple[int, int, int], gp: int, nt: int) -> ConvOp:
    """The program entry of one conv / fc layer (ProgramError if the engine cannot run it)."""
    c, h, w = in_shape
    if layer.op == "fc":
        c, h, w = layer.cin, 1, 1
    if layer.op not in ("conv", "fc"):
        raise ProgramError(f"{layer.name}: a {layer.op} layer is not a convolution")
    if c % 8 or layer.cout % 8:
        raise ProgramError(f"{layer.name}: channels {c} -> {layer.cout} are not multiples of 8")
    if layer.op == "conv" and layer.grouped:
        if layer.cin // layer.groups != 8:
            raise ProgramError(f"{layer.name}: {layer.cin // layer.groups} inputs a group, not S = 8")
        op = ConvOp(layer.name, OP_GCONV, h, w, layer.k, layer.stride, layer.pad, c // 8,
                    layer.cout // 8, layer.cout // layer.groups, gp, nt)
    else:
        if layer.op == "conv" and (layer.k != 1 or layer.stride != 1):
            raise ProgramError(f"{layer.name}: a dense {layer.k}x{layer.k} stride-{layer.stride} conv "
                               f"(the engine's dense layers are 1x1)")
        op = ConvOp(layer.name, OP_DENSE, h, w, 1, 1, 0, c // 8, layer.cout // 8, 16, gp, nt)
    op.check()
    return op


@dataclass
class Plan:
    """A program and its figures (see the module docstring for the model)."""

    model: str
    stages: list[str]
    gp: int
    board: str
    clock_mhz: float
    ops: list[ConvOp]
    not_run: list[str]  # layers of the stages the engine does not run yet (adds, SE)
    w_bits: int
    thr_bits: int
    map_bits: int

    @property
    def port_bits(self) -> int:
        return get_board(self.board).hp_port_bits

    def wrow_bits(self) -> int:
        return PE * self.gp * 8 * self.w_bits

    def trow_bits(self) -> int:
        return PE * self.gp * self.thr_bits

    def op_bytes(self, op: ConvOp) -> int:
        return op.tiles * (op.sf * self.wrow_bits() + op.trows * self.trow_bits()) // 8

    def op_ddr_cycles(self, op: ConvOp) -> int:
        """Cycles of a layer when its rows come at the port's peak and the engine waits for
        them: each tile max(engine cycles, rows' bits / port bits)."""
        tile_engine = op.iters // op.tiles
        tile_ddr = -(-(op.sf * self.wrow_bits() + op.trows * self.trow_bits()) // self.port_bits)
        return op.tiles * max(tile_engine, tile_ddr)

    def rows(self) -> list[dict[str, Any]]:
        return [{"layer": o.layer, "kind": "gconv" if o.kind == OP_GCONV else "dense",
                 "map": f"{o.h}x{o.w}", "k": o.k, "stride": o.stride, "cin": o.cin8 * 8, "cout": o.cout8 * 8,
                 "tiles": o.tiles, "sf": o.sf, "trows": o.trows, "cycles": o.iters,
                 "ddr_cycles": self.op_ddr_cycles(o), "ddr_bytes": self.op_bytes(o),
                 "macs": o.macs(), "use": o.macs() / o.array_macs()} for o in self.ops]

    def summary(self, fps: Optional[float] = None) -> dict[str, Any]:
        board = get_board(self.board)
        cycles = sum(o.iters for o in self.ops)
        ddr_cycles = sum(self.op_ddr_cycles(o) for o in self.ops)
        nbytes = sum(self.op_bytes(o) for o in self.ops)
        hz = self.clock_mhz * 1e6
        frame_fps = hz / ddr_cycles
        at = fps if fps is not None else frame_fps
        slot = max(max(o.h * o.w * o.cin8, o.oh * o.ow * o.cout8) for o in self.ops)
        return {"model": self.model, "stages": self.stages, "gp": self.gp, "macs_per_cycle": PE * self.gp * 8,
                "board": self.board, "clock_mhz": self.clock_mhz, "layers": len(self.ops),
                "not_run": self.not_run, "engine_cycles": cycles, "ddr_bound_cycles": ddr_cycles,
                "fps_engine": hz / cycles, "fps_ddr_bound": frame_fps,
                "macs": sum(o.macs() for o in self.ops),
                "mac_use": sum(o.macs() for o in self.ops) / sum(o.array_macs() for o in self.ops),
                "ddr_bytes_per_frame": nbytes, "ddr_fps": at,
                "ddr_fraction": nbytes * at / board.hp_port_bytes_per_s(self.clock_mhz),
                "weight_buffer_bits": max(o.sf for o in self.ops) * self.wrow_bits(),
                "map_slot_bits": slot * 8 * self.map_bits}


def plan(arch: Arch, stages: Sequence[str], gp: int, board: str, clock_mhz: float,
         w_bits: int = 4, act_bits: int = 4) -> Plan:
    """The program of `stages`' conv and fc layers in network order, on an engine of GP groups
    (w4a4 thresholds unless told: NT = 2^act_bits - 1, thresholds as wide as the widest
    accumulator)."""
    if gp < 1:
        raise ProgramError(f"GP must be at least 1, not {gp}")
    known = arch.stages()
    missing = [s for s in stages if s not in known]
    if missing:
        raise ProgramError(f"{arch.name} has no stage {', '.join(missing)} (its stages: {', '.join(known)})")
    chosen = [layer for layer in arch.layers if layer.stage in stages]
    nt, _ = threshold_out(IntType(act_bits, False))
    ops, not_run = [], []
    for layer in chosen:
        if layer.op in ("conv", "fc"):
            src = arch[layer.inputs[0]]
            ops.append(op_for(layer, src.out_shape, gp, nt))
        else:
            not_run.append(f"{layer.name} ({layer.op})")
    if not ops:
        raise ProgramError(f"stages {', '.join(stages)} hold no conv or fc layer")
    inp = IntType(act_bits, False)
    widest = max(o.sf * gp * 8 for o in ops)
    return Plan(arch.name, list(stages), gp, board, clock_mhz, ops, not_run, w_bits,
                acc_bits(widest, inp, w_bits), act_bits)


def format_plan(p: Plan, fps: Optional[float]) -> str:
    s = p.summary(fps)
    out = [f"shared engine program: {p.model}, stages {' '.join(p.stages)}, GP = {p.gp} "
           f"({s['macs_per_cycle']} MACs a cycle), {p.board} at {p.clock_mhz:g} MHz (estimate)",
           f"  {'layer':32s}{'kind':>6s}{'map':>7s}{'k/s':>5s}{'cin':>6s}{'cout':>6s}{'tiles':>6s}"
           f"{'SF':>4s}{'cycles':>10s}{'DDR-bound':>11s}{'kB':>8s}{'use':>6s}"]
    for r in p.rows():
        out.append(f"  {r['layer']:32s}{r['kind']:>6s}{r['map']:>7s}{r['k']:>3d}/{r['stride']:d}{r['cin']:>6d}"
                   f"{r['cout']:>6d}{r['tiles']:>6d}{r['sf']:>4d}{r['cycles']:>10,d}{r['ddr_cycles']:>11,d}"
                   f"{r['ddr_bytes'] / 1e3:>8.1f}{100 * r['use']:>5.0f}%")
    out.append(f"  engine cycles {s['engine_cycles']:,} ({s['fps_engine']:.0f} FPS); with the rows at the HP "
               f"port's peak {s['ddr_bound_cycles']:,} ({s['fps_ddr_bound']:.0f} FPS); MAC use "
               f"{100 * s['mac_use']:.0f}%")
    out.append(f"  DDR {s['ddr_bytes_per_frame'] / 1e6:.3f} MB a frame: {100 * s['ddr_fraction']:.0f}% of one "
               f"{p.port_bits}-bit HP port at {s['ddr_fps']:.0f} FPS; weight buffer {s['weight_buffer_bits'] / 1e3:.0f} "
               f"kbit, a map slot {s['map_slot_bits'] / 1e3:.0f} kbit")
    if p.not_run:
        out.append(f"  not in the engine yet (not counted): {', '.join(p.not_run)}")
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.shared_program", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default="vargfacenet",
                    help="the architecture (default vargfacenet)")
    ap.add_argument("--width", type=float, default=None, help="width multiplier (default: the model's full size)")
    ap.add_argument("--input", type=int, default=None, help="input size (default: 112 / 224)")
    ap.add_argument("--stages", nargs="+", default=["stage4", "embedding"],
                    help="the stages the shared engine runs (default: stage4 embedding)")
    ap.add_argument("--gp", type=int, default=8, help="groups of 8 inputs the MAC array takes a cycle "
                                                      "(16 x GP x 8 MACs; default 8)")
    ap.add_argument("--board", choices=sorted(BOARDS), default="zcu104", help="board (its HP port width)")
    ap.add_argument("--clock-mhz", type=float, default=200.0, help="PL clock (default 200)")
    ap.add_argument("--fps", type=float, default=None,
                    help="frame rate for the DDR fraction (default: the program's own DDR-bound rate)")
    ap.add_argument("--json", type=Path, help="also write the rows and the summary here")
    a = ap.parse_args(argv)
    try:
        arch = named(a.model, a.width, a.input)
        p = plan(arch, a.stages, a.gp, a.board, a.clock_mhz)
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
