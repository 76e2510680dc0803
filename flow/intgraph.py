"""The streamlined integer graph as ONNX: the accelerator's computation with standard ops on
integer-valued tensors and qonnx's MultiThreshold for every activation, executed by qonnx.
Its output must equal the golden integer model exactly (all values are integers far below
2**24, so float32 execution is exact)."""

from __future__ import annotations

import numpy as np

from hls.accel import Accelerator


class _OnnxBuilder:
    """What an engine kind's `onnx` method writes with: nodes, initializers, thresholds."""

    def __init__(self) -> None:
        from onnx import TensorProto, helper

        self._helper, self._tp = helper, TensorProto
        self.nodes: list = []
        self.inits: list = []
        self._k = 0

    def name(self, base: str) -> str:
        self._k += 1
        return f"{base}_{self._k}"

    def init(self, arr: np.ndarray, base: str) -> str:
        """An initializer: int64 arrays stay int64 (axes), everything else float32."""
        nm = self.name(base)
        if arr.dtype == np.int64:
            self.inits.append(self._helper.make_tensor(nm, self._tp.INT64, arr.shape, arr.ravel().tolist()))
        else:
            self.inits.append(self._helper.make_tensor(nm, self._tp.FLOAT, arr.shape,
                                                       arr.astype(np.float32).ravel()))
        return nm

    def node(self, op: str, inputs: list[str], base: str, **attrs) -> str:
        o = self.name(base)
        self.nodes.append(self._helper.make_node(op, inputs, [o], **attrs))
        return o

    def threshold(self, t: str, thr: np.ndarray, bias: int) -> str:
        return self.node("MultiThreshold", [t, self.init(thr, "thr")], "mt",
                         domain="qonnx.custom_op.general", out_dtype="INT32", out_bias=float(bias),
                         data_layout="NCHW")


def build_integer_graph(acc: Accelerator, params: dict[str, dict[str, np.ndarray]]):
    """A qonnx ModelWrapper of the integer dataflow (input: N x C x H x W codes as float):
    each node's engine writes its own ops."""
    from onnx import TensorProto, helper
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    h, w, c = acc.input["shape"]
    g = _OnnxBuilder()
    alias: dict[str, str] = {acc.input["stream"]: "x"}
    for n in acc.nodes:
        outs = n.engine().onnx(g, [alias[s] for s in n.inputs], params.get(n.name, {}), acc.window_engine(n))
        alias.update(zip(n.outputs, outs))
    out = alias[acc.output["stream"]]
    graph = helper.make_graph(
        g.nodes, "vargnet_integer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("qonnx.custom_op.general", 1)])
    model.ir_version = 8
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
