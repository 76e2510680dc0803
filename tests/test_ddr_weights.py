"""Weights read from DDR (memory "ddr"): the parameter buffer's layout, the nodes that may use
it, and the whole-network C-sim reading the buffer through the generated AXI-master reader."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from flow.lowering import lower
from hls import params_buffer as pb
from hls.accel import Accelerator, DescriptionError
from hls.codegen import network_header, synthesis_top, top_testbench
from hls.csim_net import NetworkCsim
from model.arch import tiny
from model.quant import QuantConfig
from sim.golden import GoldenModel, random_params

DDR = {"head.block.short.pw": {"ram_style": "ddr"}, "emb.pw": {"ram_style": "ddr"}, "fc": {"ram_style": "ddr"}}


@pytest.fixture(scope="module")
def design():
    acc = lower(tiny("vargfacenet"), QuantConfig(4, 4), DDR)
    h, w, c = acc.input["shape"]
    x = np.random.default_rng(0).integers(0, 256, (3, h, w, c)).astype(np.uint8)
    return acc, x, random_params(acc, x)


def _decode(data: bytes, rows: int, port_bits: int, n: int, w_bits: int) -> np.ndarray:
    """The words back to signed codes, bit by bit (independent of pack_rows' arithmetic)."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8).reshape(rows, port_bits // 8), axis=1, bitorder="little")
    fields = bits[:, :n * w_bits].reshape(rows, n, w_bits).astype(np.int64)
    u = (fields << np.arange(w_bits)).sum(axis=2)
    assert not bits[:, n * w_bits:].any()  # the unused high bits are zero
    return np.where(u >= 1 << (w_bits - 1), u - (1 << w_bits), u)


def test_buffer_regions_hold_each_nodes_rows_aligned_and_apart(design):
    acc, _, params = design
    data = pb.pack(acc, params)
    rs = pb.regions(acc)
    assert [r.node for r in rs] == list(DDR) and len(data) == pb.size(acc)
    for a, b in zip(rs, rs[1:]):
        assert b.offset % pb.ALIGN == 0 and b.offset >= a.offset + a.nbytes
    for r in rs:
        e = acc.node(r.node).engine()
        w = e.layout(params[r.node])["w"]  # [PE][ROWS][SIMD]
        want = np.transpose(w, (1, 0, 2)).reshape(r.rows, e.pe * e.simd)
        got = _decode(data[r.offset:r.offset + r.nbytes], r.rows, r.port_bits, e.pe * e.simd, e.w_bits)
        assert np.array_equal(got, want)


def test_csim_reading_weights_from_the_buffer_is_bit_exact_and_uses_it(design):
    acc, x, params = design
    cs = NetworkCsim(acc, params)
    assert np.array_equal(cs.run(x), GoldenModel(acc, params).run(x))
    # the engine reads the buffer: other bytes there give other results
    r = pb.regions(acc)[-1]
    words = bytearray(pb.node_words(acc, acc.node(r.node), params[r.node]))
    words[0] ^= 0x07
    cs.load_ddr(r.node, bytes(words))
    assert not np.array_equal(cs.run(x), GoldenModel(acc, params).run(x))
    with pytest.raises(Exception, match="loading its DDR region"):
        cs.load_ddr(r.node, bytes(words[:-1]))


# two caches of different row widths (a 128-bit and a 32-bit port): the loader's word is the
# wider, and fc's rows are cut from it
CACHED = {"stage2.unit1.part1.pw": {"ram_style": "ultra", "PE": 2, "SIMD": 16}, "emb.pw": {"ram_style": "ddr"},
          "fc": {"ram_style": "ultra"}}


def test_weights_cached_in_uram_are_loaded_once_and_kept_bit_exact():
    """memory "uram" on an MVAU: its rows are a region of the parameter buffer that the first
    frame loads into the node's URAM cache (vg_ddr.h mvau_cached); later frames compute from
    the cache without reading DDR, and a new load takes the buffer's bytes again."""
    acc = lower(tiny("vargfacenet"), QuantConfig(4, 4), CACHED)
    cached = [n.name for n in acc.nodes if n.engine().loads_cache(n.memory)]
    assert cached == ["stage2.unit1.part1.pw", "fc"]
    assert [r.node for r in pb.regions(acc)] == ["stage2.unit1.part1.pw", "emb.pw", "fc"]
    h, w, c = acc.input["shape"]
    x = np.random.default_rng(1).integers(0, 256, (3, h, w, c)).astype(np.uint8)
    params = random_params(acc, x)
    want = GoldenModel(acc, params).run(x)
    cs = NetworkCsim(acc, params)
    assert cs.pending_load and np.array_equal(cs.run(x), want) and not cs.pending_load
    # the buffer's fc region zeroed: frames without a load still compute from the cache
    zeros = bytes(pb.regions(acc)[-1].nbytes)
    cs.load_ddr("fc", zeros)
    assert np.array_equal(cs.run(x, load=False), want)
    # a frame that loads takes the zeros (fc's weights all 0: every output 0)
    assert not cs.run(x).any() and not cs.pending_load
    cs.load_ddr("fc", pb.node_words(acc, acc.node("fc"), params["fc"]))
    assert np.array_equal(cs.run(x), want)
    # the schedule: a loading frame counts ROWS iterations of the cache's load loop (process 1)
    # and of the loader's phase for it (process 2) beside the engine's formula (process 0); a
    # frame that does not load counts none
    counting = NetworkCsim(acc, params, count=True)
    _, loading = counting.counted(x[:1])
    _, steady = counting.counted(x[:1])
    for i, n in enumerate(acc.nodes):
        if n.name in cached:
            assert loading[i][0] == steady[i][0] == n.engine().cycles(), n.name
            assert loading[i][1] == loading[i][2] == n.engine().weight_rows(), n.name
            assert steady[i][1] == steady[i][2] == 0, n.name
    # the generated code: the caches' one loader and its master, the top's load flag
    top = synthesis_top(acc)
    assert "bool load)" in top and "s_axilite port = load bundle = control" in top
    assert "m_axi port = ddr_emb_pw bundle = gmem0" in top and "m_axi port = ddr_caches bundle = gmem1" in top
    assert "ddr_fc" not in top and "ddr_stage2_unit1_part1_pw" not in top
    # the loader reads only while loading: one burst outstanding (a 16-word read buffer)
    # against a streaming node's 16 (hls/resources.py axi_read_outstanding, ddr_reader)
    pragma = {m.group(1): m.group(2) for m in re.finditer(r"m_axi port = (\w+) .*num_read_outstanding = (\d+)", top)}
    assert pragma == {"ddr_emb_pw": "16", "ddr_caches": "1"}
    header = network_header(acc)
    assert "vg::mvau_cached<" in header and header.count("vg::fill_cache<") == 2
    # both caches' regions hold words of the loader's width, the widest cache port
    ms = pb.masters(acc)
    assert [acc.node(c).engine().ddr_port_bits() for c in cached] == [128, 32]
    assert [m.node for m in ms] == ["emb.pw", None] and ms[1].port_bits == pb.cache_port_bits(acc) == 128
    assert [r.node for r in ms[1].regions] == cached
    assert all(r.port_bits == ms[1].port_bits for r in ms[1].regions)
    assert "f == 0" in top_testbench(acc)


def test_synthesis_top_has_a_master_per_ddr_node_and_its_testbench_reads_the_buffer(design):
    acc, _, _ = design
    top = synthesis_top(acc)
    for i, name in enumerate(("head_block_short_pw", "emb_pw", "fc")):
        assert f"m_axi port = ddr_{name} bundle = gmem{i} offset = slave" in top
        assert f"s_axilite port = ddr_{name} bundle = control" in top
    tb = top_testbench(acc)
    assert f"params.size() != {pb.size(acc)}UL" in tb and "EXPECTED|- PARAMS" in tb


def test_ddr_is_refused_where_a_row_does_not_fit_a_master_word_or_the_node_has_no_rom():
    d = lower(tiny("vargfacenet"), QuantConfig(4, 4), {"head.conv": {"PE": 8, "SIMD": 27}}).to_dict()
    i = next(k for k, n in enumerate(d["nodes"]) if n["name"] == "head.conv")
    d["nodes"][i]["memory"] = "ddr"
    e = Accelerator.from_dict(dict(d, nodes=[dict(n, memory="auto") for n in d["nodes"]])).node("head.conv").engine()
    assert e.pe * e.simd * e.w_bits > 1024  # the premise: 8 x 27 weights of 8 bits
    with pytest.raises(DescriptionError, match="does not fit one 1024-bit word"):
        Accelerator.from_dict(d)
    d["nodes"][i]["memory"] = "auto"
    j = next(k for k, n in enumerate(d["nodes"]) if n["kind"] == "se_scale")
    d["nodes"][j]["memory"] = "ddr"
    with pytest.raises(DescriptionError, match="se_scale has no memory the field binds"):
        Accelerator.from_dict(d)


def test_a_buffer_that_does_not_belong_to_its_description_is_refused(design, tmp_path):
    acc, _, params = design
    data = pb.pack(acc, params)
    acc.root = tmp_path
    (tmp_path / pb.FILE).write_bytes(data)
    acc.params_buffer = pb.describe(data)
    assert pb.load(acc) == data
    (tmp_path / pb.FILE).write_bytes(data[:-1])
    with pytest.raises(pb.ParamsBufferError, match="bytes"):
        pb.load(acc)
    (tmp_path / pb.FILE).write_bytes(bytes(len(data)))
    with pytest.raises(pb.ParamsBufferError, match="checksum differs"):
        pb.load(acc)
    acc.params_buffer = None
    with pytest.raises(pb.ParamsBufferError, match="names no parameter buffer"):
        pb.load(acc)


def test_placement_reads_once_a_frame_weights_from_ddr_within_the_port_budget():
    """BRAM over budget: the embedding's pointwise layer (one vector a frame, its rows one
    128-bit word each) moves to DDR before any weights go to LUTRAM; with no DDR budget it
    stays on chip."""
    from hls.boards import get_board
    from hls.estimate import ddr_traffic, estimate, place_memories
    from model.arch import vargfacenet

    board, fold = get_board("zcu104"), {"emb.pw": {"PE": 4, "SIMD": 8}, "fc": {"PE": 4, "SIMD": 8}}
    acc = lower(vargfacenet(0.25), QuantConfig(4, 4), fold)
    before = estimate(acc).total.bram36
    place_memories(acc, board, 0.6)
    ddr = [n.name for n in acc.nodes if n.memory == "ddr"]
    assert ddr == ["emb.pw"] and estimate(acc).total.bram36 < before
    fps = acc.clock_mhz * 1e6 / max(n.engine().cycles() for n in acc.nodes)
    assert 0 < ddr_traffic(acc, board, fps)["fraction_of_hp_port"] <= 0.5
    acc = lower(vargfacenet(0.25), QuantConfig(4, 4), fold)
    place_memories(acc, board, 0.6, ddr_budget=0.0)
    assert not any(n.memory == "ddr" for n in acc.nodes)


def test_rows_wider_than_the_hp_port_slow_their_node_in_estimate_and_simulators():
    """A 256-bit row takes two beats of the 128-bit HP port (UG1085), so the node's loop gets
    a row every 2 cycles at best: the FPS estimate, the analytic model and the event simulation all
    time it at 8 times its loop's cycles for 1024-bit rows; a 128-bit row costs nothing; on chip
    nothing changes. Placement never moves weights to DDR where that would make their node the
    slowest."""
    from hls.boards import get_board
    from hls.estimate import ddr_row_period, frame_cycles, place_memories, timed_engine
    from hls.engines import MVAU
    from sim.analytic import analyse
    from sim.events import simulate
    from sim.programs import programs
    from tests.test_sim import T4, Design

    board = get_board("zcu104")

    def one_layer(pe: int, simd: int, memory: str) -> Accelerator:
        # a 512 x 512 pointwise layer on one vector a frame (as emb.pw and fc): 1 Mbit of weights
        d = Design(512, 1, 1, n=simd)
        (y,) = d.add("pw", "mvau", ["in"], MVAU(1, 512, 512, pe, simd, 1, T4, 4, T4))
        acc = d.finish(y)
        acc.node("pw").memory = memory
        return acc

    wide, narrow, on_chip = one_layer(16, 16, "ddr"), one_layer(4, 8, "ddr"), one_layer(16, 16, "auto")
    assert wide.node("pw").engine().ddr_port_bits() == 1024 and ddr_row_period(wide.node("pw"), board) == 8
    assert narrow.node("pw").engine().ddr_port_bits() == 128 and ddr_row_period(narrow.node("pw"), board) == 1
    assert ddr_row_period(on_chip.node("pw"), board) == 1
    loop = on_chip.node("pw").engine().cycles()
    assert loop == 32 * 32 and timed_engine(wide.node("pw"), board).cycles() == 8 * loop
    assert frame_cycles(on_chip, board) == analyse(on_chip).cycles_per_frame == loop
    assert frame_cycles(wide, board) == analyse(wide).cycles_per_frame == 8 * loop
    for acc, cycles in ((on_chip, loop), (wide, 8 * loop)):
        ev = simulate(programs(acc), {s.name: 2 * max(1, s.n) for s in acc.streams}, frames=4)
        assert ev.cycles_per_frame() == pytest.approx(cycles, rel=0.05)
    # placement moves weights to DDR only within half the port's bytes a frame, so the node
    # then waits for its rows at most half the frame: it never becomes the slowest (the
    # single-layer design, whose only node would run 8x slower, stays on chip)
    acc = one_layer(16, 16, "auto")
    place_memories(acc, board, 0.001)
    assert acc.node("pw").memory != "ddr" and frame_cycles(acc, board) == loop


def test_the_reader_and_the_engine_each_take_the_formulas_cycles(design):
    """The schedule check counts the reader (process 1 of its node) apart from the engine's
    loop: each takes PIXELS x G*NF*SF iterations a frame, the engine's formula."""
    from hls.csim_net import NetworkCsim

    acc, x, params = design
    _, rows = NetworkCsim(acc, params, count=True).counted(x[:1])
    for i, n in enumerate(acc.nodes):
        if n.memory == "ddr":
            assert rows[i][0] == rows[i][1] == n.engine().cycles(), n.name


def test_traffic_beyond_the_hp_port_is_named_with_by_how_much(design):
    from hls.boards import get_board
    from hls.estimate import ddr_overload, ddr_traffic

    acc, _, _ = design
    board = get_board("zcu104")
    per_frame = ddr_traffic(acc, board, 1.0)["bytes_per_frame"]
    peak = board.hp_port_bytes_per_s(acc.clock_mhz)
    assert ddr_overload(ddr_traffic(acc, board, 0.9 * peak / per_frame), 1.0) is None
    msg = ddr_overload(ddr_traffic(acc, board, 2 * peak / per_frame), 2 * peak / per_frame)
    assert "200% of one HP port's peak (3.20 GB/s): over by 3.20 GB/s" in msg


def test_a_cache_master_is_priced_with_the_read_buffer_its_pragma_asks_for():
    """The estimate's read buffer is num_read_outstanding x max_read_burst_length words, the
    settings codegen writes: a cache's 16 words cost less than a streaming node's 256."""
    from hls import resources as R

    for style in ("ddr", "uram"):
        words = R.axi_read_outstanding(style) * R.AXI_MAX_READ_BURST
        assert R.ddr_reader(512, style).lut == R.memory(words, 512).lut + R.AXI_READ_MASTER_LUTS + 512
    assert R.ddr_reader(512, "uram").lut < R.ddr_reader(512, "ddr").lut


def test_old_descriptions_are_refused_by_name_where_they_mean_something_else():
    """Version 4 reads every cache through one loader whose words lay the caches' regions out:
    a version-3 description with a cache (a master per cache) is refused by name. Version 5
    holds an SE block's frame in the FIFO in front of se_scale: an older description with an
    SE block (its FIFO too shallow for that) is refused by name. One with neither means the
    same in every version and is read; version 6 added an MVAU's `pair`, which an older node
    lacks and reads as "pe"; version 7 added `shared` (none in an older one)."""
    se = lower(tiny("vargfacenet"), QuantConfig(4, 4), DDR).to_dict()
    cached = lower(tiny("vargnet"), QuantConfig(4, 4), {"fc": {"ram_style": "ultra"}}).to_dict()
    plain = lower(tiny("vargnet"), QuantConfig(4, 4), {"fc": {"ram_style": "ddr"}}).to_dict()
    assert se["version"] == cached["version"] == plain["version"] == 7 and se["shared"] is None
    with pytest.raises(DescriptionError, match="version 3 has URAM weight caches .* rebuild"):
        Accelerator.from_dict({**cached, "version": 3})
    for v in (3, 4):
        with pytest.raises(DescriptionError, match=f"version {v} has SE blocks .* rebuild"):
            Accelerator.from_dict({**se, "version": v})
        assert Accelerator.from_dict({**plain, "version": v}).nodes[0].name == plain["nodes"][0]["name"]
    Accelerator.from_dict({**cached, "version": 4})
    # version 6 added an MVAU's `pair`; a version-5 node without it pairs PE lanes, as then
    old = {**plain, "version": 5, "nodes": [{**n, "params": {k: v for k, v in n["params"].items() if k != "pair"}}
                                            for n in plain["nodes"]]}
    assert all(n.engine().pair == "pe" for n in Accelerator.from_dict(old).nodes if n.kind == "mvau")


def test_the_start_up_load_is_bounded_by_the_rows_and_the_hp_port():
    """hls/estimate.py cache_load: the loader reads every cache row once, one word of its
    width a row; a 128-bit word passes one HP port (128 bits a cycle) in a cycle, so the bound
    is the rows; a design without caches loads nothing."""
    from hls.boards import get_board
    from hls.estimate import cache_load

    board = get_board("zcu104")
    acc = lower(tiny("vargfacenet"), QuantConfig(4, 4), CACHED)
    c = cache_load(acc, board)
    rows = sum(acc.node(n).engine().weight_rows() for n in ("stage2.unit1.part1.pw", "fc"))
    assert {k: c[k] for k in ("nodes", "rows", "bytes", "min_cycles")} == \
        {"nodes": 2, "rows": rows, "bytes": rows * 16, "min_cycles": rows}  # 128-bit loader words
    assert c["resources"]["LUT"] > 0  # the loader's master
    narrow = replace(board, hp_port_bits=64)  # two cycles a word
    assert cache_load(acc, narrow)["min_cycles"] == 2 * rows
    assert cache_load(lower(tiny("vargfacenet"), QuantConfig(4, 4), DDR), board)["nodes"] == 0
