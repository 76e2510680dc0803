"""Lowers an architecture description + quantization + folding onto the hls/ engines: the
accelerator's dataflow graph (hls/accel.py), without weights.

Pure Python (no torch, no FINN): the simulator uses it to estimate a design from the
architecture alone, and the flow uses the same graph and attaches the integer weights and
thresholds it derives from the QONNX export. The mapping:

  conv k x k (or strided/padded)  -> swg + mvau (thresholds fused)
  conv 1 x 1 dense                 -> mvau on the pixels directly
  add                              -> add (integer add + thresholds)
  se                               -> duplicate; pool -> threshold -> mvau (FC1) -> mvau (FC2,
                                      gate) ; se_scale (gates, then the frame: multiply, thresholds)
  pool (global average)            -> pool -> threshold
  fc                               -> mvau (one vector, raw accumulators to the host)
  a layer read by k > 1 layers     -> k - 1 duplicates
  neighbours of different widths   -> width_convert

Folding: a dict node name -> {"PE": p, "SIMD": s} (FINN's folding-config format). MVAU nodes
take PE and SIMD (the SWG feeding one takes its SIMD) and, our extension, "mac_pack" (2: two
products per DSP48E2 multiplier, vg_mvau.h) with "mac_pair" ("pe": two PE lanes, the default;
"simd": two SIMD elements of one lane); threshold/add/pool/se_scale take PE as their word
width. Missing entries default to PE = SIMD = mac_pack = 1.
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
        """FINN's resType / ram_style of a layer as the node's mac / memory fields; our
        ram_style "ddr" reads an MVAU's weights from DDR (vg_ddr.h)."""
        f = self.folding.get(name, {})
        mac = {"lut": "lut", "dsp": "dsp"}.get(str(f.get("resType", "auto")), "auto")
        mem = {"block": "bram", "ultra": "uram", "distributed": "lutram", "ddr": "ddr"}.get(
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


class _Lowering(_Graph):
    """The graph being built, plus each layer's output streams: one per reader, handed out in
    order (a layer read k times is followed by k - 1 duplicates). One method per layer op."""

    def __init__(self, arch: Arch, quant: QuantConfig, folding: Folding):
        super().__init__(folding)
        self.arch, self.quant = arch, quant
        self.qsigned = arch.quantizers()
        self.readers: dict[str, int] = {}
        for layer in arch.layers:
            for i in layer.inputs:
                self.readers[i] = self.readers.get(i, 0) + 1
        self.outs: dict[str, list[Stream]] = {}
        self.packed: set[str] = set()  # folding keys a "mac_pack" entry applies to

    def mac_pack(self, name: str) -> dict[str, Any]:
        """A weighted layer's "mac_pack" and "mac_pair" folding entries (the only nodes that
        take them), as the MVAU's pack and pair."""
        self.packed.add(name)
        return {"pack": self.fold(name, "mac_pack"), "pair": str(self.folding.get(name, {}).get("mac_pair", "pe"))}

    def qtype(self, q: str) -> IntType:
        return IntType(self.quant.act_bits_of(self.arch, q), self.qsigned[q])

    def publish(self, layer: Layer, s: Stream) -> None:
        k = self.readers.get(layer.name, 0)
        pending = [s]
        i = 0
        while len(pending) < k:  # a chain of duplicates: each splits the last stream in two
            src = pending.pop()
            e = Eltwise("duplicate", layer.out_shape[0], src.n, layer.out_shape[1] * layer.out_shape[2],
                        IntType.parse(src.dtype))
            pending += self.add(f"{layer.name}.dup{i}", "duplicate", layer.name, [src], e, n_outputs=2)
            i += 1
        self.outs[layer.name] = pending

    def take(self, name: str) -> Stream:
        return self.outs[name].pop(0)

    def conv(self, l: Layer) -> Stream:
        """conv / fc: a sliding window (when the kernel needs one) and the S=8 engine."""
        c, h, w = l.out_shape
        src = self.take(l.inputs[0])
        s_type = IntType.parse(src.dtype)
        w_bits = self.quant.weight_bits_of(self.arch, l)
        out_t = self.qtype(l.quant) if l.quant is not None else None
        pe, simd = self.fold(l.name, "PE"), self.fold(l.name, "SIMD")
        if l.op == "conv" and (l.k > 1 or l.stride > 1 or l.pad > 0):
            _, ih, iw = self.arch[l.inputs[0]].out_shape
            gs = S if l.grouped else l.cin
            # the window generator reads words within one group (vg_swg.h)
            in_n = max(d for d in legal_foldings(gs) if d <= src.n)
            src = self.convert(src, in_n, ih * iw * l.cin, f"{l.name}.swg_wc", l.name)
            try:
                swg = SWG(ih, iw, l.cin, l.k, l.stride, l.pad, gs, in_n, simd, s_type)
            except EngineError as e:
                raise DescriptionError(f"layer {l.name}: {e}") from None
            win = self.add(f"{l.name}.swg", "swg", l.name, [src], swg)[0]
            m = MVAU(l.groups, l.k * l.k * gs, l.cout // l.groups, pe, simd, h * w, s_type, w_bits, out_t,
                     **self.mac_pack(l.name))
            return self.add(l.name, "mvau", l.name, [win], m, **self.styles(l.name))[0]
        src = self.convert(src, simd, h * w * l.cin, f"{l.name}.wc", l.name)
        m = MVAU(1, l.cin, l.cout, pe, simd, h * w, s_type, w_bits, out_t, **self.mac_pack(l.name))
        return self.add(l.name, "mvau", l.name, [src], m, **self.styles(l.name))[0]

    def add_op(self, l: Layer) -> Stream:
        """add: both inputs at one word width, summed and requantized."""
        c, h, w = l.out_shape
        a, b = self.take(l.inputs[0]), self.take(l.inputs[1])
        n = self.fold(l.name, "PE", max(a.n, b.n))
        a = self.convert(a, n, h * w * c, f"{l.name}.wc_a", l.name)
        b = self.convert(b, n, h * w * c, f"{l.name}.wc_b", l.name)
        e = Eltwise("add", c, n, h * w, IntType.parse(a.dtype), self.qtype(l.quant))
        return self.add(l.name, "add", l.name, [a, b], e)[0]

    def se(self, l: Layer) -> Stream:
        """se: the frame forks; pool -> threshold -> FC1 -> FC2 (gate); the scale joins them."""
        c, h, w = l.out_shape
        x = self.take(l.inputs[0])
        xt = IntType.parse(x.dtype)
        n = self.fold(l.name, "PE", x.n)
        x = self.convert(x, n, h * w * c, f"{l.name}.wc", l.name)
        x_frame, x_pool = self.add(f"{l.name}.dup", "duplicate", l.name, [x],
                                   Eltwise("duplicate", c, n, h * w, xt), n_outputs=2)
        pool = Eltwise("pool", c, n, h * w, xt)
        sums = self.add(f"{l.name}.pool", "pool", l.name, [x_pool], pool)[0]
        a_t = IntType(self.quant.act_bits, True)
        thr = Eltwise("threshold", c, n, 1, pool.result_type, a_t)
        pooled = self.add(f"{l.name}.pool_q", "threshold", l.name, [sums], thr)[0]
        r = c // l.reduction
        for j, (cin, cout, ot) in enumerate([(c, r, a_t), (r, c, IntType(self.quant.gate, False))], start=1):
            fname = f"{l.name}.fc{j}"
            pe, simd = self.fold(fname, "PE"), self.fold(fname, "SIMD")
            pooled = self.convert(pooled, simd, cin, f"{fname}.wc", l.name)
            m = MVAU(1, cin, cout, pe, simd, 1, IntType.parse(pooled.dtype), self.quant.weight_bits, ot,
                     **self.mac_pack(fname))
            pooled = self.add(fname, "mvau", l.name, [pooled], m, **self.styles(fname))[0]
        gate = self.convert(pooled, n, c, f"{l.name}.gate_wc", l.name)
        e = Eltwise("se_scale", c, n, h * w, xt, self.qtype(l.quant), IntType(self.quant.gate, False))
        if self.styles(l.name)["memory"] != "auto":
            raise DescriptionError(f"folding: {l.name} sets ram_style {self.folding[l.name]['ram_style']!r}, but an SE "
                                   f"block has no memory it binds: its frame waits in the FIFO in front of its "
                                   f"scale (vg_se.h); remove ram_style there")
        return self.add(f"{l.name}.scale", "se_scale", l.name, [x_frame, gate], e)[0]

    def pool(self, l: Layer) -> Stream:
        """pool (global average): sums, then thresholds (the 1/pixels folded into them)."""
        c = l.out_shape[0]
        x = self.take(l.inputs[0])
        xt = IntType.parse(x.dtype)
        n = self.fold(l.name, "PE", x.n)
        _, ih, iw = self.arch[l.inputs[0]].out_shape
        x = self.convert(x, n, ih * iw * c, f"{l.name}.wc", l.name)
        pool = Eltwise("pool", c, n, ih * iw, xt)
        sums = self.add(f"{l.name}.sum", "pool", l.name, [x], pool)[0]
        thr = Eltwise("threshold", c, n, 1, pool.result_type, self.qtype(l.quant))
        return self.add(l.name, "threshold", l.name, [sums], thr)[0]


# layer op -> the _Lowering method that maps it onto engines
LOWER_OPS = {"conv": _Lowering.conv, "fc": _Lowering.conv, "add": _Lowering.add_op,
             "se": _Lowering.se, "pool": _Lowering.pool}


def lower(arch: Arch, quant: QuantConfig, folding: Optional[Folding] = None, *,
          name: Optional[str] = None, board: str = "zcu104", clock_mhz: float = 200.0,
          strict: bool = True) -> Accelerator:
    """The accelerator graph of arch at the given bit widths and folding.

    strict: a folding entry that names no node is an error (a typo would silently be ignored).
    """
    g = _Lowering(arch, quant, dict(folding or {}))
    inp = arch.input
    c, h, w = inp.out_shape
    in_type = IntType(INPUT_BITS, False)
    s_in = Stream("in", HOST, "", c, str(in_type), h * w)
    g.streams.append(s_in)
    g.publish(inp, s_in)
    for l in arch.layers[1:]:
        op = LOWER_OPS.get(l.op)
        if op is None:  # pragma: no cover - model/arch.py validates ops
            raise DescriptionError(f"layer {l.name}: op {l.op} cannot be lowered")
        g.publish(l, op(g, l))

    (y,) = g.outs[arch.output.name] or [None]
    if y is None:
        y = g.streams[-1]
    y.consumer = HOST
    unknown = sorted(set(g.folding) - g.used - {"Defaults"})
    if strict and unknown:
        raise DescriptionError(f"folding names unknown layers: {unknown}")
    misplaced = sorted(k for k, v in g.folding.items()
                       if ("mac_pack" in v or "mac_pair" in v) and k in g.used and k not in g.packed)
    if strict and misplaced:
        raise DescriptionError(f"mac_pack/mac_pair apply to conv/fc layers (their S=8 engine), not to {misplaced}")
    acc = Accelerator(
        name=name or f"{arch.name}-{quant.name}", arch=arch.to_dict(), quant=quant.to_dict(),
        board=board, clock_mhz=clock_mhz,
        input={"stream": "in", "shape": [inp.out_shape[1], inp.out_shape[2], inp.out_shape[0]],
               "dtype": str(in_type), "scale": 1.0 / 255, "packing": INPUT_PACKING},
        output={"stream": y.name, "channels": arch.output.cout, "dtype": str(IntType.parse(y.dtype)),
                "scale": None, "tail": None, "packing": OUTPUT_PACKING},
        nodes=g.nodes, streams=g.streams)
    try:
        validate(acc)
    except EngineError as e:  # pragma: no cover - engines validate on construction
        raise DescriptionError(str(e)) from None
    return acc


def mvau_nodes(acc: Accelerator) -> list[Node]:
    return [n for n in acc.nodes if n.kind == "mvau"]
