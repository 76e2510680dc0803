"""QONNX export of the accelerated part of a quantized Net, and QONNX execution of it.

The export uses Brevitas' TorchScript path (dynamo=False: ~10x faster than the dynamo
exporter for VarGFaceNet, and it gives GlobalAveragePool/MatMul ops). The host tail (BN1d,
bias, L2 norm) is not exported; `tail_params` gives its numbers for the accelerator
description. After qonnx's cleanup the graph must hold only the ops below, which the flow maps.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch

from model.export_format import META_ARCH, META_QUANT, META_TAIL, META_WEIGHTS, clean
from model.nets import FeaturesOnly, Net, NonNegPReLU, clamp_slopes_

# Ops the flow knows how to map (after qonnx cleanup folds constants such as the PReLU clamp).
MAPPABLE_OPS = frozenset({
    "Quant", "Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Mul",
    "GlobalAveragePool", "HardSigmoid", "Flatten", "Reshape", "MatMul", "Transpose",
})


class ExportError(RuntimeError):
    pass



def export_qonnx(net: Net, path: Union[str, Path]) -> Path:
    """Writes the QONNX graph of net.features (input: pixels/255, N=1) atomically to path."""
    from brevitas.export import export_qonnx as _export

    if net.quant_config is None:
        raise ExportError("a float network has no QONNX export; build it with a QuantConfig")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = net.training
    net.eval()
    x = torch.zeros(1, *net.arch.input.out_shape)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=path.parent)
    os.close(fd)
    clamp_slopes_(net)
    try:
        NonNegPReLU.exporting = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _export(FeaturesOnly(net), x, tmp, dynamo=False)
        _write_metadata(tmp, net)
        os.replace(tmp, path)
    finally:
        NonNegPReLU.exporting = False
        if os.path.exists(tmp):
            os.unlink(tmp)
        net.train(was_training)
    return path


def tail_params(net: Net) -> dict:
    """The host tail after the FC accumulators, as plain numbers (JSON-able)."""
    t = net.tail
    d: dict = {"l2norm": bool(t.l2norm)}
    if t.bn is not None:
        d["bn"] = {"weight": t.bn.weight.detach().tolist(), "bias": t.bn.bias.detach().tolist(),
                   "mean": t.bn.running_mean.tolist(), "var": t.bn.running_var.tolist(),
                   "eps": float(t.bn.eps)}
    if t.bias is not None:
        d["bias"] = t.bias.detach().tolist()
    return d


def weight_modules(net: Net) -> dict[str, torch.nn.Parameter]:
    """The weight of each weighted layer, by the name the flow gives its engine node: conv
    and fc layers by their layer name, an SE block's FCs as "<layer>.fc1" / "<layer>.fc2"."""
    out = {}
    for layer in net.arch.layers:
        unit = net.units[layer.name.replace(".", "_")] if layer.op in ("conv", "fc", "se") else None
        if layer.op == "conv":
            out[layer.name] = unit.conv.weight
        elif layer.op == "fc":
            out[layer.name] = unit.weight
        elif layer.op == "se":
            out[f"{layer.name}.fc1"], out[f"{layer.name}.fc2"] = unit.fc1.weight, unit.fc2.weight
    return out


def weight_initializers(net: Net, initializers: set[str]) -> dict[str, str]:
    """Layer -> the ONNX initializer holding its weight (the exported module's parameter
    name), each checked to be in the graph."""
    names = {id(p): n for n, p in FeaturesOnly(net).named_parameters()}
    out = {}
    for layer, p in weight_modules(net).items():
        name = names.get(id(p))
        if name not in initializers:
            raise ExportError(f"layer {layer}: its weight ({name}) is not an initializer of the "
                              f"exported graph")
        out[layer] = name
    return out


def _write_metadata(path: str, net: Net) -> None:
    """Embeds the architecture, quantization, host tail and the layer -> weight initializer
    map, so the QONNX file alone is enough for the flow (keys META_*)."""
    import json

    import onnx

    m = onnx.load(path)
    qc = net.quant_config
    weights = weight_initializers(net, {t.name for t in m.graph.initializer})
    for k, v in ((META_ARCH, net.arch.to_json()),
                 (META_QUANT, json.dumps(qc.to_dict() if qc else None)),
                 (META_TAIL, json.dumps(tail_params(net))),
                 (META_WEIGHTS, json.dumps(weights))):
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, path)


def load_clean(path: Union[str, Path]):
    """The exported graph, cleaned (`clean`), as a qonnx ModelWrapper."""
    from qonnx.core.modelwrapper import ModelWrapper

    try:
        m = ModelWrapper(str(path))
    except Exception as e:  # onnx raises DecodeError etc. for a truncated file
        raise ExportError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    return clean(m)


def unmappable_ops(model) -> list[str]:
    """'op (node name)' for every node the flow cannot map."""
    return [f"{n.op_type} ({n.name})" for n in model.graph.node if n.op_type not in MAPPABLE_OPS]


# Stated tolerance between Brevitas PyTorch and QONNX execution of its export. The two are
# not bit-identical (float operation order can flip a value by one quantization step, and a
# flip propagates), so the comparison is made at the last quantized activation, the FC
# input: its integer codes may differ by at most MAX_STEPS, in at most MAX_FRACTION of the
# positions. The FC output then differs by exactly sum_j |w_int[c, j]| * |code diff_j|
# accumulator steps (plus float rounding below half a step).
BREVITAS_QONNX_MAX_STEPS = 1
BREVITAS_QONNX_MAX_FRACTION = 0.01


def fc_input_name(model) -> str:
    """Name of the tensor that feeds the final MatMul (the last quantized activation)."""
    mm = [n for n in model.graph.node if n.op_type == "MatMul"]
    if len(mm) != 1:
        raise ExportError(f"expected one MatMul (the FC) in the graph, found {len(mm)}")
    return mm[0].input[0]


def run_qonnx(model, x: np.ndarray, also: tuple[str, ...] = ()) -> np.ndarray | tuple[np.ndarray, ...]:
    """qonnx execution of a (cleaned) exported graph on float input N x C x H x W.

    also: names of intermediate tensors to return after the output (one array each)."""
    from qonnx.core.onnx_exec import execute_onnx

    iname = model.graph.input[0].name
    names = (model.graph.output[0].name,) + tuple(also)
    got: list[list[np.ndarray]] = [[] for _ in names]
    for i in range(x.shape[0]):
        ctx = execute_onnx(model, {iname: x[i:i + 1].astype(np.float32)},
                           return_full_exec_context=bool(also))
        for k, n in enumerate(names):
            got[k].append(ctx[n])
    arrs = tuple(np.concatenate(g, axis=0) for g in got)
    return arrs if also else arrs[0]
