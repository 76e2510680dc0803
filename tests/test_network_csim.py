"""Whole-network integer chain: the generated C-sim of every node (flow/codegen.py) equals the
golden integer model (sim/golden.py) exactly, on real faces and random inputs."""

import numpy as np
import pytest

from flow.boards import get_board
from flow.codegen import network_header, synthesis_top
from flow.csim_net import NetworkCsim
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


@pytest.mark.slow
@pytest.mark.parametrize("which", ["default design", "full-size 1.25x"])
def test_full_network_csim_equals_golden_on_real_faces(which):
    from model.arch import vargfacenet

    arch = default_arch() if which == "default design" else vargfacenet()
    acc = fold_for_fps(arch, default_quant(), get_board("zcu104"), 1000).accelerator
    x = _faces(arch, ids=(31, 35), per_id=1)
    params = random_params(acc, x, seed=1)
    assert np.array_equal(NetworkCsim(acc, params).run(x), GoldenModel(acc, params).run(x))
