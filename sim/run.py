"""Cycle-approximate simulation of a VarGNet/VarGFaceNet dataflow accelerator: per-layer
cycles, stalls and first-output times, FIFO depths, buffer memory, resources, FPS, latency.

    python sim/run.py                                  # the default design, ZCU104
    python sim/run.py --model vargfacenet              # the full-size VarGFaceNet (1.25x)
    python sim/run.py --model vargnet --width 0.5 --input 224 --fps 500
    python sim/run.py --design build/default --json out.json --plot plots/

With no --design and no --model it simulates the default design's build folder
(build/default) if the flow has written one and no folding option is given, else the default
architecture (VarGFaceNet w4a4) folded for --fps on the board. Designs from --model need no
torch and no weights. Folding options (--width, --input, --quant, --fps, --fit, --folding)
are refused with --design: a build's folding is fixed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

from hls.accel import Accelerator, DescriptionError
from hls.boards import BoardError, get_board
from hls.design_files import MANIFEST, verify_manifest
from hls.estimate import node_buffer_bits, place_resources, release_multipliers
from hls.shared_cost import hardware_nodes
from flow import (AUTO, FoldingError, PartitionError, check_folding, fold_and_size, fold_for_board,
                  load_folding, mac_fixed, resolve_partition, shared_choice)
from hls.engines import EngineError
from model.arch import ArchError, named
from model.argtypes import positive_float, positive_int
from model.defaults import DEFAULT_BOARD, DEFAULT_FPS_TARGET, default_arch, default_quant
from model.quant import QuantConfig, QuantConfigError
from sim.analytic import analyse
from sim.events import STEADY_MIN_FED, simulate, simulate_steady, steady_frames
from sim.fifo_sizing import FRAMES, size_and_place, size_fifos, write_depths
from sim.plots import plot_all
from sim.programs import programs
from sim.report import build_report, format_report

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DESIGN = ROOT / "build" / "default"


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python sim/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", help="a build folder or accelerator.json written by the flow")
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"],
                    help="simulate an architecture from its description alone (no weights)")
    ap.add_argument("--width", type=positive_float, help="width multiplier for --model (default: the model's)")
    ap.add_argument("--input", type=positive_int, help="input size for --model (default: 112 / 224)")
    ap.add_argument("--quant", default=None,
                    help="bit widths for --model: w4a4, w4a8, w8a8 (default: the default design's)")
    ap.add_argument("--board", default=None, help=f"target board (default: the design's, else {DEFAULT_BOARD})")
    ap.add_argument("--clock-mhz", type=positive_float, default=None, help="clock (default: the board's, 200)")
    ap.add_argument("--fps", type=positive_float, default=None,
                    help=f"folding target for --model (default {DEFAULT_FPS_TARGET:g}); the sized FIFOs "
                         "must hold this rate, not the faster one a discrete folding may reach; "
                         "with --fit the highest FPS within 80%% of the board instead")
    ap.add_argument("--fit", action="store_true", help="for --model: fold for the board's budget")
    ap.add_argument("--requant-assumed", action="store_true",
                    help="for --model, a what-if: give the nodes integer requantizations instead "
                         "of thresholds where the estimate says it is cheaper, with table sizes "
                         "as measured on the default design (which nodes are exact needs weights: "
                         "python -m flow build decides that; flow/requantize.py)")
    ap.add_argument("--folding", help="FINN-format folding JSON for --model ({layer: {PE, SIMD}})")
    ap.add_argument("--shared-stages", nargs="+", default=None,
                    help="for --model: the blocks the shared block engine runs, their rows read from "
                         "DDR each frame: stages or blocks (e.g. stage4, stage3.unit6), 'auto' (the "
                         "default: the flow searches the contiguous block ranges and shares one only "
                         "where the resident design is over 80%% of the board; "
                         "flow/partition_search.py) or 'none' (every layer resident)")
    ap.add_argument("--shared-gp", type=positive_int, default=None,
                    help="for --model: the shared engine's groups of 8 inputs a cycle (default: the "
                         "smallest that meets the FPS target)")
    ap.add_argument("--frames", type=positive_int, default=None,
                    help="frames to event-simulate (default: enough for the steady state: as many as the "
                         "pipeline is deep in frames by the analytic latency, plus 2, at least 3, and twice "
                         "that where the frames have not settled into a repeating state; the first frames "
                         "run into empty FIFOs and overstate the rate; sim/events.py simulate_steady)")
    ap.add_argument("--size-fifos", action="store_true",
                    help="size the FIFOs by simulation even for a --design (always done for --model)")
    ap.add_argument("--json", help="write the results as JSON here (keys: see sim/report.py)")
    ap.add_argument("--plot", help="write PNG plots into this folder")
    ap.add_argument("--all", action="store_true", help="print every node, not the 25 slowest")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    if a.frames is not None and a.frames < 1:
        print("error: --frames must be at least 1", file=sys.stderr)
        return 2
    try:
        return run(a)
    except ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


# what a design or a fold can be refused with (a message, not a traceback)
ERRORS = (ArchError, QuantConfigError, BoardError, FoldingError, DescriptionError, EngineError, PartitionError)


def _check_sources(a: argparse.Namespace) -> None:
    """--design and --model exclude each other, and a build's folding and bit widths are
    fixed: options that would change them are refused, never silently ignored."""
    model_only = [o for o, v in (("--width", a.width), ("--input", a.input), ("--quant", a.quant),
                                 ("--fps", a.fps), ("--fit", a.fit or None), ("--folding", a.folding),
                                 ("--requant-assumed", a.requant_assumed or None),
                                 ("--shared-stages", a.shared_stages), ("--shared-gp", a.shared_gp))
                  if v is not None]
    if a.design and a.model:
        raise DescriptionError("--design and --model: give one (a build folder, or an architecture)")
    if a.design and model_only:
        raise DescriptionError(f"{', '.join(model_only)} only apply to --model (or to the default "
                               f"architecture); {a.design} is a built design: rebuild it with "
                               f"python -m flow to change them")
    if a.design is None and a.model is None and not model_only \
            and (DEFAULT_DESIGN / "accelerator.json").is_file():
        a.design = str(DEFAULT_DESIGN)


def _load_design(a: argparse.Namespace) -> tuple[Accelerator, Any, float]:
    """A built design (its description as the flow wrote it), its board and clock."""
    root = Path(a.design).parent if Path(a.design).name == "accelerator.json" else Path(a.design)
    if (root / MANIFEST).is_file():
        verify_manifest(root, ["accelerator.json"])
    acc = Accelerator.load(a.design)
    return acc, get_board(a.board or acc.board), a.clock_mhz or acc.clock_mhz


def _fold_model(a: argparse.Namespace) -> tuple[Accelerator, Any, float, int, Any]:
    """An architecture folded through the flow's public API (for the FPS target, or --fit the
    board): the design, its board, clock, the cycles per frame its FIFOs must hold and, for
    the FPS target, the sizing of its FIFOs (fold_and_size: where the folding is over the
    budget once sized, the flow sizes the runner-up of its re-pricing too and keeps the one
    less over); None for --fit, whose FIFOs the caller sizes."""
    model = a.model or "vargfacenet"
    if a.model is None and a.width is None:
        a.width = default_arch().params_["multiplier"]
    if a.model is None:
        print("note: no default design build in build/default yet; simulating the default "
              "architecture from its description (python -m flow builds one)")
    arch = named(model, a.width, a.input)
    quant = QuantConfig.parse(a.quant) if a.quant else default_quant()
    if quant is None:
        raise QuantConfigError("--quant float has no hardware (choose wNaM)")
    board = get_board(a.board or DEFAULT_BOARD)
    clock = a.clock_mhz or board.clock_mhz
    user = load_folding(a.folding) if a.folding else None
    if user:  # unknown layers or illegal PE/SIMD: refused as the flow refuses them
        check_folding(arch, quant, user)
    sizing = None
    shared, folded = resolve_partition(shared_choice(a.shared_stages or [AUTO], a.shared_gp), arch, quant, board,
                                       clock, None if a.fit else a.fps or DEFAULT_FPS_TARGET, 0.8, user)
    if a.fit:
        fr = fold_for_board(arch, quant, board, clock_mhz=clock, user=user, shared=shared)
    elif folded is not None:  # the partition search folded and sized it already
        fr, sizing = folded
    else:
        print("folding and sizing FIFOs by simulation (a few event simulations)...", flush=True)
        fr, sizing = fold_and_size(arch, quant, board, clock, a.fps or DEFAULT_FPS_TARGET, 0.8, user,
                                   shared=shared)
    if a.requant_assumed:
        from flow import ASSUMED_TABLE_EXTRA_BITS, assume_requant

        took = sum(1 for c in assume_requant(fr.accelerator, board) if c.pieces)
        # their multipliers came after the folding placed lane pairs in DSPs: pairs go back to
        # LUTs while the DSPs are over the budget
        back = release_multipliers(fr.accelerator, board, 0.8, mac_fixed(user))
        print(f"what-if: {took} nodes given integer requantizations instead of thresholds (tables "
              f"{ASSUMED_TABLE_EXTRA_BITS} bits wider than their values; assumed exact, not checked)"
              + (f"; {len(back)} lane pairs back in LUTs to keep the DSPs within 80%" if back else ""))
    return fr.accelerator, board, clock, fr.requested_cycles, sizing


def _write_outputs(a: argparse.Namespace, acc: Accelerator, report: dict, ev: Any) -> None:
    """--json (the report) and --plot (PNGs)."""
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{a.json}.partial")
        tmp.write_text(json.dumps(report, indent=1))
        tmp.replace(a.json)  # atomic: a reader never sees half a report
        print(f"wrote {a.json}")
    if a.plot:
        by_layer: dict[str, dict[str, int]] = {}
        for n in hardware_nodes(acc):
            d = by_layer.setdefault(n.layer, {})
            for k, v in node_buffer_bits(n).items():
                d[k] = d.get(k, 0) + v
        for p in plot_all(report, ev, Path(a.plot), by_layer):
            print(f"wrote {p}")


def run(a: argparse.Namespace) -> int:
    acc, report, ev = simulate_design(a)
    print(format_report(report, None if a.all else 25))
    _write_outputs(a, acc, report, ev)
    return 1 if ev.deadlock else 0


def _size(a: argparse.Namespace, acc: Accelerator, board: Any, target: int | None, progs: list, sized: Any,
          say: Callable[..., None], t0: float) -> Any:
    """The design's FIFOs sized by simulation (unless the fold sized them: `sized`) and, for a
    folded model, its memories placed around them, sized again where the placement packed FIFOs
    into URAM (size_and_place). Returns the unbounded reference simulation."""
    fixed = mac_fixed(load_folding(a.folding) if a.folding else None)

    def place() -> None:
        place_resources(acc, board, 0.8, fixed)

    if sized is not None:  # sized with the folding; --requant-assumed changed memories since
        streams = len(acc.streams)
        place()
        if len(acc.streams) != streams:  # it packed FIFOs into URAM: size the packed design
            sized = size_and_place(acc, place, target_cycles=target, frames=max(a.frames or 0, FRAMES))
        say(f"  {sized.describe()}, {time.perf_counter() - t0:.1f} s", flush=True)
        return sized.reference
    say("sizing FIFOs by simulation (a few event simulations)...", flush=True)
    if a.design is None:  # the folding placed memories before the FIFOs had sizes
        sz = size_and_place(acc, place, target_cycles=target, frames=max(a.frames or 0, FRAMES))
    else:
        sz = size_fifos(progs, frames=max(a.frames or 0, FRAMES), target_cycles=target)
        write_depths(acc, sz, progs)
    say(f"  {sz.describe()}, {time.perf_counter() - t0:.1f} s", flush=True)
    return sz.reference


def simulate_design(a: argparse.Namespace, say: Callable[..., None] = print) -> tuple[Accelerator, dict, Any]:
    """The design the options name, folded (for --model), its FIFOs sized and its frames
    event-simulated: (description, report of sim/report.py, event result). Progress goes to
    `say`."""
    t0 = time.perf_counter()
    _check_sources(a)
    target: int | None = None  # cycles per frame the sized FIFOs must hold (None: unbounded's)
    sized = None  # the fold's sizing, where it sized
    if a.design:
        acc, board, clock = _load_design(a)
        size = a.size_fifos
    else:
        acc, board, clock, target, sized = _fold_model(a)
        size = sized is None
    progs = programs(acc)
    an = analyse(acc)
    say(f"analytic: {an.fps(clock):.1f} FPS, latency {an.latency_ms(clock):.3f} ms "
          f"({time.perf_counter() - t0:.2f} s)", flush=True)
    unbounded = _size(a, acc, board, target, progs, sized, say, t0) if size or sized is not None else None
    progs, depths = programs(acc), {s.name: s.depth for s in acc.streams}
    least = a.frames or steady_frames(an.latency_cycles, an.cycles_per_frame)
    t1 = time.perf_counter()
    trace = {"trace": bool(a.plot),
             "trace_step": max(1, int(an.latency_cycles + 2 * least * an.cycles_per_frame) // 3000)}
    ev = simulate(progs, depths, least, **trace) if a.frames else simulate_steady(progs, depths, least, **trace)
    say(f"event simulation of {ev.frames} frames"
        + (" (settled into its steady state)" if ev.settled else " (not settled: the latest interval while fed)"
           if ev.fed_cycles is not None and ev.frames >= STEADY_MIN_FED else "")
        + f": {time.perf_counter() - t1:.2f} s", flush=True)
    return acc, build_report(acc, board, clock, an, ev, depths, unbounded), ev


if __name__ == "__main__":
    sys.exit(main())
