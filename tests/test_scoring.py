"""The verification scoring backend (model/scoring.py): WCCN fitted on training identities."""

import numpy as np
import pytest

from model.scoring import ScoringError, Wccn, fit_wccn, flip_test, mirror, training_views
from model.verification import verify


def _people(rng, n_id, per_id, d=16, spread=3.0):
    """Identities at random centres; each person's faces vary mostly along one shared
    direction (a nuisance such as lighting), a little in every direction."""
    centres = rng.normal(size=(n_id, d))
    nuisance = np.zeros(d)
    nuisance[0] = 1.0
    y = np.repeat(np.arange(n_id), per_id)
    e = centres[y] + spread * rng.normal(size=(len(y), 1)) * nuisance + 0.2 * rng.normal(size=(len(y), d))
    return e, y


def _pairs(y):
    same = [(i, j) for i in range(len(y)) for j in range(i + 1, len(y)) if y[i] == y[j]]
    rng = np.random.default_rng(0)
    diff = []
    while len(diff) < len(same):
        i, j = rng.integers(0, len(y), 2)
        if y[i] != y[j]:
            diff.append((i, j))
    p = np.array(same + diff)
    return p, np.r_[np.ones(len(same), bool), np.zeros(len(diff), bool)]


def test_wccn_whitens_the_regularised_within_class_scatter():
    rng = np.random.default_rng(0)
    e, y = _people(rng, 12, 6)
    w = fit_wccn(e, y, lam=0.05)
    c = e - np.stack([e[y == k].mean(0) for k in y])
    sw = c.T @ c / len(e)
    reg = sw + 0.05 * np.trace(sw) / e.shape[1] * np.eye(e.shape[1])
    assert np.allclose(w.transform.T @ reg @ w.transform, np.eye(e.shape[1]), atol=1e-8)
    assert np.allclose(w.mean, e.mean(0))
    assert (w.images, w.identities) == (72, 12)


def test_wccn_fitted_on_other_people_suppresses_their_shared_nuisance_on_new_people():
    rng = np.random.default_rng(1)
    train, ty = _people(rng, 30, 8)
    test, y = _people(rng, 10, 8)  # new identities, the same kind of variation
    w = fit_wccn(train, ty)
    p, issame = _pairs(y)
    plain = verify(test[p[:, 0]], test[p[:, 1]], issame)
    s = w.apply(test)
    scored = verify(s[p[:, 0]], s[p[:, 1]], issame)
    assert plain.accuracy < 0.9 and scored.accuracy > plain.accuracy + 0.05


def test_wccn_round_trips_through_its_file_and_checkpoint_state(tmp_path):
    rng = np.random.default_rng(2)
    e, y = _people(rng, 5, 4, d=8)
    w = fit_wccn(e, y)
    w.save(tmp_path / "s.npz")
    for back in (Wccn.load(tmp_path / "s.npz"), Wccn.from_state(w.to_state())):
        assert np.allclose(back.apply(e), w.apply(e), atol=1e-5)
        assert (back.lam, back.images, back.identities) == (w.lam, w.images, w.identities)


@pytest.mark.parametrize("emb,labels,lam,msg", [
    (np.ones((4, 3)), np.zeros(4), 0.03, "at least two people"),
    (np.ones((4, 3)), np.zeros(3), 0.03, "need N x d and N"),
    (np.full((4, 3), np.nan), np.array([0, 0, 1, 1]), 0.03, "NaN"),
    (np.eye(4), np.array([0, 0, 1, 1]), 0.0, "ridge must be positive"),
])
def test_bad_fitting_input_is_named(emb, labels, lam, msg):
    with pytest.raises(ScoringError, match=msg):
        fit_wccn(emb, labels, lam)


def test_embeddings_of_another_size_and_broken_files_are_named(tmp_path):
    w = fit_wccn(np.random.default_rng(0).normal(size=(6, 4)), np.array([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ScoringError, match="takes N x 4"):
        w.apply(np.zeros((2, 5)))
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ScoringError, match="bad.npz: not a readable scoring file"):
        Wccn.load(tmp_path / "bad.npz")
    with pytest.raises(ScoringError, match="do not match"):
        Wccn.from_state({**w.to_state(), "transform": np.eye(3)})


def test_training_views_are_each_face_its_mirror_and_augmented_copies():
    x = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 1)).astype(np.uint8)
    y = np.array([4, 5, 6])
    xv, yv = training_views(x, y, copies=2, flip=False)
    assert xv.shape == (12, 16, 16, 1) and yv.tolist() == [4, 5, 6] * 4
    assert np.array_equal(xv[:3], x) and np.array_equal(xv[3:6], x[:, :, ::-1])
    # under the flip test each view brings its mirror image along, so no separate mirror
    xf, yf = training_views(x, y, copies=2, flip=True)
    assert xf.shape == (9, 16, 16, 1) and np.array_equal(xf[:3], x)
    assert np.array_equal(xf[3:], xv[6:])  # the same augmented copies


def test_the_flip_test_is_the_normalised_sum_of_the_normalised_embeddings():
    a, b = np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[0.0, 2.0], [0.0, -1.0]])
    want = np.array([[0.6, 1.8], [1.0, -1.0]])
    want /= np.linalg.norm(want, axis=1, keepdims=True)
    assert np.allclose(flip_test(a, b), want)
    assert np.array_equal(mirror(np.arange(6).reshape(1, 1, 3, 2)), [[[[4, 5], [2, 3], [0, 1]]]])
    with pytest.raises(ScoringError, match="differ in shape"):
        flip_test(a, b[:1])


def test_the_flip_test_of_an_embedder_pairs_each_image_with_its_mirror_image():
    x = np.random.default_rng(4).integers(0, 256, (3, 4, 5, 1)).astype(np.uint8)
    f = lambda imgs: imgs.reshape(len(imgs), -1)[:, :6].astype(np.float64) + 1.0  # noqa: E731
    a, b = f(x), f(x[:, :, ::-1])
    want = a / np.linalg.norm(a, axis=1, keepdims=True) + b / np.linalg.norm(b, axis=1, keepdims=True)
    assert np.allclose(flip_test(f(x), f(mirror(x))), want / np.linalg.norm(want, axis=1, keepdims=True))
    assert not np.allclose(a, b)  # the mirror image really is another input


def test_a_backend_keeps_whether_it_takes_flip_test_embeddings(tmp_path):
    rng = np.random.default_rng(5)
    e, y = _people(rng, 5, 4, d=8)
    w = fit_wccn(e, y, flip=True)
    w.save(tmp_path / "f.npz")
    assert Wccn.load(tmp_path / "f.npz").flip and Wccn.from_state(w.to_state()).flip
    old = {k: v for k, v in fit_wccn(e, y).to_state().items() if k != "flip"}
    assert not Wccn.from_state(old).flip  # stored before the flip test: single-pass
    assert "flip-test" in w.describe()


def test_the_cli_names_a_missing_checkpoint_and_a_negative_copy_count(tmp_path, capsys):
    from model.scoring_fit import main

    assert main(["--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "none.pt: no such checkpoint" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(tmp_path / "none.pt"), "--copies", "-1"])
    assert "--copies: must be an integer >= 0, got -1" in capsys.readouterr().err
