"""Deep narrow FIFOs packed into URAM (hls/fifo_packing.py): the values are unchanged (the
network's C-sim and the compiled synthesis top equal the golden model), the event simulation
keeps the frame rate without a deadlock, the estimate moves the FIFO's bits from BRAM to URAM,
the generated code binds it, the description says so at version 8, and the placement packs
only while BRAM36 is over the budget and URAM has room."""

import copy
import math

import numpy as np
import pytest

from flow.folding import fold_for_fps
from hls.accel import Accelerator, DescriptionError
from hls.boards import get_board
from hls.codegen import synthesis_top
from hls.csim_net import NetworkCsim
from hls.estimate import estimate
from hls.fifo_packing import pack, pack_factor, place_fifos, saving
from hls.shared_cost import hardware_streams
from model.arch import tiny
from model.orl import load_orl
from model.quant import QuantConfig
from sim.events import simulate
from sim.fifo_sizing import size_and_place, size_fifos
from sim.golden import GoldenModel, random_params
from sim.programs import Program, _uniform, full_rate_depths, packing_fixed, programs


def _sized_tiny():
    arch = tiny("vargfacenet")
    acc = fold_for_fps(arch, QuantConfig(4, 4), get_board("zcu104"), 20000).accelerator
    sz = size_fifos(programs(acc))
    for s in acc.streams:
        s.depth = sz.depths.get(s.name, s.depth)
    c, h, _ = arch.input.out_shape
    x, _ = load_orl((1, 7, 31), h, per_id=1)
    return acc, x[..., :c]


def _deepest(acc):
    """The sized design's FIFO with the most bits that has a packing factor."""
    return max((s for s in hardware_streams(acc) if pack_factor(s) > 1 and s.producer != "host"
                and s.consumer != "host"), key=lambda s: s.depth * s.width_bits)


def test_a_packed_fifo_keeps_the_values_the_rate_and_moves_its_bits_to_uram():
    acc, x = _sized_tiny()
    params = random_params(acc, x, seed=3)
    want = GoldenModel(acc, params).run(x)
    base = simulate(programs(acc), {s.name: s.depth for s in acc.streams}, 3)
    s = _deepest(acc)
    old = copy.deepcopy(s)
    s.depth = max(s.depth, 3000)  # deep enough for BRAM, as a frame-holding FIFO is at full size
    before = estimate(acc)
    k = pack_factor(s)
    wide = pack(acc, s.name)
    packed = acc.streams_by_name()[wide]
    assert packed.impl == "uram" and packed.n == old.n * k and packed.width_bits <= 72
    assert packed.words * k == old.words and packed.depth * k >= 3000
    assert acc.version == 8
    # the narrow sides hold a converter job's k words, and the sizing leaves them so
    assert packing_fixed(acc) == {old.name: k, f"{old.name}_out": k}
    assert np.array_equal(NetworkCsim(acc, params).run(x), want)
    ev = simulate(programs(acc), {t.name: t.depth for t in acc.streams}, 3)
    assert ev.deadlock is None and ev.cycles_per_frame() <= base.cycles_per_frame() * 1.01
    after = estimate(acc)
    assert after.fifos.uram >= 1 and after.fifos.bram36 < before.fifos.bram36
    lines = synthesis_top(acc).splitlines()
    bound = [i for i, line in enumerate(lines) if "type = fifo impl = uram" in line]
    assert len(bound) == 1 and f"depth = {packed.depth}" in lines[bound[0] - 1]


def test_the_compiled_synthesis_top_with_a_packed_fifo_equals_the_golden_model(tmp_path):
    from flow.top_csim import TopCsim
    from hls.codegen import write_hls
    from hls.packing import pack_input, pack_output
    from tests.conftest import require_tool

    require_tool("g++", "compiles the synthesis top")
    acc, x = _sized_tiny()
    params = random_params(acc, x, seed=5)
    s = _deepest(acc)
    s.depth = max(s.depth, 3000)
    pack(acc, s.name)
    write_hls(acc, params, tmp_path / "hls")
    want = pack_output(GoldenModel(acc, params).run(x))
    y, line = TopCsim(tmp_path).run_beats(pack_input(x.astype(np.uint8)), want)
    assert np.array_equal(y, want) and line.startswith("PASS")


def test_sizing_a_packed_design_deepens_the_packed_fifo_not_its_narrow_sides():
    acc, _ = _sized_tiny()
    s = _deepest(acc)
    name, k = s.name, pack_factor(s)
    s.depth = max(s.depth, 3000)
    rate = simulate(programs(acc), {}, 3).cycles_per_frame()
    wide = pack(acc, name)
    # the narrow sides' fixed depths cost no rate: with every other FIFO unbounded, the packed
    # design runs as the unpacked one did
    assert simulate(programs(acc), {}, 3).cycles_per_frame() == rate
    sz = size_and_place(acc, lambda: None)
    streams = acc.streams_by_name()
    fixed = {s: d for p in programs(acc) for s, d in p.fixed.items()}
    assert streams[name].depth == fixed[name] >= k and streams[f"{name}_out"].depth == fixed[f"{name}_out"] >= k
    assert streams[wide].depth == sz.depths[wide] >= 1
    ev = simulate(programs(acc), {t.name: t.depth for t in acc.streams}, 3)
    assert ev.deadlock is None


def test_the_description_carries_the_uram_fifo_at_version_8_and_refuses_it_earlier(tmp_path):
    acc, _ = _sized_tiny()
    s = _deepest(acc)
    wide = pack(acc, s.name)
    acc.save(tmp_path / "a.json")
    back = Accelerator.load(tmp_path / "a.json")
    assert back.version == 8 and back.streams_by_name()[wide].impl == "uram"
    d = acc.to_dict()
    assert sum("impl" in st for st in d["streams"]) == 1  # written only where it binds storage
    d["version"] = 7
    with pytest.raises(DescriptionError, match=r"impl = 'uram': must be absent before version 8"):
        Accelerator.from_dict(d)
    d["version"] = 8
    next(st for st in d["streams"] if "impl" in st)["impl"] = "bram"
    with pytest.raises(DescriptionError, match=r"impl = 'bram': must be one of auto, uram"):
        Accelerator.from_dict(d)


def test_a_packed_fifos_narrow_sides_are_never_packed_again():
    """A narrow side's depth is the hardware's 2 (a + b); where a consumer's job is large that
    is BRAM-deep, and packing it again nested converters that deadlocked (KV260, 2026-12-08)."""
    acc, _ = _sized_tiny()
    s = _deepest(acc)
    wide = pack(acc, s.name)
    by = acc.streams_by_name()
    sides = [st for st in by.values() if st.consumer.endswith(".pack") or st.producer.endswith(".unpack")]
    assert len(sides) == 2 and by[wide].impl == "uram"
    for st in sides:
        st.depth = 8000
        assert pack_factor(st) > 1 and saving(st) == (0.0, 0, 0)


def test_the_steady_state_floor_keeps_a_packed_fifos_wait_in_the_packed_fifo_not_its_narrow_sides():
    """The head's shortcut waits for the SE block's gates; packed, the converter after it does
    not know when the add reads, and the model would leave the frame on the fixed narrow side:
    the floor moves it into the packed FIFO (sim/steady_depths.py _into_packed)."""
    from sim.steady_depths import steady_depths

    acc, _ = _sized_tiny()
    s = _deepest(acc)
    wide = pack(acc, s.name)
    progs = programs(acc)
    fixed = {st: d for p in progs for st, d in p.fixed.items()}
    floor = steady_depths(progs, max(p.frame_cycles for p in progs))
    assert len(fixed) == 2 and all(floor[st] <= d for st, d in fixed.items())
    k = pack_factor(s)
    assert floor[wide] * k >= s.words  # the frame waits there


def test_packing_counts_its_narrow_sides_and_skips_a_fifo_whose_consumer_reads_a_frame_a_job():
    """The full-size VarGFaceNet's emb.gconv (7 x 7 over the whole map) reads its window FIFO
    in one job: packed, its narrow side at 2 (k + b) would hold the frame again in BRAM."""
    from flow.lowering import lower
    from hls.fifo_packing import job_words
    from model.arch import named

    acc = lower(named("vargfacenet"), QuantConfig(4, 4), {})
    s = acc.stream(acc.node("emb.gconv").inputs[0])
    s.depth = s.words  # a frame, as the sizing leaves it
    a, b = job_words(acc, s)
    assert b == s.words and a >= 1
    assert saving(s)[0] > 0 > saving(s, acc)[0]
    small = acc.stream(acc.node("stage4.unit1.part1.gconv").inputs[0])  # a row's window a job
    small.depth = 4 * small.words
    assert 0 < saving(small, acc)[0] <= saving(small)[0]


def test_the_placement_packs_the_most_bram_per_uram_first_only_while_bram_is_over():
    acc, _ = _sized_tiny()
    for s in hardware_streams(acc):  # frame-deep FIFOs, as at full size
        if pack_factor(s) > 1 and s.producer != "host" and s.consumer != "host":
            s.depth = max(s.depth, 4000)
    board = get_board("kv260")
    ranked = sorted((saving(s)[0] / saving(s)[1], s.name) for s in hardware_streams(acc) if saving(s)[1])
    assert ranked, "no FIFO of the tiny design is worth packing at these depths"
    tot = estimate(acc).total
    room = {"BRAM36": tot.bram36, "URAM": float(tot.uram), "LUT": tot.lut}
    # a budget the first packing meets: exactly one FIFO, the best ratio (the first name of a tie)
    best = min(name for ratio, name in ranked if ratio == ranked[-1][0])
    need = saving(acc.streams_by_name()[best])[0]
    fraction = (room["BRAM36"] - need) / board.bram36
    packed = place_fifos(acc, board, fraction, room)
    assert packed == [best]
    assert estimate(acc).total.bram36 == pytest.approx(tot.bram36 - need)
    # already within the budget: nothing more
    assert place_fifos(acc, board, fraction, room) == []


def _pair(a: int, b: int, frame: int) -> list[Program]:
    """A producer of a words a job and a consumer of b words a job, each a word a cycle."""
    put = Program("put", "test", *_uniform(frame // a, a, [], [a]), [], ["s"], 2)
    take = Program("take", "test", *_uniform(frame // b, b, [b], []), ["s"], [], 2)
    return [put, take]


def test_the_fixed_narrow_depth_keeps_converters_and_neighbours_at_their_own_rate():
    # a dup's 40-word pixel job feeding a 16-word pack job, the pair of the full-size
    # VarGFaceNet's head block
    a, b, frame = 40, 16, 40 * 16 * 20
    progs = _pair(a, b, frame)
    depth = full_rate_depths(progs)["s"]
    assert simulate(progs, {"s": depth}, 3).cycles_per_frame() == frame
    # the least depth free of deadlock is not enough: the producer waits for room
    assert simulate(progs, {"s": a + b - math.gcd(a, b)}, 3).cycles_per_frame() > frame
