"""Training and evaluation: the loss decreases, resume equals an uninterrupted run, the
distillation loss equals its formula, DDP runs with world size 1 (gloo), bad inputs fail
clearly, the verification protocol is right on constructed scores."""

import os
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from model.checkpoint import load_net, save
from model.data import DataError, load_bin, load_image_folder, write_bin, write_orl_heldout_bin
from model.losses import angular_distillation, relational_distillation
from model.nets import Net
from model.arch import tiny
from model.teacher import OnnxFaceTeacher, TeacherError, projection, teacher_chain
from model.train import TrainConfig, TrainError, run
from model.verification import roc_auc, tar_at_far, ten_fold, verify

warnings.filterwarnings("ignore", category=UserWarning)
# trains on ORL identities 31-40 only (100 images): these tests check behaviour, not accuracy
TINY_FACE = dict(task="face", model="vargfacenet", width=0.25, input=32, last_channels=64,
                 emb_size=32, quant="w4a8", copies=1, batch=16, lr=3e-3, heldout_ids="1-30")


def _metrics(out):
    import json

    return [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    """A tiny checkpoint of ours as the teacher (SFace needs 112x112 inputs)."""
    d = tmp_path_factory.mktemp("teacher")
    torch.manual_seed(7)
    net = Net(tiny("vargfacenet"))
    net.eval()
    save(net, d / "teacher.pt")
    return str(d / "teacher.pt")


def test_distillation_loss_equals_its_formula_on_hand_vectors():
    fs = torch.tensor([[3.0, 4.0], [1.0, 0.0]])
    ft = torch.tensor([[0.0, 2.0], [0.0, 5.0]])
    # normalised: s = (0.6, 0.8), (1, 0); t = (0, 1), (0, 1)
    # ||t - s||^2 = 0.36 + 0.04 = 0.40 and 1 + 1 = 2; mean 1.2
    assert angular_distillation(fs, ft).item() == pytest.approx(1.2)
    # similarity matrices: s: [[1, .6], [.6, 1]], t: all ones -> mean of (0, .16, .16, 0)
    assert relational_distillation(fs, ft).item() == pytest.approx(0.08)


def test_fixed_projection_keeps_the_teachers_angles():
    p = projection(128, 512, seed=3)
    a, b = np.random.default_rng(0).standard_normal((2, 128))
    cos = lambda u, v: u @ v / np.linalg.norm(u) / np.linalg.norm(v)
    assert cos(p @ a, p @ b) == pytest.approx(cos(a, b), abs=1e-6)


@pytest.mark.slow
def test_face_training_loss_decreases(tmp_path, tiny_teacher):
    cfg = TrainConfig(out=str(tmp_path / "r"), teacher=tiny_teacher, arc_weight=0.0, epochs=4,
                      **TINY_FACE)
    run(cfg)
    m = _metrics(tmp_path / "r")
    assert len(m) == 4
    assert m[-1]["distill"] < m[0]["distill"]
    net, _ = load_net(tmp_path / "r" / "final.pt")
    assert net.quant_config.name == "w4a8"


def test_a_face_run_stores_its_scoring_backend_and_evaluation_goes_through_it(tmp_path, tiny_teacher):
    from model.evaluate import evaluate_checkpoint
    from model.scoring import stored

    cfg = TrainConfig(out=str(tmp_path / "r"), teacher=tiny_teacher, arc_weight=0.0, epochs=1,
                      **dict(TINY_FACE, heldout_ids="1-34"))
    final = run(cfg)[-1]
    _, extra = load_net(final)
    w = stored(extra)
    # fitted on the 6 training identities: each face and 4 augmented copies, by the flip test
    assert w.dim == 32 and w.identities == 6 and w.images == 6 * 10 * 5 and w.flip
    r = evaluate_checkpoint(final)
    assert r["scoring"].startswith("WCCN of flip-test") and r["heldout_ids"] == "1-34" and r["flip"]
    assert set(r["cosine"]) >= {"accuracy", "auc"} and r["cosine"]["accuracy"] != r["accuracy"]
    plain = evaluate_checkpoint(final, scoring=False)
    assert plain["scoring"] == "cosine" and plain["accuracy"] == r["cosine"]["accuracy"]
    # --flip changes the plain figures only; the backend takes flip-test embeddings either way
    f = evaluate_checkpoint(final, flip=True)
    assert f["cosine"]["flip"] and not r["cosine"]["flip"] and f["accuracy"] == r["accuracy"]


@pytest.mark.slow
def test_classification_loss_decreases_on_fashion_mnist(tmp_path):
    from tests.conftest import require_tool  # noqa: F401

    if not os.path.isdir("/usr/share/datasets/fashion-mnist"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI must not skip: dataset-fashion-mnist is not installed")
        pytest.skip("Debian package dataset-fashion-mnist not installed (make setup installs it as root)")
    cfg = TrainConfig(out=str(tmp_path / "c"), task="classify", model="vargnet", width=0.25,
                      last_channels=64, quant="w4a4", data="fashion-mnist", limit=512, epochs=3,
                      batch=64, lr=5e-3, teacher=None)
    run(cfg)
    m = _metrics(tmp_path / "c")
    assert m[-1]["ce"] < m[0]["ce"]


@pytest.mark.slow
def test_recursive_distillation_runs_generations(tmp_path, tiny_teacher):
    cfg = TrainConfig(out=str(tmp_path / "g"), teacher=tiny_teacher, arc_weight=0.0, epochs=1,
                      generations=2, **TINY_FACE)
    finals = run(cfg)
    assert [f.parent.name for f in finals] == ["gen1", "gen2"]
    assert all(f.is_file() for f in finals)
    # each generation records the teachers behind it, root first
    assert load_net(finals[1])[1]["teacher_chain"] == [tiny_teacher, str(finals[0])]


def test_teacher_chain_leads_back_to_the_onnx_root(tmp_path):
    net = Net(tiny("vargfacenet"))
    save(net, tmp_path / "float.pt", extra={"train_config": {"teacher": "sface"}})  # older run: no chain
    save(net, tmp_path / "qat.pt", extra={"teacher_chain": ["sface", str(tmp_path / "float.pt")]})
    assert teacher_chain("sface") == ["sface"]
    assert teacher_chain(None) == [] and teacher_chain("none") == []
    assert teacher_chain(str(tmp_path / "float.pt")) == ["sface", str(tmp_path / "float.pt")]
    assert teacher_chain(str(tmp_path / "qat.pt")) == ["sface", str(tmp_path / "float.pt"),
                                                       str(tmp_path / "qat.pt")]


@pytest.mark.slow
def test_ddp_with_world_size_one_on_gloo(tmp_path, tiny_teacher):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "--master_port=29517",
           "-m", "model.train", "--out", str(tmp_path / "d"), "--task", "face", "--width", "0.25",
           "--input", "32", "--last-channels", "64", "--emb-size", "32", "--quant", "w4a8",
           "--copies", "1", "--epochs", "1", "--batch", "16", "--teacher", tiny_teacher,
           "--arc-weight", "0", "--heldout-ids", "1-34"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "d" / "final.pt").is_file()


def test_verification_protocol_on_constructed_scores():
    rng = np.random.default_rng(0)
    issame = np.repeat([True, False], 300)
    scores = np.where(issame, rng.uniform(0.5, 1.0, 600), rng.uniform(-0.2, 0.49, 600))
    acc, _, thr = ten_fold(scores, issame)
    assert acc == 1.0 and 0.45 < thr <= 0.5
    assert roc_auc(scores, issame) == 1.0
    assert tar_at_far(scores, issame, 1e-2) == 1.0
    flipped = verify(np.eye(4)[[0, 1]], np.eye(4)[[0, 2]], np.array([True, False]))
    assert flipped.pairs == 2


def test_orl_heldout_bin_round_trips(tmp_path):
    p = write_orl_heldout_bin(tmp_path / "orl.bin", size=32)
    x, issame = load_bin(p, size=32)
    assert x.shape[0] == 2 * len(issame) and issame.sum() == len(issame) // 2
    assert x.shape[1:] == (32, 32, 3)


def test_bin_with_wrong_image_count_is_named(tmp_path):
    with open(tmp_path / "bad.bin", "wb") as f:
        pickle.dump(([b"x"] * 3, [True, False]), f)
    with pytest.raises(DataError, match="3 images do not match 2 pairs"):
        load_bin(tmp_path / "bad.bin")


def test_empty_or_missing_dataset_folder_is_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty dataset folder"):
        load_image_folder(tmp_path / "empty")
    with pytest.raises(DataError, match="no such dataset folder"):
        load_image_folder(tmp_path / "nope")


def test_teacher_with_unexpected_input_is_named(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Flatten", ["data"], ["y"])], "t",
                          [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 64, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12288])])
    onnx.save(helper.make_model(g), tmp_path / "t.onnx")
    with pytest.raises(TeacherError, match="expected N x 3 x 112 x 112"):
        OnnxFaceTeacher(tmp_path / "t.onnx")


def test_warp_without_displacement_or_rotation_returns_the_image():
    from model.data import warp_faces

    x = np.random.default_rng(1).integers(0, 256, (3, 20, 16, 3)).astype(np.uint8)
    assert np.array_equal(warp_faces(x, np.random.default_rng(0), displacement=0, rotation=0), x)


def test_warp_moves_no_pixel_further_than_its_displacement_and_rotation_keeps_the_centre():
    from model.data import warp_faces

    h, w = 24, 40
    ramp = np.tile((6 * np.arange(w)).astype(np.uint8)[None, :, None], (h, 1, 1))  # value = 6 x column
    x = np.stack([ramp] * 4)
    out = warp_faces(x, np.random.default_rng(0), displacement=3.0, rotation=0).astype(int)
    moved = np.abs(out - x.astype(int))
    assert moved.max() <= 6 * 3 + 1  # at most 3 columns away (+ rounding)
    assert moved.max() >= 6  # and something did move
    assert not np.array_equal(out[0], out[1])  # every image gets its own field
    odd = np.random.default_rng(2).integers(0, 256, (2, 9, 9, 1)).astype(np.uint8)
    rot = warp_faces(odd, np.random.default_rng(3), displacement=0, rotation=30)
    assert np.array_equal(rot[:, 4, 4], odd[:, 4, 4]) and not np.array_equal(rot, odd)
    again = warp_faces(odd, np.random.default_rng(3), displacement=0, rotation=30)
    assert np.array_equal(rot, again)  # seeded


def test_negative_warp_or_rotation_is_refused_by_the_cli():
    from model.train import parse

    for opt in ("--warp", "--rotate"):
        with pytest.raises(SystemExit):
            parse(["--out", "x", opt, "-2"])
    assert parse(["--out", "x", "--warp", "5", "--rotate", "8"]).warp == 5.0


def test_drop_rates_outside_zero_to_one_are_refused_by_the_cli():
    from model.train import parse

    for opt in ("--drop-path", "--fc-dropout"):
        for bad in ("1", "-0.1"):
            with pytest.raises(SystemExit):
                parse(["--out", "x", opt, bad])
    cfg = parse(["--out", "x", "--drop-path", "0.2", "--fc-dropout", "0.1"])
    assert (cfg.drop_path, cfg.fc_dropout) == (0.2, 0.1)


def test_cutmix_pastes_one_box_of_another_image_at_the_same_place():
    from model.data import cutmix

    n, h, w = 6, 16, 12
    x = np.stack([np.full((h, w, 1), 10 * (k + 1), np.uint8) for k in range(n)])  # image k = 10(k+1)
    out = cutmix(x, np.random.default_rng(0))
    assert out.shape == x.shape and out.dtype == np.uint8
    pasted = 0
    for k in range(n):
        other = out[k, ..., 0] != x[k, 0, 0, 0]
        if other.any():
            pasted += 1
            ys, xs = np.nonzero(other)
            box = other[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
            assert box.all()  # one rectangle
            assert len(np.unique(out[k][other])) == 1  # from one other image
    assert pasted > 0


def test_feature_distillation_is_the_angular_loss_on_flattened_maps():
    from model.losses import feature_distillation

    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(3, 4, 2, 2, generator=g), torch.randn(3, 6, 2, 2, generator=g)
    s6 = torch.cat([s, s[:, :2]], 1)
    assert feature_distillation(s6, t).item() == pytest.approx(
        angular_distillation(s6.flatten(1), t.flatten(1)).item())
    # a finer student map is average-pooled to the teacher's size first
    big = s6.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert feature_distillation(big, t).item() == pytest.approx(feature_distillation(s6, t).item())
    # and a finer teacher map (a student with a smaller input) to the student's
    assert feature_distillation(s6, big).item() == pytest.approx(feature_distillation(s6, s6).item(), abs=1e-6)
    assert feature_distillation(t, t).item() == pytest.approx(0.0, abs=1e-6)


def _tap_teacher(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((5, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["data", "w"], ["c"], strides=[8, 8], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["feat"]),
             helper.make_node("GlobalAveragePool", ["feat"], ["p"]),
             helper.make_node("Flatten", ["p"], ["emb"])]
    g = helper.make_graph(nodes, "t", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
                          [helper.make_tensor_value_info("emb", TensorProto.FLOAT, [1, 5])], [w])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_onnx_teacher_returns_named_feature_maps_and_names_a_missing_one(tmp_path):
    p = _tap_teacher(tmp_path / "t.onnx")
    t = OnnxFaceTeacher(p, taps=("feat",))
    x = np.random.default_rng(1).integers(0, 256, (3, 112, 112, 3)).astype(np.uint8)
    emb, (feat,) = t.embed_taps(x, batch=2)
    assert emb.shape == (3, 5) and feat.shape == (3, 5, 14, 14)
    assert np.allclose(feat.mean((2, 3)), emb, atol=1e-4)  # the map really is the pooled tensor
    assert np.array_equal(t.embed(x), emb)
    with pytest.raises(TeacherError, match="no tensors named \\['nope'\\]"):
        OnnxFaceTeacher(p, taps=("nope",))


def test_student_taps_are_the_last_maps_of_the_teachers_sizes():
    from model.arch import vargfacenet
    from model.train import student_taps

    a = vargfacenet(0.25)
    maps = [np.zeros((1, 8, 14, 14)), np.zeros((1, 8, 7, 7))]
    assert student_taps(a, maps, 112) == ["stage3.unit6.add", "emb.conv1"]
    # a 64x64 student: the maps at the same stride, 8x8 and 4x4
    small = vargfacenet(0.25, 64)
    assert student_taps(small, maps, 112) == ["stage3.unit6.add", "emb.conv1"]
    assert [small[n].out_shape[1] for n in student_taps(small, maps, 112)] == [8, 4]
    with pytest.raises(TrainError, match="no 5x5 feature map"):
        student_taps(a, [np.zeros((1, 8, 5, 5))], 112)


@pytest.mark.slow
def test_feature_distillation_trains_and_hands_its_adapters_to_qat(tmp_path):
    teacher = str(_tap_teacher(tmp_path / "t.onnx"))
    base = dict(TINY_FACE, input=112, emb_size=8, copies=1, batch=32)
    cfg = TrainConfig(out=str(tmp_path / "f"), teacher=teacher, arc_weight=0.0, epochs=3,
                      feature_distill=1.0, feature_taps="feat", **dict(base, quant="float"))
    run(cfg)
    m = _metrics(tmp_path / "f")
    assert m[-1]["feature"] < m[0]["feature"]
    from model.checkpoint import read

    ad = read(tmp_path / "f" / "final.pt")["extra"]["adapters"]
    from model.arch import build
    from model.train import student_taps

    arch = build("vargfacenet", **cfg.arch_kwargs())
    (tap,) = student_taps(arch, [np.zeros((1, 5, 14, 14))], 112)
    assert list(ad) == ["0.weight"] and tuple(ad["0.weight"].shape) == (5, arch[tap].out_shape[0], 1, 1)
    q = TrainConfig(out=str(tmp_path / "q"), teacher=teacher, arc_weight=0.0, epochs=1, feature_distill=1.0,
                    feature_taps="feat", init=str(tmp_path / "f" / "final.pt"), **dict(base, lr=1e-4))
    run(q)
    # started from the float run's adapters: the feature loss continues where it ended
    assert _metrics(tmp_path / "q")[0]["feature"] < m[0]["feature"]
    with pytest.raises(TrainError, match="needs --feature-taps"):
        run(TrainConfig(out=str(tmp_path / "e"), teacher=teacher, arc_weight=0.0, epochs=1,
                        feature_distill=1.0, **base))


def test_orl_identity_specs_parse_and_bad_ones_are_named():
    from model.orl import HELDOUT_IDS, TRAIN_IDS, parse_ids, split_ids

    assert parse_ids("1-3,7, 5") == (1, 2, 3, 5, 7)
    assert split_ids("31-40") == (TRAIN_IDS, HELDOUT_IDS) == (tuple(range(1, 31)), tuple(range(31, 41)))
    for bad, msg in (("0-4", "outside"), ("38-41", "outside"), ("a-b", "not N or N-M"),
                     (",", "names no identity"), ("1-39", "leave 1 for training")):
        with pytest.raises(ValueError, match=msg):
            split_ids(bad)


def test_another_heldout_fold_trains_on_all_the_other_identities():
    from model.orl import load_orl
    from model.train import face_pool

    cfg = TrainConfig(out="unused", task="face", heldout_ids="1-10", copies=1, teacher=None)
    pool = face_pool(cfg, 32, 32, None)
    x, _ = load_orl(tuple(range(11, 41)), 32)
    assert np.array_equal(pool.x, x) and pool.classes == 30


def test_a_smaller_student_learns_the_teachers_outputs_on_its_larger_images(tmp_path):
    from model.arch import vargfacenet
    from model.orl import load_orl
    from model.teacher import CheckpointTeacher
    from model.train import face_pool

    torch.manual_seed(7)
    t = Net(vargfacenet(0.25, 112, last_channels=64, emb_size=32, units=(2, 2, 2)))
    t.eval()
    save(t, tmp_path / "t112.pt")
    cfg = TrainConfig(out=str(tmp_path / "r"), task="face", heldout_ids="1-35", copies=1,
                      teacher=str(tmp_path / "t112.pt"))
    pool = face_pool(cfg, 32, 32, cfg.teacher)
    x112, _ = load_orl(tuple(range(36, 41)), 112)
    x32, _ = load_orl(tuple(range(36, 41)), 32)
    assert np.array_equal(pool.x, x32)  # the student's images: ORL as loaded at its size
    assert np.allclose(pool.t, CheckpointTeacher(tmp_path / "t112.pt").embed(x112), atol=1e-5)
    with pytest.raises(TrainError, match="student's input \\(128\\) is larger than the teacher's \\(112\\)"):
        face_pool(cfg, 128, 32, cfg.teacher)


def test_evaluation_defaults_to_the_runs_own_heldout_identities_and_warns_on_trained_ones(capsys):
    from model.evaluate import checkpoint_heldout

    extra = {"train_config": {"data": "orl", "heldout_ids": "1-10"}}
    assert checkpoint_heldout(extra, None) == "1-10"
    assert checkpoint_heldout({}, None) == "31-40"  # runs that predate --heldout-ids
    assert checkpoint_heldout(extra, "5-12") == "5-12"
    assert "trained on 2 of the identities" in capsys.readouterr().err
    checkpoint_heldout(extra, "1-4")
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run_and_the_weight_average_lands_in_final(tmp_path, tiny_teacher):
    """Stopped after epoch 2 of 3 and resumed: the same weights, average and final checkpoint
    as one run, with every random training-only regulariser on (their masks must be
    reproducible too) and the weight average started (after epoch 1), so that last.pt carries
    it across the resume; final.pt holds the average; another configuration is refused."""
    from model.checkpoint import read

    base = dict(teacher=tiny_teacher, arc_weight=1.0, arc_scale=16.0, drop_path=0.2, fc_dropout=0.2,
                ema=0.5, **TINY_FACE)
    run(TrainConfig(out=str(tmp_path / "a"), epochs=3, **base))
    run(TrainConfig(out=str(tmp_path / "b"), epochs=3, stop_after=2, **base))  # ends after epoch 2
    assert "ema" in read(tmp_path / "b" / "last.pt")["extra"]
    run(TrainConfig(out=str(tmp_path / "b"), epochs=3, **base))  # resumes at epoch 3
    la, lb = read(tmp_path / "a" / "last.pt"), read(tmp_path / "b" / "last.pt")
    for k, v in la["state_dict"].items():
        assert torch.equal(v, lb["state_dict"][k]), k
    fa, fb = read(tmp_path / "a" / "final.pt"), read(tmp_path / "b" / "final.pt")
    averaged = la["extra"]["ema"]
    assert averaged and "ema" not in fa["extra"]
    for k, v in fa["state_dict"].items():
        assert torch.equal(v, fb["state_dict"][k]), k
        if k in averaged:
            assert torch.equal(v, averaged[k]), k
    # the average is not the last step's weights
    assert any(not torch.equal(averaged[k], la["state_dict"][k]) for k in averaged)
    load_net(tmp_path / "a" / "final.pt")  # and it loads as a network
    with pytest.raises(TrainError, match="different configuration"):
        run(TrainConfig(out=str(tmp_path / "b"), epochs=4, **dict(base, lr=1e-2)))


@pytest.mark.slow
def test_crossval_trains_each_fold_on_the_other_identities_and_writes_the_table(tmp_path, tiny_teacher):
    import json

    from model.checkpoint import read
    from model.crossval import main

    args = ["--width", "0.25", "--input", "32", "--last-channels", "64", "--emb-size", "32",
            "--quant", "w4a8", "--copies", "1", "--epochs", "1", "--batch", "16",
            "--teacher", tiny_teacher, "--arc-weight", "0"]
    out = tmp_path / "cv"
    # folds that leave 8 identities each to train on (the tests' runs are kept small)
    assert main(["--out", str(out), "--fold", "1-32", "--fold", "9-40", "--", *args]) == 0
    res = json.loads((out / "crossval.json").read_text())
    assert [r["fold"] for r in res["folds"]] == ["1-32", "9-40"]
    assert res["mean_accuracy"] == pytest.approx(np.mean([r["accuracy"] for r in res["folds"]]))
    cfg = read(out / "fold-9-40" / "final.pt")["extra"]["train_config"]
    assert cfg["heldout_ids"] == "9-40" and cfg["teacher_cache"] == str(tmp_path / "teacher-cache")
    assert list((tmp_path / "teacher-cache").glob("teacher_*.npy"))
    # {fold} in an option names each fold's own run (a QAT recipe's per-fold --init)
    init = str(out / "fold-{fold}" / "final.pt")
    assert main(["--out", str(tmp_path / "cv2"), "--fold", "9-40", "--", *args, "--init", init]) == 0
    cfg2 = read(tmp_path / "cv2" / "fold-9-40" / "final.pt")["extra"]["train_config"]
    assert cfg2["init"] == str(out / "fold-9-40" / "final.pt")
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--fold", "0-9", "--", *args])
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--", "--heldout-ids", "1-10", *args])


def test_teacher_span_cut_to_all_its_directions_is_the_teacher_and_energy_grows_with_k(tmp_path):
    from model.limits import span

    p = str(_tap_teacher(tmp_path / "t.onnx"))  # 5-d embeddings
    res = span("36-40", [1, 3, 5], teacher=p)
    rows = res["orl"]["rows"]
    assert [r["k"] for r in rows] == [1, 3, 5] and res["orl"]["images"] == 350
    assert rows[0]["energy"] < rows[1]["energy"] < rows[2]["energy"] == pytest.approx(1.0, abs=1e-5)
    # the whole space: nothing cut (scores equal up to float rounding of the projection)
    assert rows[2]["auc"] == pytest.approx(res["full"]["auc"], abs=1e-4)
    assert rows[2]["accuracy"] == pytest.approx(res["full"]["accuracy"], abs=0.005)
    assert rows[0]["auc"] < res["full"]["auc"]
    with pytest.raises(ValueError, match="span only 5 directions"):
        span("36-40", [6], teacher=p)


def test_ensemble_of_a_student_with_itself_scores_as_the_student(tmp_path, tiny_teacher, capsys):
    from model.limits import ensemble, main

    res = ensemble("31-40", [tiny_teacher, tiny_teacher])
    (one,), (two,) = res["students"][:1], res["ensembles"]
    assert two["members"] == 2 and two["accuracy"] == one["accuracy"] and two["auc"] == pytest.approx(one["auc"])
    assert main(["ensemble", "--fold", "0-3", tiny_teacher, tiny_teacher]) == 2
    assert "outside" in capsys.readouterr().err
