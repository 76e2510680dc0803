"""The schedule check: every engine's pipelined loop iterations, counted in C-simulation
(VG_CYCLE, built with VG_COUNT_CYCLES), equal its cycle formula in hls/engines/ and the sum
of its simulator jobs, over random shapes, datatypes and foldings; and the lint finds no loop
in hls/include whose schedule cannot be read off the code."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hls.csim import ConvInstance, EltwiseInstance, Library, WidthInstance
from hls.engines import MVAU, SWG, Eltwise, IntType, WidthConvert, legal_foldings
from hls.lint import default_files, lint_files, lint_text
from hls import intops

S = 8
N_RANDOM = 200  # instances per engine family


# ---- random instances ------------------------------------------------------------------------
def _type(rng, lo=2, hi=8) -> IntType:
    return IntType(int(rng.integers(lo, hi + 1)), bool(rng.integers(0, 2)))


def random_conv(rng) -> ConvInstance:
    """A sliding window (random kernel, stride, padding, folding) feeding the S=8 engine."""
    k = int(rng.choice([1, 2, 3, 5, 7]))
    stride = int(rng.choice([1, 2, 3]))
    pad = int(rng.integers(0, k))
    h = int(rng.integers(max(1, k - 2 * pad), k + 7))
    w = int(rng.integers(max(1, k - 2 * pad), k + 7))
    grouped = bool(rng.integers(0, 2))
    c = S * int(rng.integers(1, 4)) if grouped else int(rng.choice([1, 2, 3, 4, 6, 8, 12]))
    gs = S if grouped else c
    mh = gs * int(rng.choice([1, 2])) if grouped else int(rng.choice([2, 4, 6, 8]))
    in_t = _type(rng)
    out_t = None if rng.random() < 0.2 else _type(rng)
    swg = SWG(h, w, c, k, stride, pad, gs, int(rng.choice(legal_foldings(gs))),
              int(rng.choice(SWG.legal_simd(k, gs))), in_t)
    m = MVAU(c // gs, k * k * gs, mh, int(rng.choice(legal_foldings(mh))), swg.simd,
             swg.ofm_h * swg.ofm_w, in_t, int(rng.integers(2, 9)), out_t)
    packings = m.packings(m.pe, m.simd)
    if packings and rng.random() < 0.5:  # two products per DSP (PE lanes or SIMD elements): the same schedule
        pack, pair = packings[int(rng.integers(0, len(packings)))]
        m = replace(m, pack=pack, pair=pair)
    return ConvInstance(m, swg)


def random_eltwise(rng, kind: str) -> EltwiseInstance:
    n = int(rng.choice([1, 2, 3, 4, 8]))
    ch = n * int(rng.integers(1, 6))
    in_t = _type(rng)
    out_t = _type(rng, 2, 4) if kind in ("threshold", "add", "se_scale") else None
    gate_t = IntType(int(rng.integers(2, 5)), False) if kind == "se_scale" else None
    return EltwiseInstance(Eltwise(kind, ch, n, int(rng.integers(1, 30)), in_t, out_t, gate_t))


def random_width(rng) -> WidthInstance:
    a, b = (int(v) for v in rng.choice([1, 2, 3, 4, 5, 6, 8, 12, 16], 2))
    total = int(np.lcm(a, b)) * int(rng.integers(1, 12))
    return WidthInstance(WidthConvert(total, a, b, _type(rng)))


def _codes(rng, t: IntType, shape) -> np.ndarray:
    return rng.integers(t.min, t.max + 1, shape)


def _check_counts(engines, rows) -> None:
    for e, row in zip(engines, rows):
        procs = e.processes()
        want = np.zeros_like(row)
        for p in procs:
            want[p.index] = p.cycles
        assert np.array_equal(row, want), f"{e}: counted {row.tolist()}, jobs {want.tolist()}"
        assert row.max() == e.cycles(), f"{e}: counted {row.max()} cycles, formula {e.cycles()}"


# ---- the sweeps ------------------------------------------------------------------------------
def test_counted_cycles_equal_the_formulas_for_sliding_windows_and_engines():
    rng = np.random.default_rng(24)
    insts = [random_conv(rng) for _ in range(N_RANDOM)]
    # the synthesised forms of the C-sim shortcuts, so that their values are checked too
    lib = Library(insts, count=True, tag="sched-conv", opt="-O1",
                  extra_defines=["VG_SWG_READ_ALL", "VG_THRESHOLD_COUNT"])
    for i, inst in enumerate(insts):
        m, s = inst.mvau, inst.swg
        x = _codes(rng, m.in_type, (2, s.ifm_h, s.ifm_w, s.ch))
        w = _codes(rng, IntType(m.w_bits, True), (m.channels_out, s.gs, s.k, s.k))
        acc = intops.conv_int(x, w, s.stride, s.pad, m.groups)
        thr = None
        ref = acc
        if m.out_type is not None:
            thr = np.sort(rng.integers(int(acc.min()) - 2, int(acc.max()) + 3, (m.channels_out, m.nt)), axis=1)
            ref = intops.multithreshold(acc, thr, m.out_bias)
        y, rows = lib.counted(i, x, w, thr)
        assert np.array_equal(y.reshape(ref.shape), ref), f"instance {i}: {inst}"
        _check_counts(inst.engines(), rows)


@pytest.mark.parametrize("kind", ["threshold", "add", "pool", "se_scale", "duplicate"])
def test_counted_cycles_equal_the_formulas_for_elementwise_engines(kind):
    rng = np.random.default_rng(hash(kind) % 1000)
    insts = [random_eltwise(rng, kind) for _ in range(N_RANDOM)]
    lib = Library(insts, count=True, tag=f"sched-{kind}", opt="-O1")
    for i, inst in enumerate(insts):
        e = inst.e
        x = _codes(rng, e.in_type, (1, e.pixels, e.ch))
        x2, thr = None, None
        if kind == "add":
            x2 = _codes(rng, e.in_type, x.shape)
        if kind == "se_scale":
            x2 = _codes(rng, e.gate_type, (1, e.ch))
        if e.out_type is not None:
            tt = IntType(e.sum_bits + 1, True)
            thr = np.sort(_codes(rng, tt, (e.ch, (1 << e.out_type.bits) - 1)), axis=1)
        _, rows = lib.counted(i, x, x2, thr)
        _check_counts(inst.engines(), rows)


def test_counted_cycles_equal_the_formulas_for_width_converters():
    rng = np.random.default_rng(25)
    insts = [random_width(rng) for _ in range(N_RANDOM)]
    lib = Library(insts, count=True, tag="sched-width", opt="-O1")
    for i, inst in enumerate(insts):
        x = _codes(rng, inst.w.dtype, (2, inst.w.total))
        y, rows = lib.counted(i, x)
        assert np.array_equal(y, x)
        _check_counts(inst.engines(), rows)


def test_job_lists_add_up_to_the_formulas_and_the_stream_words():
    """The simulator's jobs (engines' processes()) move exactly each port's words per frame
    and take the formula's cycles, over the same random families (no compiling)."""
    rng = np.random.default_rng(26)
    engines = [e for _ in range(N_RANDOM) for e in random_conv(rng).engines()]
    engines += [random_eltwise(rng, k).e for k in ("threshold", "add", "pool", "se_scale", "duplicate")
                for _ in range(40)]
    engines += [random_width(rng).w for _ in range(N_RANDOM)]
    from hls.accel import Node, engine_params, port_formats

    for e in engines:
        kind = e.kind
        fin, fout = port_formats(Node("n", kind, "l", [], [], engine_params(e)), e)
        procs = e.processes()
        assert max(p.cycles for p in procs) == e.cycles(), e
        got_in = {i: w for p in procs for i, w in zip(p.inputs, p.words_in())}
        got_out = {o: w for p in procs for o, w in zip(p.outputs, p.words_out())}
        assert got_in == {i: f[2] for i, f in enumerate(fin)}, e
        assert got_out == {o: f[2] for o, f in enumerate(fout)}, e


# ---- the lint ----------------------------------------------------------------------------------
def test_no_loop_in_hls_include_fails_the_lint():
    found = lint_files(default_files())
    assert not found, "\n".join(map(str, found))


LINT_CASES = {
    "loop kinds": """
template <int N> void f(hls::stream<int>& in, int a[N]) {
  for (int i = 0; i < N; i++) { a[i] = in.read(); }
}""",
    "bounds": """
template <int N> void f(hls::stream<int>& in, hls::stream<int>& out) {
  int n = in.read();
  for (int i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    out.write(i);
  }
}""",
    "counting": """
template <int N> void f(hls::stream<int>& in, hls::stream<int>& out) {
  for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    out.write(in.read());
  }
}""",
    "ports": """
template <int N> void f(hls::stream<int>& in, hls::stream<int>& out) {
  for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    out.write(in.read() + in.read());
  }
}""",
    "banks": """
template <int N, int M> void f(hls::stream<int>& in, hls::stream<int>& out) {
  int buf[N][M];
  for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
    VG_CYCLE(0);
    int s = 0;
    for (int j = 0; j < M; j++) {
#pragma HLS UNROLL
      s += buf[i][j];
    }
    out.write(s);
  }
}""",
}


@pytest.mark.parametrize("rule", sorted(LINT_CASES))
def test_the_lint_finds_each_kind_of_unschedulable_loop(rule):
    found = lint_text(LINT_CASES[rule], "case.h")
    assert rule in {f.rule for f in found}, [str(f) for f in found]


def test_the_lint_reads_the_synthesis_branch_only():
    """A C-sim-only `while` (under #ifndef __SYNTHESIS__) is no finding; the same loop in the
    synthesised branch is."""
    body = """
inline int f(int x) {
#ifndef __SYNTHESIS__
  while (x > 1) { x /= 2; }
#endif
  return x;
}"""
    assert lint_text(body) == []
    assert [f.rule for f in lint_text(body.replace("#ifndef", "#ifdef"))] == ["bounds"]


# ---- the vendor-tool check (make hls-check) ------------------------------------------------------
def test_hls_check_instances_pass_their_testbenches_in_cxx(tmp_path):
    """The sources make hls-check hands to Vitis HLS: every engine's check top against the
    integer semantics, compiled with g++ and the ap_types headers (as csim_design would)."""
    from hls.vendor_check import instances, run_csim, write_sources

    write_sources(tmp_path)
    for name in instances():
        ok, msg = run_csim(tmp_path, name)
        assert ok and "PASS" in msg, f"{name}: {msg}"


def test_hls_check_runs_vitis_hls_and_matches_the_formulas(tmp_path):
    import shutil

    from hls.vendor_check import main

    if shutil.which("vitis_hls") is None:
        pytest.skip("vitis_hls (AMD Vitis HLS) is not on PATH: C synthesis and C/RTL co-simulation "
                    "of the engines cannot run here (make hls-check where it is installed)")
    assert main(["--out", str(tmp_path)]) == 0


def test_hls_check_without_vitis_says_what_it_would_run(tmp_path, monkeypatch, capsys):
    from hls.vendor_check import main

    monkeypatch.setenv("PATH", str(tmp_path))  # no vitis_hls here
    assert main(["--out", str(tmp_path / "w"), "--only", "swg"]) == 3
    err = capsys.readouterr().err
    assert "needs AMD Vitis HLS" in err and "hls_check.tcl" in err and "swg" in err
    assert (tmp_path / "w" / "swg_top.cpp").is_file()


def test_vendor_report_parsers_read_latency_and_ii():
    """csynth XML (PerformanceEstimates/SummaryOfOverallLatency, SummaryOfLoopLatency) and the
    cosim report table, in the layout Vitis HLS writes them."""
    import tempfile
    from pathlib import Path

    from hls.vendor_check import judge, parse_cosim, parse_csynth

    xml = """<profile><PerformanceEstimates>
  <SummaryOfOverallLatency><Best-caseLatency>1205</Best-caseLatency>
    <Worst-caseLatency>1205</Worst-caseLatency><Interval-min>1206</Interval-min>
    <Interval-max>1206</Interval-max></SummaryOfOverallLatency>
  <SummaryOfLoopLatency><VITIS_LOOP_97_1><TripCount>1200</TripCount><Latency>1203</Latency>
    <PipelineII>1</PipelineII><PipelineDepth>5</PipelineDepth></VITIS_LOOP_97_1>
  </SummaryOfLoopLatency></PerformanceEstimates></profile>"""
    rpt = """
+----------+----------+-----------------------------------------------+
|   RTL    |  Status  |      min      |      avg      |      max      |
+----------+----------+-----------------------------------------------+
|      VHDL|        NA|             NA|             NA|             NA|
|   Verilog|      Pass|           1207|           1207|           1207|           1208|           1208|           1208|                  2415|
"""
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "a.xml").write_text(xml)
        (Path(d) / "b.rpt").write_text(rpt)
        syn, cos = parse_csynth(Path(d) / "a.xml"), parse_cosim(Path(d) / "b.rpt")
    assert syn["latency_worst"] == 1205 and syn["loops"] == [
        {"name": "VITIS_LOOP_97_1", "ii": 1, "depth": 5, "trip_count": 1200}]
    assert cos["status"] == "Pass" and cos["latency_max"] == 1207 and cos["interval_min"] == 1208
    assert judge(1200, syn, cos) == []
    syn["loops"][0]["ii"] = 2
    assert judge(1200, syn, cos) == ["loop VITIS_LOOP_97_1: II 2"]
    syn["loops"][0]["ii"] = 1
    assert judge(1000, syn, None) == ["csynth latency 1205 outside [1000, 1064]"]


# ---- whole networks and the flow ---------------------------------------------------------------
@pytest.mark.parametrize("model,spec,fps", [("vargfacenet", "w4a4", 20000), ("vargnet", "w4a8", None)])
def test_every_node_of_a_network_counts_its_formula(model, spec, fps):
    """python -m hls.schedule's count: the network C-sim with VG_COUNT_CYCLES, node by node."""
    from hls.boards import get_board
    from flow.folding import fold_for_fps
    from flow.lowering import lower
    from hls.schedule import count_nodes, format_table
    from model.arch import tiny
    from model.quant import QuantConfig
    from sim.golden import random_params

    arch, q = tiny(model), QuantConfig.parse(spec)
    acc = fold_for_fps(arch, q, get_board("zcu104"), fps).accelerator if fps else lower(arch, q, {})
    c, h, w = arch.input.out_shape
    x = np.random.default_rng(1).integers(0, 256, (2, h, w, c))
    rep = count_nodes(acc, random_params(acc, x, seed=2))
    assert rep["differing"] == 0, format_table(rep, None)
    kinds = {"swg", "mvau", "add", "pool", "duplicate"} | ({"se_scale"} if model == "vargfacenet" else set())
    assert {r["kind"] for r in rep["nodes"]} >= kinds
    assert all(r["counted"] > 0 for r in rep["nodes"])


def test_a_folding_the_window_banks_cannot_serve_is_refused_naming_the_layer():
    from flow.folding import FoldingError, check_folding
    from model.defaults import default_arch, default_quant

    with pytest.raises(FoldingError, match=r"stage3\.unit1\.part1\.gconv: SWG SIMD=9 cannot be served "
                                           r".*legal SIMD: \[1, 2, 3, 4, 6, 8, 12, 24, 72\]"):
        check_folding(default_arch(), default_quant(), {"stage3.unit1.part1.gconv": {"PE": 1, "SIMD": 9}})
