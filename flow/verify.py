"""The build's verification: the integer chain end to end on ORL faces. The golden model, the
whole-network C-sim, the synthesis top with its testbench (g++, ap_int: what Vitis HLS gets)
and qonnx execution of the integer graph must all give the same integers; built from a
checkpoint, each integer layer must also give its Brevitas layer's codes except at float
rounding ties (flow/agreement.py)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hls.accel import Accelerator


class VerificationError(RuntimeError):
    """The integer layers differ from the trained network away from rounding ties."""


def verify_synthesis_top(acc: Accelerator, x: np.ndarray, golden: np.ndarray) -> dict[str, Any]:
    """The synthesis top and its testbench (what Vitis HLS gets) compiled with g++ and run on
    the packed images against the golden model's beats; the vectors stay in hls/ for the Tcl's
    csim_design / cosim_design. Skipped (None) without hls/weights.h."""
    from flow.top_csim import EXPECTED_FILE, INPUT_FILE, TopCsim
    from hls.packing import pack_input, pack_output

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
    from hls.csim_net import NetworkCsim
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
            raise VerificationError(f"integer layers differ from the trained network away from rounding "
                             f"ties in {bad[:5]} (python -m flow.agreement --build {acc.root})")
    return rep
