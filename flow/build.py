"""The compile flow: a quantized model (checkpoint or QONNX export) -> one build folder.

Steps (each prints its time; a failure names what is wrong before any long step starts):
  1. load      export the checkpoint to QONNX (or read the given export), clean it (qonnx)
  2. check     the export's ops and the user's folding JSON
  3. fold      choose PE/SIMD per layer for the board (or the FPS target) and place memories
  4. integers  streamline: integer weights and thresholds (flow/streamline.py)
  5. fifos     size every FIFO by simulation (sim/fifo_sizing.py)
  6. write     accelerator.json + weights/*.npy, thresholds/*.npy, output scale, host tail
               (and the checkpoint's verification scoring backend, scoring.npz)
  7. codegen   hls/ (network.h, top.cpp, csim_top.cpp, weights.h), tcl/ (Vitis HLS, Vivado)
  8. reports   reports/estimate.json (ours, analytic + simulated), reports/finn_estimates.json
               (FINN's own ops for the layers it can model), reports/finn_analyses.json (FINN's
               exp_cycles_per_layer and res_estimation over our engines as FINN custom ops)
  9. verify    ORL faces through the golden model, the whole-network C-sim and qonnx
               execution of the integer graph: all three must be equal; built from a
               checkpoint, each integer layer must also give its Brevitas layer's codes
               except at float rounding ties (flow/agreement.py)
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

from flow.accel import Accelerator
from flow.artifacts import write_design
from flow.boards import Board, get_board
from flow.codegen import write_hls
from flow.estimate import place_memories
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


def build(cfg: BuildConfig) -> BuildResult:
    t = time.perf_counter()
    out = Path(cfg.out)
    board = get_board(cfg.board)
    clock = cfg.clock_mhz or board.clock_mhz
    user = load_folding(cfg.folding) if cfg.folding else None
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
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
    # 3. fold
    if cfg.fps:
        fr = fold_for_fps(arch, quant, board, cfg.fps, clock_mhz=clock, fraction=cfg.fraction, user=user)
    else:
        fr = fold_for_board(arch, quant, board, fraction=cfg.fraction, clock_mhz=clock, user=user)
    acc = fr.accelerator
    acc.name = out.name
    t = _step(f"folded for {board.name}: {clock * 1e6 / fr.cycles_per_frame:.1f} FPS estimated", t)
    # 4. integers
    layers = streamline(model, acc)
    params = layers.node_params(acc)
    t = _step("streamlined to integer weights and thresholds", t)
    # 5. FIFOs
    from sim.fifo_sizing import size_fifos
    from sim.programs import programs

    progs = programs(acc)
    sz = size_fifos(progs, target_cycles=fr.requested_cycles)
    for s in acc.streams:
        s.depth = sz.depths[s.name]
    # the FIFOs' memories were not known when the folding placed the large memories
    place_memories(acc, board, cfg.fraction)
    t = _step(f"sized {len(acc.streams)} FIFOs by simulation ({sz.describe()})", t)
    # 6. write
    assert layers.output_scale is not None
    write_design(acc, params, layers.output_scale, tail, tmp, scoring)
    t = _step("wrote the accelerator description, weights and thresholds"
              + (f", and the host's scoring backend: {scoring.describe()}" if scoring else ""), t)
    # 7. codegen
    write_hls(acc, params, tmp / "hls", cfg.weights_header)
    (tmp / "tcl").mkdir()
    (tmp / "tcl" / "hls.tcl").write_text(hls_tcl(acc, board, clock, str(INCLUDE_DIR)))
    (tmp / "tcl" / "vivado.tcl").write_text(vivado_tcl(acc, board, clock, f"bitstreams/{board.name}"))
    t = _step("generated the HLS top and the Vitis HLS / Vivado Tcl", t)
    # 8. reports
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
    # 9. verify
    acc.root = tmp
    report["verification"] = verify(acc, params, cfg.verify_images, net) if cfg.verify_images else None
    (tmp / "reports" / "verification.json").write_text(json.dumps(report["verification"], indent=1))
    t = _step(f"verified: {report['verification']}", t)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    acc.root = out
    return BuildResult(out, acc, layers, report)


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
