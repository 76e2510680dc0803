"""`make hls-check`: Vitis HLS C synthesis and C/RTL co-simulation of one small instance of every
engine, the reported latency and II set beside the cycle formulas of hls/engines/.

    python -m hls.vendor_check [--out build/hls-check] [--part xczu7ev-ffvc1156-2-e]
                               [--clock-mhz 200] [--only swg] [--csim-only] [--no-cosim]

For each engine it writes, into --out, `<engine>_top.h/.cpp` (a top function `check_top`
calling the engine template with fixed sizes, its weights and thresholds as ROMs) and
`<engine>_tb.cpp` (a self-checking testbench: two frames of random codes in, the integer
semantics' outputs (hls/intops.py) expected), then runs hls/tb/hls_check.tcl with vitis_hls
(csim_design, csynth_design, cosim_design) and reads the reports:
  - csynth: every pipelined loop's achieved II (must be 1) and the top's latency;
  - cosim: the measured latency per frame;
each compared with the formula (one cycle per pipelined iteration): latency = formula + the
pipelines' depths, which the check bounds by DEPTH_SLACK cycles.
Without vitis_hls on PATH it writes the sources, says what it would run and exits 3;
--csim-only compiles and runs the testbenches with g++ instead (no vendor tool).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from hls.csim import CXX, CsimError, compile_flags, run_compiler
from hls.engines import MVAU, SWG, Eltwise, IntType, LaneEngine, WidthConvert, word_type
from hls.layout import mvau_thresholds, mvau_weights
from hls.params_buffer import pack_rows
from hls.paths import INCLUDE_DIR, TB_DIR
from model.argtypes import positive_float

ROOT = Path(__file__).resolve().parents[1]
TCL = TB_DIR / "hls_check.tcl"
DEFAULT_PART = "xczu7ev-ffvc1156-2-e"  # ZCU104 (hls/boards.py)
DEPTH_SLACK = 64  # cycles a frame may take beyond its formula: pipeline fill and drain
FRAMES = 2


def instances() -> dict[str, Any]:
    """One small instance of every engine kind (and of the MVAU with packed MACs)."""
    t4, u4, i6 = IntType(4, True), IntType(4, False), IntType(6, True)
    return {
        "swg": SWG(6, 7, 16, 3, 2, 1, 8, 4, 12, t4),
        "mvau": MVAU(2, 72, 16, 4, 12, 6, t4, 4, u4),
        # two PE lanes per DSP48E2: II and latency checked as the others; its csynth report
        # should bind PE/2 * SIMD = 24 DSPs (read it there: the check does not parse DSPs)
        "mvau_packed": MVAU(2, 72, 16, 4, 12, 6, t4, 4, u4, pack=2),
        # two SIMD elements of one PE lane per DSP48E2 (an odd PE): PE * SIMD/2 = 6 DSPs
        "mvau_simd_paired": MVAU(2, 72, 16, 1, 12, 6, t4, 4, u4, pack=2, pair="simd"),
        # the requantization policies (hls/engines/activation.py): a multiply-add per lane
        "mvau_requant2": replace(MVAU(2, 72, 16, 4, 12, 6, t4, 4, u4), requant=2, rq_shift=16, rq_bits=24),
        "threshold": Eltwise("threshold", 24, 4, 10, i6, t4),
        "threshold_requant": replace(Eltwise("threshold", 24, 4, 10, i6, t4), requant=1, rq_shift=8, rq_bits=16),
        "add": Eltwise("add", 24, 4, 10, t4, t4),
        "pool": Eltwise("pool", 24, 4, 10, t4),
        "se_scale": Eltwise("se_scale", 24, 4, 10, t4, t4, u4),
        "duplicate": Eltwise("duplicate", 24, 4, 10, t4),
        "width_convert": WidthConvert(240, 6, 4, t4),
        # weights read from DDR through an AXI4 master (memory "ddr": MEMORY below): the
        # reader's bursts at II = 1 and the engine's loop as with its ROM
        "mvau_ddr": MVAU(2, 72, 16, 4, 8, 6, t4, 4, u4),
        # weights cached in URAM, filled by the first frame through a loader and its master
        # (memory "uram", vg_ddr.h fill_cache): the cache bound to URAM, the loader's loop,
        # the cache's load loop and the engine's loop at II = 1
        "mvau_uram": MVAU(2, 72, 16, 4, 8, 6, t4, 4, u4),
        # the shared block engine (vg_shared.h) with its DDR reader: the tiny VarGFaceNet's
        # stage 4 (group convs, pointwise convs, SE blocks, residual adds) as its program
        "shared_block": SharedCheck("stage4", 1),
    }


# the instances whose node memory is not the default: they read their weights from DDR, each
# frame (ddr) or once into a URAM cache (uram: the first frame loads it)
MEMORY = {"mvau_ddr": "ddr", "mvau_uram": "uram"}


def formula(name: str, e) -> int:
    """The cycles the check expects of the worst frame: the engine's formula, plus the load
    loop's ROWS iterations in a frame that fills a URAM cache."""
    if isinstance(e, SharedCheck):
        return e.cycles()
    return e.cycles() + (e.weight_rows() if MEMORY.get(name) == "uram" else 0)


class SharedCheck:
    """The shared block engine's check instance: `stages` of the tiny VarGFaceNet (w4a4) as its
    program (hls/shared_program.py) on an array of GP groups, random weights and thresholds
    spread over each op's values. Its top takes and gives the engine's own words (GP x 8
    codes), so the loops under test are the engine's and its reader's: its formula is the
    engine process of hls/shared_cost.py (each tile max(its loop cycles, its rows' words), the
    OP_IN and OP_OUT phases one word a cycle). Expected outputs: each op computed from its
    definition with hls/intops.py, FRAMES frames."""

    kind = "shared_block"

    def __init__(self, stages: str, gp: int):
        self.stages, self.gp = stages, gp
        self._built: Optional[dict[str, Any]] = None

    def __repr__(self) -> str:
        return f"SharedCheck({self.stages!r}, GP={self.gp})"

    def build(self) -> dict[str, Any]:
        if self._built is None:
            from hls.shared_cost import SharedBlock
            from hls.shared_part import SharedPart, pack_rows_of
            from hls.shared_program import plan
            from model.arch import tiny

            p = plan(tiny("vargfacenet"), [self.stages], self.gp, "zcu104", 200.0)
            mt = IntType(p.map_bits, True)
            part = SharedPart(p, [None] * len(p.ops), "", "", 15, mt)
            rng = np.random.default_rng(0)
            first = p.ops[0]
            xs = rng.integers(-8, 8, (FRAMES, first.h, first.w, first.cin8 * 8))
            params = [_shared_params(o, rng) for o in p.ops]
            ys = np.stack([_run_program(p.ops, params, x, rng if f == 0 else None) for f, x in enumerate(xs)])
            n = p.gp * 8
            block = SharedBlock(part, n, mt, xs[0].size // n, n, mt, ys[0].size // n)
            self._built = {"part": part, "xs": xs.reshape(FRAMES, -1), "ys": ys.reshape(FRAMES, -1), "block": block,
                           "bytes": pack_rows_of(part, [(pr.get("w"), pr.get("thr")) for pr in params])}
        return self._built

    def cycles(self) -> int:
        return self.build()["block"].processes()[0].cycles

    def sources(self, name: str) -> dict[str, str]:
        from hls.shared_part import config_text, program_definition

        b = self.build()
        part, port = b["part"], b["part"].plan.port_bits
        words = b["bytes"].size * 8 // port
        io = "vg::shared_types<check_engine>::io_word"
        ports = [f"hls::stream<{io} >& in0", f"hls::stream<{io} >& out0", f"const vg::ddr_word<{port}>::type* DDR"]
        header = "\n".join([
            f"// Generated by hls/vendor_check.py: the {name} check instance. {self!r}",
            f"#ifndef CHECK_{name.upper()}_H", f"#define CHECK_{name.upper()}_H",
            '#include "vg_ddr.h"', '#include "vg_shared.h"', config_text(part, "check", define=False),
            f"void check_top({', '.join(ports)});", "#endif", ""])
        top = "\n".join([
            f"// Generated by hls/vendor_check.py: the {name} check top. {self!r}",
            f'#include "{name}_top.h"', "", program_definition("check"), "",
            f"void check_top({', '.join(ports)}) {{",
            f"#pragma HLS INTERFACE m_axi port = DDR offset = slave depth = {words}",
            "#pragma HLS DATAFLOW",
            "  typedef vg::shared_types<check_engine> Ty;",
            f"  static Ty::chunk maps[{2 * part.gp}][Ty::ROWS];",
            "  hls::stream<Ty::wrow> wts;", "  hls::stream<Ty::trow> thrs;",
            f"#pragma HLS STREAM variable = wts depth = {2 * max(o.wrows for o in part.ops)}",
            f"#pragma HLS STREAM variable = thrs depth = {2 * part.nt}",
            f"  vg::shared_reader<check_engine, {port}>(DDR, wts, thrs);",
            "  vg::shared_block<check_engine>(maps, wts, thrs, in0, out0);", "}", ""])
        n = part.gp * 8
        fmt = (n, str(part.map_type))
        tb = _testbench(name, [(*fmt, b["xs"].shape[1] // n)], [(*fmt, b["ys"].shape[1] // n)],
                        list(b["xs"][None]), list(b["ys"][None]), (b["bytes"], port), word=io)
        return {f"{name}_top.h": header, f"{name}_top.cpp": top, f"{name}_tb.cpp": "\n".join(tb)}


def _shared_params(o, rng) -> dict[str, Any]:
    """An op's random weights (PyTorch layout); its thresholds are drawn when it first runs."""
    from hls.shared_program import OP_DENSE, OP_GCONV

    if o.kind == OP_GCONV:
        return {"w": rng.integers(-8, 8, (o.cout8 * 8, 8, o.k, o.k))}
    if o.kind == OP_DENSE:
        return {"w": rng.integers(-8, 8, (o.cout8 * 8, o.cin8 * 8))}
    return {}


def _run_program(ops: list, params: list[dict[str, Any]], x: np.ndarray, rng) -> np.ndarray:
    """One frame of a shared-engine program from each op's definition (hls/intops.py); with
    `rng`, each op's thresholds are first drawn at quantiles of its values (so its codes
    spread), as sim/golden.py's random_params does for a design."""
    from hls import intops
    from hls.shared_program import OP_ADD, OP_DENSE, OP_GCONV, OP_IN, OP_OUT, OP_SCALE

    slots: dict[int, np.ndarray] = {}
    for o, pr in zip(ops, params):
        if o.kind == OP_IN:
            slots[o.dst] = x
            continue
        if o.kind == OP_OUT:
            return slots[o.src]
        a = slots[o.src]
        if o.kind == OP_GCONV:
            v = intops.conv_int(a[None], pr["w"], o.stride, o.pad, o.cin8)[0]
        elif o.kind == OP_DENSE:
            v = intops.fc_int(a.reshape(-1, o.cin8 * 8), pr["w"]).reshape(a.shape[0], a.shape[1], -1)
        elif o.kind == OP_ADD:
            v = a.astype(np.int64) + slots[o.src2]
        elif o.kind == OP_SCALE:
            v = a.astype(np.int64) * slots[o.src2]
        else:  # OP_POOL
            v = a.sum(axis=(0, 1), dtype=np.int64)[None, None]
        if rng is not None:
            q = np.quantile(v.reshape(-1, v.shape[-1]).astype(np.float64), np.linspace(0.02, 0.98, o.nt), axis=0).T
            pr["thr"] = np.maximum.accumulate(np.ceil(q).astype(np.int64), axis=1)
        slots[o.dst] = intops.multithreshold(v, pr["thr"], o.obias)
    raise ValueError("a program ends with OP_OUT")


# ---- reference data ----------------------------------------------------------------------------
def _codes(rng, t: IntType, shape) -> np.ndarray:
    return rng.integers(t.min, t.max + 1, shape)


def _thresholds(rng, lo: int, hi: int, ch: int, nt: int, bits: int) -> np.ndarray:
    t = IntType(bits, True)
    return np.sort(np.clip(rng.integers(lo - 2, hi + 3, (ch, nt)), t.min, t.max), axis=1)


def activation_table(rng, act, lo: int, hi: int, ch: int) -> np.ndarray:
    """A random table of the activation's form whose codes spread over [lo, hi]: sorted
    thresholds, or (M, B) pieces with slopes around NT / (hi - lo), random splits J and
    kinks K."""
    if not act.pieces:
        return _thresholds(rng, lo, hi, ch, act.nt, act.table_type.bits)
    unit = act.nt * 2.0 ** act.shift / max(1, hi - lo)

    def piece() -> list[np.ndarray]:
        m = np.maximum(1, np.round(unit * rng.uniform(0.5, 2.0, ch))).astype(np.int64)
        b = np.round(-lo * m + rng.uniform(-0.3, 0.3, ch) * act.nt * 2.0 ** act.shift).astype(np.int64)
        return [m, b]

    cols = piece() if act.pieces == 1 else [*piece(), *piece(), rng.integers(0, act.nt + 1, ch),
                                            rng.integers(lo - 1, hi + 2, ch)]
    t = act.table_type
    return np.clip(np.stack(cols, axis=1), t.min, t.max)


def _swg_reference(e: SWG, rng) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    from hls import intops

    x = _codes(rng, e.dtype, (FRAMES, e.ifm_h, e.ifm_w, e.ch))
    win = intops.windows(x, e.k, e.stride, e.pad)  # N, OH, OW, k, k, C
    g = e.ch // e.gs
    win = win.reshape(*win.shape[:5], g, e.gs).transpose(0, 1, 2, 5, 3, 4, 6)
    return [x.reshape(FRAMES, -1)], [win.reshape(FRAMES, -1)], {}


def _mvau_reference(e: MVAU, rng) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    x = _codes(rng, e.in_type, (FRAMES, e.pixels, e.groups, e.mw))
    w = _codes(rng, IntType(e.w_bits, True), (e.groups * e.mh, e.mw))
    acc = np.einsum("npgi,goi->npgo", x, w.reshape(e.groups, e.mh, e.mw)).reshape(FRAMES, e.pixels, -1)
    act = e.activation()
    thr = activation_table(rng, act, int(acc.min()), int(acc.max()), e.channels_out)
    y = act.apply(acc, thr)
    return ([x.reshape(FRAMES, -1)], [y.reshape(FRAMES, -1)],
            {"W": mvau_weights(w, e), "T": mvau_thresholds(thr, e)})


def _width_reference(e: WidthConvert, rng) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    x = _codes(rng, e.dtype, (FRAMES, e.total))
    return [x], [x], {}


def _lane_reference(e: LaneEngine, rng) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    """Any lane engine through its own integer semantics (`execute`): random codes on each
    input port (N x PIXELS x 1 x C, or the gates N x 1 x 1 x C), thresholds spread over the
    values they compare."""
    fin, _ = e.ports()
    ins = [_codes(rng, IntType.parse(dt), (FRAMES, words * n // e.ch, 1, e.ch)) for n, dt, words in fin]
    params: dict[str, np.ndarray] = {}
    specs = e.param_specs()
    if "thresholds" in specs:
        v = e.pre_threshold(ins, params)
        params["thresholds"] = activation_table(rng, e.activation(), int(v.min()), int(v.max()), e.ch)
    outs = e.execute(ins, params)
    return ([a.reshape(FRAMES, -1) for a in ins], [y.reshape(FRAMES, -1) for y in outs],
            {k.upper(): a for k, a in e.layout(params).items()})


# the plain reference of each kind whose stream order is not its integer semantics' (a window
# generator's words, an engine fed straight from vectors); every other kind: _lane_reference
REFERENCES = {"swg": _swg_reference, "mvau": _mvau_reference, "width_convert": _width_reference}


def reference(e, rng) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]:
    """(inputs per port, expected outputs per port, parameter arrays in engine layout), each
    port as FRAMES x (words * n) codes in stream order."""
    return REFERENCES.get(e.kind, _lane_reference)(e, rng)


# ---- generated sources ---------------------------------------------------------------------------
def _array(name: str, ctype: str, a: np.ndarray, const: str = "static const") -> str:
    dims = "".join(f"[{d}]" for d in a.shape)
    return f"{const} {ctype} {name}{dims} = {{{', '.join(str(int(v)) for v in a.ravel())}}};"


def sources(name: str, e, seed: int = 0) -> dict[str, str]:
    """{file name: text} of the check top, its header and its testbench."""
    if isinstance(e, SharedCheck):
        return e.sources(name)
    rng = np.random.default_rng(seed)
    xs, ys, params = reference(e, rng)
    fin, fout = e.ports()
    ddr = MEMORY.get(name) in ("ddr", "uram")  # through an AXI4 master
    cache = MEMORY.get(name) == "uram"
    ports = [f"hls::stream<{word_type(n, dt)} >& in{i}" for i, (n, dt, _) in enumerate(fin)]
    ports += [f"hls::stream<{word_type(n, dt)} >& out{i}" for i, (n, dt, _) in enumerate(fout)]
    keys = [key for key, _, _ in e.param_arrays() if not (ddr and key == "w")]
    arrays_in = {key: key.upper() for key in keys}
    if ddr:  # the weights come through an AXI4 master from the testbench's buffer
        ports.append(f"const vg::ddr_word<{e.ddr_port_bits()}>::type* DDR")
        arrays_in["ddr"] = "DDR"
    if cache:  # the first frame fills the cache, through a loader as the design's (codegen)
        ports.append("bool load")
        arrays_in["fill"], arrays_in["load"] = "fill", "load"
    cfg, call = e.hls_code("check_cfg", [f"in{i}" for i in range(len(fin))], [f"out{i}" for i in range(len(fout))],
                           arrays_in, MEMORY.get(name, "auto"))
    header = "\n".join([
        f"// Generated by hls/vendor_check.py: the {name} check instance. {e}",
        f"#ifndef CHECK_{name.upper()}_H", f"#define CHECK_{name.upper()}_H",
        '#include "vg_swg.h"', '#include "vg_mvau.h"', '#include "vg_eltwise.h"', '#include "vg_se.h"',
        '#include "vg_ddr.h"',
        *([cfg] if cfg else []),
        f"void check_top({', '.join(ports)});", "#endif", ""])
    ptypes = {key.upper(): t for key, t, _ in e.param_arrays()}
    arrays = [_array(k, ptypes[k], v) for k, v in params.items() if k.lower() in keys]
    loader = []
    if cache:
        word, row = f"vg::ddr_word<{e.ddr_port_bits()}>::type", "vg::weight_row<check_cfg>::type"
        loader = [f"static void load_fill(const {word}* mem, bool load, hls::stream<{row} >& fill) {{",
                  "  if (!load) return;", f"  vg::fill_cache<check_cfg_ddr, {e.ddr_port_bits()}>(mem, 0L, fill);",
                  "}", ""]
    top = "\n".join([
        f"// Generated by hls/vendor_check.py: the {name} check top. {e}",
        f'#include "{name}_top.h"', "", *loader,
        f"void check_top({', '.join(ports)}) {{",
        *([f"#pragma HLS INTERFACE m_axi port = DDR offset = slave depth = {e.weight_rows()}"] if ddr else []),
        *[f"  {a}" for a in arrays],
        *(["#pragma HLS DATAFLOW", "  hls::stream<vg::weight_row<check_cfg>::type> fill;",
           "#pragma HLS STREAM variable = fill depth = 2",
           "  load_fill(DDR, load, fill);"] if cache else []),
        f"  {call}",
        "}", ""])
    buf = None
    if ddr:  # the parameter buffer's region of this engine (hls/params_buffer.py)
        rows = np.transpose(params["W"], (1, 0, 2)).reshape(e.weight_rows(), e.pe * e.simd)
        buf = (np.frombuffer(pack_rows(rows, e.w_bits, e.ddr_port_bits()), np.uint8), e.ddr_port_bits())
    tb = _testbench(name, fin, fout, xs, ys, buf, cache)
    return {f"{name}_top.h": header, f"{name}_top.cpp": top, f"{name}_tb.cpp": "\n".join(tb)}


def _testbench(name: str, fin: list, fout: list, xs: list, ys: list, ddr: Optional[tuple[np.ndarray, int]],
               cache: bool = False, word: Optional[str] = None) -> list[str]:
    """The check's self-checking testbench: FRAMES frames of the reference inputs in (ports
    `fin`: (n, dtype, words) each), the expected outputs compared; with `ddr` (bytes, port
    bits), the buffer its master reads. `word`: the stream word type, when not the
    description's (the shared engine's own words)."""
    def wt(n: int, dt: str) -> str:
        return word if word is not None else word_type(n, dt)

    tb = [f"// Generated by hls/vendor_check.py: the {name} check testbench (expected outputs:",
          "// hls/intops.py, the golden integer semantics).", "#include <cstdio>",
          f'#include "{name}_top.h"', ""]
    for i, x in enumerate(xs):
        tb.append(_array(f"X{i}", "long long", x.ravel()))
    for i, y in enumerate(ys):
        tb.append(_array(f"Y{i}", "long long", y.ravel()))
    if ddr is not None:
        data, port = ddr
        tb.append(_array("DDR_BYTES", "unsigned char", data))
        tb.append(f"static vg::ddr_word<{port}>::type DDR[{data.size * 8 // port}];")
    tb += ["", "int main() {", "  long bad = 0;"]
    if ddr is not None:
        tb.append(f"  vg::ddr_words_from_bytes<{ddr[1]}>(DDR_BYTES, {ddr[0].size * 8 // ddr[1]}L, DDR);")
    tb.append(f"  for (int f = 0; f < {FRAMES}; f++) {{")
    for i, (n, dt, words) in enumerate(fin):
        tb += [f"    hls::stream<{wt(n, dt)} > in{i};",
               f"    for (int i = 0; i < {words}; i++) {{ {wt(n, dt)} w;",
               f"      for (int k = 0; k < {n}; k++) w.v[k] = X{i}[(long)f * {words * n} + i * {n} + k];",
               f"      in{i}.write(w); }}"]
    tb += [f"    hls::stream<{wt(n, dt)} > out{i};" for i, (n, dt, _) in enumerate(fout)]
    tb.append(f"    check_top({', '.join([f'in{i}' for i in range(len(fin))] + [f'out{i}' for i in range(len(fout))] + (['DDR'] if ddr is not None else []) + (['f == 0'] if cache else []))});")
    for i, (n, dt, words) in enumerate(fout):
        tb += [f"    for (int i = 0; i < {words}; i++) {{",
               f"      if (out{i}.empty()) {{ bad++; break; }}",
               f"      const {wt(n, dt)} w = out{i}.read();",
               f"      for (int k = 0; k < {n}; k++) bad += (long long)w.v[k] != Y{i}[(long)f * {words * n} + i * {n} + k];",
               "    }", f"    bad += !out{i}.empty();"]
    tb += [f"    bad += {' + '.join(f'!in{i}.empty()' for i in range(len(fin)))};", "  }",
           f'  std::printf("%s: {name}: %ld mismatches\\n", bad ? "FAIL" : "PASS", bad);',
           "  return bad ? 1 : 0;", "}", ""]
    return tb


def write_sources(out: Path, only: Optional[str] = None) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    chosen = {k: v for k, v in instances().items() if only is None or k == only}
    for name, e in chosen.items():
        for fname, text in sources(name, e).items():
            (out / fname).write_text(text)
    return chosen


def run_csim(out: Path, name: str) -> tuple[bool, str]:
    """g++ compile and run of a check top with its testbench (ap_int types, as csim_design)."""
    exe = out / f"{name}_csim"
    cmd = [CXX, *compile_flags(native=False, opt="-O1"), "-I", str(out),
           str(out / f"{name}_top.cpp"), str(out / f"{name}_tb.cpp"), "-o", str(exe)]
    r = run_compiler(cmd, f"the {name} check")
    if r.returncode != 0:
        return False, r.stderr[-3000:]
    r = subprocess.run([str(exe)], capture_output=True, text=True)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


# ---- vendor reports ----------------------------------------------------------------------------
def parse_csynth(path: Path) -> dict[str, Any]:
    """Latency, interval and per-loop II / depth / trip count from a csynth XML report."""
    root = ET.parse(path).getroot()

    def num(node, tag):
        v = node.findtext(tag) if node is not None else None
        try:
            return int(str(v).strip())
        except (TypeError, ValueError):
            return None

    lat = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    loops = []
    sl = root.find("PerformanceEstimates/SummaryOfLoopLatency")
    for node in (sl.iter() if sl is not None else []):
        if node is sl or node.find("TripCount") is None:
            continue
        loops.append({"name": node.tag, "ii": num(node, "PipelineII"), "depth": num(node, "PipelineDepth"),
                      "trip_count": num(node, "TripCount")})
    return {"latency_best": num(lat, "Best-caseLatency"), "latency_worst": num(lat, "Worst-caseLatency"),
            "interval_min": num(lat, "Interval-min"), "interval_max": num(lat, "Interval-max"),
            "loops": loops}


def parse_cosim(path: Path) -> dict[str, Any]:
    """Verilog latency min/avg/max and interval from a cosim report's table."""
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0].lower() == "verilog":
            vals = [int(c) if re.fullmatch(r"\d+", c) else None for c in cells[2:]]
            keys = ("latency_min", "latency_avg", "latency_max", "interval_min", "interval_avg",
                    "interval_max", "total")
            return {"status": cells[1], **dict(zip(keys, vals))}
    return {"status": "no Verilog row"}


def judge(formula: int, syn: dict[str, Any], cosim: Optional[dict[str, Any]]) -> list[str]:
    """Problems: a pipelined loop above II 1, a latency below the formula or above it by more
    than DEPTH_SLACK cycles."""
    bad = [f"loop {lp['name']}: II {lp['ii']}" for lp in syn["loops"] if lp["ii"] not in (None, 1)]
    for what, v in (("csynth latency", syn.get("latency_worst")),
                    ("cosim latency", (cosim or {}).get("latency_max"))):
        if v is not None and not formula <= v <= formula + DEPTH_SLACK:
            bad.append(f"{what} {v} outside [{formula}, {formula + DEPTH_SLACK}]")
    if cosim is not None and cosim.get("status", "").lower() != "pass":
        bad.append(f"cosim status {cosim.get('status')}")
    return bad


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.vendor_check", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "hls-check",
                    help="work folder for the sources, projects and reports (default build/hls-check)")
    ap.add_argument("--part", default=DEFAULT_PART, help=f"FPGA part (default {DEFAULT_PART}, ZCU104)")
    ap.add_argument("--clock-mhz", type=positive_float, default=200.0, help="target clock (default 200 MHz)")
    ap.add_argument("--only", choices=sorted(instances()), help="check only this engine")
    ap.add_argument("--csim-only", action="store_true",
                    help="compile and run the check testbenches with g++ only (no vendor tool)")
    ap.add_argument("--no-cosim", action="store_true", help="skip C/RTL co-simulation")
    a = ap.parse_args(argv)
    chosen = write_sources(a.out, a.only)
    if a.csim_only:
        failed = 0
        for name in chosen:
            try:
                ok, msg = run_csim(a.out, name)
            except CsimError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg.splitlines()[-1] if msg else ''}")
        return 1 if failed else 0
    vitis = shutil.which("vitis_hls")
    cmds = [["vitis_hls", "-f", str(TCL), "-tclargs", str(a.out.resolve()), name, a.part,
             f"{1000.0 / a.clock_mhz:.3f}", str(INCLUDE_DIR), "0" if a.no_cosim else "1"]
            for name in chosen]
    if vitis is None:
        print(f"error: make hls-check needs AMD Vitis HLS (vitis_hls, 2024.2) on PATH; it is not.\n"
              f"Wrote the check sources for {len(chosen)} engines into {a.out} and would run:\n  "
              + "\n  ".join(" ".join(c) for c in cmds)
              + "\nthen compare each report's II and latency with hls/engines/ "
                "(python -m hls.vendor_check --csim-only runs the testbenches with g++).",
              file=sys.stderr)
        return 3
    rows, failed = [], 0
    for name, cmd in zip(chosen, cmds):
        e = chosen[name]
        r = subprocess.run(cmd, cwd=a.out, capture_output=True, text=True)
        (a.out / f"{name}_vitis.log").write_text(r.stdout + r.stderr)
        sol = a.out / f"proj_{name}" / "sol"
        rep = sol / "syn" / "report" / "check_top_csynth.xml"
        if r.returncode != 0 or not rep.is_file():
            rows.append({"engine": name, "error": f"vitis_hls failed ({r.returncode}), see {name}_vitis.log"})
            failed += 1
            continue
        syn = parse_csynth(rep)
        cos_path = sol / "sim" / "report" / "check_top_cosim.rpt"
        cosim = parse_cosim(cos_path) if cos_path.is_file() and not a.no_cosim else None
        problems = judge(formula(name, e), syn, cosim)
        failed += bool(problems)
        rows.append({"engine": name, "formula": formula(name, e), "csynth": syn, "cosim": cosim,
                     "problems": problems})
        print(f"{'ok  ' if not problems else 'FAIL'} {name}: formula {formula(name, e)}, csynth latency "
              f"{syn['latency_worst']}, cosim {(cosim or {}).get('latency_max')}"
              + (f"; {'; '.join(problems)}" if problems else ""))
    (a.out / "hls_check.json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {a.out / 'hls_check.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
