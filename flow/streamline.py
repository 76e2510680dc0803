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

from flow.accel import Accelerator
from hls.engines import MVAU, Eltwise, IntType
from model.arch import Arch, Layer
from model.quant import QuantConfig

META_ARCH, META_QUANT, META_TAIL = "vargnet.arch", "vargnet.quant", "vargnet.tail"


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
class _Graph:
    def __init__(self, model):
        self.m = model
        self.inits = {i.name for i in model.graph.initializer}

    def consumers(self, t: str) -> list:
        return [n for n in self.m.graph.node if t in n.input]

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
        attrs = {a.name: a for a in node.attribute}
        signed = bool(attrs["signed"].i) if "signed" in attrs else True
        narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
        rmode = attrs["rounding_mode"].s.decode() if "rounding_mode" in attrs else "ROUND"
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
        attrs = {a.name: a for a in q.attribute}
        narrow = bool(attrs["narrow"].i) if "narrow" in attrs else False
        if np.any(zero != 0) or not (attrs["signed"].i if "signed" in attrs else True):
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
    """Reads and cleans an exported QONNX file (shape inference, constant folding)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.infer_shapes import InferShapes

    p = Path(path)
    if not p.is_file():
        raise StreamlineError(f"{p}: no such ONNX file")
    try:
        m = ModelWrapper(str(p))
    except Exception as e:
        raise StreamlineError(f"{p}: not a readable ONNX model ({type(e).__name__}: {e})") from None
    if not any(n.op_type == "Quant" for n in m.graph.node):
        raise StreamlineError(f"{p}: not a QONNX model (no Quant nodes)")
    m = m.transform(InferShapes())
    m = m.transform(FoldConstants())
    return m


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


def _key(name: str) -> str:
    return name.replace(".", "_")


SUPPORTED = {"Quant", "Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Mul",
             "GlobalAveragePool", "HardSigmoid", "Flatten", "Reshape", "MatMul", "Transpose"}


def streamline(model, acc: Accelerator) -> IntegerLayers:
    """Integer layers of a cleaned export (load_export) for the accelerator `acc` lowered
    from the export's own description: the engines' accumulator widths bound the threshold
    search (so every threshold fits the engine's threshold type)."""
    acc_bits = {n.name: n.engine().acc for n in acc.nodes if n.kind == "mvau"}
    bad = [f"{n.op_type} ({n.name})" for n in model.graph.node if n.op_type not in SUPPORTED]
    if bad:
        raise StreamlineError(f"unsupported ops in the graph: {', '.join(bad[:10])}")
    arch, quant, tail = metadata(model)
    g = _Graph(model)
    out = IntegerLayers(arch, quant, tail=tail)
    tensor: dict[str, str] = {}
    qi: dict[str, QuantInfo] = {}

    first = model.graph.input[0].name
    q0 = g.only(first, "Quant", "input")
    tensor["input"], qi["input"] = q0.output[0], g.quant_info(q0, "input")

    def follow_act(t: str, where: str) -> tuple[str, Optional[str], Optional[np.ndarray], Any]:
        """From a tensor: optional BN is the caller's; optional PRelu/Relu, then the Quant."""
        node = g.next_op(t, where)
        kind, slope = None, None
        if node.op_type in ("PRelu", "Relu"):
            kind = node.op_type
            if kind == "PRelu":
                slope = g.value(node.input[1]).astype(np.float64).reshape(-1)
                if np.any(slope < 0):
                    raise StreamlineError(f"{where}: PRelu {node.name} has negative slopes "
                                          f"(train with slopes clamped to >= 0)")
            node = g.next_op(node.output[0], where)
        return node.output[0], kind, slope, node

    def bits_for(name: str) -> int:
        if name not in acc_bits:
            raise StreamlineError(f"the accelerator has no engine node {name!r}")
        return acc_bits[name]

    for l in arch.layers[1:]:
        where = f"layer {l.name}"
        if l.op in ("conv", "fc"):
            init = f"net.units.{_key(l.name)}.conv.weight" if l.op == "conv" else f"net.units.{_key(l.name)}.weight"
            w, s_w, wq = g.weight(init, where)
            node = g.next_op(wq.output[0], where)
            if node.op_type == "Transpose":  # QuantLinear: (cout, cin) transposed for MatMul
                node = g.next_op(node.output[0], where)
            src = node.input[0]
            while g.producer(src) is not None and g.producer(src).op_type in ("Flatten", "Reshape"):
                src = g.producer(src).input[0]
            if src != tensor[l.inputs[0]]:
                raise StreamlineError(f"{where}: {node.op_type} {node.name} does not read the output of "
                                      f"{l.inputs[0]} (the graph does not match the description)")
            s_in = qi[l.inputs[0]].scale
            if l.op == "fc":
                out.weights[l.name] = w
                out.output_scale = s_in * s_w
                continue
            t = node.output[0]
            gamma = np.ones(l.cout)
            beta = np.zeros(l.cout)
            mean = np.zeros(l.cout)
            var_eps = np.ones(l.cout)
            if l.bn:
                bn = g.next_op(t, where)
                if bn.op_type != "BatchNormalization":
                    raise StreamlineError(f"{where}: expected BatchNormalization after {node.name}, found {bn.op_type}")
                eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
                gamma, beta, mean, var = (g.value(x).astype(np.float64) for x in bn.input[1:5])
                var_eps = var + eps
                t = bn.output[0]
            t_out, kind, slope, qn = follow_act(t, where)
            q = g.quant_info(qn, where)
            tensor[l.name], qi[l.name] = t_out, q
            sign = np.where(gamma < 0, -1.0, 1.0)
            w = w * sign.astype(np.int64).reshape(-1, *([1] * (w.ndim - 1)))
            act = _act(kind, slope)
            mult = s_in * s_w * sign * gamma / np.sqrt(var_eps)  # positive per channel
            off = beta - gamma * mean / np.sqrt(var_eps)
            f = lambda a, mult=mult, off=off, act=act: act(a * mult + off)
            e_bits = bits_for(l.name)
            lo, hi = -(1 << (e_bits - 1)), (1 << (e_bits - 1)) - 1
            _check_monotone(f, q, lo, hi, l.cout, where)
            out.weights[l.name] = w
            out.thresholds[l.name] = thresholds(f, q, lo, hi, l.cout)
        elif l.op == "add":
            a, b = tensor[l.inputs[0]], tensor[l.inputs[1]]
            adds = [n for n in g.consumers(a) if n.op_type == "Add" and set(n.input) == {a, b}]
            if len(adds) != 1:
                raise StreamlineError(f"{where}: no Add of {l.inputs[0]} and {l.inputs[1]} in the graph")
            t_out, kind, slope, qn = follow_act(adds[0].output[0], where)
            q = g.quant_info(qn, where)
            tensor[l.name], qi[l.name] = t_out, q
            s = qi[l.inputs[0]].scale
            if abs(qi[l.inputs[1]].scale - s) > 1e-12 * s:
                raise StreamlineError(f"{where}: add inputs are on different scales "
                                      f"({s} vs {qi[l.inputs[1]].scale}); use one shared quantizer")
            act = _act(kind, slope)
            c = l.out_shape[0]
            qin = qi[l.inputs[0]]
            f = lambda a, act=act, s=np.float32(s): act(a.astype(np.float32) * s) * np.ones(c, np.float32)
            out.thresholds[l.name] = thresholds(f, q, 2 * qin.qmin, 2 * qin.qmax, c)
        elif l.op in ("se", "pool"):
            x = tensor[l.inputs[0]]
            qx = qi[l.inputs[0]]
            c, h, w_ = arch[l.inputs[0]].out_shape
            gap = g.only(x, "GlobalAveragePool", where)
            qp_node = g.next_op(gap.output[0], where)
            qp = g.quant_info(qp_node, where)
            fpool = lambda a, s=np.float32(qx.scale), hw=np.float32(h * w_): \
                (a.astype(np.float32) * s) / hw * np.ones(c, np.float32)
            lo, hi = qx.qmin * h * w_, qx.qmax * h * w_
            pool_thr = thresholds(fpool, qp, lo, hi, c)
            if l.op == "pool":
                tensor[l.name], qi[l.name] = qp_node.output[0], qp
                out.thresholds[l.name] = pool_thr
                continue
            out.thresholds[f"{l.name}.pool_q"] = pool_thr
            t, s_prev, q_prev = qp_node.output[0], qp.scale, qp
            for j in (1, 2):
                wj, s_wj, wqj = g.weight(f"net.units.{_key(l.name)}.fc{j}.weight", where)
                conv = g.next_op(wqj.output[0], where)
                if conv.input[0] != t:
                    raise StreamlineError(f"{where}: SE fc{j} does not read the expected tensor")
                wj = wj.reshape(wj.shape[0], -1)
                cout = wj.shape[0]
                nxt = g.next_op(conv.output[0], where)
                if j == 1:
                    t_out, kind, slope, qn = follow_act(conv.output[0], where)
                    act = _act(kind, slope)
                    fj = lambda a, m=s_prev * s_wj, act=act: act(a * m)
                else:
                    if nxt.op_type != "HardSigmoid":
                        raise StreamlineError(f"{where}: expected HardSigmoid after SE fc2, found {nxt.op_type}")
                    attrs = {a.name: a.f for a in nxt.attribute}
                    al, be = attrs.get("alpha", 0.2), attrs.get("beta", 0.5)
                    qn = g.next_op(nxt.output[0], where)
                    t_out = qn.output[0]
                    fj = lambda a, m=s_prev * s_wj, al=al, be=be: np.clip(a * m * al + be, 0, 1)
                qj = g.quant_info(qn, where)
                e_bits = bits_for(f"{l.name}.fc{j}")
                lo, hi = -(1 << (e_bits - 1)), (1 << (e_bits - 1)) - 1
                _check_monotone(fj, qj, lo, hi, cout, f"{where} fc{j}")
                out.weights[f"{l.name}.fc{j}"] = wj
                out.thresholds[f"{l.name}.fc{j}"] = thresholds(fj, qj, lo, hi, cout)
                t, s_prev, q_prev = t_out, qj.scale, qj
            gate_t, qg = t, q_prev
            mul = [n for n in g.consumers(gate_t) if n.op_type == "Mul" and set(n.input) == {x, gate_t}]
            if len(mul) != 1:
                raise StreamlineError(f"{where}: no Mul of the SE input and its gate")
            qn = g.next_op(mul[0].output[0], where)
            q = g.quant_info(qn, where)
            tensor[l.name], qi[l.name] = qn.output[0], q
            fprod = lambda a, m=np.float32(qx.scale) * np.float32(qg.scale): \
                a.astype(np.float32) * m * np.ones(c, np.float32)
            lo = min(qx.qmin * qg.qmax, 0)
            hi = qx.qmax * qg.qmax
            out.thresholds[f"{l.name}.scale"] = thresholds(fprod, q, lo, hi, c)
        else:  # pragma: no cover
            raise StreamlineError(f"{where}: op {l.op} is not supported")
    out.quants = qi
    return out
