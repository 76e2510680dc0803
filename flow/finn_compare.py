"""Per-node cycles of the simulator's engine model next to FINN's own estimate
(`get_exp_cycles` of finn-plus's custom ops) for the same folded layers, where FINN has a
model. Needs the toolchain environment (FINN); the simulator itself does not.

    python -m flow.finn_compare [--model vargfacenet] [--fps 1000] [--json PATH]

FINN's op for each engine: mvau with one group -> MVAU; swg -> ConvolutionInputGenerator_rtl
(its SIMD = our input word width); threshold -> Thresholding; pool -> GlobalAccPool; add ->
ElementwiseAdd; duplicate -> DuplicateStreams; width_convert -> StreamingDataWidthConverter.
Grouped mvau (1 < groups < channels: FINN issue #918) and se_scale have no FINN model.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable, Optional

from hls.accel import Accelerator, Node
from hls.engines import MVAU, SWG, LaneEngine, WidthConvert
from model.argtypes import positive_float


def _finn_dtype(t) -> str:
    return f"{'INT' if t.signed else 'UINT'}{t.bits}"


DOM = "finn.custom_op.fpgadataflow"


def _mvau(e: MVAU):
    if e.groups != 1:  # FINN's MVAU has no groups (issue #918)
        return None
    return oh().make_node("MVAU", ["x", "w"], ["y"], domain=DOM, MW=e.mw, MH=e.mh, PE=e.pe,
                          SIMD=e.simd, numInputVectors=[1, e.pixels],
                          inputDataType=_finn_dtype(e.in_type), weightDataType=f"INT{e.w_bits}",
                          outputDataType=_finn_dtype(e.result_type), ActVal=0, binaryXnorMode=0,
                          noActivation=0 if e.out_type is not None else 1)


def _swg(e: SWG):
    return oh().make_node("ConvolutionInputGenerator_rtl", ["x"], ["y"], domain=DOM + ".rtl",
                          ConvKernelDim=[e.k, e.k], IFMChannels=e.ch,
                          IFMDim=[e.ifm_h + 2 * e.pad, e.ifm_w + 2 * e.pad],
                          OFMDim=[e.ofm_h, e.ofm_w], SIMD=e.in_n, Stride=[e.stride, e.stride],
                          Dilation=[1, 1], inputDataType=_finn_dtype(e.dtype),
                          outputDataType=_finn_dtype(e.dtype), depthwise=0)


def _width(e: WidthConvert):
    return oh().make_node("StreamingDataWidthConverter", ["x"], ["y"], domain=DOM,
                          in_shape=[1, e.total], out_shape=[1, e.total],
                          inWidth=e.in_n * e.dtype.bits, outWidth=e.out_n * e.dtype.bits,
                          dataType=_finn_dtype(e.dtype))


def _threshold(e: LaneEngine):
    assert e.out_type is not None
    return oh().make_node("Thresholding", ["x", "t"], ["y"], domain=DOM, NumChannels=e.ch, PE=e.n,
                          numSteps=(1 << e.out_type.bits) - 1, inputDataType=_finn_dtype(e.in_type),
                          outputDataType=_finn_dtype(e.out_type), numInputVectors=[1, e.pixels],
                          ActVal=e.out_type.min)


def _pool(e: LaneEngine):
    return oh().make_node("GlobalAccPool", ["x"], ["y"], domain=DOM, NumChannels=e.ch, PE=e.n,
                          inputDataType=_finn_dtype(e.in_type), numInputVectors=[1, e.pixels])


def _duplicate(e: LaneEngine):
    return oh().make_node("DuplicateStreams", ["x"], ["y", "z"], domain=DOM, NumChannels=e.ch, PE=e.n,
                          NumOutputStreams=2, inputDataType=_finn_dtype(e.in_type),
                          numInputVectors=[1, e.pixels])


def _add(e: LaneEngine):
    shape = [1, e.pixels, e.ch]
    return oh().make_node("ElementwiseAdd", ["x", "z"], ["y"], domain=DOM,
                          lhs_dtype=_finn_dtype(e.in_type), rhs_dtype=_finn_dtype(e.in_type),
                          out_dtype=f"INT{e.sum_bits}", lhs_shape=shape, rhs_shape=shape,
                          out_shape=shape, PE=e.n)


# FINN's op for each of our engine kinds (a kind not here has no FINN model: se_scale)
FINN_OPS: dict[str, Callable[[Any], Any]] = {
    "mvau": _mvau, "swg": _swg, "width_convert": _width, "threshold": _threshold,
    "pool": _pool, "duplicate": _duplicate, "add": _add,
}


def oh():
    import onnx.helper

    return onnx.helper


def finn_node(n: Node):
    """A FINN custom op standing for the node, or None where FINN has no model."""
    from qonnx.custom_op.registry import getCustomOp

    make = FINN_OPS.get(n.kind)
    node = make(n.engine()) if make is not None else None
    return getCustomOp(node) if node is not None else None


def compare(acc: Accelerator) -> list[dict[str, Any]]:
    rows = []
    for n in acc.nodes:
        ours = n.engine().cycles()
        try:
            op = finn_node(n)
            finn: Optional[int] = int(op.get_exp_cycles()) if op is not None else None
            note = "" if op is not None else "no FINN model"
        except Exception as ex:  # FINN refused the attributes: say so, do not hide it
            finn, note = None, f"FINN error: {type(ex).__name__}: {ex}"[:120]
        rows.append({"name": n.name, "kind": n.kind, "ours": ours, "finn": finn, "note": note})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m flow.finn_compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default="vargfacenet")
    ap.add_argument("--fps", type=positive_float, default=1000.0, help="folding target (default 1000)")
    ap.add_argument("--board", default="zcu104")
    ap.add_argument("--width", type=positive_float, default=None, help="width multiplier (default: the model's)")
    ap.add_argument("--json", help="write the rows as JSON here")
    a = ap.parse_args(argv)
    import finn.util.settings as fs

    fs.initialize_dummy_settings()
    from hls.boards import get_board
    from flow.folding import fold_for_fps
    from model.arch import build
    from model.defaults import default_quant

    kw = {} if a.width is None else {"multiplier" if a.model == "vargfacenet" else "width": a.width}
    acc = fold_for_fps(build(a.model, **kw), default_quant(), get_board(a.board), a.fps).accelerator
    rows = compare(acc)
    by_kind: dict[str, list[tuple[int, int]]] = {}
    print(f"{'node':<40}{'kind':<14}{'ours':>10}{'FINN':>10}  note")
    for r in rows:
        print(f"{r['name'][:39]:<40}{r['kind']:<14}{r['ours']:>10}{str(r['finn']):>10}  {r['note']}")
        if r["finn"] is not None:
            by_kind.setdefault(r["kind"], []).append((r["ours"], r["finn"]))
    print("\nper kind: nodes with a FINN model, sum of our cycles / sum of FINN's")
    for k, v in by_kind.items():
        o, f = sum(x for x, _ in v), sum(y for _, y in v)
        ratio = f"{o / f:.3f}" if f else "n/a (FINN reports 0 cycles)"
        print(f"  {k:<14}{len(v):>4} nodes  ours {o:>12,}  FINN {f:>12,}  ratio {ratio}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
