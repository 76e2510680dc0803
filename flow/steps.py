"""The build as a list of named steps, each `(state, cfg) -> state`, and the runner that runs
a stretch of them (FINN's builder has the same shape: src/finn/builder/build_dataflow_steps.py).

  load           export the checkpoint to QONNX (or copy the given export) and read it
  check_folding  the user's folding JSON against the architecture, before anything long
  fold           PE/SIMD per layer for the board (or the FPS target), each node priced with
                 the activation form it would take (the unfolded network streamlined and
                 fitted first), lowered to engine nodes; every FIFO sized by simulation and
                 the memories placed; for the
                 board's budget, folded again smaller while the FIFOs push the estimate over
                 (intermediate/folded_accelerator.json, intermediate/fifo_sizing.json)
  streamline     integer weights and thresholds (flow/streamline.py); per node, thresholds
                 or an exactly equal integer requantization (flow/requantize.py,
                 reports/requant.json says which and why)
  write          accelerator.json + weights/*.npy, thresholds/*.npy, output scale, host tail,
                 the checkpoint's verification scoring backend (scoring.npz)
  generate_hls   hls/ (network.h, top.cpp, tb_top.cpp, csim_top.cpp, weights.h), tcl/
  estimate       reports/estimate.json (analytic + simulated), FINN's estimates beside ours
  verify         reports/verification.json (flow/verify.py)

The runner prints a progress line per step and writes time_per_step.json. A build can stop
after a step (`stop`) and a later run can start at a step (`start`) from that folder, where
the folder holds what the step reads (see `RESUMABLE`).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from hls.accel import Accelerator
from hls.boards import Board
from hls.estimate import estimate

STEP_FILE = "time_per_step.json"
FOLDED = Path("intermediate") / "folded_accelerator.json"
SIZING = Path("intermediate") / "fifo_sizing.json"


class BuildError(RuntimeError):
    """A build that cannot go on; the message names the problem."""


class StepError(ValueError):
    """A step range that cannot run (unknown name, wrong order, a folder without the inputs)."""


@dataclass
class BuildState:
    """What the steps hand on: the folder being written, the board, and each step's results."""

    folder: Path
    board: Board
    clock: float
    name: str  # the design's name (the build folder's)
    user: Optional[dict] = None  # the user's folding
    net: Any = None  # the trained network (built from a checkpoint): verify compares with it
    scoring: Any = None  # the checkpoint's verification backend (model.scoring.Wccn)
    model: Any = None  # the cleaned QONNX export
    arch: Any = None
    quant: Any = None
    tail: Any = None
    acc: Optional[Accelerator] = None
    sizing: Any = None  # sim.fifo_sizing.Sizing of this run's fold step (None when resumed)
    layers: Any = None  # flow.streamline.IntegerLayers
    params: Optional[dict] = None
    report: dict = field(default_factory=dict)
    said: str = ""  # the last step's one-line account, for the progress line


Step = Callable[[BuildState, Any], BuildState]


def step_load(st: BuildState, cfg) -> BuildState:
    from flow.streamline import load_export, metadata

    onnx_path = st.folder / "model.qonnx"
    if cfg.checkpoint is not None:
        from model.checkpoint import load_net
        from model.export import export_qonnx
        from model.scoring import stored

        st.net, extra = load_net(cfg.checkpoint)
        st.scoring = stored(extra, str(cfg.checkpoint))
        if st.net.quant_config is None:
            raise BuildError(f"{cfg.checkpoint}: a float checkpoint has no hardware; train with "
                             f"--quant wNaM")
        export_qonnx(st.net, onnx_path)
    elif cfg.onnx is not None:
        shutil.copyfile(cfg.onnx, onnx_path)
    else:
        raise BuildError("give a checkpoint or a QONNX export")
    st.model = load_export(onnx_path)
    st.arch, st.quant, st.tail = metadata(st.model)
    st.said = f"loaded {st.arch.name} {st.quant.name}"
    return st


def step_check_folding(st: BuildState, cfg) -> BuildState:
    from flow.folding import check_folding

    if st.user:
        check_folding(st.arch, st.quant, st.user)
    st.said = f"folding JSON checked ({len(st.user)} layers)" if st.user else "no folding JSON given"
    return st


def step_fold(st: BuildState, cfg) -> BuildState:
    from flow.folding import fold_and_size
    from flow.partition import choice
    from flow.partition_search import resolve
    from flow.requantize import strip_forms

    forms = _exact_forms(st, cfg.requant)
    searched: list[str] = []
    shared, folded = resolve(choice(cfg.shared_stages, cfg.shared_gp), st.arch, st.quant, st.board, st.clock,
                             cfg.fps, cfg.fraction, st.user, forms, say=lambda m: _progress(m, searched))
    fr, st.sizing = folded or fold_and_size(st.arch, st.quant, st.board, st.clock, cfg.fps, cfg.fraction, st.user,
                                            forms=forms, shared=shared)
    est = estimate(fr.accelerator)  # with the forms the folding priced
    strip_forms(fr.accelerator)  # the streamline step chooses and writes them
    st.acc = fr.accelerator
    st.acc.name = st.name
    (st.folder / FOLDED.parent).mkdir(exist_ok=True)
    st.acc.save(st.folder / FOLDED)
    (st.folder / SIZING).write_text(json.dumps(st.sizing.as_dict(), indent=1))
    st.said = (f"folded for {st.board.name}: {st.clock * 1e6 / fr.cycles_per_frame:.1f} FPS estimated; "
               f"sized {len(st.acc.streams)} FIFOs by simulation ({st.sizing.describe()})")
    if st.acc.shared is not None:
        sh = st.acc.shared
        st.said += (f"; stages {', '.join(sh['stages'])} run by the shared block engine (GP {sh['gp']}, "
                    f"{sh['ops']} ops, {sh['cycles']:,} cycles a frame, {sh['words']:,} words of rows from DDR)")
    st.said += "".join("\n" + line for line in searched)  # the partition search's table
    if est.over(st.board, cfg.fraction):
        u = est.utilisation(st.board)
        st.said += (f"\n[flow] warning: the design does not fit {cfg.fraction:.0%} of {st.board.name} by "
                    f"the estimate (" + ", ".join(f"{k} {100 * v:.0f}%" for k, v in u.items() if k != "FF")
                    + "); `bitstream` refuses it")
    return st


def _progress(message: str, kept: list[str]) -> None:
    """A long search's progress ("...") printed now, its results kept for the step's summary."""
    if message.endswith("..."):
        print(f"[flow] {message}", flush=True)
    else:
        kept.append(message)


def _exact_forms(st: BuildState, mode: str):
    """The nodes' exact activation forms, for the folding to price (None with --requant off):
    the unfolded network streamlined and fitted (a node's values do not depend on the
    folding)."""
    from flow.lowering import lower
    from flow.requantize import fit_forms
    from flow.streamline import streamline

    if mode == "off":
        return None
    unfolded = lower(st.arch, st.quant, {}, strict=False)
    return fit_forms(unfolded, streamline(st.model, unfolded).node_params(unfolded), mode)


def step_streamline(st: BuildState, cfg) -> BuildState:
    from flow.requantize import choose, summary
    from flow.streamline import streamline

    st.layers = streamline(st.model, st.acc)
    st.params = st.layers.node_params(st.acc)
    choices = choose(st.acc, st.params, st.board, cfg.requant)
    st.report["requant"] = [asdict(c) for c in choices]
    (st.folder / "reports").mkdir(exist_ok=True)
    (st.folder / "reports" / "requant.json").write_text(json.dumps(st.report["requant"], indent=1))
    st.said = f"streamlined to integer weights and thresholds; {summary(choices)} (--requant {cfg.requant})"
    return st


def step_write(st: BuildState, cfg) -> BuildState:
    from flow.artifacts import write_design

    assert st.layers is not None and st.layers.output_scale is not None
    write_design(st.acc, st.params, st.layers.output_scale, st.tail, st.folder, st.scoring)
    st.said = ("wrote the accelerator description, weights and thresholds"
               + (f", and the host's scoring backend: {st.scoring.describe()}" if st.scoring else ""))
    return st


def step_generate_hls(st: BuildState, cfg) -> BuildState:
    from flow.tcl import hls_tcl, vivado_tcl
    from hls.codegen import write_hls
    from hls.paths import INCLUDE_DIR

    write_hls(st.acc, st.params, st.folder / "hls", cfg.weights_header)
    (st.folder / "tcl").mkdir(exist_ok=True)
    (st.folder / "tcl" / "hls.tcl").write_text(hls_tcl(st.acc, st.board, st.clock, str(INCLUDE_DIR)))
    (st.folder / "tcl" / "vivado.tcl").write_text(
        vivado_tcl(st.acc, st.board, st.clock, f"bitstreams/{st.board.name}"))
    st.said = "generated the HLS top and the Vitis HLS / Vivado Tcl"
    return st


def step_estimate(st: BuildState, cfg) -> BuildState:
    from sim.analytic import analyse
    from sim.report import build_report

    final, depths, reference = _simulated(st)
    (st.folder / "reports").mkdir(exist_ok=True)
    report = build_report(st.acc, st.board, st.clock, analyse(st.acc), final, depths, reference)
    report["fifo_sizing"] = json.loads((st.folder / SIZING).read_text())
    (st.folder / "reports" / "estimate.json").write_text(json.dumps(report, indent=1))
    if cfg.finn_report:
        try:
            import finn.util.settings as fs

            fs.initialize_dummy_settings()
            from flow.finn_compare import compare
            from flow.finn_ops import finn_analyses

            (st.folder / "reports" / "finn_estimates.json").write_text(json.dumps(compare(st.acc), indent=1))
            (st.folder / "reports" / "finn_analyses.json").write_text(
                json.dumps(finn_analyses(st.acc, st.board.part), indent=1))
        except ImportError as e:
            print(f"[flow] FINN not importable, no FINN estimates: {e}")
    st.report.update(report)
    st.said = "wrote the estimate reports"
    return st


def _simulated(st: BuildState):
    """(the simulation with the sized FIFOs, their depths, the unbounded reference): this run's
    sizing, or, in a resumed build, the same simulations run again on the folded design
    (deterministic: the figures are the ones the fold step saw; the sized one over the
    steady-state frames, as the sizing's last check ran it)."""
    if st.sizing is not None:
        return st.sizing.final, st.sizing.depths, st.sizing.reference
    from sim.events import simulate, simulate_steady
    from sim.fifo_sizing import FRAMES
    from sim.programs import programs

    progs = programs(st.acc)
    depths = {s.name: s.depth for s in st.acc.streams}
    ref = simulate(progs, {}, FRAMES)
    return simulate_steady(progs, depths, max(FRAMES, ref.steady_frames())), depths, ref


def step_verify(st: BuildState, cfg) -> BuildState:
    from flow.verify import VerificationError, verify

    st.acc.root = st.folder
    try:
        v = verify(st.acc, st.params, cfg.verify_images, st.net) if cfg.verify_images else None
    except VerificationError as e:
        raise BuildError(str(e)) from None
    (st.folder / "reports").mkdir(exist_ok=True)
    (st.folder / "reports" / "verification.json").write_text(json.dumps(v, indent=1))
    st.report["verification"] = v
    st.said = f"verified: {v}"
    return st


STEPS: list[tuple[str, Step]] = [
    ("load", step_load), ("check_folding", step_check_folding), ("fold", step_fold),
    ("streamline", step_streamline), ("write", step_write), ("generate_hls", step_generate_hls),
    ("estimate", step_estimate), ("verify", step_verify),
]
NAMES = [n for n, _ in STEPS]
# where a build may start again from its folder, and what it reads there: the QONNX export;
# the folded design; or the written design (description + parameters). `write` needs the
# streamlined layers, which no file holds: start at streamline instead.
RESUMABLE = {"load": "nothing", "check_folding": "model.qonnx", "fold": "model.qonnx",
             "streamline": f"model.qonnx, {FOLDED}", "generate_hls": "accelerator.json and parameters",
             "estimate": f"accelerator.json and parameters, {SIZING}",
             "verify": "accelerator.json and parameters, hls/"}


def step_range(start: Optional[str], stop: Optional[str]) -> list[tuple[str, Step]]:
    for what, s in (("start", start), ("stop", stop)):
        if s is not None and s not in NAMES:
            raise StepError(f"--{what}-step {s!r}: no such step; the steps are {', '.join(NAMES)}")
    i0 = NAMES.index(start) if start else 0
    i1 = NAMES.index(stop) if stop else len(NAMES) - 1
    if i0 > i1:
        raise StepError(f"--start-step {start} comes after --stop-step {stop} (order: {', '.join(NAMES)})")
    if NAMES[i0] not in RESUMABLE:
        raise StepError(f"--start-step {start}: its input (the streamlined integer layers) is not "
                        f"kept between runs; start at streamline")
    return STEPS[i0:i1 + 1]


def restore(st: BuildState, cfg, start: str) -> BuildState:
    """The state a step finds when the steps before it ran in an earlier build of this folder."""
    k = NAMES.index(start)
    need = [Path("accelerator.json") if k >= NAMES.index("generate_hls") else
            FOLDED if k >= NAMES.index("streamline") else Path("model.qonnx")]
    need += [SIZING] if k >= NAMES.index("estimate") else []
    for f in need:
        if k > 0 and not (st.folder / f).is_file():
            raise StepError(f"--start-step {start}: {f.name} is not in the build folder (it needs "
                            f"{RESUMABLE[start]} from the steps before it); run those steps first")
    if 0 < k < NAMES.index("generate_hls"):
        from flow.streamline import load_export, metadata

        st.model = load_export(st.folder / "model.qonnx")
        st.arch, st.quant, st.tail = metadata(st.model)
    if NAMES.index("streamline") <= k < NAMES.index("generate_hls"):
        st.acc = Accelerator.load(st.folder / FOLDED)
    if k >= NAMES.index("generate_hls"):
        from hls.design_files import load_params

        st.acc = Accelerator.load(st.folder)
        st.params = load_params(st.acc)
    if cfg.checkpoint is not None and k > 0:  # verify compares with it; write stores its backend
        from model.checkpoint import load_net
        from model.scoring import stored

        st.net, extra = load_net(cfg.checkpoint)
        st.scoring = stored(extra, str(cfg.checkpoint))
    return st


def run_steps(st: BuildState, cfg, start: Optional[str] = None, stop: Optional[str] = None) -> BuildState:
    """Runs steps start..stop (all by default) with a progress line each; time_per_step.json
    in the folder gets each step's seconds (a resumed build keeps the earlier steps' times)."""
    steps = step_range(start, stop)
    if start and start != NAMES[0]:
        st = restore(st, cfg, start)
    path = st.folder / STEP_FILE
    times = json.loads(path.read_text()) if path.is_file() and start else {}
    for name, fn in steps:
        k = NAMES.index(name) + 1
        print(f"[flow] step {k}/{len(NAMES)} {name} ...", flush=True)
        t = time.perf_counter()
        st = fn(st, cfg)
        times[name] = round(time.perf_counter() - t, 3)
        path.write_text(json.dumps({n: times[n] for n in NAMES if n in times}, indent=1))
        print(f"[flow] step {k}/{len(NAMES)} {name}: {st.said} ({times[name]:.1f} s)", flush=True)
    return st
