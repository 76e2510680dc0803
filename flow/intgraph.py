"""The streamlined integer graph as ONNX: the accelerator's computation with standard ops on
integer-valued tensors and qonnx's MultiThreshold for every activation, executed by qonnx.
Its output must equal the golden integer model exactly (all values are integers far below
2**24, so float32 execution is exact)."""

from __future__ import annotations

import numpy as np

from flow.accel import Accelerator
from hls.engines import MVAU, SWG, Eltwise


def build_integer_graph(acc: Accelerator, params: dict[str, dict[str, np.ndarray]]):
    """A qonnx ModelWrapper of the integer dataflow (input: N x C x H x W codes as float)."""
    import onnx
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper

    h, w, c = acc.input["shape"]
    nodes, inits = [], []
    alias: dict[str, str] = {acc.input["stream"]: "x"}
    k = [0]

    def name(base: str) -> str:
        k[0] += 1
        return f"{base}_{k[0]}"

    def init(arr: np.ndarray, base: str) -> str:
        nm = name(base)
        inits.append(helper.make_tensor(nm, TensorProto.FLOAT, arr.shape, arr.astype(np.float32).ravel()))
        return nm

    def threshold(t: str, thr: np.ndarray, bias: int) -> str:
        o = name("mt")
        nodes.append(helper.make_node("MultiThreshold", [t, init(thr, "thr")], [o],
                                      domain="qonnx.custom_op.general", out_dtype="INT32",
                                      out_bias=float(bias), data_layout="NCHW"))
        return o

    for n in acc.nodes:
        e = n.engine()
        ins = [alias[s] for s in n.inputs]
        p = params.get(n.name, {})
        if n.kind in ("duplicate",):
            alias[n.outputs[0]] = alias[n.outputs[1]] = ins[0]
            continue
        if n.kind in ("swg", "width_convert"):
            alias[n.outputs[0]] = ins[0]
            continue
        if isinstance(e, MVAU):
            src = acc.window_of(n)
            wt = p["weights"].astype(np.float32)
            o = name("acc")
            if src is not None:
                s: SWG = src.engine()  # type: ignore[assignment]
                nodes.append(helper.make_node("Conv", [ins[0], init(wt, "w")], [o], group=e.groups,
                                              kernel_shape=[s.k, s.k], strides=[s.stride, s.stride],
                                              pads=[s.pad] * 4))
            elif e.pixels > 1 or e.out_type is not None:
                w4 = wt.reshape(wt.shape[0], -1, 1, 1)
                nodes.append(helper.make_node("Conv", [ins[0], init(w4, "w")], [o], kernel_shape=[1, 1]))
            else:  # the final FC: flatten, MatMul
                f = name("flat")
                nodes.append(helper.make_node("Flatten", [ins[0]], [f]))
                nodes.append(helper.make_node("MatMul", [f, init(wt.reshape(wt.shape[0], -1).T, "w")], [o]))
            alias[n.outputs[0]] = threshold(o, p["thresholds"], e.out_bias) if e.out_type else o
            continue
        assert isinstance(e, Eltwise)
        if e.kind == "pool":
            o = name("sum")
            nodes.append(helper.make_node("ReduceSum", [ins[0], init(np.array([2, 3]), "axes")], [o],
                                          keepdims=1))
            alias[n.outputs[0]] = o
            continue
        assert e.out_type is not None
        if e.kind == "threshold":
            v = ins[0]
        else:
            v = name("v")
            nodes.append(helper.make_node("Add" if e.kind == "add" else "Mul", ins, [v]))
        alias[n.outputs[0]] = threshold(v, p["thresholds"], e.out_type.min)
    # ReduceSum's axes must be int64
    for i, t in enumerate(inits):
        if t.name.startswith("axes"):
            inits[i] = helper.make_tensor(t.name, TensorProto.INT64, [2], [2, 3])
    out = alias[acc.output["stream"]]
    graph = helper.make_graph(
        nodes, "vargnet_integer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    model.ir_version = 8
    from qonnx.transformation.infer_shapes import InferShapes

    return ModelWrapper(model).transform(InferShapes())


def run_integer_graph(model, x_nhwc: np.ndarray) -> np.ndarray:
    """qonnx execution, image by image; returns int64 N x channels."""
    from qonnx.core.onnx_exec import execute_onnx

    outs = []
    oname = model.graph.output[0].name
    for i in range(x_nhwc.shape[0]):
        xi = x_nhwc[i:i + 1].transpose(0, 3, 1, 2).astype(np.float32)
        y = execute_onnx(model, {"x": xi})[oname]
        outs.append(np.asarray(y).reshape(1, -1))
    y = np.concatenate(outs)
    yi = np.rint(y).astype(np.int64)
    if not np.array_equal(yi, y):
        raise AssertionError("the integer graph produced non-integer values")
    return yi
