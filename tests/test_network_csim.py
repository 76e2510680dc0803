"""Whole-network integer chain: the generated C-sim of every node (hls/codegen.py) equals the
golden integer model (sim/golden.py) exactly, on real faces and random inputs."""

import numpy as np
import pytest

from hls.boards import get_board
from hls.codegen import network_header, synthesis_top
from hls.csim_net import NetworkCsim
from flow.folding import fold_for_fps
from flow.lowering import lower
from model.arch import tiny
from model.defaults import default_arch, default_quant
from model.orl import load_orl
from model.quant import QuantConfig
from sim.golden import GoldenModel, random_params


def _faces(arch, ids=(1, 7, 31, 38), per_id=2):
    c, h, _ = arch.input.out_shape
    x, _ = load_orl(ids, h, per_id=per_id)
    return x[..., :c]


@pytest.mark.parametrize("model,spec,fps", [("vargfacenet", "w4a4", 20000),
                                            ("vargnet", "w4a8", 5000),
                                            ("vargfacenet", "w8a8", None)])
def test_network_csim_equals_golden_model_bit_for_bit(model, spec, fps):
    arch = tiny(model)
    q = QuantConfig.parse(spec)
    acc = (fold_for_fps(arch, q, get_board("zcu104"), fps).accelerator if fps
           else lower(arch, q, {}))  # fully sequential folding: PE = SIMD = 1
    x = _faces(arch)
    params = random_params(acc, x, seed=3)
    y_golden = GoldenModel(acc, params).run(x)
    y_csim = NetworkCsim(acc, params).run(x)
    assert np.array_equal(y_csim, y_golden)
    # the calibrated random network is alive: outputs differ between images
    assert len({tuple(r) for r in y_golden}) == len(x)
    rng = np.random.default_rng(0)
    xr = rng.integers(0, 256, (3, *x.shape[1:]))
    assert np.array_equal(NetworkCsim(acc, params).run(xr), GoldenModel(acc, params).run(xr))


def test_network_csim_rejects_bad_images():
    arch = tiny("vargnet")
    acc = lower(arch, QuantConfig(4, 4), {})
    x = _faces(arch)
    net = NetworkCsim(acc, random_params(acc, x))
    with pytest.raises(ValueError, match="input must be N x 32 x 32 x 1"):
        net.run(np.zeros((1, 28, 28, 1), np.uint8))
    with pytest.raises(ValueError, match="integer codes of uint8"):
        net.run(np.full((1, 32, 32, 1), 300))


def test_generated_synthesis_top_has_the_interfaces_and_depths():
    acc = lower(tiny("vargfacenet"), QuantConfig(4, 4), {})
    acc.streams[3].depth = 77
    top = synthesis_top(acc)
    for s in ("#pragma HLS INTERFACE axis port = in", "#pragma HLS INTERFACE axis port = out",
              "#pragma HLS INTERFACE s_axilite port = return bundle = control",
              "#pragma HLS DATAFLOW", "depth = 77"):
        assert s in top
    assert network_header(acc).count("inline void node_") == len(acc.nodes)


def _top_build(tmp_path, spec="w4a4", fps=20000):
    from hls.codegen import write_hls

    arch = tiny("vargfacenet")
    acc = fold_for_fps(arch, QuantConfig.parse(spec), get_board("zcu104"), fps).accelerator
    x = _faces(arch)
    params = random_params(acc, x, seed=5)
    write_hls(acc, params, tmp_path / "hls")
    return acc, x, params


@pytest.mark.parametrize("spec", ["w4a4", "w8a8"])
def test_the_synthesis_top_itself_equals_the_golden_model_through_its_axi_streams(tmp_path, spec):
    """hls/top.cpp with weights.h and tb_top.cpp, as Vitis HLS's csim_design would compile
    them (g++, ap_int datapaths), driven with packed images through the AXI-stream ports."""
    from flow.top_csim import TopCsim
    from hls.packing import pack_input, pack_output

    acc, x, params = _top_build(tmp_path, spec)
    want = pack_output(GoldenModel(acc, params).run(x))
    y, line = TopCsim(tmp_path).run_beats(pack_input(x.astype(np.uint8)), want)
    assert np.array_equal(y, want)
    assert line.startswith("PASS") and f"0 of {want.size} output beats differ" in line


def test_an_edit_to_the_synthesis_top_is_what_runs(tmp_path):
    """The top is compiled from the build's files (cached by their hash): an edit to
    weights.h (one weight changed) changes the outputs and the testbench fails."""
    from flow.top_csim import TopCsim
    from hls.packing import pack_input, pack_output

    acc, x, params = _top_build(tmp_path)
    want = pack_output(GoldenModel(acc, params).run(x))
    wh = tmp_path / "hls" / "weights.h"
    text = wh.read_text()
    head, _, rest = text.partition("= {")
    first, _, tail = rest.partition(",")
    wh.write_text(head + "= {" + str(7 if int(first) != 7 else -7) + "," + tail)
    y, line = TopCsim(tmp_path).run_beats(pack_input(x.astype(np.uint8)), want)
    assert not np.array_equal(y, want) and line.startswith("FAIL")


@pytest.mark.slow
@pytest.mark.parametrize("which", ["default design", "full-size 1.25x"])
def test_full_network_csim_equals_golden_on_real_faces(which):
    from model.arch import vargfacenet

    arch = default_arch() if which == "default design" else vargfacenet()
    acc = fold_for_fps(arch, default_quant(), get_board("zcu104"), 1000).accelerator
    x = _faces(arch, ids=(31, 35), per_id=1)
    params = random_params(acc, x, seed=1)
    assert np.array_equal(NetworkCsim(acc, params).run(x), GoldenModel(acc, params).run(x))
