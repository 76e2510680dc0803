"""Synthetic faces from the gan-face-generate package's DCGAN (model/synthetic.py)."""

import numpy as np
import pytest

from model.synthetic import ORL_WIDTH, synthetic_faces


def test_synthetic_faces_are_gray_in_orl_framing_and_seeded():
    a = synthetic_faces(6, size=112, seed=3)
    assert a.shape == (6, 112, 112, 3) and a.dtype == np.uint8
    assert np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2])
    m = (112 - ORL_WIDTH) // 2
    assert not a[:, :, :m].any() and not a[:, :, 112 - m:].any()  # black side bars as ORL's
    inner = a[:, :, m:112 - m, 0].astype(float)
    assert inner.std() > 20  # an image, not a flat field
    assert all(not np.array_equal(a[0], a[i]) for i in range(1, 6))  # every draw a new face
    assert np.array_equal(a, synthetic_faces(6, size=112, seed=3))
    assert not np.array_equal(a, synthetic_faces(6, size=112, seed=4))
    # batching does not change the faces a seed gives
    assert np.array_equal(a, synthetic_faces(6, size=112, seed=3, batch=4))
    assert np.array_equal(a, synthetic_faces(6, size=112, seed=3, batch=5))  # uneven batches


def test_synthetic_faces_are_face_like_to_the_teacher():
    """SFace tells generated faces apart as people: a face and its mirror image are alike to
    it (0.95-0.97 measured), two generated faces are not (0.19 on average; random-noise
    images are all alike to it, 0.83)."""
    from model.scoring import unit
    from model.teacher import load_teacher

    a = synthetic_faces(8, size=112, seed=0)
    t = load_teacher("sface")
    e = unit(t.embed(a))
    f = unit(t.embed(np.ascontiguousarray(a[:, :, ::-1])))
    same = np.sum(e * f, axis=1)  # a face and its mirror image
    cross = (e @ e.T)[~np.eye(8, dtype=bool)]  # two different generated faces
    assert same.min() > 0.8 and cross.mean() < 0.5


def test_zero_or_negative_synthetic_counts_are_refused():
    from model.train import parse

    with pytest.raises(ValueError, match="positive"):
        synthetic_faces(0)
    with pytest.raises(SystemExit):
        parse(["--out", "x", "--synthetic", "-5"])
    assert parse(["--out", "x", "--synthetic", "100"]).synthetic == 100


def test_synthetic_faces_join_the_pool_unlabeled(tmp_path):
    from model.train import TrainConfig, face_pool

    cfg = TrainConfig(out=str(tmp_path), copies=1, synthetic=5, teacher=None)
    base = face_pool(TrainConfig(out=str(tmp_path), copies=1, teacher=None), 32, 32, None)
    pool = face_pool(cfg, 32, 32, None)
    assert len(pool.x) == len(base.x) + 10  # each face as generated and once augmented
    assert np.array_equal(pool.x[:len(base.x)], base.x)  # the ORL part is unchanged
    assert (pool.y[len(base.x):] == -1).all()
