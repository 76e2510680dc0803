"""Generates the accelerator's HLS C++ from its description: one function per engine node
(the unit FINN stitches into IP), a synthesis top (DATAFLOW over all nodes, AXI-stream in
and out for the DMA, AXI-lite control, FIFO depths from the simulator), and a C-simulation
top that calls the very same node functions in dataflow order.

Generated code contains no kernel code: each node function instantiates a template of
hls/include with the node's parameters. Weights and thresholds are global arrays: the
C-sim fills them at run time from the build folder's .npy files (vg_load), so g++ does not
compile millions of constant initialisers; the synthesis build includes weights.h, which
bakes the same arrays into ROMs (`write_weights_header`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import numpy as np

from flow.accel import Accelerator, Node, port_formats
from hls.engines import MVAU, SWG, Eltwise, IntType, WidthConvert
from hls.layout import lane_thresholds, mvau_thresholds, mvau_weights


def ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _b(v: bool) -> str:
    return "true" if v else "false"


def _stype(acc: Accelerator, stream: str) -> str:
    s = acc.stream(stream)
    return f"vg::Word<{IntType.parse(s.dtype).cpp()}, {s.n}>"


def param_arrays(n: Node) -> list[tuple[str, str, tuple[int, ...]]]:
    """(kind, C++ element type, shape) of the arrays a node needs: weights, thresholds."""
    e = n.engine()
    out = []
    if isinstance(e, MVAU):
        out.append(("w", f"vg::int_t<{e.w_bits}, true>::type", (e.pe, e.groups * e.nf * e.sf, e.simd)))
        if e.nt:
            out.append(("t", f"vg::acc_t<{e.acc + 1}>::type", (e.pe, e.groups * e.nf, e.nt)))
    elif isinstance(e, Eltwise) and e.kind in ("threshold", "add", "se_scale"):
        assert e.out_type is not None
        nt = (1 << e.out_type.bits) - 1
        out.append(("t", f"vg::acc_t<{e.sum_bits + 1}>::type", (e.n, e.ch // e.n, nt)))
    return out


def engine_layout(n: Node, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A node's weights/thresholds in the engine's memory layout (hls/layout.py)."""
    e = n.engine()
    out = {}
    if isinstance(e, MVAU):
        out["w"] = mvau_weights(params["weights"].astype(np.int64), e)
        if e.nt:
            out["t"] = mvau_thresholds(params["thresholds"].astype(np.int64), e)
    elif "thresholds" in params:
        out["t"] = lane_thresholds(params["thresholds"].astype(np.int64), e.n)  # type: ignore[union-attr]
    return out


def _call(acc: Accelerator, n: Node) -> str:
    return node_function(n)


def node_function(n: Node) -> str:
    """The node's HLS function: its ports' stream types come from the engine's port formats
    (which the description's streams must match, flow/accel.py validates that)."""
    e = n.engine()
    f = ident(n.name)
    fin, fout = port_formats(n, e)
    word = lambda nn, dt: f"vg::Word<{IntType.parse(dt).cpp()}, {nn}>"
    ins = [f"hls::stream<{word(nn, dt)} >& in{i}" for i, (nn, dt, _) in enumerate(fin)]
    outs = [f"hls::stream<{word(nn, dt)} >& out{i}" for i, (nn, dt, _) in enumerate(fout)]
    sig = f"inline void node_{f}({', '.join(ins + outs)})"
    ti = IntType.parse(fin[0][1]).cpp()
    to = IntType.parse(fout[0][1]).cpp()
    if isinstance(e, SWG):
        body = (f"vg::sliding_window<{e.ifm_h}, {e.ifm_w}, {e.ch}, {e.k}, {e.stride}, {e.pad}, "
                f"{e.gs}, {e.in_n}, {e.simd}, {ti}>(in0, out0);")
    elif isinstance(e, MVAU):
        tw = f"vg::int_t<{e.w_bits}, true>::type"
        tt = f"vg::acc_t<{e.acc + 1}>::type"
        thr = f"T_{f}" if e.nt else "T_dummy"
        body = (f"vg::mvau<{e.groups}, {e.mw}, {e.mh}, {e.pe}, {e.simd}, {e.pixels}, {e.in_type.bits}, "
                f"{_b(e.in_type.signed)}, {e.w_bits}, {e.acc}, {e.nt}, {e.out_bias}, {ti}, {tw}, {tt}, "
                f"{to}>(in0, out0, W_{f}, {thr});")
        if not e.nt:
            body = (f"static const {tt} T_dummy[{e.pe}][{e.groups * e.nf}][1] = {{}};\n  " + body)
    elif isinstance(e, WidthConvert):
        body = f"vg::width_convert<{e.total}, {e.in_n}, {e.out_n}, {ti}>(in0, out0);"
    else:
        assert isinstance(e, Eltwise)
        nt = (1 << e.out_type.bits) - 1 if e.out_type else 1
        bias = e.out_type.min if e.out_type else 0
        tt = f"vg::acc_t<{e.sum_bits + 1}>::type"
        ib, sg = e.in_type.bits, _b(e.in_type.signed)
        if e.kind == "duplicate":
            body = f"vg::duplicate<{e.words}, {e.n}, {ti}>(in0, out0, out1);"
        elif e.kind == "threshold":
            body = f"vg::threshold_layer<{e.ch}, {e.n}, {e.pixels}, {nt}, {bias}, {ti}, {to}, {tt}>(in0, out0, T_{f});"
        elif e.kind == "add":
            body = (f"vg::add_threshold<{e.ch}, {e.n}, {e.pixels}, {ib}, {sg}, {e.sum_bits}, {nt}, {bias}, "
                    f"{ti}, {ti}, {tt}, {to}>(in0, in1, out0, T_{f});")
        elif e.kind == "pool":
            body = f"vg::global_acc_pool<{e.ch}, {e.n}, {e.pixels}, {ib}, {sg}, {e.sum_bits}, {ti}, {to}>(in0, out0);"
        else:
            assert e.gate_type is not None
            tg = e.gate_type.cpp()
            body = (f"vg::se_scale<{e.ch}, {e.n}, {e.pixels}, {ib}, {sg}, {e.gate_type.bits}, {nt}, {bias}, "
                    f"{ti}, {tg}, {tt}, {to}>(in0, in1, out0, T_{f});")
    return f"// {n.kind} {n.name} (layer {n.layer})\n{sig} {{\n  {body}\n}}\n"


def network_header(acc: Accelerator) -> str:
    """network.h: parameter arrays (declared) and one function per node."""
    lines = ["// Generated by flow/codegen.py from the accelerator description. Do not edit.",
             f"// design {acc.name}, {len(acc.nodes)} engine nodes",
             "#ifndef VG_NETWORK_H", "#define VG_NETWORK_H",
             '#include "vg_swg.h"', '#include "vg_mvau.h"', '#include "vg_eltwise.h"',
             '#include "vg_se.h"', ""]
    for n in acc.nodes:
        for kind, t, shape in param_arrays(n):
            dims = "".join(f"[{d}]" for d in shape)
            lines.append(f"extern VG_PARAM_CONST {t} {kind.upper()}_{ident(n.name)}{dims};")
    lines.append("")
    lines += [_call(acc, n) for n in acc.nodes]
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def _stream_decls(acc: Accelerator, indent: str, depths: bool) -> list[str]:
    out = []
    for st in acc.streams:
        out.append(f"{indent}hls::stream<{_stype(acc, st.name)} > {ident(st.name)};")
        if depths:
            out.append(f"#pragma HLS STREAM variable = {ident(st.name)} depth = {st.depth}")
    return out


def _node_calls(acc: Accelerator, indent: str) -> list[str]:
    return [f"{indent}node_{ident(n.name)}({', '.join(ident(x) for x in n.inputs + n.outputs)});"
            for n in acc.nodes]


def csim_top(acc: Accelerator) -> str:
    """The C-simulation top: parameter arrays filled at run time, node functions in order."""
    s_in, s_out = acc.stream(acc.input["stream"]), acc.stream(acc.output["stream"])
    lines = ["// Generated by flow/codegen.py: whole-network C-simulation. Do not edit.",
             "#define VG_PARAM_CONST", '#include "network.h"', "#include <stdint.h>", ""]
    loaders = []
    for i, n in enumerate(acc.nodes):
        for kind, t, shape in param_arrays(n):
            name = f"{kind.upper()}_{ident(n.name)}"
            dims = "".join(f"[{d}]" for d in shape)
            size = int(np.prod(shape))
            lines.append(f"{t} {name}{dims};")
            loaders.append(f"  if (node == {i} && kind == '{kind}') {{ if (n != {size}L) return 2; "
                           f"for (long k = 0; k < n; k++) (&{name}{'[0]' * len(shape)})[k] = ({t})v[k]; return 0; }}")
    lines += ["", 'extern "C" int vg_load(int node, char kind, const int64_t* v, long n) {',
              *loaders, "  return 1;", "}", ""]
    ti = IntType.parse(s_in.dtype).cpp()
    to = IntType.parse(s_out.dtype).cpp()
    lines += [
        'extern "C" int vg_run(const int64_t* x, int64_t* y, int frames) {',
        "  for (int f = 0; f < frames; f++) {",
        *_stream_decls(acc, "    ", False),
        f"    const int64_t* xf = x + (long)f * {s_in.words * s_in.n}L;",
        f"    for (long i = 0; i < {s_in.words}L; i++) {{ vg::Word<{ti}, {s_in.n}> w;",
        f"      for (int k = 0; k < {s_in.n}; k++) {{ w.v[k] = ({ti})xf[i * {s_in.n} + k]; }} {ident(s_in.name)}.write(w); }}",
        *_node_calls(acc, "    "),
        f"    int64_t* yf = y + (long)f * {s_out.words * s_out.n}L;",
        f"    if ((long){ident(s_out.name)}.size() != {s_out.words}L) return 10;",
        f"    for (long i = 0; i < {s_out.words}L; i++) {{ vg::Word<{to}, {s_out.n}> w = {ident(s_out.name)}.read();",
        f"      for (int k = 0; k < {s_out.n}; k++) {{ yf[i * {s_out.n} + k] = (int64_t)w.v[k]; }} }}",
        *[f"    if (!{ident(s.name)}.empty()) return 11;" for s in acc.streams],
        "  }",
        "  return 0;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def synthesis_top(acc: Accelerator, top: str = "vargnet_top") -> str:
    """top.cpp for Vitis HLS: AXI-stream in/out (32-bit beats, see flow/accel.py for the
    packing), AXI-lite control, DATAFLOW over the node functions, FIFO depths."""
    s_in, s_out = acc.stream(acc.input["stream"]), acc.stream(acc.output["stream"])
    ti = IntType.parse(s_in.dtype)
    to = IntType.parse(s_out.dtype)
    return "\n".join([
        "// Generated by flow/codegen.py: synthesis top. Do not edit.",
        "#define VG_PARAM_CONST const", '#include "network.h"', '#include "weights.h"', "",
        "struct axis32 { ap_uint<32> data; ap_uint<1> last; };", "",
        f"static void read_input(hls::stream<axis32>& in, hls::stream<vg::Word<{ti.cpp()}, {s_in.n}> >& s) {{",
        f"  for (int i = 0; i < {s_in.words}; i++) {{",
        "#pragma HLS PIPELINE II = 1",
        f"    const axis32 b = in.read(); vg::Word<{ti.cpp()}, {s_in.n}> w;",
        f"    for (int k = 0; k < {s_in.n}; k++) w.v[k] = b.data.range(8 * k + 7, 8 * k);",
        "    s.write(w);", "  }", "}", "",
        f"static void write_output(hls::stream<vg::Word<{to.cpp()}, {s_out.n}> >& s, hls::stream<axis32>& out) {{",
        f"  for (int i = 0; i < {s_out.words}; i++) {{",
        f"    const vg::Word<{to.cpp()}, {s_out.n}> w = s.read();",
        f"    for (int k = 0; k < {s_out.n}; k++) {{",
        "#pragma HLS PIPELINE II = 1",
        "      axis32 b; b.data = (ap_int<32>)w.v[k];",
        f"      b.last = (i == {s_out.words - 1} && k == {s_out.n - 1});", "      out.write(b);",
        "    }", "  }", "}", "",
        f"void {top}(hls::stream<axis32>& in, hls::stream<axis32>& out) {{",
        "#pragma HLS INTERFACE axis port = in",
        "#pragma HLS INTERFACE axis port = out",
        "#pragma HLS INTERFACE s_axilite port = return bundle = control",
        "#pragma HLS DATAFLOW",
        *_stream_decls(acc, "  ", True),
        f"  read_input(in, {ident(s_in.name)});",
        *_node_calls(acc, "  "),
        f"  write_output({ident(s_out.name)}, out);",
        "}",
    ]) + "\n"


def write_weights_header(acc: Accelerator, layouts: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """weights.h for synthesis: every parameter array as a constant initialiser (ROM)."""
    with open(path, "w") as f:
        f.write("// Generated by flow/codegen.py: weights and thresholds as ROM initialisers.\n")
        for n in acc.nodes:
            for kind, t, shape in param_arrays(n):
                arr = layouts[n.name][kind].reshape(shape)
                dims = "".join(f"[{d}]" for d in shape)
                flat = ", ".join(str(int(v)) for v in arr.ravel())
                f.write(f"const {t} {kind.upper()}_{ident(n.name)}{dims} = {{{flat}}};\n")
