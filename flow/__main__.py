"""The compile flow's CLI.

    python -m flow build --checkpoint CK.pt --out build/NAME [--board zcu104] [--fps 1000]
    python -m flow build --onnx MODEL.qonnx --out build/NAME --folding folding.json
    python -m flow bitstream --board zcu104 --checkpoint CK.pt [--out build/bitstream-zcu104]

`build` writes the build folder (see flow/steps.py for its steps and contents; --stop-step and
--start-step run a stretch of them). `bitstream`
runs `build`, then Vitis HLS and Vivado when they are on PATH, writing bitstreams/<board>/;
without them it stops after everything that needs no vendor tool, says what it generated,
where, and which tool is missing, and exits with status 3.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from hls.accel import DescriptionError
from hls.boards import BOARDS, BoardError, get_board
from flow.build import BuildConfig, BuildError, build
from flow.steps import NAMES
from hls.estimate import ddr_overload, estimate
from flow.folding import FoldingError
from flow.partition import PartitionError
from flow.requantize import MODES as REQUANT_MODES
from flow.streamline import StreamlineError
from flow.tcl import HLS_VERSION
from hls.csim import CsimError
from hls.engines import EngineError
from model.arch import ArchError
from model.argtypes import fraction, nonneg_int, positive_float, positive_int
from model.checkpoint import CheckpointError
from model.scoring import ScoringError

ROOT = Path(__file__).resolve().parents[1]


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m flow", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("build", "bitstream"):
        p = sub.add_parser(name, help=f"{name} (see above)")
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--checkpoint", type=Path, help="a quantized checkpoint (model/checkpoint.py)")
        src.add_argument("--onnx", type=Path, help="a QONNX export (model/export.py)")
        p.add_argument("--out", type=Path, default=None,
                       help="build folder (default: build/default for build, build/bitstream-BOARD "
                            "for bitstream, so that the demo's design and the bitstream's do not "
                            "replace each other); an existing folder the flow did not write is "
                            "refused")
        p.add_argument("--board", default="zcu104", help=f"one of: {', '.join(BOARDS)}")
        p.add_argument("--clock-mhz", type=positive_float, default=None, help="clock (default: the board's, 200)")
        p.add_argument("--fps", type=positive_float, default=None,
                       help="fold for this FPS at the least resources (default: the highest FPS "
                            "within --fraction of every board resource)")
        p.add_argument("--fraction", type=fraction, default=0.8,
                       help="resource budget: a fraction in (0, 1] of every board resource (0.8)")
        p.add_argument("--folding", type=Path, help="FINN-format folding JSON overriding the search")
        p.add_argument("--verify-images", type=nonneg_int, default=4,
                       help="ORL faces run through golden model, C-sim and integer graph (0: skip)")
        p.add_argument("--no-weights-header", action="store_true",
                       help="skip hls/weights.h (the ROM initialisers synthesis needs)")
        p.add_argument("--requant", choices=REQUANT_MODES, default="auto",
                       help="per node, replace the thresholds by an integer requantization "
                            "(v*M + B) >> S where it is exactly equal: auto (where the resource "
                            "estimate says it is cheaper), always (wherever exact), off "
                            "(see flow/requantize.py)")
        p.add_argument("--shared-stages", nargs="+", default=("auto",),
                       help="the blocks the shared block engine runs (hls/include/vg_shared.h), their "
                            "weights and thresholds read from DDR each frame instead of an engine per "
                            "layer: stages or blocks (e.g. stage4, stage3.unit6), auto (the default: "
                            "the flow searches the contiguous block ranges and shares one only where "
                            "the resident design is over --fraction of the board or its DDR traffic "
                            "over half an HP port; flow/partition_search.py), or none")
        p.add_argument("--shared-gp", type=positive_int, default=None,
                       help="the shared engine's groups of 8 inputs a cycle (16 x GP x 8 MACs; default: "
                            "the smallest GP whose frame meets --fps)")
        p.add_argument("--start-step", choices=NAMES, default=None,
                       help="start at this step on the build folder an earlier run left in --out "
                            "(its earlier steps' outputs are read from there; see flow/steps.py)")
        p.add_argument("--stop-step", choices=NAMES, default=None,
                       help="stop after this step; the folder holds what the steps so far wrote")
    return ap.parse_args(argv)


def default_out(cmd: str, board: str) -> Path:
    """build/default for `build` (the demo's design), build/bitstream-BOARD for `bitstream`."""
    return ROOT / "build" / ("default" if cmd == "build" else f"bitstream-{board.lower()}")


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if a.out is None:
        a.out = default_out(a.cmd, a.board)
    try:
        get_board(a.board)
        if a.checkpoint is not None and not a.checkpoint.is_file():
            raise BuildError(f"{a.checkpoint}: no such checkpoint")
        if a.onnx is not None and not a.onnx.is_file():
            raise BuildError(f"{a.onnx}: no such ONNX file")
        cfg = BuildConfig(out=a.out, checkpoint=a.checkpoint, onnx=a.onnx, board=a.board,
                          clock_mhz=a.clock_mhz, fps=a.fps, fraction=a.fraction, folding=a.folding,
                          verify_images=a.verify_images, weights_header=not a.no_weights_header,
                          requant=a.requant, start_step=a.start_step, stop_step=a.stop_step,
                          shared_stages=tuple(a.shared_stages), shared_gp=a.shared_gp)
        res = build(cfg)
    except (BuildError, BoardError, FoldingError, StreamlineError, DescriptionError, ArchError,
            EngineError, CheckpointError, ScoringError, CsimError, PartitionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    v = res.report.get("verification") or {}
    print(f"[flow] build folder: {res.out}")
    if not res.complete:
        nxt = NAMES[NAMES.index(res.steps_done[-1]) + 1]
        print(f"[flow] stopped after step {res.steps_done[-1]}; continue with --start-step {nxt}")
        if a.cmd == "bitstream":
            print("error: a build stopped early has nothing for the vendor tools", file=sys.stderr)
            return 2
        return 0
    if v and not (v["csim_equals_golden"] and v["qonnx_integer_graph_equals_golden"]
                  and v.get("synthesis_top_equals_golden") is not False):
        print("error: the integer chain is not bit-exact (see reports/verification.json)", file=sys.stderr)
        return 1
    if a.cmd == "build":
        return 0
    board = get_board(a.board)
    over = estimate(res.accelerator).over(board, a.fraction)
    if over:  # never hand the vendor tools a design that does not fit by our own estimate
        u = estimate(res.accelerator).utilisation(board)
        print(f"error: the design in {res.out} does not fit {a.fraction:.0%} of {board.name} by the "
              f"estimate: it needs " + ", ".join(f"{k} {100 * u[k]:.0f}%" for k in over)
              + " of the board (reports/estimate.json); lower --fps, raise --fraction or choose a "
                "smaller network. Nothing was handed to Vitis HLS or Vivado.", file=sys.stderr)
        return 2
    overload = ddr_overload(res.report["ddr"], res.report["fps"]) if res.report.get("ddr") else None
    if overload:  # the masters cannot read that fast
        print(f"error: the design in {res.out} cannot be fed: {overload}. Keep fewer weights in DDR "
              f"(ram_style) or lower --fps. Nothing was handed to Vitis HLS or Vivado.", file=sys.stderr)
        return 2
    try:
        return bitstream(res.out, board)
    except DescriptionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def bitstream(build_dir: Path, board) -> int:
    from hls.design_files import verify_manifest

    verify_manifest(build_dir)  # what goes to the vendor tools is what the flow wrote and verified
    missing = [t for t in ("vitis_hls", "vivado") if shutil.which(t) is None]
    if missing:
        print(f"\nbitstream for {board.name}: stopped before synthesis.\n"
              f"Generated in {build_dir}:\n"
              f"  accelerator.json, weights/, thresholds/   the accelerator description\n"
              f"  hls/top.cpp, hls/network.h, hls/weights.h  the HLS sources (top: vargnet_top)\n"
              f"  tcl/hls.tcl, tcl/vivado.tcl               Vitis HLS and Vivado scripts\n"
              f"  reports/                                   estimates and verification\n"
              f"Missing on PATH: {', '.join(missing)} (AMD Vitis HLS and Vivado {HLS_VERSION}; see "
              f"bitstreams/README.md). With them installed, run in {build_dir}:\n"
              f"  vitis_hls -f tcl/hls.tcl && vivado -mode batch -source tcl/vivado.tcl",
              file=sys.stderr)
        return 3
    for cmd in (["vitis_hls", "-f", "tcl/hls.tcl"], ["vivado", "-mode", "batch", "-source", "tcl/vivado.tcl"]):
        r = subprocess.run(cmd, cwd=build_dir)
        if r.returncode != 0:
            print(f"error: {' '.join(cmd)} failed ({r.returncode})", file=sys.stderr)
            return r.returncode
    dest = ROOT / "bitstreams" / board.name
    src = build_dir / "bitstreams" / board.name
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        shutil.copy2(f, dest / f.name)
    print(f"bitstream written to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
