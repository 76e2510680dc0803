"""Lowers an architecture description + quantization + folding onto the hls/ engines: the
accelerator's dataflow graph (hls/accel.py), without weights.

Pure Python (no torch, no FINN): the simulator uses it to estimate a design from the
architecture alone, and the flow uses the same graph and attaches the integer weights and
thresholds it derives from the QONNX export. The mapping:

  conv k x k (or strided/padded)  -> swg + mvau (thresholds fused)
  conv 1 x 1 dense                 -> mvau on the pixels directly
  add                              -> add (integer add + thresholds)
  se                               -> duplicate; pool -> threshold -> mvau (FC1) -> mvau (FC2,
                                      gate) ; se_scale (frame buffer, multiply, thresholds)
  pool (global average)            -> pool -> threshold
  fc                               -> mvau (one vector, raw accumulators to the host)
  a layer read by k > 1 layers     -> k - 1 duplicates
  neighbours of different widths   -> width_convert

Folding: a dict node name -> {"PE": p, "SIMD": s} (FINN's folding-config format). MVAU nodes
take PE and SIMD (the SWG feeding one takes its SIMD); threshold/add/pool/se_scale take PE
as their word width. Missing entries default to PE = SIMD = 1.
"""

from __future__ import annotations

from typing import Any, Optional

from hls.accel import (HOST, INPUT_PACKING, OUTPUT_PACKING, Accelerator, DescriptionError, Node,
                        Stream, engine_params, validate)
from hls.engines import MVAU, S, SWG, Eltwise, EngineError, IntType, WidthConvert, legal_foldings
from model.arch import Arch, Layer
from model.quant import INPUT_BITS, QuantConfig

Folding = dict[str, dict[str, int]]


class _Graph:
    def __init__(self, folding: Folding):
        self.nodes: list[Node] = []
        self.streams: list[Stream] = []
        self.folding = folding
        self.used: set[str] = set()

    def styles(self, name: str) -> dict[str, str]:
        """FINN's resType / ram_style of a layer as the node's mac / memory fields."""
        f = self.folding.get(name, {})
        mac = {"lut": "lut", "dsp": "dsp"}.get(str(f.get("resType", "auto")), "auto")
        mem = {"block": "bram", "ultra": "uram", "distributed": "lutram"}.get(
            str(f.get("ram_style", "auto")), "auto")
        return {"mac": mac, "memory": mem}

    def fold(self, name: str, key: str, default: int = 1) -> int:
        f = self.folding.get(name, {})
        if name in self.folding:
            self.used.add(name)
        return int(f.get(key, default))

    def stream(self, producer: str, n: int, dtype: IntType, words: int, tag: str = "") -> Stream:
        s = Stream(f"s{len(self.streams)}_{producer}{tag}".replace(".", "_"), producer, "", n,
                   str(dtype), words)
        self.streams.append(s)
        return s

    def add(self, name: str, kind: str, layer: str, inputs: list[Stream], engine,
            n_outputs: int = 1, **extra: Any) -> list[Stream]:
        for s in inputs:
            s.consumer = name
        node = Node(name, kind, layer, [s.name for s in inputs], [], engine_params(engine), **extra)
        self.nodes.append(node)
        from hls.accel import port_formats
        _, outs = port_formats(node, engine)
        streams = [self.stream(name, n, IntType.parse(dt), w, f"_{i}" if n_outputs > 1 else "")
                   for i, (n, dt, w) in enumerate(outs)]
        node.outputs = [s.name for s in streams]
        return streams

    def convert(self, s: Stream, n: int, total: int, name: str, layer: str) -> Stream:
        """Re-packs stream s to n elements per word (no-op when it already is)."""
        if s.n == n:
            return s
        e = WidthConvert(total, s.n, n, IntType.parse(s.dtype))
        return self.add(name, "width_convert", layer, [s], e)[0]


def lower(arch: Arch, quant: QuantConfig, folding: Optional[Folding] = None, *,
          name: Optional[str] = None, board: str = "zcu104", clock_mhz: float = 200.0,
          strict: bool = True) -> Accelerator:
    """The accelerator graph of arch at the given bit widths and folding.

    strict: a folding entry that names no node is an error (a typo would silently be ignored).
    """
    g = _Graph(dict(folding or {}))
    qsigned = arch.quantizers()

    def qtype(q: str) -> IntType:
        return IntType(quant.act_bits_of(arch, q), qsigned[q])

    # consumers per layer, for fan-out
    readers: dict[str, int] = {}
    for l in arch.layers:
        for i in l.inputs:
            readers[i] = readers.get(i, 0) + 1
    outs: dict[str, list[Stream]] = {}  # per layer: one stream per reader, handed out in order

    def publish(layer: Layer, s: Stream) -> None:
        k = readers.get(layer.name, 0)
        pending = [s]
        i = 0
        while len(pending) < k:  # a chain of duplicates: each splits the last stream in two
            src = pending.pop()
            e = Eltwise("duplicate", layer.out_shape[0], src.n, layer.out_shape[1] * layer.out_shape[2],
                        IntType.parse(src.dtype))
            pending += g.add(f"{layer.name}.dup{i}", "duplicate", layer.name, [src], e, n_outputs=2)
            i += 1
        outs[layer.name] = pending

    def take(name: str) -> Stream:
        return outs[name].pop(0)

    inp = arch.input
    c, h, w = inp.out_shape
    in_type = IntType(INPUT_BITS, False)
    s_in = Stream("in", HOST, "", c, str(in_type), h * w)
    g.streams.append(s_in)
    publish(inp, s_in)

    for l in arch.layers[1:]:
        c, h, w = l.out_shape
        if l.op in ("conv", "fc"):
            src = take(l.inputs[0])
            s_type = IntType.parse(src.dtype)
            w_bits = quant.weight_bits_of(arch, l)
            out_t = qtype(l.quant) if l.quant is not None else None
            pe, simd = g.fold(l.name, "PE"), g.fold(l.name, "SIMD")
            if l.op == "conv" and (l.k > 1 or l.stride > 1 or l.pad > 0):
                _, ih, iw = arch[l.inputs[0]].out_shape
                gs = S if l.grouped else l.cin
                # the window generator reads words within one group (vg_swg.h)
                in_n = max(d for d in legal_foldings(gs) if d <= src.n)
                src = g.convert(src, in_n, ih * iw * l.cin, f"{l.name}.swg_wc", l.name)
                try:
                    swg = SWG(ih, iw, l.cin, l.k, l.stride, l.pad, gs, in_n, simd, s_type)
                except EngineError as e:
                    raise DescriptionError(f"layer {l.name}: {e}") from None
                win = g.add(f"{l.name}.swg", "swg", l.name, [src], swg)[0]
                m = MVAU(l.groups, l.k * l.k * gs, l.cout // l.groups, pe, simd, h * w, s_type,
                         w_bits, out_t)
                y = g.add(l.name, "mvau", l.name, [win], m, **g.styles(l.name))[0]
            else:
                pixels = h * w
                src = g.convert(src, simd, pixels * l.cin, f"{l.name}.wc", l.name)
                m = MVAU(1, l.cin, l.cout, pe, simd, pixels, s_type, w_bits, out_t)
                y = g.add(l.name, "mvau", l.name, [src], m, **g.styles(l.name))[0]
            publish(l, y)
        elif l.op == "add":
            a, b = take(l.inputs[0]), take(l.inputs[1])
            n = g.fold(l.name, "PE", max(a.n, b.n))
            total = h * w * c
            a = g.convert(a, n, total, f"{l.name}.wc_a", l.name)
            b = g.convert(b, n, total, f"{l.name}.wc_b", l.name)
            e = Eltwise("add", c, n, h * w, IntType.parse(a.dtype), qtype(l.quant))
            publish(l, g.add(l.name, "add", l.name, [a, b], e)[0])
        elif l.op == "se":
            x = take(l.inputs[0])
            xt = IntType.parse(x.dtype)
            n = g.fold(l.name, "PE", x.n)
            x = g.convert(x, n, h * w * c, f"{l.name}.wc", l.name)
            x_frame, x_pool = g.add(f"{l.name}.dup", "duplicate", l.name, [x],
                                    Eltwise("duplicate", c, n, h * w, xt), n_outputs=2)
            pool = Eltwise("pool", c, n, h * w, xt)
            sums = g.add(f"{l.name}.pool", "pool", l.name, [x_pool], pool)[0]
            a_t = IntType(quant.act_bits, True)
            thr = Eltwise("threshold", c, n, 1, pool.result_type, a_t)
            pooled = g.add(f"{l.name}.pool_q", "threshold", l.name, [sums], thr)[0]
            r = c // l.reduction
            for j, (cin, cout, ot) in enumerate([(c, r, a_t),
                                                  (r, c, IntType(quant.gate, False))], start=1):
                fname = f"{l.name}.fc{j}"
                pe, simd = g.fold(fname, "PE"), g.fold(fname, "SIMD")
                pooled = g.convert(pooled, simd, cin, f"{fname}.wc", l.name)
                m = MVAU(1, cin, cout, pe, simd, 1, IntType.parse(pooled.dtype), quant.weight_bits, ot)
                pooled = g.add(fname, "mvau", l.name, [pooled], m, **g.styles(fname))[0]
            gate = g.convert(pooled, n, c, f"{l.name}.gate_wc", l.name)
            e = Eltwise("se_scale", c, n, h * w, xt, qtype(l.quant), IntType(quant.gate, False))
            publish(l, g.add(f"{l.name}.scale", "se_scale", l.name, [x_frame, gate], e,
                             memory=g.styles(l.name)["memory"])[0])
        elif l.op == "pool":
            x = take(l.inputs[0])
            xt = IntType.parse(x.dtype)
            n = g.fold(l.name, "PE", x.n)
            x = g.convert(x, n, arch[l.inputs[0]].out_shape[1] * arch[l.inputs[0]].out_shape[2] * c,
                          f"{l.name}.wc", l.name)
            _, ih, iw = arch[l.inputs[0]].out_shape
            pool = Eltwise("pool", c, n, ih * iw, xt)
            sums = g.add(f"{l.name}.sum", "pool", l.name, [x], pool)[0]
            thr = Eltwise("threshold", c, n, 1, pool.result_type, qtype(l.quant))
            publish(l, g.add(l.name, "threshold", l.name, [sums], thr)[0])
        else:  # pragma: no cover
            raise DescriptionError(f"layer {l.name}: op {l.op} cannot be lowered")

    (y,) = outs[arch.output.name] or [None]
    if y is None:
        y = g.streams[-1]
    y.consumer = HOST
    unknown = sorted(set(g.folding) - g.used - {"Defaults"})
    if strict and unknown:
        raise DescriptionError(f"folding names unknown layers: {unknown}")
    out_t = IntType.parse(y.dtype)
    acc = Accelerator(
        name=name or f"{arch.name}-{quant.name}", arch=arch.to_dict(), quant=quant.to_dict(),
        board=board, clock_mhz=clock_mhz,
        input={"stream": "in", "shape": [inp.out_shape[1], inp.out_shape[2], inp.out_shape[0]],
               "dtype": str(in_type), "scale": 1.0 / 255, "packing": INPUT_PACKING},
        output={"stream": y.name, "channels": arch.output.cout, "dtype": str(out_t),
                "scale": None, "tail": None, "packing": OUTPUT_PACKING},
        nodes=g.nodes, streams=g.streams)
    try:
        validate(acc)
    except EngineError as e:  # pragma: no cover - engines validate on construction
        raise DescriptionError(str(e)) from None
    return acc


def mvau_nodes(acc: Accelerator) -> list[Node]:
    return [n for n in acc.nodes if n.kind == "mvau"]
