"""QONNX export -> integer layers: weights as integer codes, BN + PReLU (slope >= 0) + scales +
requantization as per-channel integer thresholds, the final FC's accumulator scale and the
host tail.

The exported graph (model/export.py) is cleaned with qonnx transformations (shape inference,
constant folding) and then read layer by layer in the order of its architecture description,
which the export embeds in the model's metadata together with the quantization settings and
the host tail. Every layer is located in the graph by its weight initializer (named after the
PyTorch module) or by the tensors of the layers it reads, and its chain of ops is checked
against what the layer must be (Conv -> BatchNormalization -> PRelu/Relu -> Quant, ...): an op
the flow cannot map, a float op left between quantizers, or a structure that does not match
the description is an error that names the node.

Thresholds: for an integer accumulator a of output channel c the float graph computes
q(a) = clip(round(f_c(a) / s_out), qmin, qmax) with f_c monotone (PReLU slopes >= 0); the k-th
threshold is the smallest a with q(a) >= qmin + k, found by a vectorised binary search over the
accumulator's range. Channels whose f_c decreases (a negative BN scale) get negated weights,
so every threshold list is ascending (hls/README.md). The result equals the float graph except
where float rounding differs at a threshold (the stated tolerance in model/export.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from hls.accel import Accelerator
from hls.engines import IntType
from model.arch import Arch, Layer
from model.export_format import META_ARCH, META_QUANT, META_TAIL, META_WEIGHTS, clean
from model.quant import QuantConfig



class StreamlineError(ValueError):
    """The graph cannot be turned into the project's integer layers; names the node."""


@dataclass(frozen=True)
class QuantInfo:
    scale: float
    bits: int
    signed: bool
    narrow: bool

    @property
    def qmin(self) -> int:
        return -(1 << (self.bits - 1)) + (1 if self.narrow else 0) if self.signed else 0

    @property
    def qmax(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def itype(self) -> IntType:
        return IntType(self.bits, self.signed)

    def codes(self, v: np.ndarray) -> np.ndarray:
        """qonnx Quant with rounding_mode ROUND (half to even), zero point 0, in float32 as
        the float graph runs (exact ties such as avg = n + 0.5 then round the same way)."""
        q = np.round(np.asarray(v, np.float32) / np.float32(self.scale))
        return np.clip(q, self.qmin, self.qmax)


@dataclass
class IntegerLayers:
    """Per layer of the architecture: integer weights (PyTorch layout, sign-flipped channels
    applied), thresholds (C x NT ascending), output quantizers; plus the output scale and tail."""

    arch: Arch
    quant: QuantConfig
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # key: layer or "<se>.fc1"
    thresholds: dict[str, np.ndarray] = field(default_factory=dict)  # key: node name
    quants: dict[str, QuantInfo] = field(default_factory=dict)  # per layer output
    output_scale: Optional[np.ndarray] = None  # per FC channel: accumulator -> float
    tail: dict[str, Any] = field(default_factory=dict)

    def node_params(self, acc: Accelerator) -> dict[str, dict[str, np.ndarray]]:
        """The params of each node of a lowered accelerator (golden model / C-sim / files)."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for n in acc.nodes:
            d = {}
            if n.kind == "mvau":
                d["weights"] = self.weights[n.name]
            if n.name in self.thresholds:
                d["thresholds"] = self.thresholds[n.name]
            if d:
                out[n.name] = d
        return out


# ---- reading the graph --------------------------------------------------------------------------
def _quant_attrs(node, where: str) -> tuple[bool, bool, str]:
    """(signed, narrow, rounding mode) of a Quant node as qonnx executes it (its defaults for
    an attribute the node does not set: qonnx's, not ours)."""
    from qonnx.custom_op.registry import getCustomOp

    try:
        op = getCustomOp(node)
        return bool(op.get_nodeattr("signed")), bool(op.get_nodeattr("narrow")), \
            str(op.get_nodeattr("rounding_mode"))
    except Exception as e:  # qonnx raises a bare Exception for a malformed node
        raise StreamlineError(f"{where}: Quant {node.name}: {e}") from None


class _Graph:
    """The reads of the walk over a qonnx ModelWrapper, each failing with the layer named."""

    def __init__(self, model):
        self.m = model

    def consumers(self, t: str) -> list:
        return self.m.find_consumers(t)

    def producer(self, t: str):
        return self.m.find_producer(t)

    def value(self, t: str) -> np.ndarray:
        v = self.m.get_initializer(t)
        if v is None:
            raise StreamlineError(f"tensor {t!r} is not a constant (constant folding left it computed)")
        return np.asarray(v)

    def only(self, t: str, op: str, where: str):
        cs = [n for n in self.consumers(t) if n.op_type == op]
        if len(cs) != 1:
            got = [f"{n.op_type} ({n.name})" for n in self.consumers(t)]
            raise StreamlineError(f"{where}: expected one {op} reading {t}, found {got}")
        return cs[0]

    def next_op(self, t: str, where: str):
        cs = self.consumers(t)
        if len(cs) != 1:
            raise StreamlineError(f"{where}: tensor {t} has {len(cs)} readers, expected one")
        return cs[0]

    def quant_info(self, node, where: str) -> QuantInfo:
        if node.op_type != "Quant":
            raise StreamlineError(f"{where}: expected a Quant node, found {node.op_type} ({node.name}) "
                                  f"(a float op between quantizers cannot be mapped)")
        scale = self.value(node.input[1]).astype(np.float64)
        zero = self.value(node.input[2])
        bits = float(self.value(node.input[3]))
        signed, narrow, rmode = _quant_attrs(node, where)
        if np.any(zero != 0):
            raise StreamlineError(f"{where}: Quant {node.name} has a non-zero zero point")
        if bits != int(bits) or rmode != "ROUND":
            raise StreamlineError(f"{where}: Quant {node.name}: {bits} bits, rounding {rmode} unsupported")
        if scale.size != 1:
            raise StreamlineError(f"{where}: activation Quant {node.name} must be per tensor")
        return QuantInfo(float(scale.reshape(-1)[0]), int(bits), signed, narrow)

    def weight(self, init: str, where: str) -> tuple[np.ndarray, np.ndarray, Any]:
        """(integer codes, per-channel scale, the Quant node) of a quantized weight."""
        qs = [n for n in self.consumers(init) if n.op_type == "Quant"]
        if len(qs) != 1:
            raise StreamlineError(f"{where}: weight {init} has no (single) Quant node")
        q = qs[0]
        w = self.value(init)
        scale = self.value(q.input[1])
        zero = self.value(q.input[2])
        bits = int(float(self.value(q.input[3])))
        signed, narrow, _ = _quant_attrs(q, where)
        if np.any(zero != 0) or not signed:
            raise StreamlineError(f"{where}: weights must be signed with zero point 0 ({q.name})")
        lim = (1 << (bits - 1)) - 1
        lo = -lim if narrow else -lim - 1
        # in float32, as Brevitas and the Quant node compute it: a weight whose float32 w/s is
        # an exact tie (-62.5) would round the other way in float64 (-62.500001 -> -63)
        codes = np.clip(np.round(np.asarray(w, np.float32) / np.asarray(scale, np.float32)),
                        lo, lim).astype(np.int64)
        scale = np.asarray(scale, np.float64)
        return codes, np.broadcast_to(scale, w.shape).reshape(w.shape[0], -1)[:, 0].copy(), q


# ---- threshold search ---------------------------------------------------------------------------
def thresholds(f: Callable[[np.ndarray], np.ndarray], q: QuantInfo, lo: int, hi: int,
               channels: int) -> np.ndarray:
    """C x NT thresholds: smallest integer a in [lo, hi + 1] with q(f(a))[c] >= qmin + k + 1
    (hi + 1: never reached). f maps an integer array of shape (C,) to real values (C,)."""
    nt = q.qmax - q.qmin
    out = np.empty((channels, nt), np.int64)
    for k in range(nt):
        target = q.qmin + k + 1
        a_lo = np.full(channels, lo, np.int64)
        a_hi = np.full(channels, hi + 1, np.int64)  # invariant: q(a_hi) >= target or a_hi = hi+1
        while np.any(a_lo < a_hi):
            mid = (a_lo + a_hi) // 2
            ok = q.codes(f(mid.astype(np.float64))) >= target
            a_hi = np.where(ok & (a_lo < a_hi), mid, a_hi)
            a_lo = np.where(~ok & (a_lo < a_hi), mid + 1, a_lo)
        out[:, k] = a_hi
    return out


def _check_monotone(f, q: QuantInfo, lo: int, hi: int, channels: int, where: str) -> None:
    a = np.linspace(lo, hi, 257).round()
    v = np.stack([q.codes(f(np.full(channels, x))) for x in a])  # 257 x C
    if np.any(np.diff(v, axis=0) < 0):
        bad = int(np.argmax(np.any(np.diff(v, axis=0) < 0, axis=0)))
        raise StreamlineError(f"{where}: activation of channel {bad} is not monotone in the "
                              f"accumulator (a negative PReLU slope?); it has no threshold form")


def _act(kind: Optional[str], slope: Optional[np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    if kind == "PRelu":
        assert slope is not None
        return lambda x: np.where(x >= 0, x, slope * x)
    if kind == "Relu":
        return lambda x: np.maximum(x, 0)
    return lambda x: x


# ---- the walk -----------------------------------------------------------------------------------
def load_export(path: Union[str, Path]):
    """Reads an exported QONNX file and cleans it (model.export.clean: shape inference,
    constant folding)."""
    from qonnx.core.modelwrapper import ModelWrapper

    p = Path(path)
    if not p.is_file():
        raise StreamlineError(f"{p}: no such ONNX file")
    try:
        m = ModelWrapper(str(p))
    except Exception as e:
        raise StreamlineError(f"{p}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not any(n.op_type == "Quant" for n in m.graph.node):
        raise StreamlineError(f"{p}: not a QONNX model (no Quant nodes)")
    return clean(m)


def weight_map(model) -> dict[str, str]:
    """Layer (engine node) -> its weight initializer, as the export wrote it."""
    props = {p.key: p.value for p in model.model.metadata_props}
    if META_WEIGHTS not in props:
        raise StreamlineError("the ONNX model carries no layer -> weight map in its metadata "
                              f"({META_WEIGHTS}; export it with model.export.export_qonnx)")
    return json.loads(props[META_WEIGHTS])


def metadata(model) -> tuple[Arch, QuantConfig, dict[str, Any]]:
    props = {p.key: p.value for p in model.model.metadata_props}
    if META_ARCH not in props or META_QUANT not in props:
        raise StreamlineError("the ONNX model carries no architecture description in its metadata "
                              "(export it with model.export.export_qonnx)")
    arch = Arch.from_json(props[META_ARCH])
    quant = QuantConfig.from_dict(json.loads(props[META_QUANT]))
    if quant is None:
        raise StreamlineError("the ONNX model is float; the flow needs a quantized export")
    tail = json.loads(props.get(META_TAIL, "{}"))
    return arch, quant, tail


SUPPORTED = {"Quant", "Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Mul",
             "GlobalAveragePool", "HardSigmoid", "Flatten", "Reshape", "MatMul", "Transpose"}


class _Walk:
    """The walk over the graph in the architecture's layer order: where each layer's output
    is (`tensor`), its quantizer (`qi`), and the integer layers found so far (`out`)."""

    def __init__(self, model, acc: Accelerator):
        arch, quant, tail = metadata(model)
        self.g = _Graph(model)
        self.arch = arch
        self.out = IntegerLayers(arch, quant, tail=tail)
        self.acc_bits = {n.name: n.engine().acc for n in acc.nodes if n.kind == "mvau"}
        self.weights = weight_map(model)
        self.tensor: dict[str, str] = {}
        self.qi: dict[str, QuantInfo] = {}

    def follow_act(self, t: str, where: str) -> tuple[str, Optional[str], Optional[np.ndarray], Any]:
        """From a tensor: an optional PRelu/Relu, then the Quant (BN is the caller's)."""
        node = self.g.next_op(t, where)
        kind, slope = None, None
        if node.op_type in ("PRelu", "Relu"):
            kind = node.op_type
            if kind == "PRelu":
                slope = self.g.value(node.input[1]).astype(np.float64).reshape(-1)
                if np.any(slope < 0):
                    raise StreamlineError(f"{where}: PRelu {node.name} has negative slopes "
                                          f"(train with slopes clamped to >= 0)")
            node = self.g.next_op(node.output[0], where)
        return node.output[0], kind, slope, node

    def acc_range(self, name: str) -> tuple[int, int]:
        """The accumulator range of engine node `name` (bounds the threshold search)."""
        if name not in self.acc_bits:
            raise StreamlineError(f"the accelerator has no engine node {name!r}")
        b = self.acc_bits[name]
        return -(1 << (b - 1)), (1 << (b - 1)) - 1

    def weight(self, name: str, where: str) -> tuple[np.ndarray, np.ndarray, Any]:
        """(integer codes, per-channel scale, Quant node) of engine node `name`'s weight."""
        if name not in self.weights:
            raise StreamlineError(f"{where}: the export's layer -> weight map has no {name!r}")
        return self.g.weight(self.weights[name], where)

    def emit(self, name: str, t_out: str, q: QuantInfo) -> None:
        self.tensor[name], self.qi[name] = t_out, q


def _matmul_of(w: _Walk, l: Layer, where: str):
    """(integer weights, their scale, the Conv/MatMul node) of a conv or fc layer, checked to
    read the layer's input."""
    wts, s_w, wq = w.weight(l.name, where)
    node = w.g.next_op(wq.output[0], where)
    if node.op_type == "Transpose":  # QuantLinear: (cout, cin) transposed for MatMul
        node = w.g.next_op(node.output[0], where)
    src = node.input[0]
    while w.g.producer(src) is not None and w.g.producer(src).op_type in ("Flatten", "Reshape"):
        src = w.g.producer(src).input[0]
    if src != w.tensor[l.inputs[0]]:
        raise StreamlineError(f"{where}: {node.op_type} {node.name} does not read the output of "
                              f"{l.inputs[0]} (the graph does not match the description)")
    return wts, s_w, node


def _batch_norm(w: _Walk, l: Layer, conv, where: str):
    """(gamma, beta, mean, var + eps, the tensor after it) of the BN after the layer's conv
    (identity when the layer has none)."""
    if not l.bn:
        return np.ones(l.cout), np.zeros(l.cout), np.zeros(l.cout), np.ones(l.cout), conv.output[0]
    bn = w.g.next_op(conv.output[0], where)
    if bn.op_type != "BatchNormalization":
        raise StreamlineError(f"{where}: expected BatchNormalization after {conv.name}, found {bn.op_type}")
    eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
    gamma, beta, mean, var = (w.g.value(x).astype(np.float64) for x in bn.input[1:5])
    return gamma, beta, mean, var + eps, bn.output[0]


def _conv_or_fc(w: _Walk, l: Layer, where: str) -> None:
    """Conv -> [BN] -> [PRelu/Relu] -> Quant: integer weights (channels with a negative BN
    scale negated) and thresholds; the FC: weights and the output scale."""
    wts, s_w, node = _matmul_of(w, l, where)
    s_in = w.qi[l.inputs[0]].scale
    if l.op == "fc":
        w.out.weights[l.name] = wts
        w.out.output_scale = s_in * s_w
        return
    gamma, beta, mean, var_eps, t = _batch_norm(w, l, node, where)
    t_out, kind, slope, qn = w.follow_act(t, where)
    q = w.g.quant_info(qn, where)
    w.emit(l.name, t_out, q)
    sign = np.where(gamma < 0, -1.0, 1.0)
    wts = wts * sign.astype(np.int64).reshape(-1, *([1] * (wts.ndim - 1)))
    act = _act(kind, slope)
    mult = s_in * s_w * sign * gamma / np.sqrt(var_eps)  # positive per channel
    off = beta - gamma * mean / np.sqrt(var_eps)
    f = lambda a, mult=mult, off=off, act=act: act(a * mult + off)  # noqa: E731
    lo, hi = w.acc_range(l.name)
    _check_monotone(f, q, lo, hi, l.cout, where)
    w.out.weights[l.name] = wts
    w.out.thresholds[l.name] = thresholds(f, q, lo, hi, l.cout)


def _add(w: _Walk, l: Layer, where: str) -> None:
    """Add of two tensors on one scale -> [act] -> Quant: thresholds on the integer sum."""
    a, b = w.tensor[l.inputs[0]], w.tensor[l.inputs[1]]
    adds = [n for n in w.g.consumers(a) if n.op_type == "Add" and set(n.input) == {a, b}]
    if len(adds) != 1:
        raise StreamlineError(f"{where}: no Add of {l.inputs[0]} and {l.inputs[1]} in the graph")
    t_out, kind, slope, qn = w.follow_act(adds[0].output[0], where)
    q = w.g.quant_info(qn, where)
    w.emit(l.name, t_out, q)
    s = w.qi[l.inputs[0]].scale
    if abs(w.qi[l.inputs[1]].scale - s) > 1e-12 * s:
        raise StreamlineError(f"{where}: add inputs are on different scales "
                              f"({s} vs {w.qi[l.inputs[1]].scale}); use one shared quantizer")
    act = _act(kind, slope)
    c = l.out_shape[0]
    qin = w.qi[l.inputs[0]]
    f = lambda a, act=act, s=np.float32(s): act(a.astype(np.float32) * s) * np.ones(c, np.float32)  # noqa: E731
    w.out.thresholds[l.name] = thresholds(f, q, 2 * qin.qmin, 2 * qin.qmax, c)


def _global_pool(w: _Walk, l: Layer, where: str) -> tuple[Any, QuantInfo, np.ndarray]:
    """GlobalAveragePool -> Quant of the layer's input: (the Quant node, its quantizer, the
    thresholds on the integer sum)."""
    x, qx = w.tensor[l.inputs[0]], w.qi[l.inputs[0]]
    c, h, w_ = w.arch[l.inputs[0]].out_shape
    gap = w.g.only(x, "GlobalAveragePool", where)
    qp_node = w.g.next_op(gap.output[0], where)
    qp = w.g.quant_info(qp_node, where)
    fpool = lambda a, s=np.float32(qx.scale), hw=np.float32(h * w_): \
        (a.astype(np.float32) * s) / hw * np.ones(c, np.float32)  # noqa: E731
    return qp_node, qp, thresholds(fpool, qp, qx.qmin * h * w_, qx.qmax * h * w_, c)


def _pool(w: _Walk, l: Layer, where: str) -> None:
    qp_node, qp, thr = _global_pool(w, l, where)
    w.emit(l.name, qp_node.output[0], qp)
    w.out.thresholds[l.name] = thr


def _se_fc(w: _Walk, l: Layer, j: int, t: str, s_prev: float, where: str) -> tuple[str, QuantInfo]:
    """SE fc1 (-> act -> Quant) or fc2 (-> HardSigmoid -> Quant): integer weights and
    thresholds; returns the tensor after its Quant and the quantizer."""
    wj, s_wj, wqj = w.weight(f"{l.name}.fc{j}", where)
    conv = w.g.next_op(wqj.output[0], where)
    if conv.input[0] != t:
        raise StreamlineError(f"{where}: SE fc{j} does not read the expected tensor")
    wj = wj.reshape(wj.shape[0], -1)
    if j == 1:
        t_out, kind, slope, qn = w.follow_act(conv.output[0], where)
        act = _act(kind, slope)
        fj = lambda a, m=s_prev * s_wj, act=act: act(a * m)  # noqa: E731
    else:
        nxt = w.g.next_op(conv.output[0], where)
        if nxt.op_type != "HardSigmoid":
            raise StreamlineError(f"{where}: expected HardSigmoid after SE fc2, found {nxt.op_type}")
        attrs = {a.name: a.f for a in nxt.attribute}
        al, be = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
        qn = w.g.next_op(nxt.output[0], where)
        t_out = qn.output[0]
        fj = lambda a, m=s_prev * s_wj, al=al, be=be: np.clip(a * m * al + be, 0, 1)  # noqa: E731
    qj = w.g.quant_info(qn, where)
    lo, hi = w.acc_range(f"{l.name}.fc{j}")
    _check_monotone(fj, qj, lo, hi, wj.shape[0], f"{where} fc{j}")
    w.out.weights[f"{l.name}.fc{j}"] = wj
    w.out.thresholds[f"{l.name}.fc{j}"] = thresholds(fj, qj, lo, hi, wj.shape[0])
    return t_out, qj


def _se(w: _Walk, l: Layer, where: str) -> None:
    """Squeeze-excitation: pool -> Quant -> fc1 -> fc2 -> gate; the input times its gate ->
    Quant (thresholds on the integer product)."""
    x, qx = w.tensor[l.inputs[0]], w.qi[l.inputs[0]]
    c = w.arch[l.inputs[0]].out_shape[0]
    qp_node, qp, w.out.thresholds[f"{l.name}.pool_q"] = _global_pool(w, l, where)
    t, q = qp_node.output[0], qp
    for j in (1, 2):
        t, q = _se_fc(w, l, j, t, q.scale, where)
    mul = [n for n in w.g.consumers(t) if n.op_type == "Mul" and set(n.input) == {x, t}]
    if len(mul) != 1:
        raise StreamlineError(f"{where}: no Mul of the SE input and its gate")
    qn = w.g.next_op(mul[0].output[0], where)
    qo = w.g.quant_info(qn, where)
    w.emit(l.name, qn.output[0], qo)
    fprod = lambda a, m=np.float32(qx.scale) * np.float32(q.scale): \
        a.astype(np.float32) * m * np.ones(c, np.float32)  # noqa: E731
    w.out.thresholds[f"{l.name}.scale"] = thresholds(fprod, qo, min(qx.qmin * q.qmax, 0), qx.qmax * q.qmax, c)


# one handler per layer pattern (model/arch.py's ops)
HANDLERS: dict[str, Callable[[_Walk, Layer, str], None]] = {
    "conv": _conv_or_fc, "fc": _conv_or_fc, "add": _add, "pool": _pool, "se": _se,
}


def streamline(model, acc: Accelerator) -> IntegerLayers:
    """Integer layers of a cleaned export (load_export) for the accelerator `acc` lowered
    from the export's own description: the engines' accumulator widths bound the threshold
    search (so every threshold fits the engine's threshold type)."""
    bad = [f"{n.op_type} ({n.name})" for n in model.graph.node if n.op_type not in SUPPORTED]
    if bad:
        raise StreamlineError(f"unsupported ops in the graph: {', '.join(bad[:10])}")
    w = _Walk(model, acc)
    q0 = w.g.only(model.graph.input[0].name, "Quant", "input")
    w.emit("input", q0.output[0], w.g.quant_info(q0, "input"))
    for l in w.arch.layers[1:]:
        if l.op not in HANDLERS:
            raise StreamlineError(f"layer {l.name}: op {l.op} is not supported")
        HANDLERS[l.op](w, l, f"layer {l.name}")
    w.out.quants = w.qi
    return w.out
