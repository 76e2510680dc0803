"""Memory bindings: where a node's weights and frame buffers live, as the estimate counts them
and as the generated code binds them. Weights never go to URAM as a ROM: UltraScale+ URAM has
no initial contents from a bitstream (UG901); in URAM they are a cache the design loads."""

from __future__ import annotations

import re

import pytest

from flow.lowering import lower
from flow.tcl import hls_tcl
from hls import resources as R
from hls.accel import Accelerator, DescriptionError
from hls.boards import get_board
from hls.codegen import network_header
from hls.engines import STORAGE_CODES
from hls.estimate import estimate, place_memories
from model.arch import tiny, vargfacenet
from model.quant import QuantConfig


def _design() -> dict:
    return lower(tiny("vargfacenet"), QuantConfig(4, 4), {}).to_dict()


def _index(d: dict, kind: str) -> int:
    return next(i for i, n in enumerate(d["nodes"]) if n["kind"] == kind)


def test_weights_in_uram_are_a_cache_the_parameter_buffer_fills_never_a_rom():
    """URAM has no initial contents from a bitstream (UG901): an MVAU with memory "uram" holds
    its weights as a cache loaded from the parameter buffer (vg_ddr.h mvau_cached), with no
    ROM initialiser; a row wider than the master's 1024-bit word is refused by name."""
    from hls import params_buffer as pb
    from hls.codegen import param_arrays

    d = _design()
    d["nodes"][_index(d, "mvau")]["memory"] = "uram"
    acc = Accelerator.from_dict(d)
    n = acc.nodes[_index(d, "mvau")]
    assert n.engine().loads_cache("uram") and [r.node for r in pb.regions(acc)] == [n.name]
    assert "w" not in {k for k, _, _ in param_arrays(n)}
    code = network_header(acc)
    assert "vg::mvau_cached<" in code and "STORAGE_URAM" not in code
    wide = lower(tiny("vargfacenet"), QuantConfig(4, 4), {"head.conv": {"PE": 8, "SIMD": 27}}).to_dict()
    wide["nodes"][_index(wide, "mvau")]["memory"] = "uram"
    with pytest.raises(DescriptionError, match="does not fit one 1024-bit word"):
        Accelerator.from_dict(wide)


def test_a_node_without_a_bound_memory_refuses_a_memory_style():
    """An SE scale holds no frame buffer (its frame waits in the FIFO in front of it) and a
    sliding window's line buffer is not bound by the field: a style there is refused by name."""
    for kind in ("se_scale", "swg"):
        d = _design()
        d["nodes"][_index(d, kind)]["memory"] = "uram" if kind == "se_scale" else "bram"
        with pytest.raises(DescriptionError, match=f"a {kind} has no memory the field binds"):
            Accelerator.from_dict(d)


def test_a_ram_style_on_an_se_block_is_refused_by_name():
    """A folding's ram_style on an SE layer once bound its frame buffer; the frame now waits in
    a FIFO, so the entry would mean nothing and is refused, naming the layer."""
    with pytest.raises(DescriptionError, match="head.block.se sets ram_style 'ultra'.*remove ram_style"):
        lower(tiny("vargfacenet"), QuantConfig(4, 4), {"head.block.se": {"ram_style": "ultra"}})


def test_generated_config_binds_each_memory_where_the_estimate_counts_it():
    d = _design()
    mv = _index(d, "mvau")
    d["nodes"][mv]["memory"] = "lutram"
    acc = Accelerator.from_dict(d)
    code = network_header(acc)
    bound = dict(re.findall(r"struct cfg_(\w+) \{[^}]*?static const int W_STORAGE = (\d);", code))
    assert bound, "no config carries a binding"
    for n in acc.nodes:
        e = n.engine()
        key = re.sub(r"[^A-Za-z0-9_]", "_", n.name)
        if e.memory_role is None:
            assert key not in bound
            continue
        style = e.storage(n.memory)
        assert int(bound[key]) == STORAGE_CODES[style], n.name
        # the estimate counts that very style
        depth, width = e.bound_memory()
        assert R.memory_style(depth, width, n.memory) == style
    assert int(bound[re.sub(r"\W", "_", acc.nodes[mv].name)]) == STORAGE_CODES["lutram"]
    assert "VG_WEIGHTS_URAM" not in hls_tcl(acc, get_board("zcu104"), 200.0, "include")


def test_placement_under_bram_pressure_puts_weights_in_uram_only_as_caches():
    """The default network unfolded is over ZCU104's BRAM budget: weights may move to DDR, URAM
    caches or LUTRAM, within the budgets, and the BRAM goes down;
    every weight memory in URAM is a cache the parameter buffer fills."""
    from hls import params_buffer as pb

    board, fraction = get_board("zcu104"), 0.8
    acc = lower(vargfacenet(0.25), QuantConfig(4, 4), {})
    before = estimate(acc).total
    assert before.bram36 > board.bram36 * fraction  # the premise
    place_memories(acc, board, fraction)
    after = estimate(acc).total
    moved = {n.name: n.memory for n in acc.nodes if n.memory != "auto"}
    assert moved and set(moved.values()) <= {"uram", "ddr", "lutram"}
    caches = [n.name for n in acc.nodes if n.memory == "uram" and n.engine().memory_role == "rom"]
    assert all(acc.node(c).engine().loads_cache("uram") for c in caches)
    assert set(caches) <= {r.node for r in pb.regions(acc)}
    for n in acc.nodes:
        if n.memory == "lutram":
            assert n.engine().memory_role == "rom", n.name
    assert after.bram36 < before.bram36
    assert after.lut <= board.lut * fraction and after.uram <= board.uram * fraction
    # within its budget, a design is left alone
    small = lower(tiny("vargfacenet"), QuantConfig(4, 4), {})
    place_memories(small, board, fraction)
    assert all(n.memory == "auto" for n in small.nodes)
