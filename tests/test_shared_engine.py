"""The shared block engine's convolution (hls/include/vg_shared.h) and its program planner
(hls/shared_program.py): the Python cycle formula is the count of the C++ loop, and layers the
engine cannot run are refused by name."""

import re
from pathlib import Path

import pytest

from hls.shared_program import OP_DENSE, OP_GCONV, ConvOp, ProgramError, main, plan
from model.arch import named
from tests.conftest import require_tool


def tb_program(gp: int) -> list[ConvOp]:
    """The program of hls/tb/tb_shared.cpp (Prog<GP>), NT = 15."""
    return [ConvOp("g1", OP_GCONV, 6, 6, 3, 1, 1, 4, 8, 16, gp, 15),
            ConvOp("d1", OP_DENSE, 6, 6, 1, 1, 0, 8, 4, 16, gp, 15),
            ConvOp("g2", OP_GCONV, 6, 6, 3, 2, 1, 4, 8, 16, gp, 15),
            ConvOp("d2", OP_DENSE, 3, 3, 1, 1, 0, 8, 6, 16, gp, 15),
            ConvOp("g3", OP_GCONV, 3, 3, 3, 1, 0, 6, 6, 8, gp, 15)]


def test_the_python_formula_is_the_counted_cycles_of_the_cpp_loop():
    require_tool("g++", "compiles the shared engine's testbench")
    from hls.testbench import run_one

    ok, out = run_one(Path(__file__).resolve().parents[1] / "hls" / "tb" / "tb_shared.cpp", "native")
    assert ok, out
    counted = {int(gp): int(n) for gp, n in re.findall(r"GP=(\d+): counted cycles (\d+) ==", out)}
    assert set(counted) == {1, 2}
    for gp, n in counted.items():
        assert sum(o.iters for o in tb_program(gp)) == n


def test_dense_tiles_take_their_thresholds_gp_to_a_row():
    d = ConvOp("d", OP_DENSE, 7, 7, 1, 1, 0, 80, 40, 16, 5, 15)
    assert (d.sf, d.trows, d.tiles) == (16, 3, 20)
    g = ConvOp("g", OP_GCONV, 7, 7, 3, 1, 1, 40, 80, 16, 5, 15)
    assert (g.sf, g.trows, g.tiles) == (9, 15, 8)
    assert g.iters == 8 * (9 + 15 + 49 * 9)
    assert g.macs() == g.array_macs()  # 16 outputs a group fill the lanes
    half = ConvOp("e", OP_GCONV, 7, 7, 7, 1, 0, 40, 40, 8, 5, 15)
    assert half.macs() * 2 == half.array_macs()


def test_the_full_size_stage4_program_reads_each_weight_once_a_frame():
    arch = named("vargfacenet")
    p = plan(arch, ["stage4"], 5, "zcu104", 200.0)
    s = p.summary(1000.0)
    weights = sum(layer.params() - 2 * layer.cout - (layer.cout if layer.act == "prelu" else 0)
                  for layer in arch.layers if layer.stage == "stage4" and layer.op == "conv")
    assert s["ddr_bytes_per_frame"] >= weights * 4 / 8  # every 4-bit weight, plus thresholds
    assert s["macs"] == sum(layer.macs() for layer in arch.layers if layer.stage == "stage4" and layer.op == "conv")
    assert any("se" in n for n in s["not_run"]) and any("add" in n for n in s["not_run"])
    assert 0 < s["ddr_fraction"] < 1


@pytest.mark.parametrize("stages,gp,message", [
    (["stage4"], 8, "not a multiple of GP x 8 = 64"),
    (["head"], 1, "head.conv: channels 3 -> 40 are not multiples of 8"),
    (["stage9"], 1, "has no stage stage9"),
])
def test_layers_the_engine_cannot_run_are_named(stages, gp, message):
    with pytest.raises(ProgramError, match=re.escape(message)):
        plan(named("vargfacenet"), stages, gp, "zcu104", 200.0)


def test_the_cli_prints_the_program_and_refuses_bad_requests(capsys, tmp_path):
    assert main(["--stages", "stage4", "--gp", "5", "--fps", "1000", "--json", str(tmp_path / "p.json")]) == 0
    out = capsys.readouterr().out
    assert "stage4.unit3.part2.pw" in out and "of one 128-bit HP port at 1000 FPS" in out
    assert (tmp_path / "p.json").exists()
    assert main(["--model", "vargnet", "--stages", "head", "--gp", "4"]) == 2
    assert "fc: 1000 outputs are not a multiple of 16" in capsys.readouterr().err
