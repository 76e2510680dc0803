"""Float and Brevitas networks built from the description; QONNX export; checkpoints."""

import warnings

import numpy as np
import pytest
import torch

from model.arch import tiny, vargfacenet
from model.checkpoint import CheckpointError, load_into, load_net, save
from model.export import (BREVITAS_QONNX_MAX_FRACTION, BREVITAS_QONNX_MAX_STEPS, MAPPABLE_OPS,
                          ExportError, export_qonnx, fc_input_name, load_clean, run_qonnx,
                          unmappable_ops)
from model.nets import Net, NonNegPReLU
from model.orl import load_orl
from model.quant import QuantConfig, QuantConfigError

warnings.filterwarnings("ignore", category=UserWarning)


def _orl_batch(arch, ids=(1, 5, 31, 35), per_id=3):
    c, h, _ = arch.input.out_shape
    imgs, _ = load_orl(ids, h, per_id=per_id)
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    return x[:, :c]


def _calibrated(arch, quant, x, seed=0, passes=4):
    torch.manual_seed(seed)
    net = Net(arch, quant)
    for m in net.modules():  # cumulative BN statistics: exact mean/var of the batch
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    net.train()
    with torch.no_grad():  # forward passes set BN statistics and activation scales (Brevitas
        for _ in range(passes):  # collects scale statistics over its first 30 steps)
            net.features(x)
    return net.eval()


@pytest.mark.parametrize("model", ["vargfacenet", "vargnet"])
@pytest.mark.parametrize("spec", ["float", "w8a8", "w4a8", "w4a4"])
def test_every_variant_builds_and_runs(model, spec):
    arch = tiny(model)
    x = torch.rand(4, *arch.input.out_shape)
    net = _calibrated(arch, QuantConfig.parse(spec), x)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (4, arch.output.cout)
    assert torch.isfinite(y).all() and y.abs().sum() > 0
    if model == "vargfacenet":  # embeddings are L2-normalised by the tail
        assert torch.allclose(y.norm(dim=1), torch.ones(4), atol=1e-5)


def test_bit_widths_reach_the_layers_they_name():
    arch = tiny("vargfacenet")
    q = QuantConfig(weight_bits=4, act_bits=4, first_weight_bits=8, last_weight_bits=6,
                    last_act_bits=7, gate_bits=5)
    net = Net(arch, q)
    assert int(net.units["head_conv"].conv.quant_weight().bit_width) == 8
    assert int(net.units["head_block_part1_gconv"].conv.quant_weight().bit_width) == 4
    assert int(net.units["fc"].quant_weight().bit_width) == 6
    assert int(net.quant["emb_pw"].act_quant.bit_width()) == 7
    assert int(net.quant["head_conv"].act_quant.bit_width()) == 4
    assert int(net.units["head_block_se"].q_gate.act_quant.bit_width()) == 5


def test_input_quantizer_keeps_uint8_pixels_exact():
    net = Net(tiny("vargfacenet"), QuantConfig(4, 8)).eval()
    pixels = torch.arange(256, dtype=torch.float32)
    q = net.quant["input"](pixels / 255)
    assert torch.equal(torch.round(q * 255), pixels)


def test_prelu_slopes_act_as_nonnegative():
    p = NonNegPReLU(3)
    with torch.no_grad():
        p.weight.copy_(torch.tensor([-1.0, 0.0, 0.5]))
    y = p(torch.full((1, 3, 1, 1), -2.0))
    assert y.flatten().tolist() == [0.0, 0.0, -1.0]


def test_wrong_image_shape_is_named():
    net = Net(tiny("vargfacenet"))
    with pytest.raises(ValueError, match=r"expected input N x 3 x 32 x 32.*\(2, 3, 28, 28\)"):
        net(torch.rand(2, 3, 28, 28))


def test_bad_bit_width_spec_is_rejected():
    with pytest.raises(QuantConfigError, match="w4a8"):
        QuantConfig.parse("int4")
    with pytest.raises(QuantConfigError, match="weight_bits=1"):
        QuantConfig(weight_bits=1)
    with pytest.raises(QuantConfigError, match="scaling='lsq'.*stats, mse"):
        QuantConfig.parse("w4a4-lsq")


def test_drop_path_acts_on_identity_shortcut_blocks_with_rates_rising_to_the_maximum():
    arch = tiny("vargfacenet")
    net = Net(arch)
    adds = net.residual_adds()
    assert adds, "the tiny VarGFaceNet has normal blocks with identity shortcuts"
    for name in adds:  # the first input is the block's input, produced outside the block
        block = name.rsplit(".", 1)[0] + "."
        assert not arch[name].inputs[0].startswith(block)
    assert not any(n.startswith("head.block.") for n in adds)  # a sep-conv shortcut
    others = [l.name for l in arch.layers if l.op == "add" and l.name not in adds]
    assert any(n.endswith("merge_add") for n in others)  # two branches: nothing to skip to
    net.set_regularisation(drop_path=0.3)
    rates = [net.drop_path[n] for n in adds]
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.3) and rates[0] > 0
    with pytest.raises(ValueError, match="drop_path 1.0"):
        net.set_regularisation(drop_path=1.0)


def test_regularisers_change_nothing_in_eval_mode_and_drop_whole_samples_in_training():
    arch = tiny("vargfacenet")
    torch.manual_seed(0)
    net = Net(arch).eval()
    x = torch.rand(6, *arch.input.out_shape)
    with torch.no_grad():
        plain = net.features(x)
        net.set_regularisation(drop_path=0.5, fc_dropout=0.5)
        assert torch.equal(net.features(x), plain)
    net.train()
    name = net.residual_adds()[-1]
    b = torch.rand(400, 4, 3, 3) + 0.5
    torch.manual_seed(1)
    y = net._branch(name, b)
    dropped = (y == 0).flatten(1).all(1)
    kept = torch.isclose(y, b / 0.5).flatten(1).all(1)
    assert bool((dropped | kept).all())  # a whole sample's branch goes, or it is rescaled
    assert 0.4 < float(dropped.float().mean()) < 0.6
    torch.manual_seed(1)
    assert torch.equal(net._branch(name, b), y)  # torch's seed decides the masks


def test_mse_scaling_learns_weight_scales_and_round_trips(tmp_path):
    q = QuantConfig.parse("w4a4-mse")
    assert q.scaling == "mse" and q.name == "w4a4-mse" and QuantConfig.parse("w4a4").scaling == "stats"
    arch = tiny("vargfacenet")
    x = torch.rand(4, *arch.input.out_shape)
    net = _calibrated(arch, q, x)
    learned = [k for k, _ in net.named_parameters() if k.endswith("weight_quant.tensor_quant.scaling_impl.value")]
    assert learned  # the abs-max ("stats") weight quantizer has no scale parameter
    assert not [k for k, _ in _calibrated(arch, QuantConfig(4, 4), x).named_parameters()
                if k.endswith("weight_quant.tensor_quant.scaling_impl.value")]
    save(net, tmp_path / "m.pt")
    net2, _ = load_net(tmp_path / "m.pt")
    with torch.no_grad():
        assert torch.equal(net(x), net2.eval()(x))
    with pytest.raises(CheckpointError, match="does not match"):
        load_into(Net(arch, QuantConfig(4, 4)), tmp_path / "m.pt")


def test_checkpoint_written_before_the_scaling_field_loads_as_stats(tmp_path):
    arch = tiny("vargfacenet")
    net = _calibrated(arch, QuantConfig(4, 4), torch.rand(2, *arch.input.out_shape))
    save(net, tmp_path / "old.pt")
    ck = torch.load(tmp_path / "old.pt", weights_only=False)
    del ck["quant"]["scaling"]  # what a session-4 checkpoint holds
    del ck["digest"]  # (written before checkpoints carried their digest, too)
    torch.save(ck, tmp_path / "old.pt")
    net2, _ = load_net(tmp_path / "old.pt")
    assert net2.quant_config == QuantConfig(4, 4)
    load_into(Net(arch, QuantConfig(4, 4)), tmp_path / "old.pt")


@pytest.mark.slow
@pytest.mark.parametrize("model,spec", [("vargfacenet", "w4a8"), ("vargnet", "w4a4")])
def test_qonnx_export_matches_brevitas_on_orl_faces(tmp_path, model, spec):
    """qonnx execution of the export equals Brevitas PyTorch on real faces within the stated
    tolerance (model/export.py): FC-input codes within 1 step in at most 1% of positions, and
    the FC output off by exactly what those code differences explain."""
    arch = tiny(model)
    x = _orl_batch(arch)
    net = _calibrated(arch, QuantConfig.parse(spec), x)
    m = load_clean(export_qonnx(net, tmp_path / "m.onnx"))
    assert unmappable_ops(m) == []
    assert {n.op_type for n in m.graph.node} <= MAPPABLE_OPS
    yq, fq = run_qonnx(m, x.numpy(), also=(fc_input_name(m),))
    seen = {}
    last_q = net.quant[arch[arch.output.inputs[0]].quant.replace(".", "_")]
    hook = last_q.register_forward_hook(lambda mod, i, o: seen.__setitem__("fc_in", o))
    with torch.no_grad():
        yb = net.features(x).numpy()
        hook.remove()
        s_in = float(last_q.act_quant.scale())
        wq = net.units["fc"].quant_weight()
        w_int = (wq.value / wq.scale).round().numpy()
        s_w = wq.scale.numpy().reshape(-1)
    code_q = np.rint(fq.reshape(len(x), -1) / s_in)
    code_b = np.rint(seen["fc_in"].numpy().reshape(len(x), -1) / s_in)
    diff = np.abs(code_q - code_b)
    assert diff.max() <= BREVITAS_QONNX_MAX_STEPS
    assert (diff > 0).mean() <= BREVITAS_QONNX_MAX_FRACTION
    explained = diff @ np.abs(w_int).T  # N x cout, in accumulator steps
    steps = np.abs(yq - yb) / (s_in * s_w)
    assert np.all(steps <= explained + 0.5), f"largest unexplained {np.max(steps - explained):.3f}"


def test_float_network_has_no_qonnx_export(tmp_path):
    with pytest.raises(ExportError, match="float"):
        export_qonnx(Net(tiny("vargnet")), tmp_path / "f.onnx")


def test_truncated_onnx_file_is_reported(tmp_path):
    net = _calibrated(tiny("vargnet"), QuantConfig(4, 4), torch.rand(2, 1, 32, 32))
    p = export_qonnx(net, tmp_path / "m.onnx")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ExportError, match="not a readable ONNX model"):
        load_clean(p)


def test_checkpoint_round_trip_rebuilds_the_same_network(tmp_path):
    arch = tiny("vargfacenet")
    x = torch.rand(2, *arch.input.out_shape)
    net = _calibrated(arch, QuantConfig(4, 8), x)
    save(net, tmp_path / "c.pt", extra={"epoch": 3})
    net2, extra = load_net(tmp_path / "c.pt")
    net2.eval()
    assert extra == {"epoch": 3}
    assert net2.quant_config == QuantConfig(4, 8)
    with torch.no_grad():
        assert torch.equal(net(x), net2(x))


def test_checkpoint_of_another_architecture_or_bit_width_is_refused(tmp_path):
    save(Net(tiny("vargfacenet"), QuantConfig(4, 8)), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="another architecture"):
        load_into(Net(vargfacenet(0.5, 32, last_channels=64, emb_size=32, units=(2, 2, 2)),
                      QuantConfig(4, 8)), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="quantization"):
        load_into(Net(tiny("vargfacenet"), QuantConfig(4, 4)), tmp_path / "c.pt")


def test_float_checkpoint_starts_quantization_aware_training(tmp_path):
    arch = tiny("vargnet")
    f = Net(arch)
    save(f, tmp_path / "f.pt")
    q = Net(arch, QuantConfig(8, 8))
    load_into(q, tmp_path / "f.pt", allow_float_to_quant=True)
    assert torch.equal(q.units["conv1"].conv.weight, f.units["conv1"].conv.weight)


def test_not_a_checkpoint_is_reported(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_net(tmp_path / "x.pt")
