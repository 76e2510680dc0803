"""The architecture description: official figures, S=8 validation, serialisation, CLI."""

import json
import subprocess
import sys

import pytest

from model.arch import S, Arch, ArchError, Layer, build, tiny, vargfacenet, vargnet
from model.summary import main as summary_main


def test_vargfacenet_112_matches_official_params_and_macs():
    a = vargfacenet()
    assert abs(a.total_params() - 5.20e6) / 5.20e6 < 0.005
    assert abs(a.total_macs() - 512.6e6) / 512.6e6 < 0.005


def test_vargfacenet_stage_macs_and_feature_maps():
    a = vargfacenet()
    by_stage = {st: sum(l.macs() for l in a.layers if l.stage == st) for st in a.stages()}
    # per-part figures of the official structure (../shared/notes/toolchain.md)
    for st, m in [("head", 55.7e6), ("stage2", 123.9e6), ("stage3", 211.1e6),
                  ("stage4", 104.6e6), ("embedding", 17.0e6)]:
        assert abs(by_stage[st] - m) < 0.06e6, st
    assert a["head.conv"].out_shape == (40, 112, 112)
    assert a.largest_feature_map().name == "head.conv"
    assert a["emb.gconv"].k == 7 and a["emb.gconv"].groups == 128 and a["emb.gconv"].pad == 0
    assert a["fc"].cin == 512 and a["fc"].cout == 512 and not a["fc"].bias


def test_vargfacenet_block_structure_follows_official_code():
    a = vargfacenet()
    ses = [l for l in a.layers if l.op == "se"]
    assert len(ses) == 1 + 2 + 6 + 3  # head block + normal blocks; no SE in downsampling blocks
    assert not any(".down." in l.name for l in ses)
    downs = [l for l in a.layers if l.name.endswith(".merge_add")]
    assert len(downs) == 3
    assert {l.act for l in a.layers if l.op in ("conv", "add")} == {None, "prelu"}
    # head normal block: stride 2, expansion 1, sep-conv shortcut
    assert a["head.block.short.gconv"].stride == 2 and a["head.block.short.gconv"].cout == 40


def test_every_grouped_conv_has_8_channels_per_group():
    for arch in (vargfacenet(), vargnet(), tiny("vargfacenet"), tiny("vargnet")):
        g = [l for l in arch.layers if l.grouped]
        assert g and all(l.cin // l.groups == S for l in g)


def test_add_inputs_share_one_quantizer():
    a = vargfacenet()
    for l in a.layers:
        if l.op == "add":
            q = {a[i].quant for i in l.inputs}
            assert len(q) == 1 and None not in q, l.name


def test_vargnet_width_scales_params_and_macs_like_the_paper():
    # paper (Table 3): 0.25x 1.5M/75M, 0.5x 2.37M/198M, 1x 5.33M/590M MAdds; within ~6%
    for w, p, m in [(0.25, 1.5e6, 75e6), (0.5, 2.37e6, 198e6), (1.0, 5.33e6, 590e6)]:
        a = vargnet(w)
        assert abs(a.total_params() - p) / p < 0.06, w
        assert abs(a.total_macs() - m) / m < 0.06, w


def test_width_that_breaks_groups_of_8_is_rejected_with_the_layer_named():
    with pytest.raises(ArchError, match=r"stage2.down.branch1.gconv.*10 input channels.*S=8"):
        vargnet(0.3125)
    with pytest.raises(ArchError, match="not an integer"):
        vargfacenet(0.3)


def test_input_size_the_network_cannot_take_is_rejected():
    with pytest.raises(ArchError, match="input size 100"):
        vargfacenet(input_size=100)
    with pytest.raises(ArchError, match="input size 28"):
        vargnet(input_size=28)


def test_unknown_model_is_rejected():
    with pytest.raises(ArchError, match="unknown model"):
        build("resnet")


def test_json_round_trip_is_lossless():
    for a in (vargfacenet(), tiny("vargnet")):
        b = Arch.from_json(a.to_json())
        assert b.layers == a.layers and b.params_ == a.params_


def test_json_of_another_version_is_rejected():
    d = tiny("vargnet").to_dict()
    d["version"] = 99
    with pytest.raises(ArchError, match="version 99"):
        Arch.from_dict(d)


def test_validation_catches_a_bad_hand_edited_description():
    d = tiny("vargfacenet").to_dict()
    g = next(l for l in d["layers"] if l["groups"] > 1)
    g["groups"] += 1
    with pytest.raises(ArchError, match="groups="):
        Arch.from_dict(d)
    d = tiny("vargfacenet").to_dict()
    d["layers"][3]["inputs"] = ["nowhere"]
    with pytest.raises(ArchError, match="not an earlier layer"):
        Arch.from_dict(d)


def test_summary_json_has_integer_params_and_macs(capsys):
    assert summary_main(["--model", "vargfacenet", "--input", "112", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert isinstance(s["params"], int) and isinstance(s["macs"], int)
    assert s["params"] == vargfacenet().total_params()
    assert s["largest_feature_map"]["shape"] == [40, 112, 112]


def test_summary_cli_reports_bad_width_without_traceback():
    r = subprocess.run([sys.executable, "-m", "model.summary", "--model", "vargnet",
                        "--width", "0.3125"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "S=8" in r.stderr and "Traceback" not in r.stderr
