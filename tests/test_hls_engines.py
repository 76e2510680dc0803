"""The HLS engines in C-simulation are bit-exact against the numpy integer semantics
(hls/intops.py) over random shapes, bit widths, strides, paddings and foldings."""

import subprocess
from dataclasses import replace

import numpy as np
import pytest

from hls.csim import ConvInstance, EltwiseInstance, Library, WidthInstance, compile_flags
from hls.engines import (MVAU, NO_ACTIVATION, SWG, Activation, CppType, Eltwise, EngineError, IntType, WidthConvert,
                         config_struct, legal_foldings)
from hls.paths import INCLUDE_DIR
from hls import intops
from tests.conftest import require_tool

S = 8


def conv_instance(h, w, c, k, stride, pad, grouped, expansion, in_t, w_bits, out_t, pe, simd, in_n, pack=1,
                  pair="pe"):
    gs = S if grouped else c
    g = c // gs
    mh = gs * expansion if grouped else expansion  # dense: expansion = cout
    swg = SWG(h, w, c, k, stride, pad, gs, in_n, simd, in_t)
    return ConvInstance(MVAU(g, k * k * gs, mh, pe, simd, swg.ofm_h * swg.ofm_w, in_t, w_bits, out_t,
                             pack=pack, pair=pair), swg)


def random_codes(rng, t, shape):
    return rng.integers(t.min, t.max + 1, shape)


def conv_case(rng, inst):
    from hls.vendor_check import activation_table

    m, s = inst.mvau, inst.swg
    x = random_codes(rng, m.in_type, (2, s.ifm_h, s.ifm_w, s.ch))
    w = random_codes(rng, IntType(m.w_bits, True), (m.channels_out, s.gs, s.k, s.k))
    acc = intops.conv_int(x, w, s.stride, s.pad, m.groups)
    act = m.activation()
    if act is None:
        return x, w, None, acc
    # thresholds, or a requantization's (M, B) pieces, spread over the sums' range
    thr = activation_table(rng, act, int(acc.min()), int(acc.max()), m.channels_out)
    return x, w, thr, act.apply(acc, thr)


def check_all(lib, rng):
    for i, inst in enumerate(lib.instances):
        x, w, thr, ref = conv_case(rng, inst)
        y = lib(i, x, w, thr).reshape(ref.shape)
        assert np.array_equal(y, ref), f"instance {i}: {inst}"


def random_conv_instances(rng, n):
    out = []
    while len(out) < n:
        k = int(rng.choice([1, 3, 7]))
        stride = int(rng.choice([1, 2]))
        pad = int(rng.choice([0, (k - 1) // 2]))
        h, w = int(rng.integers(max(1, k - 2 * pad), k + 6)), int(rng.integers(max(1, k - 2 * pad), k + 6))
        grouped = bool(rng.integers(0, 2))
        c = S * int(rng.integers(1, 4))
        expansion = int(rng.choice([1, 2])) if grouped else int(rng.choice([4, 8, 12]))
        in_t = IntType(int(rng.integers(2, 9)), bool(rng.integers(0, 2)))
        out_t = None if rng.random() < 0.2 else IntType(int(rng.integers(2, 9)), bool(rng.integers(0, 2)))
        gs = S if grouped else c
        mh = gs * expansion if grouped else expansion
        pe = int(rng.choice(legal_foldings(mh)))
        simd = int(rng.choice(SWG.legal_simd(k, gs)))
        in_n = int(rng.choice(legal_foldings(gs)))
        w_bits = int(rng.integers(2, 9))
        inst = conv_instance(h, w, c, k, stride, pad, grouped, expansion, in_t, w_bits, out_t, pe, simd, in_n)
        packings = inst.mvau.packings(pe, simd)
        if packings and rng.random() < 0.5:  # two products per DSP multiplier: PE lanes or SIMD elements
            pack, pair = packings[int(rng.integers(0, len(packings)))]
            inst = conv_instance(h, w, c, k, stride, pad, grouped, expansion, in_t, w_bits, out_t, pe,
                                 simd, in_n, pack=pack, pair=pair)
        if out_t is not None and rng.random() < 0.4:  # an integer requantization, 1 or 2 pieces
            inst = replace(inst, mvau=replace(inst.mvau, requant=int(rng.integers(1, 3)),
                                              rq_shift=int(rng.integers(4, 20)), rq_bits=24))
        out.append(inst)
    return out


@pytest.mark.parametrize("native", [True, False], ids=["native", "ap_types"])
def test_conv_engine_random_shapes_widths_strides_paddings(native):
    rng = np.random.default_rng(1 if native else 2)
    lib = Library(random_conv_instances(rng, 24 if native else 8), native=native, tag="sweep")
    check_all(lib, rng)


def test_every_legal_folding_of_a_group_conv():
    rng = np.random.default_rng(3)
    t = IntType(4, True)
    insts = [conv_instance(5, 6, 16, 3, 1, 1, True, 1, t, 4, IntType(4, False), pe, simd, 8)
             for pe in legal_foldings(8) for simd in SWG.legal_simd(3, 8)]
    assert len(insts) == 4 * 9
    check_all(Library(insts, tag="foldings"), rng)


@pytest.mark.parametrize("in_t", [IntType(8, True), IntType(8, False), IntType(2, True)], ids=str)
def test_extreme_codes_reach_the_accumulator_limits_exactly(in_t):
    """All-max / all-min inputs and weights give the largest accumulators the derived width
    must hold; a width one bit narrower would overflow on them."""
    inst = conv_instance(7, 7, 1024, 7, 1, 0, True, 1, in_t, 8, None, 8, 56, 8)
    lib = Library([inst], tag="extremes")
    w_min = IntType(8, True).min
    for xv, wv in [(in_t.max, w_min), (in_t.min, w_min), (in_t.max, IntType(8, True).max)]:
        x = np.full((1, 7, 7, 1024), xv)
        w = np.full((1024, 8, 7, 7), wv)
        y = lib(0, x, w, None)
        want = xv * wv * 7 * 7 * 8
        assert np.all(y == want)
        assert -(1 << (inst.mvau.acc - 1)) <= want < (1 << (inst.mvau.acc - 1))
    extreme = in_t.max_abs * 128 * 7 * 7 * 8
    assert extreme >= 1 << (inst.mvau.acc - 2), "derived width is not minimal"


@pytest.mark.parametrize("in_t", [IntType(4, True), IntType(4, False), IntType(8, True)], ids=str)
def test_packed_lane_pairs_are_exact_at_the_extremes(in_t):
    """MAC_PACK 2 (two PE lanes share one multiplier, their sums split from one wide sum): the
    largest lane sums of either sign, next to a lane of the other sign, split exactly."""
    inst = conv_instance(6, 6, 16, 3, 1, 1, True, 1, in_t, 4, None, 8, 72, 8, pack=2)
    assert inst.mvau.pack == 2
    lib = Library([inst], tag="packed-extremes")
    wt = IntType(4, True)
    rng = np.random.default_rng(5)
    for xv in (in_t.max, in_t.min):
        x = np.full((1, 6, 6, 16), xv)
        for pattern in ([wt.min, wt.max], [wt.max, wt.min], [wt.min, wt.min], [wt.max, wt.max]):
            w = np.empty((16, 8, 3, 3), np.int64)
            w[0::2], w[1::2] = pattern
            y = lib(0, x, w, None)
            assert np.array_equal(y.reshape(1, 6, 6, 16), intops.conv_int(x, w, 1, 1, 2))
    x = random_codes(rng, in_t, (2, 6, 6, 16))
    w = random_codes(rng, wt, (16, 8, 3, 3))
    assert np.array_equal(lib(0, x, w, None).reshape(2, 6, 6, 16), intops.conv_int(x, w, 1, 1, 2))


@pytest.mark.parametrize("in_t,simd", [(IntType(4, True), 72), (IntType(4, False), 72), (IntType(4, False), 24),
                                       (IntType(2, True), 8)],
                         ids=["int4-simd72", "uint4-simd72", "uint4-simd24", "int2-simd8"])
def test_simd_pairs_are_exact_at_the_extremes(in_t, simd):
    """MAC_PACK 2 by SIMD (two elements of one PE lane share a multiplier, the pair's dot
    product read from the middle field of their packed product): the largest dot products of
    either sign, with the low field's cross products of the other sign, come out exactly;
    at SIMD 72 the packed input pair fills the DSP's 18-bit port (int4) or takes the 27-bit
    one (uint4: 19 bits, the weight pair 18)."""
    inst = conv_instance(6, 6, 16, 3, 1, 1, True, 1, in_t, 4, None, 1, simd, 8, pack=2, pair="simd")
    m = inst.mvau
    assert (m.pack, m.pair) == (2, "simd") and not m.can_pack(1, simd, "pe")
    lib = Library([inst], tag="simd-pair-extremes")
    wt = IntType(4, True)
    rng = np.random.default_rng(6)
    for xv in (in_t.max, in_t.min):
        x = np.full((1, 6, 6, 16), xv)
        x[..., 1::2] = in_t.max if xv == in_t.min else in_t.min  # the pair's inputs of opposite signs too
        for pattern in ([wt.min, wt.max], [wt.max, wt.min], [wt.min, wt.min], [wt.max, wt.max]):
            w = np.empty((16, 8, 3, 3), np.int64)
            w[:, 0::2], w[:, 1::2] = pattern  # elements 2j, 2j+1 of a window word: channels of a group
            y = lib(0, x, w, None)
            assert np.array_equal(y.reshape(1, 6, 6, 16), intops.conv_int(x, w, 1, 1, 2))
    x = random_codes(rng, in_t, (2, 6, 6, 16))
    w = random_codes(rng, wt, (16, 8, 3, 3))
    assert np.array_equal(lib(0, x, w, None).reshape(2, 6, 6, 16), intops.conv_int(x, w, 1, 1, 2))


def test_packing_that_does_not_fit_a_dsp_is_refused():
    with pytest.raises(EngineError, match="pack=2 by pe needs an even PE"):
        MVAU(1, 72, 8, 1, 8, 4, IntType(4, True), 4, None, pack=2)  # odd PE
    with pytest.raises(EngineError, match="pack=2 by pe needs"):
        MVAU(1, 72, 8, 2, 72, 4, IntType(16, True), 8, None, pack=2)  # 8 + 29 bits > 27
    with pytest.raises(EngineError, match="pack=2 by simd needs an even SIMD"):
        MVAU(1, 72, 8, 1, 9, 4, IntType(4, True), 4, None, pack=2, pair="simd")
    with pytest.raises(EngineError, match="pack=2 by simd needs"):  # 8 + 16 and 9 + 16 bits: both above 18
        MVAU(1, 72, 8, 1, 72, 4, IntType(8, False), 8, None, pack=2, pair="simd")
    MVAU(1, 72, 8, 1, 72, 4, IntType(4, False), 4, None, pack=2, pair="simd")  # 18 x 19 bits: fits
    with pytest.raises(EngineError, match="pair='simd' needs pack=2"):
        MVAU(1, 72, 8, 1, 8, 4, IntType(4, True), 4, None, pair="simd")
    with pytest.raises(EngineError, match="pair='lane'"):
        MVAU(1, 72, 8, 2, 8, 4, IntType(4, True), 4, None, pack=2, pair="lane")


def test_real_vargfacenet_layer_shapes():
    rng = np.random.default_rng(4)
    t4, u4 = IntType(4, True), IntType(4, False)
    insts = [
        # stage-2 downsampling branch: 56x56x40 -> 80 (5 groups of 8), 3x3 stride 2
        conv_instance(56, 56, 40, 3, 2, 1, True, 2, t4, 4, u4, 16, 72, 8),
        # the same 56x56x40 -> 80 group conv at stride 1 (head-block-sized feature map)
        conv_instance(56, 56, 40, 3, 1, 1, True, 2, t4, 4, u4, 8, 24, 8),
        # embedding: 7x7 kernel over 7x7x1024, 128 groups, no padding
        conv_instance(7, 7, 1024, 7, 1, 0, True, 1, t4, 4, t4, 8, 28, 8),
        # pointwise 1x1 80 -> 40 (dense)
        conv_instance(28, 28, 80, 1, 1, 0, False, 40, t4, 4, t4, 8, 16, 16),
    ]
    check_all(Library(insts, tag="vargfacenet"), rng)


def test_head_conv_uint8_pixels():
    rng = np.random.default_rng(5)
    inst = conv_instance(20, 20, 8, 3, 1, 1, False, 40, IntType(8, False), 8, IntType(8, True), 8, 12, 8)
    check_all(Library([inst], tag="head"), rng)


def _elt(kind, ch=24, n=4, px=12, in_t=IntType(5, True), out_t=IntType(4, True), gate_t=None):
    return Eltwise(kind, ch, n, px, in_t, out_t if kind in ("threshold", "add", "se_scale") else None, gate_t)


@pytest.mark.parametrize("native", [True, False], ids=["native", "ap_types"])
def test_elementwise_engines_match_the_integer_semantics(native):
    from hls.vendor_check import activation_table

    rng = np.random.default_rng(6)
    g4 = IntType(4, False)
    engines = [_elt("threshold"), _elt("add"), _elt("pool"), _elt("se_scale", gate_t=g4),
               _elt("duplicate"), _elt("threshold", in_t=IntType(8, False), out_t=IntType(2, False)),
               _elt("add", ch=16, n=16, in_t=IntType(8, True), out_t=IntType(8, True)),
               # integer requantizations instead of thresholds (hls/engines/activation.py)
               replace(_elt("add"), requant=2, rq_shift=10, rq_bits=20),
               replace(_elt("se_scale", gate_t=g4), requant=1, rq_shift=12, rq_bits=24)]
    lib = Library([EltwiseInstance(e) for e in engines], native=native, tag="eltwise")
    for i, e in enumerate(engines):
        x = random_codes(rng, e.in_type, (2, e.pixels, e.ch))
        if e.kind == "duplicate":
            a, b = lib(i, x)
            assert np.array_equal(a, x) and np.array_equal(b, x)
            continue
        if e.kind == "pool":
            assert np.array_equal(lib(i, x)[:, 0], x.sum(axis=1))
            continue
        x2 = None
        if e.kind == "threshold":
            v = x
        elif e.kind == "add":
            x2 = random_codes(rng, e.in_type, x.shape)
            v = x + x2
        else:
            x2 = random_codes(rng, g4, (2, e.ch))
            v = intops.se_product(x[:, :, None, :], x2)[:, :, 0, :]
        act = e.activation()
        thr = activation_table(rng, act, int(v.min()), int(v.max()), e.ch)
        want = act.apply(v, thr)
        assert len(np.unique(want)) > act.nt // 2  # the codes spread over the output range
        assert np.array_equal(lib(i, x, x2, thr), want), e


def test_width_converter_keeps_order_both_ways():
    rng = np.random.default_rng(7)
    t = IntType(6, True)
    insts = [WidthInstance(WidthConvert(240, a, b, t)) for a, b in [(4, 6), (6, 4), (8, 24), (24, 8), (5, 3)]]
    lib = Library(insts, tag="width")
    for i, inst in enumerate(insts):
        x = random_codes(rng, t, (3, 240))
        assert np.array_equal(lib(i, x), x)


# ---- bad input ---------------------------------------------------------------------------------
def test_folding_that_does_not_divide_is_rejected_before_compiling():
    with pytest.raises(ValueError, match="PE=3 does not divide MH"):
        MVAU(5, 72, 16, 3, 8, 10, IntType(4, True), 4, IntType(4, True))
    with pytest.raises(ValueError, match="SIMD=5 does not divide MW"):
        MVAU(5, 72, 16, 4, 5, 10, IntType(4, True), 4, IntType(4, True))
    with pytest.raises(ValueError, match="SWG SIMD=16 does not divide k\\*k\\*gs"):
        SWG(8, 8, 16, 3, 1, 1, 8, 8, 16, IntType(4, True))


def test_too_narrow_accumulator_is_rejected_in_python():
    need = MVAU(1, 72, 8, 8, 8, 1, IntType(8, True), 8, None).acc
    with pytest.raises(EngineError, match="too narrow"):
        MVAU(1, 72, 8, 8, 8, 1, IntType(8, True), 8, None, acc=need - 1)


@pytest.mark.parametrize("pe,simd,bits,acc,act,storage,message", [
    (3, 8, 4, 20, NO_ACTIVATION, 2, "PE must divide MH"),
    (4, 7, 4, 20, NO_ACTIVATION, 2, "SIMD must divide MW"),
    (4, 8, 8, 18, NO_ACTIVATION, 2, "ACC_BITS too narrow"),
    (4, 8, 4, 20, Activation(15, -8, 20).policy(), 2, "C::act must be vg::no_activation"),  # no table given
    (4, 8, 4, 20, NO_ACTIVATION, 3, "W_STORAGE must be"),  # a weight ROM in URAM
])
def test_static_asserts_name_the_wrong_parameter(tmp_path, pe, simd, bits, acc, act, storage, message):
    gxx = require_tool("g++", "compiles the HLS C-simulation")
    cfg = config_struct("cfg", {"G": 1, "MW": 72, "MH": 16, "PE": pe, "SIMD": simd, "PIXELS": 4,
                                "IN_BITS": bits, "IN_SIGNED": True, "W_BITS": bits, "ACC_BITS": acc,
                                "MAC_PACK": 1, "W_STORAGE": storage,
                                "in_t": CppType("T"), "w_t": CppType("T"), "out_t": CppType("A"),
                                "act": act})
    src = tmp_path / "bad.cpp"
    src.write_text(f"""#include "vg_mvau.h"
typedef vg::int_t<8, true>::type T; typedef vg::acc_t<32>::type A;
{cfg}
void f(hls::stream<vg::Word<T, {simd}> >& i, hls::stream<vg::Word<A, {pe}> >& o,
       const T w[{pe}][{(16 // pe) * (72 // simd)}][{simd}]) {{
  vg::mvau<cfg>(i, o, w);
}}
""")
    r = subprocess.run([gxx, *compile_flags(True), "-c", str(src), "-o", str(tmp_path / "bad.o")],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert message in r.stderr


def test_codes_outside_the_datatype_are_rejected():
    inst = conv_instance(4, 4, 8, 3, 1, 1, True, 1, IntType(4, True), 4, IntType(4, True), 8, 8, 8)
    lib = Library([inst], tag="badinput")
    x = np.full((1, 4, 4, 8), 8)  # int4 holds -8..7
    with pytest.raises(ValueError, match="input: codes outside int4"):
        lib(0, x, np.zeros((8, 8, 3, 3), int), np.zeros((8, 15), int))
    with pytest.raises(ValueError, match="input shape"):
        lib(0, np.zeros((1, 5, 4, 8), int), np.zeros((8, 8, 3, 3), int), np.zeros((8, 15), int))
    with pytest.raises(ValueError, match="integer codes expected"):
        lib(0, np.zeros((1, 4, 4, 8)), np.zeros((8, 8, 3, 3), int), np.zeros((8, 15), int))


@pytest.mark.slow
def test_testbenches_pass_in_all_modes_and_under_sanitizers():
    require_tool("g++", "compiles the HLS testbenches")
    from hls.testbench import MODES, run_one, testbenches

    for tb in testbenches():
        for mode in MODES:
            ok, out = run_one(tb, mode)
            assert ok, f"{tb.name} [{mode}]:\n{out}"
        ok, out = run_one(tb, "native", sanitize=True)
        assert ok, f"{tb.name} [asan/ubsan]:\n{out}"


def test_headers_have_pragmas_for_synthesis():
    text = "".join(p.read_text() for p in INCLUDE_DIR.glob("*.h"))
    for pragma in ("PIPELINE II = 1", "ARRAY_PARTITION", "UNROLL"):
        assert f"#pragma HLS {pragma}" in text
