"""The compile flow: a quantized model (checkpoint or QONNX export) -> one build folder.

Steps (each prints its time; a failure names what is wrong before any long step starts):
  0. out       an --out that is a file, or a folder the flow did not write, is refused; the
               build is written into <out>.partial and replaces <out> only when it is
               complete (a failed build removes its partial folder)
  1. load      export the checkpoint to QONNX (or read the given export), clean it (qonnx)
  2. check     the export's ops and the user's folding JSON
  3. fold      choose PE/SIMD per layer for the board (or the FPS target), size every FIFO by
               simulation (sim/fifo_sizing.py), place memories; for the board's budget, fold
               again smaller while the FIFOs push the whole estimate over it
  4. integers  streamline: integer weights and thresholds (flow/streamline.py)
  5. write     accelerator.json + weights/*.npy, thresholds/*.npy, output scale, host tail
               (and the checkpoint's verification scoring backend, scoring.npz)
  6. codegen   hls/ (network.h, top.cpp, tb_top.cpp, csim_top.cpp, weights.h), tcl/ (Vitis
               HLS, Vivado)
  7. reports   reports/estimate.json (ours, analytic + simulated), reports/finn_estimates.json
               (FINN's own ops for the layers it can model), reports/finn_analyses.json (FINN's
               exp_cycles_per_layer and res_estimation over our engines as FINN custom ops)
  8. verify    ORL faces through the golden model, the whole-network C-sim, the synthesis top
               with its testbench (g++, ap_int) and qonnx execution of the integer graph: all
               must be equal; built from a checkpoint, each integer layer must also give its
               Brevitas layer's codes except at float rounding ties (flow/agreement.py)
and last manifest.json, the sha256 of every file (flow/design_files.py): the host refuses a
build folder whose files differ from it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

from flow.accel import SCHEMA, Accelerator
from flow.artifacts import write_design
from flow.boards import Board, get_board
from flow.codegen import write_hls
from flow.design_files import write_manifest
from flow.estimate import estimate, place_memories
from flow.folding import FoldingError, check_folding, fold_for_board, fold_for_fps, load_folding
from flow.streamline import IntegerLayers, StreamlineError, load_export, metadata, streamline
from flow.tcl import hls_tcl, vivado_tcl
from hls.paths import INCLUDE_DIR


@dataclass
class BuildConfig:
    out: Path
    checkpoint: Optional[Path] = None
    onnx: Optional[Path] = None
    board: str = "zcu104"
    clock_mhz: Optional[float] = None
    fps: Optional[float] = None  # None: the highest FPS within `fraction` of the board
    fraction: float = 0.8
    folding: Optional[Path] = None
    verify_images: int = 4
    finn_report: bool = True
    weights_header: bool = True


@dataclass
class BuildResult:
    out: Path
    accelerator: Accelerator
    layers: IntegerLayers
    report: dict[str, Any] = field(default_factory=dict)


class BuildError(RuntimeError):
    pass


def _step(name: str, t0: float) -> float:
    t = time.perf_counter()
    print(f"[flow] {name} ({t - t0:.1f} s)", flush=True)
    return t


PARTIAL_MARKER = ".vargnet-partial-build"  # in a build being written (<out>.partial)


def is_build_folder(path: Path) -> bool:
    """A folder the flow wrote: it holds an accelerator description of our schema."""
    try:
        d = json.loads((Path(path) / "accelerator.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(d, dict) and d.get("schema") == SCHEMA


def check_out(out: Path) -> Path:
    """Refuses an --out that is a file or a folder the flow did not write (before any work);
    returns the temporary folder the build is written into (cleared if a crashed build of
    ours left it)."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: is a file; give a folder for the build")
    if out.is_dir() and any(out.iterdir()) and not is_build_folder(out):
        raise BuildError(f"--out {out}: an existing folder that is not a build folder (no "
                         f"accelerator.json written by the flow); refusing to replace it: choose "
                         f"another --out, or empty or remove it yourself")
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        if not (tmp / PARTIAL_MARKER).is_file():
            raise BuildError(f"{tmp}: exists and is not a partial build of ours; refusing to remove "
                             f"it (the build is written there before it replaces {out})")
        shutil.rmtree(tmp)
    return tmp


def build(cfg: BuildConfig) -> BuildResult:
    """The steps below into <out>.partial, then (manifest written) in place of <out>; a failed
    build removes its partial folder."""
    out = Path(cfg.out)
    tmp = check_out(out)
    tmp.mkdir(parents=True)
    (tmp / PARTIAL_MARKER).write_text("a build in progress; removed when it ends\n")
    try:
        res = _build_into(cfg, out, tmp)
        (tmp / PARTIAL_MARKER).unlink()
        write_manifest(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = out.with_name(out.name + ".old")
    if out.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)
    res.accelerator.root = out
    res.out = out
    return res


def _build_into(cfg: BuildConfig, out: Path, tmp: Path) -> BuildResult:  # noqa: C901 - the steps, in order
    t = time.perf_counter()
    board = get_board(cfg.board)
    clock = cfg.clock_mhz or board.clock_mhz
    user = load_folding(cfg.folding) if cfg.folding else None
    # 1. load
    net = None  # the trained network, when built from a checkpoint (verified against, step 9)
    scoring = None  # the checkpoint's verification backend, for the host (model/scoring.py)
    if cfg.checkpoint is not None:
        from model.checkpoint import load_net
        from model.export import export_qonnx
        from model.scoring import stored

        net, extra = load_net(cfg.checkpoint)
        scoring = stored(extra, str(cfg.checkpoint))
        if net.quant_config is None:
            raise BuildError(f"{cfg.checkpoint}: a float checkpoint has no hardware; train with "
                             f"--quant wNaM")
        onnx_path = export_qonnx(net, tmp / "model.qonnx")
    elif cfg.onnx is not None:
        onnx_path = tmp / "model.qonnx"
        shutil.copyfile(cfg.onnx, onnx_path)
    else:
        raise BuildError("give a checkpoint or a QONNX export")
    model = load_export(onnx_path)
    arch, quant, tail = metadata(model)
    t = _step(f"loaded {arch.name} {quant.name}", t)
    # 2. check the folding before anything long
    if user:
        check_folding(arch, quant, user)
    # 3. fold and size the FIFOs until the whole estimate fits
    fr, sz = fold_and_size(arch, quant, board, clock, cfg.fps, cfg.fraction, user)
    acc = fr.accelerator
    acc.name = out.name
    t = _step(f"folded for {board.name}: {clock * 1e6 / fr.cycles_per_frame:.1f} FPS estimated; sized "
              f"{len(acc.streams)} FIFOs by simulation ({sz.describe()})", t)
    over = estimate(acc).over(board, cfg.fraction)
    if over:
        print(f"[flow] warning: the design does not fit {cfg.fraction:.0%} of {board.name} by the "
              f"estimate ({_needs(acc, board)}); `bitstream` refuses it", flush=True)
    # 4. integers
    layers = streamline(model, acc)
    params = layers.node_params(acc)
    t = _step("streamlined to integer weights and thresholds", t)
    # 5. write
    assert layers.output_scale is not None
    write_design(acc, params, layers.output_scale, tail, tmp, scoring)
    t = _step("wrote the accelerator description, weights and thresholds"
              + (f", and the host's scoring backend: {scoring.describe()}" if scoring else ""), t)
    # 6. codegen
    write_hls(acc, params, tmp / "hls", cfg.weights_header)
    (tmp / "tcl").mkdir()
    (tmp / "tcl" / "hls.tcl").write_text(hls_tcl(acc, board, clock, str(INCLUDE_DIR)))
    (tmp / "tcl" / "vivado.tcl").write_text(vivado_tcl(acc, board, clock, f"bitstreams/{board.name}"))
    t = _step("generated the HLS top and the Vitis HLS / Vivado Tcl", t)
    # 7. reports
    from sim.analytic import analyse
    from sim.report import build_report

    (tmp / "reports").mkdir()
    an = analyse(acc)
    report = build_report(acc, board, clock, an, sz.final, sz.depths, sz.reference)
    report["fifo_sizing"] = sz.as_dict()
    (tmp / "reports" / "estimate.json").write_text(json.dumps(report, indent=1))
    if cfg.finn_report:
        try:
            import finn.util.settings as fs

            fs.initialize_dummy_settings()
            from flow.finn_ops import finn_analyses
            from sim.finn_compare import compare

            (tmp / "reports" / "finn_estimates.json").write_text(json.dumps(compare(acc), indent=1))
            (tmp / "reports" / "finn_analyses.json").write_text(
                json.dumps(finn_analyses(acc, board.part), indent=1))
        except ImportError as e:
            print(f"[flow] FINN not importable, no FINN estimates: {e}")
    t = _step("wrote the estimate reports", t)
    # 8. verify
    acc.root = tmp
    report["verification"] = verify(acc, params, cfg.verify_images, net) if cfg.verify_images else None
    (tmp / "reports" / "verification.json").write_text(json.dumps(report["verification"], indent=1))
    t = _step(f"verified: {report['verification']}", t)
    return BuildResult(tmp, acc, layers, report)


def _needs(acc: Accelerator, board: Board) -> str:
    u = estimate(acc).utilisation(board)
    return ", ".join(f"{k} {100 * v:.0f}%" for k, v in u.items() if k != "FF")


def fold_and_size(arch, quant, board: Board, clock: float, fps: Optional[float], fraction: float,
                  user, attempts: int = 6):
    """The folding (for `fps`, or the fastest within `fraction` of the board) with its FIFOs
    sized by simulation and the large memories placed again around them. Folding for the
    board leaves no room for the FIFOs, which are sized afterwards: while the whole estimate
    is over `fraction`, fold again for a budget smaller by the overshoot (at most `attempts`
    foldings). Returns the last folding and sizing; the caller checks whether it fits."""
    from sim.fifo_sizing import size_fifos
    from sim.programs import programs

    budget, last = fraction, None
    for _ in range(attempts):
        if fps:
            fr = fold_for_fps(arch, quant, board, fps, clock_mhz=clock, fraction=fraction, user=user)
        else:
            fr = fold_for_board(arch, quant, board, fraction=budget, clock_mhz=clock, user=user)
        acc = fr.accelerator
        sz = size_fifos(programs(acc), target_cycles=fr.requested_cycles)
        for s in acc.streams:
            s.depth = sz.depths[s.name]
        place_memories(acc, board, fraction)  # the FIFOs' memories were not known before
        est = estimate(acc)
        if fps or est.fits(board, fraction):
            break
        if not fr.estimate.fits(board, fraction) or fr.cycles_per_frame == last:
            break  # even the slowest folding is over (or a smaller budget changes nothing)
        last = fr.cycles_per_frame
        worst = max(v for k, v in est.utilisation(board).items() if k in est.over(board, fraction))
        budget *= min(0.95, fraction / worst)
    return fr, sz


def verify_synthesis_top(acc: Accelerator, x: np.ndarray, golden: np.ndarray) -> dict[str, Any]:
    """The synthesis top and its testbench (what Vitis HLS gets) compiled with g++ and run on
    the packed images against the golden model's beats; the vectors stay in hls/ for the Tcl's
    csim_design / cosim_design. Skipped (None) without hls/weights.h."""
    from flow.top_csim import EXPECTED_FILE, INPUT_FILE, TopCsim
    from host.packing import pack_input, pack_output

    assert acc.root is not None
    hls_dir = acc.root / "hls"
    if not (hls_dir / "weights.h").is_file():
        return {"synthesis_top_equals_golden": None}
    beats, want = pack_input(x.astype(np.uint8)), pack_output(golden)
    beats.astype("<u4").tofile(hls_dir / INPUT_FILE)
    want.astype("<i4").tofile(hls_dir / EXPECTED_FILE)
    top = TopCsim(acc.root)
    t = time.perf_counter()
    y, line = top.run_beats(beats, want)
    return {"synthesis_top_equals_golden": bool(np.array_equal(y, want)),
            "differing_integers_synthesis_top": int((y != want).sum()),
            "synthesis_top_testbench": line,
            "synthesis_top_compile_seconds": round(top.compile_seconds, 1),
            "synthesis_top_seconds_per_image": round((time.perf_counter() - t) / len(x), 3)}


def verify(acc: Accelerator, params: dict[str, dict[str, np.ndarray]], n_images: int,
           trained: Any = None) -> dict[str, Any]:
    """ORL faces through the golden model, the network C-sim and the integer ONNX graph; with
    the trained network (a build from a checkpoint), also each integer layer against its
    Brevitas layer on the same input codes (flow/agreement.py)."""
    from flow.csim_net import NetworkCsim
    from flow.intgraph import build_integer_graph, run_integer_graph
    from model.orl import HELDOUT_IDS, load_orl
    from sim.golden import GoldenModel

    h, w, c = acc.input["shape"]
    x, _ = load_orl(HELDOUT_IDS[: max(1, n_images)], h, per_id=1)
    x = x[:n_images, :, :, :c]
    yg = GoldenModel(acc, params).run(x)
    net = NetworkCsim(acc, params)  # compiles (cached) and loads the parameters
    t = time.perf_counter()
    yc = net.run(x)
    t_csim = (time.perf_counter() - t) / len(x)
    yi = run_integer_graph(build_integer_graph(acc, params), x)
    rep: dict[str, Any] = {"images": int(len(x)), "csim_equals_golden": bool(np.array_equal(yc, yg)),
                           "qonnx_integer_graph_equals_golden": bool(np.array_equal(yi, yg)),
                           "differing_integers_csim": int((yc != yg).sum()),
                           "csim_seconds_per_image": round(t_csim, 4)}
    rep.update(verify_synthesis_top(acc, x, yg))
    if trained is not None:
        from flow.agreement import layer_agreement, totals

        rows = layer_agreement(trained, acc, x, params=params)
        t = totals(rows)
        rep["brevitas_layers"] = t["layers"]
        rep["brevitas_codes_compared"] = t["codes"]
        rep["brevitas_codes_differing_at_ties"] = t["mismatched"] - t["off_tie"]
        rep["brevitas_codes_differing_off_ties"] = t["off_tie"]
        if t["off_tie"]:
            bad = [r.layer for r in rows if r.off_tie]
            raise BuildError(f"integer layers differ from the trained network away from rounding "
                             f"ties in {bad[:5]} (python -m flow.agreement --build {acc.root})")
    return rep
