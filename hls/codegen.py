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
from typing import Sequence

import numpy as np

from hls.accel import Accelerator, Node, port_formats
from hls.engines import IntType, word_type
from hls import params_buffer as pb
from hls import resources as R
from hls.params_buffer import loads_cache, reads_buffer
from hls.shared_cost import hardware_streams
from hls.shared_part import SHARED, SHARED_FN, part_function


def own_nodes(acc: Accelerator) -> list[Node]:
    """The nodes with an engine of their own (not run by the shared engine)."""
    return [n for n in acc.nodes if n.memory != SHARED]




def ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def stream_ident(name: str) -> str:
    """A stream's C++ name: prefixed, so that no stream (the description's input is called
    "in") shadows the top's AXI-stream ports `in` and `out`."""
    return "st_" + ident(name)


def _stype(acc: Accelerator, stream: str) -> str:
    s = acc.stream(stream)
    return word_type(s.n, s.dtype)


def param_arrays(n: Node) -> list[tuple[str, str, tuple[int, ...]]]:
    """(key, C++ element type, shape) of the arrays a node needs (its engine's; a node that
    reads its weights from the parameter buffer, streamed or into its URAM cache, has no
    weight array; a node the shared engine runs has none: its rows are in the buffer)."""
    if n.memory == SHARED:
        return []
    return [a for a in n.engine().param_arrays() if not (reads_buffer(n) and a[0] == "w")]


LOAD_FLAG = "load"  # the synthesis top's scalar argument: fill the URAM caches in this frame


def ddr_pointer(n: Node) -> str:
    """The name of a DDR node's pointer into the parameter buffer: a global array in the
    C-sim top, an m_axi argument of the synthesis top."""
    return _ddr_name(n.name)


def _ddr_name(node: str) -> str:
    return f"ddr_{ident(node)}"


CACHE_POINTER = "ddr_caches"  # the cache loader's pointer (params_buffer.masters: node None)
CACHE_LOADER = "cache_loader"


def master_pointer(m: pb.Master) -> str:
    return CACHE_POINTER if m.node is None else _ddr_name(m.node)


def ddr_word_type(n: Node) -> str:
    return f"vg::ddr_word<{n.engine().ddr_port_bits()}>::type"


def master_word_type(m: pb.Master) -> str:
    return f"vg::ddr_word<{m.port_bits}>::type"


def fill_stream(n: Node) -> str:
    """A cache node's fill stream: its rows, decoded by the loader (vg_ddr.h fill_cache)."""
    return f"fill_{ident(n.name)}"


def fill_type(n: Node) -> str:
    """The fill stream's word: one weight row of the node's engine (its config cfg_<node>)."""
    return f"vg::weight_row<cfg_{ident(n.name)}>::type"


def engine_layout(n: Node, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A node's weights/thresholds in the engine's memory layout (hls/layout.py)."""
    return n.engine().layout(params)


def array_name(n: Node, key: str) -> str:
    """The C++ name of a node's parameter array `key` ("w" -> W_<node>)."""
    return f"{key.upper()}_{ident(n.name)}"


def node_signature(n: Node, name: str = "", ins: Sequence[str] = (), outs: Sequence[str] = ()) -> str:
    """`inline void node_<name>(streams...)`, the node function's declaration; with `name`,
    `void <name>(...)` and the streams named `ins`/`outs` (FINN's in0_V, out0_V)."""
    fin, fout = port_formats(n, n.engine())
    ins = list(ins) or [f"in{i}" for i in range(len(fin))]
    outs = list(outs) or [f"out{i}" for i in range(len(fout))]
    ports = [f"hls::stream<{word_type(nn, dt)} >& {s}" for s, (nn, dt, _) in zip(ins, fin)]
    ports += [f"hls::stream<{word_type(nn, dt)} >& {s}" for s, (nn, dt, _) in zip(outs, fout)]
    if loads_cache(n):
        ports += [f"hls::stream<{fill_type(n)} >& fill", f"bool {LOAD_FLAG}"]
    elif reads_buffer(n):
        ports.append(f"const {ddr_word_type(n)}* ddr")
    return f"void {name}({', '.join(ports)})" if name else f"inline void node_{ident(n.name)}({', '.join(ports)})"


def node_code(n: Node, ins: Sequence[str] = (), outs: Sequence[str] = ()) -> tuple[str, str]:
    """(the node's config struct cfg_<name>, "" if its template takes none; the engine's call
    on streams `ins`/`outs`, default in0.. / out0..)."""
    e = n.engine()
    fin, fout = port_formats(n, e)
    arrays = {key: array_name(n, key) for key, _, _ in param_arrays(n)}
    if loads_cache(n):  # the node function's fill stream and load flag parameters
        arrays["fill"], arrays["load"] = "fill", LOAD_FLAG
    elif reads_buffer(n):
        arrays["ddr"] = "ddr"  # the node function's pointer parameter
    return e.hls_code(f"cfg_{ident(n.name)}", list(ins) or [f"in{i}" for i in range(len(fin))],
                      list(outs) or [f"out{i}" for i in range(len(fout))], arrays, n.memory)


def param_declarations(n: Node, const: str = "VG_PARAM_CONST") -> list[str]:
    """`extern <const> T NAME[..];` for each parameter array of the node."""
    return [f"extern {const} {t} {array_name(n, key)}{''.join(f'[{d}]' for d in shape)};"
            for key, t, shape in param_arrays(n)]


def node_function(n: Node) -> str:
    """The node's config struct and HLS function: its ports' stream types come from the
    engine's port formats (which the description's streams must match, hls/accel.py validates
    that); its body is the engine's one-line call with that config."""
    cfg, body = node_code(n)
    cfg = cfg + "\n" if cfg else ""
    return f"// {n.kind} {n.name} (layer {n.layer})\n{cfg}{node_signature(n)} {{\n  {body}\n}}\n"


def network_header(acc: Accelerator) -> str:
    """network.h: parameter arrays (declared) and one function per node."""
    lines = ["// Generated by hls/codegen.py from the accelerator description. Do not edit.",
             f"// design {acc.name}, {len(acc.nodes)} engine nodes",
             "#ifndef VG_NETWORK_H", "#define VG_NETWORK_H",
             '#include "vg_swg.h"', '#include "vg_mvau.h"', '#include "vg_eltwise.h"',
             '#include "vg_se.h"', '#include "vg_ddr.h"', '#include "vg_shared.h"', ""]
    for n in own_nodes(acc):
        lines += param_declarations(n)
    lines.append("")
    lines += [node_function(n) for n in own_nodes(acc)]
    lines += _cache_loader(acc)
    if acc.shared is not None:
        lines.append(part_function(acc, _shared_stage(acc)))
    lines.append("#endif")
    return "\n".join(lines) + "\n"


def _cache_loader(acc: Accelerator) -> list[str]:
    """The design's one cache loader (designs with URAM caches): in a loading frame, a phase
    per cache (vg_ddr.h fill_cache: its region's rows from the caches' master into its fill
    stream), one after another, each counted as process 2 of its cache's node."""
    m = pb.cache_master(acc)
    if m is None:
        return []
    index = {n.name: i for i, n in enumerate(acc.nodes)}
    streams = [f"hls::stream<{fill_type(acc.node(r.node))} >& {fill_stream(acc.node(r.node))}" for r in m.regions]
    body = [f"  VG_STAGE({index[r.node]}); vg::fill_cache<cfg_{ident(r.node)}_ddr, {m.port_bits}>(mem, "
            f"{m.first_word(r)}L, {fill_stream(acc.node(r.node))});"
            for r in m.regions]
    return ["// the URAM caches' loader: one AXI4 master for every cache, reading only in a loading frame",
            f"inline void {CACHE_LOADER}(const {master_word_type(m)}* mem, bool {LOAD_FLAG}, {', '.join(streams)}) {{",
            f"  if (!{LOAD_FLAG}) return;", *body, "}", ""]


def _stream_decls(acc: Accelerator, indent: str, depths: bool) -> list[str]:
    """The description's streams and the caches' fill streams (depth 2: the loader and the
    cache's load loop both run at II = 1)."""
    out = []
    named = [(stream_ident(st.name), _stype(acc, st.name), st.depth, st.impl) for st in hardware_streams(acc)]
    named += [(fill_stream(n), fill_type(n), 2, "auto") for n in acc.nodes if loads_cache(n)]
    for name, t, depth, impl in named:
        out.append(f"{indent}hls::stream<{t} > {name};")
        if depths:
            out.append(f"#pragma HLS STREAM variable = {name} depth = {depth}")
            if impl != "auto":  # a packed deep FIFO (hls/fifo_packing.py)
                out.append(f"#pragma HLS BIND_STORAGE variable = {name} type = fifo impl = {impl}")
    return out


def _node_args(n: Node) -> list[str]:
    if loads_cache(n):
        return [fill_stream(n), LOAD_FLAG]
    return [ddr_pointer(n)] if reads_buffer(n) else []


def _node_calls(acc: Accelerator, indent: str) -> list[str]:
    """The cache loader's call (first: its fill streams feed the caches), then one call per
    node; VG_STAGE(i) (nothing unless the schedule check counts) makes node i's loop
    iterations count into row i of the counters."""
    m = pb.cache_master(acc)
    loader = [] if m is None else [
        f"{indent}{CACHE_LOADER}({', '.join([master_pointer(m), LOAD_FLAG] + [fill_stream(acc.node(r.node)) for r in m.regions])});"]
    calls = []
    for i, n in enumerate(acc.nodes):
        if n.memory != SHARED:
            calls.append(f"{indent}VG_STAGE({i}); node_{ident(n.name)}("
                         f"{', '.join([stream_ident(x) for x in n.inputs + n.outputs] + _node_args(n))});")
        elif i == _shared_stage(acc):
            sh = acc.shared
            calls.append(f"{indent}VG_STAGE({i}); {SHARED_FN}({stream_ident(sh['in_stream'])}, "
                         f"{stream_ident(sh['out_stream'])}, {_ddr_name(pb.SHARED_REGION)});")
    return loader + calls


def _shared_stage(acc: Accelerator) -> int:
    """The counters' row of the shared part: its first node's (-1: none)."""
    return next((i for i, n in enumerate(acc.nodes) if n.memory == SHARED), -1)


def csim_top(acc: Accelerator) -> str:
    """The C-simulation top: parameter arrays filled at run time, node functions in order."""
    s_in, s_out = acc.stream(acc.input["stream"]), acc.stream(acc.output["stream"])
    lines = ["// Generated by hls/codegen.py: whole-network C-simulation. Do not edit.",
             "#define VG_PARAM_CONST", '#include "network.h"', "#include <stdint.h>", ""]
    loaders = []
    for i, n in enumerate(acc.nodes):
        for kind, t, shape in param_arrays(n):  # none for the shared part's nodes
            name = array_name(n, kind)
            dims = "".join(f"[{d}]" for d in shape)
            size = int(np.prod(shape))
            lines.append(f"{t} {name}{dims};")
            loaders.append(f"  if (node == {i} && kind == '{kind}') {{ if (n != {size}L) return 2; "
                           f"for (long k = 0; k < n; k++) (&{name}{'[0]' * len(shape)})[k] = ({t})v[k]; return 0; }}")
    lines += ["", 'extern "C" int vg_load(int node, char kind, const int64_t* v, long n) {',
              *loaders, "  return 1;", "}", ""]
    # what each AXI master reads of the parameter buffer: a node's region is loaded into its
    # master's words (the cache loader's span holds every cache's region at its place)
    ddr_loaders = []
    index = {n.name: i for i, n in enumerate(acc.nodes)}
    for m in pb.masters(acc):
        lines.append(f"static {master_word_type(m)} {master_pointer(m)}[{m.words}];")
        for r in m.regions:
            ddr_loaders.append(  # the shared region: node -1
                f"  if (node == {index.get(r.node, -1)}) {{ if (n != {r.nbytes}L) return 2; "
                f"vg::ddr_words_from_bytes<{m.port_bits}>(b, {r.rows}L, {master_pointer(m)} + {m.first_word(r)}L); return 0; }}")
    lines += ['extern "C" int vg_load_ddr(int node, const uint8_t* b, long n) {',
              *ddr_loaders, "  return 1;", "}", ""]
    ti = IntType.parse(s_in.dtype).cpp()
    to = IntType.parse(s_out.dtype).cpp()
    lines += [
        # load: the first frame fills the URAM caches, as the host's load flag does on the board
        'extern "C" int vg_run(const int64_t* x, int64_t* y, int frames, int load_first) {',
        "  for (int f = 0; f < frames; f++) {",
        f"    const bool {LOAD_FLAG} = load_first && f == 0;",
        f"    (void){LOAD_FLAG};",
        *_stream_decls(acc, "    ", False),
        f"    const int64_t* xf = x + (long)f * {s_in.words * s_in.n}L;",
        f"    for (long i = 0; i < {s_in.words}L; i++) {{ vg::Word<{ti}, {s_in.n}> w;",
        f"      for (int k = 0; k < {s_in.n}; k++) {{ w.v[k] = ({ti})xf[i * {s_in.n} + k]; }} {stream_ident(s_in.name)}.write(w); }}",
        *_node_calls(acc, "    "),
        f"    int64_t* yf = y + (long)f * {s_out.words * s_out.n}L;",
        f"    if ((long){stream_ident(s_out.name)}.size() != {s_out.words}L) return 10;",
        f"    for (long i = 0; i < {s_out.words}L; i++) {{ vg::Word<{to}, {s_out.n}> w = {stream_ident(s_out.name)}.read();",
        f"      for (int k = 0; k < {s_out.n}; k++) {{ yf[i * {s_out.n} + k] = (int64_t)w.v[k]; }} }}",
        *[f"    if (!{name}.empty()) return 11;" for name in [stream_ident(s.name) for s in hardware_streams(acc)]
          + [fill_stream(n) for n in acc.nodes if loads_cache(n)]],
        "  }",
        "  return 0;",
        "}",
    ]
    return "\n".join(lines) + "\n"


def synthesis_top(acc: Accelerator, top: str = "vargnet_top") -> str:
    """top.cpp for Vitis HLS: one frame per call, AXI-stream in/out (32-bit beats with TLAST,
    the packing of hls/accel.py), AXI-lite control, DATAFLOW over the node functions with
    the simulator's FIFO depths. The edges are the vg_axis.h templates."""
    s_in, s_out = acc.stream(acc.input["stream"]), acc.stream(acc.output["stream"])
    ti = IntType.parse(s_in.dtype)
    to = IntType.parse(s_out.dtype)
    return "\n".join([
        "// Generated by hls/codegen.py: synthesis top. Do not edit.",
        "#define VG_PARAM_CONST const", '#include "network.h"', '#include "vg_axis.h"',
        '#include "weights.h"', "",
        f"{top_signature(acc, top)} {{",
        "#pragma HLS INTERFACE axis port = in",
        "#pragma HLS INTERFACE axis port = out",
        *_ddr_interfaces(acc),
        "#pragma HLS INTERFACE s_axilite port = return bundle = control",
        "#pragma HLS DATAFLOW",
        *_stream_decls(acc, "  ", True),
        f"  vg::axis_read_pixels<{s_in.words}, {s_in.n}, {ti.cpp()}>(in, {stream_ident(s_in.name)});",
        *_node_calls(acc, "  "),
        f"  vg::axis_write_words<{s_out.words}, {s_out.n}, {to.cpp()}>({stream_ident(s_out.name)}, out);",
        "}",
    ]) + "\n"


def top_signature(acc: Accelerator, top: str = "vargnet_top") -> str:
    """The synthesis top's declaration: AXI-stream in and out, a pointer into the parameter
    buffer per AXI master (params_buffer.masters: each DDR node's, then the cache loader's),
    and the load flag when a node has a URAM cache."""
    ptrs = [f"const {master_word_type(m)}* {master_pointer(m)}" for m in pb.masters(acc)]
    ptrs += [f"bool {LOAD_FLAG}"] if any(loads_cache(n) for n in acc.nodes) else []
    return f"void {top}({', '.join(['hls::stream<vg::axis_beat>& in', 'hls::stream<vg::axis_beat>& out'] + ptrs)})"


def _ddr_interfaces(acc: Accelerator) -> list[str]:
    """An AXI4 read master per DDR node and one for the cache loader (each its own bundle:
    dataflow processes do not share a master), its base address in the control registers;
    depth is what C/RTL co-simulation models; the burst settings size its read buffer
    (hls/resources.py ddr_reader)."""
    out = []
    for i, m in enumerate(pb.masters(acc)):
        style = "uram" if m.loads_caches else "ddr"
        out += [f"#pragma HLS INTERFACE m_axi port = {master_pointer(m)} bundle = gmem{i} offset = slave "
                f"depth = {m.words} max_read_burst_length = {R.AXI_MAX_READ_BURST} "
                f"num_read_outstanding = {R.axi_read_outstanding(style)}",
                f"#pragma HLS INTERFACE s_axilite port = {master_pointer(m)} bundle = control"]
    if any(loads_cache(n) for n in acc.nodes):
        out.append(f"#pragma HLS INTERFACE s_axilite port = {LOAD_FLAG} bundle = control")
    return out


TOP_TESTBENCH = """// Generated by hls/codegen.py: the C testbench of the synthesis top (csim_design and
// cosim_design run it; so does the flow's verification, with g++). Do not edit.
//   tb_top INPUT OUTPUT [EXPECTED|- [PARAMS]]
// INPUT: the DMA's input beats (uint32 little-endian, {pixels} per frame, any number of
// frames); OUTPUT: the output beats it writes (int32, {beats} per frame); EXPECTED: beats to
// compare with (exit 1 on a difference; - for none); PARAMS: the parameter buffer
// (params.bin) the AXI masters read, needed when nodes read their weights from DDR.
#include <cstdio>
#include <cstring>
#include <vector>

#include "hls_stream.h"
#include "vg_axis.h"
#include "vg_ddr.h"

@DECL@;

static std::vector<unsigned int> read_words(const char* path) {{
  std::vector<unsigned int> v;
  FILE* f = std::fopen(path, "rb");
  if (!f) return v;
  unsigned int w;
  while (std::fread(&w, 4, 1, f) == 1) v.push_back(w);
  std::fclose(f);
  return v;
}}

int main(int argc, char** argv) {{
  if (argc < 3) {{
    std::printf("usage: tb_top INPUT OUTPUT [EXPECTED]\\n");
    return 2;
  }}
  const std::vector<unsigned int> x = read_words(argv[1]);
  if (x.empty() || x.size() % {pixels} != 0) {{
    std::printf("FAIL: %s holds %zu beats, not a whole number of {pixels}-beat frames\\n", argv[1], x.size());
    return 2;
  }}
  const size_t frames = x.size() / {pixels};
@DDR_SETUP@
  std::vector<unsigned int> y;
  int bad_last = 0;
  for (size_t f = 0; f < frames; f++) {{
    hls::stream<vg::axis_beat> in, out;
    for (size_t i = 0; i < {pixels}; i++) {{
      vg::axis_beat b;
      b.data = x[f * {pixels} + i];
      b.keep = -1;
      b.strb = -1;
      b.last = i == {pixels} - 1;
      in.write(b);
    }}
    @CALL@;
    for (size_t i = 0; i < {beats}; i++) {{
      if (out.empty()) {{
        std::printf("FAIL: frame %zu: %zu of {beats} output beats\\n", f, i);
        return 1;
      }}
      const vg::axis_beat b = out.read();
      y.push_back((unsigned int)b.data);
      bad_last += (int)b.last != (i == {beats} - 1);
    }}
    if (!out.empty() || !in.empty()) {{
      std::printf("FAIL: frame %zu: beats left over in a stream\\n", f);
      return 1;
    }}
  }}
  FILE* o = std::fopen(argv[2], "wb");
  if (!o || std::fwrite(y.data(), 4, y.size(), o) != y.size()) {{
    std::printf("FAIL: cannot write %s\\n", argv[2]);
    return 2;
  }}
  std::fclose(o);
  if (bad_last) {{
    std::printf("FAIL: TLAST wrong on %d beats\\n", bad_last);
    return 1;
  }}
  if (argc > 3 && std::strcmp(argv[3], "-") != 0) {{
    const std::vector<unsigned int> want = read_words(argv[3]);
    size_t diff = want.size() == y.size() ? 0 : y.size();
    for (size_t i = 0; i < y.size() && i < want.size(); i++) diff += want[i] != y[i];
    std::printf("%s: %zu frames, %zu of %zu output beats differ from %s\\n", diff ? "FAIL" : "PASS",
                frames, diff, y.size(), argv[3]);
    return diff ? 1 : 0;
  }}
  std::printf("PASS: %zu frames run\\n", frames);
  return 0;
}}
"""


def top_testbench(acc: Accelerator, top: str = "vargnet_top") -> str:
    """tb_top.cpp: drives the synthesis top through its AXI-stream ports with packed images,
    its AXI masters reading the parameter buffer file as they would read DDR."""
    s_in, s_out = acc.stream(acc.input["stream"]), acc.stream(acc.output["stream"])
    setup, ptrs = [], []
    if pb.size(acc):
        setup += ["  if (argc < 5) {",
                  '    std::printf("usage: tb_top INPUT OUTPUT EXPECTED|- PARAMS (this design reads weights from DDR)\\n");',
                  "    return 2;", "  }",
                  "  std::vector<unsigned char> params;",
                  "  {", '    FILE* pf = std::fopen(argv[4], "rb");', "    int c;",
                  "    while (pf && (c = std::fgetc(pf)) != EOF) params.push_back((unsigned char)c);",
                  "    if (pf) std::fclose(pf);", "  }",
                  f"  if (params.size() != {pb.size(acc)}UL) {{",
                  f'    std::printf("FAIL: %s holds %zu bytes, the parameter buffer has {pb.size(acc)}\\n", argv[4], params.size());',
                  "    return 2;", "  }"]
        for m in pb.masters(acc):
            name = master_pointer(m)
            setup += [f"  std::vector<{master_word_type(m)} > {name}({m.words});",
                      f"  vg::ddr_words_from_bytes<{m.port_bits}>(params.data() + {m.offset}UL, {m.words}L, {name}.data());"]
            ptrs.append(f"{name}.data()")
    if any(loads_cache(n) for n in acc.nodes):
        ptrs.append("f == 0")  # the load flag: the first frame fills the URAM caches
    call = f"{top}({', '.join(['in', 'out'] + ptrs)})"
    return (TOP_TESTBENCH.format(top=top, pixels=s_in.words, beats=s_out.words * s_out.n)
            .replace("@DECL@", top_signature(acc, top)).replace("@CALL@", call)
            .replace("@DDR_SETUP@", "\n".join(setup)))


def write_weights_header(acc: Accelerator, layouts: dict[str, dict[str, np.ndarray]], path: Path) -> None:
    """weights.h for synthesis: every parameter array as a constant initialiser (ROM)."""
    with open(path, "w") as f:
        f.write("// Generated by hls/codegen.py: weights and thresholds as ROM initialisers.\n")
        for n in acc.nodes:
            for kind, t, shape in param_arrays(n):
                arr = layouts[n.name][kind].reshape(shape)
                dims = "".join(f"[{d}]" for d in shape)
                flat = ", ".join(str(int(v)) for v in arr.ravel())
                f.write(f"const {t} {array_name(n, kind)}{dims} = {{{flat}}};\n")


def write_hls(acc: Accelerator, params: dict[str, dict[str, np.ndarray]], out: Path,
              weights_header: bool = True) -> None:
    """A build's hls/ folder: network.h, top.cpp (synthesis), tb_top.cpp (its testbench),
    csim_top.cpp (the fast C-sim top) and, unless skipped, weights.h (the ROMs)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "network.h").write_text(network_header(acc))
    (out / "top.cpp").write_text(synthesis_top(acc))
    (out / "csim_top.cpp").write_text(csim_top(acc))
    (out / "tb_top.cpp").write_text(top_testbench(acc))
    if weights_header:
        layouts = {n.name: engine_layout(n, params[n.name]) for n in acc.nodes if n.name in params}
        write_weights_header(acc, layouts, out / "weights.h")
