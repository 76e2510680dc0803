"""The host package (runs in both environments: numpy 2 with the toolchain, numpy 1 on the
PYNQ-like host): packing, input checks, backends bit-exact with the golden model on real
faces, the host tail, timing, comparison, bitstream checks."""

import json
import shutil

import numpy as np
import pytest

from flow.artifacts import write_design
from hls.design_files import DesignFileError, write_manifest
from flow.lowering import lower
from host import Accelerator
from host.backends import BackendError, PynqBackend, check_bitstream_description
from host.compare import compare
from hls.packing import PackingError, pack_input, unpack_input, unpack_output
from model.arch import tiny
from model.orl import HELDOUT_IDS, load_orl
from model.quant import QuantConfig
from sim.golden import random_params


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    """A tiny VarGFaceNet design with calibrated random integer weights (no torch needed)."""
    arch = tiny("vargfacenet")
    acc = lower(arch, QuantConfig(4, 4), {})
    x, _ = load_orl((1, 2, 3), 32, per_id=2)
    params = random_params(acc, x, seed=5)
    rng = np.random.default_rng(0)
    c = arch.output.cout
    tail = {"l2norm": True, "bn": {"weight": rng.uniform(0.5, 1.5, c).tolist(), "bias": rng.normal(0, 0.1, c).tolist(),
                                   "mean": rng.normal(0, 1, c).tolist(), "var": rng.uniform(0.5, 2, c).tolist(),
                                   "eps": 1e-5}}
    out = tmp_path_factory.mktemp("design")
    write_design(acc, params, np.full(c, 1e-3), tail, out)
    return out


def faces(n=6):
    x, _ = load_orl(HELDOUT_IDS, 32, per_id=1)
    return x[:n]


@pytest.mark.parametrize("c", [1, 3, 4])
def test_input_packing_round_trips_one_pixel_per_beat(c):
    x = np.random.default_rng(c).integers(0, 256, (2, 5, 4, c)).astype(np.uint8)
    beats = pack_input(x)
    assert beats.dtype == np.uint32 and beats.shape == (2, 20)
    want = sum(int(x[1, 4, 3, k]) << (8 * k) for k in range(c))
    assert int(beats[1, 19]) == want  # the last pixel: no byte from beyond the image
    assert np.array_equal(unpack_input(beats, (5, 4, c)), x)
    assert unpack_output(np.array([[-1, 5]], np.int32).view(np.uint32), 2).tolist() == [[-1, 5]]


@pytest.mark.parametrize("bad,msg", [
    (np.zeros((1, 28, 32, 3), np.uint8), "must be 32 x 32 pixels"),
    (np.zeros((1, 32, 32, 1), np.uint8), "must have 3 channel"),
    (np.zeros((1, 32, 32, 3), np.float32), "must be uint8"),
    (np.zeros((32, 32), np.uint8), "N x 32 x 32 x 3"),
])
def test_bad_images_are_named(design, bad, msg):
    acc = Accelerator(design, backend="golden")
    with pytest.raises(PackingError, match=msg):
        acc.infer(bad)


@pytest.mark.parametrize("backend", ["csim", "golden"])
def test_backends_return_normalised_embeddings_and_timing(design, backend):
    acc = Accelerator(design, backend=backend)
    r = acc.infer(faces())
    assert r.output.shape == (6, 32) and r.raw.dtype == np.int64
    assert np.allclose(np.linalg.norm(r.output, axis=1), 1.0, atol=1e-5)
    t = r.timing
    assert t.images == 6 and t.latency_s > 0 and t.fps > 0
    assert abs(t.latency_s - (t.pack_s + t.compute_s + t.unpack_s + t.tail_s)) < 1e-9
    assert r.simulated["fps"] > 0 and r.simulated["latency_ms"] > 0


def test_tail_is_scale_bn1d_l2norm(design):
    acc = Accelerator(design, backend="golden")
    raw = np.arange(64).reshape(2, 32) - 30
    bn = acc.tail["bn"]
    y = raw * 1e-3
    y = (y - np.array(bn["mean"])) / np.sqrt(np.array(bn["var"]) + 1e-5) * np.array(bn["weight"]) + np.array(bn["bias"])
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    assert np.allclose(acc.postprocess(raw), y, atol=1e-6)


def test_csim_backend_is_bit_exact_with_the_golden_model_on_faces_and_noise(design):
    acc = Accelerator(design, backend="csim")
    r = compare(acc, faces())
    assert r["bit_exact"] and r["differing_integers"] == 0 and r["integers"] == 6 * 32
    noise = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    assert compare(acc, noise)["bit_exact"]


def test_bitstream_without_hwh_or_description_is_refused(design, tmp_path):
    desc = Accelerator(design, backend="golden").desc
    (tmp_path / "vargnet.bit").write_bytes(b"\0")
    with pytest.raises(BackendError, match="vargnet.hwh"):
        PynqBackend(desc, tmp_path)
    (tmp_path / "vargnet.hwh").write_text("<xml/>")
    with pytest.raises(BackendError, match="accelerator.json"):
        PynqBackend(desc, tmp_path)


def test_bitstream_built_for_another_design_is_refused(design, tmp_path):
    desc = Accelerator(design, backend="golden").desc
    other = json.loads((design / "accelerator.json").read_text())
    other["input"]["shape"] = [64, 64, 3]
    (tmp_path / "accelerator.json").write_text(json.dumps(other))
    with pytest.raises(BackendError, match="input shape"):
        check_bitstream_description(desc, tmp_path / "accelerator.json")
    other = json.loads((design / "accelerator.json").read_text())
    other["version"] += 1  # a description of a version this host does not know
    (tmp_path / "accelerator.json").write_text(json.dumps(other))
    with pytest.raises(BackendError, match=f"version {other['version']}"):
        check_bitstream_description(desc, tmp_path / "accelerator.json")


def _with_backend(design, d, w):
    """A copy of the design with scoring backend w, as the flow writes it."""
    shutil.copytree(design, d)
    w.save(d / "scoring.npz")
    j = json.loads((d / "accelerator.json").read_text())
    j["output"]["scoring"] = "scoring.npz"
    (d / "accelerator.json").write_text(json.dumps(j))
    write_manifest(d)  # as the flow would
    return d


def test_a_design_with_a_scoring_backend_scores_the_embeddings_on_the_host(design, tmp_path):
    from model.scoring import Wccn, fit_wccn

    rng = np.random.default_rng(3)
    w = fit_wccn(rng.normal(size=(40, 32)), np.repeat(np.arange(8), 5))
    d = _with_backend(design, tmp_path / "scored", w)
    plain, scored = Accelerator(design, backend="golden"), Accelerator(d, backend="golden")
    assert plain.infer(faces()).scored is None
    r = scored.infer(faces())
    assert np.array_equal(r.output, plain.infer(faces()).output)  # the network is unchanged
    assert np.allclose(r.scored, (r.output - w.mean) @ w.transform, atol=1e-5)
    assert r.verification_embeddings is r.scored and r.mirror is None
    assert r.timing.images == len(r.output)
    Wccn(w.mean[:16], w.transform[:16, :16], w.lam, w.images, w.identities).save(d / "scoring.npz")
    with pytest.raises(DesignFileError, match="scoring.npz: differs from the file the flow wrote"):
        Accelerator(d, backend="golden")
    write_manifest(d)  # a design written so (by hand): still refused, for its size
    with pytest.raises(BackendError, match="16-d embeddings, the design outputs 32"):
        Accelerator(d, backend="golden")


def test_a_flip_test_backend_streams_each_face_and_its_mirror_and_scores_their_flip_test(design, tmp_path):
    from model.scoring import fit_wccn

    rng = np.random.default_rng(4)
    w = fit_wccn(rng.normal(size=(40, 32)), np.repeat(np.arange(8), 5), flip=True)
    d = _with_backend(design, tmp_path / "flip", w)
    plain, acc = Accelerator(design, backend="golden"), Accelerator(d, backend="golden")
    x = faces()
    r = acc.infer(x)
    assert r.timing.images == 2 * len(x)  # faces and mirror images in one batch
    own, mir = plain.infer(x), plain.infer(x[:, :, ::-1])
    assert np.array_equal(r.raw, own.raw) and np.array_equal(r.output, own.output)
    assert np.array_equal(r.mirror, mir.output) and not np.array_equal(r.mirror, r.output)
    f = own.output / np.linalg.norm(own.output, axis=1, keepdims=True) \
        + mir.output / np.linalg.norm(mir.output, axis=1, keepdims=True)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    assert np.allclose(r.scored, (f - w.mean) @ w.transform, atol=1e-4)
    alone = acc.infer(x, score=False)  # the faces alone, nothing scored
    assert alone.timing.images == len(x) and alone.scored is None and alone.mirror is None
