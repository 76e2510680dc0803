"""Multiplier placement (hls/estimate.py place_multipliers): where a design's LUTs are over
the board's budget, MVAU products move from LUT multipliers into DSP48E2s two at a time
(vg_mvau.h MAC_PACK 2: two PE lanes, or two SIMD elements of a lane where PE is odd), most
LUTs saved per DSP first, within the DSP budget; a user's MAC style is kept, and the moved
design stays bit-exact. Where DSPs are over, release_multipliers moves pairs back."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from flow.folding import mac_fixed
from flow.lowering import lower
from hls.boards import get_board
from hls.csim_net import NetworkCsim
from hls.estimate import estimate, node_resources, place_multipliers, release_multipliers
from model.arch import tiny
from model.quant import QuantConfig
from sim.golden import GoldenModel, random_params

PACKABLE = {"stage2.unit1.part1.pw": {"PE": 2, "SIMD": 4}, "stage3.unit1.part1.pw": {"PE": 4, "SIMD": 8},
            "emb.pw": {"PE": 2, "SIMD": 8},
            "stage3.unit1.part2.pw": {"PE": 1, "SIMD": 16}}  # odd PE: only SIMD elements can pair
USER_LUT = {"stage4.unit1.part1.pw": {"PE": 2, "SIMD": 16, "resType": "lut"}}  # the user's choice
FOLDING = {**PACKABLE, **USER_LUT}


def _design():
    return lower(tiny("vargfacenet"), QuantConfig(4, 4), FOLDING)


def _board(lut: float, dsp: float):
    """ZCU104 with its LUT and DSP counts replaced (fraction 1.0 below: the budget is these)."""
    return replace(get_board("zcu104"), lut=int(lut), dsp=int(dsp))


def test_lane_pairs_move_into_dsps_where_luts_are_over_most_luts_per_dsp_first():
    acc = _design()
    before = {n.name: node_resources(n) for n in acc.nodes}
    total = estimate(acc).total
    # LUTs over and DSPs plentiful: every packable node moves, the user's LUT choice stays
    moved = place_multipliers(acc, _board(total.lut / 2, 10_000), 1.0, mac_fixed(FOLDING))
    assert sorted(moved) == sorted(PACKABLE)
    for name in moved:
        n, e = acc.node(name), acc.node(name).engine()
        assert e.pack == 2 and n.mac == "dsp"
        after = node_resources(n)
        assert after.lut < before[name].lut and after.dsp == before[name].dsp + e.pe * e.simd // 2
    assert acc.node("stage3.unit1.part2.pw").engine().pair == "simd"
    assert acc.node("stage4.unit1.part1.pw").engine().pack == 1
    assert estimate(acc).total.lut < total.lut

    # DSPs for one move only: the one saving the most LUTs per DSP
    def ratio(name: str) -> float:  # the better of the node's pairings
        n = _design().node(name)
        e = n.engine()
        best = 0.0
        for pack, pair in e.packings(e.pe, e.simd):
            packed = replace(e, pack=pack, pair=pair).resources(n.memory, "dsp")
            best = max(best, (node_resources(n).lut - packed.lut) / (packed.dsp - node_resources(n).dsp))
        return best

    best = max(FOLDING, key=ratio)  # no user entry kept this time: all five are candidates
    e = acc.node(best).engine()
    need = e.pe * e.simd // 2  # the DSPs its move adds
    one = _design()
    assert place_multipliers(one, _board(total.lut / 2, total.dsp + need), 1.0) == [best]

    # LUTs within the budget: nothing moves
    calm = _design()
    assert place_multipliers(calm, _board(total.lut * 2, 10_000), 1.0) == []
    assert all(n.engine().pack == 1 for n in calm.nodes if n.kind == "mvau")


def test_a_design_with_lane_pairs_moved_into_dsps_is_bit_exact_in_csim():
    acc = _design()
    moved = place_multipliers(acc, _board(estimate(acc).total.lut / 2, 10_000), 1.0)
    assert len(moved) == 5  # the user's entry is not passed as fixed here: all five pack
    assert {acc.node(n).engine().pair for n in moved} == {"pe", "simd"}
    h, w, c = acc.input["shape"]
    x = np.random.default_rng(3).integers(0, 256, (2, h, w, c)).astype(np.uint8)
    params = random_params(acc, x)
    assert np.array_equal(NetworkCsim(acc, params).run(x), GoldenModel(acc, params).run(x))


def test_pairs_go_back_to_luts_while_dsps_are_over_fewest_luts_per_dsp_first():
    """DSPs taken after the placement (sim/run.py --requant-assumed prices the
    requantizations' multipliers after the folding placed pairs) put the DSPs over:
    release_multipliers moves the flow's pairs back to LUTs, the cheapest first, until the
    DSPs fit; a user's pair stays."""
    acc = _design()
    total = estimate(acc).total
    moved = place_multipliers(acc, _board(total.lut / 2, 10_000), 1.0)
    assert len(moved) == 5
    packed = estimate(acc).total
    freed = {n: acc.node(n).engine().pe * acc.node(n).engine().simd // 2 for n in moved}

    def cost(name: str) -> float:  # LUTs added per DSP freed, as the release prices it
        n = acc.node(name)
        plain = replace(n.engine(), pack=1, pair="pe").resources(n.memory, "auto")
        return (plain.lut - node_resources(n).lut) / freed[name]

    cheapest = min(moved, key=cost)
    kept = frozenset({max(moved, key=cost)})  # as if the user had asked for this pair
    assert cheapest not in kept
    assert release_multipliers(acc, _board(packed.lut, packed.dsp), 1.0, kept) == []  # DSPs fit
    # one DSP too many: only the cheapest pair goes back
    assert release_multipliers(acc, _board(packed.lut, packed.dsp - 1), 1.0, kept) == [cheapest]
    assert acc.node(cheapest).engine().pack == 1 and acc.node(cheapest).mac == "auto"
    assert estimate(acc).total.dsp == packed.dsp - freed[cheapest]
    # no DSP at all: every pair but the user's goes back
    release_multipliers(acc, _board(packed.lut, 0), 1.0, kept)
    assert [n for n in moved if acc.node(n).engine().pack == 2] == list(kept)
