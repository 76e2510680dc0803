"""Evaluation: face verification (10-fold accuracy and threshold, ROC AUC, TAR at FAR 1e-2 /
1e-3) on held-out ORL identities or an insightface `.bin` set, and classification top-1.

    python -m model.evaluate --default --json                    # the default design
    python -m model.evaluate --checkpoint runs/x/final.pt --data orl-heldout
    python -m model.evaluate --teacher sface --data orl-heldout   # the teacher on the same pairs
    python -m model.evaluate --checkpoint fm.pt --data fashion-mnist
    python -m model.evaluate --checkpoint runs/f1/final.pt --heldout-ids 1-10  # another fold
    python -m model.evaluate --default --teacher-cosine    # generalisation gap to the teacher

Held-out ORL pairs: all same-identity pairs of the held-out identities (s31..s40 unless
--heldout-ids says otherwise) and as many different-identity pairs (seeded), the LFW-style
balanced protocol.

A face checkpoint that carries a scoring backend (model/scoring.py: WCCN fitted on its
training identities, stored by model.train) is verified through it, with the flip test (face
+ mirror image) when the backend was fitted on flip-test embeddings; the plain cosine figures
of the single-pass embeddings (flip test with --flip) are reported beside them under "cosine"
(`--scoring cosine`: only those).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

from model.orl import HELDOUT_SPEC
from model.scoring import flip_test, mirror, unit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "model" / "checkpoints" / "default.pt"


def face_pairs(data: str, size: int, heldout: str = HELDOUT_SPEC) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, index pairs P x 2, issame."""
    from model.data import balanced_pairs, load_bin
    from model.orl import load_orl, split_ids

    if data == "orl-heldout":
        x, y = load_orl(split_ids(heldout)[1], size)
        pairs, issame = balanced_pairs(y, seed=0)
        return x, pairs, issame
    x, issame = load_bin(data, size)
    pairs = np.arange(len(x)).reshape(-1, 2)
    return x, pairs, issame


def evaluate_embedder(embed, size: int, data: str, flip: bool = False,
                      heldout: str = HELDOUT_SPEC, scoring=None) -> dict[str, Any]:
    """Verification figures; with a scoring backend (model.scoring.Wccn) the top-level ones are
    the backend's (on the embeddings it takes: flip-test ones when it was fitted on those) and
    the plain cosine of the embeddings (flip test only with `flip`) is reported beside them."""
    from model.verification import verify

    x, pairs, issame = face_pairs(data, size, heldout)
    e = unit(embed(x))
    e_mirror = unit(embed(mirror(x))) if flip or (scoring is not None and scoring.flip) else None
    extra = {"heldout_ids": heldout} if data == "orl-heldout" else {}
    p = flip_test(e, e_mirror) if flip else e
    plain = verify(p[pairs[:, 0]], p[pairs[:, 1]], issame).as_dict()
    if scoring is None:
        return {**plain, "flip": flip, "scoring": "cosine", **extra}
    w = scoring.apply(flip_test(e, e_mirror) if scoring.flip else e)
    return {**verify(w[pairs[:, 0]], w[pairs[:, 1]], issame).as_dict(), "flip": scoring.flip,
            "scoring": scoring.describe(), "cosine": {**plain, "flip": flip}, **extra}


def teacher_cosine(path: Path) -> dict[str, Any]:
    """Mean cosine between the student's embedding and its teacher's (through the training
    run's fixed projection) on the run's training identities and on its held-out ones: how
    much of the teacher's embedding the student learned in general and how much it
    memorised. Unaugmented ORL images; the teacher is the root of the run's teacher chain
    (its ONNX teacher, or the one its checkpoint teacher learned from)."""
    from model.checkpoint import load_net
    from model.orl import load_orl, split_ids
    from model.teacher import is_onnx_teacher, load_teacher, projection, recorded_chain
    from model.inference import embed

    net, extra = load_net(path)
    cfg = extra.get("train_config") or {}
    if net.arch.name != "vargfacenet" or cfg.get("task") != "face" or cfg.get("data") != "orl":
        raise ValueError(f"{path}: --teacher-cosine needs a face checkpoint trained on ORL by "
                         f"model.train (its train_config names the teacher, seed and split)")
    chain = recorded_chain(extra)
    if not chain or not is_onnx_teacher(chain[0]):
        raise ValueError(f"{path}: trained with teacher {cfg.get('teacher')!r}, whose root teacher is "
                         f"not recorded; --teacher-cosine needs an ONNX root teacher")
    spec = chain[0]  # projected with this run's seed: a chain's runs share it unless told otherwise
    teacher = load_teacher(spec)
    size = net.arch.input.out_shape[1]
    res: dict[str, Any] = {"teacher": spec, **({"via": chain[1:]} if len(chain) > 1 else {})}
    train_ids, held_ids = split_ids(cfg.get("heldout_ids", HELDOUT_SPEC))
    for name, ids in (("train", train_ids), ("heldout", held_ids)):
        x, _ = load_orl(ids, size)
        t = teacher.embed(load_orl(ids, teacher.size)[0] if teacher.size != size else x)
        p = projection(t.shape[1], net.arch.output.cout, cfg.get("seed", 0))
        t = t @ p.T if p is not None else t
        res[f"cosine_{name}"] = float(np.mean(np.sum(unit(embed(net, x)) * unit(t), axis=1)))
        res[f"images_{name}"] = len(x)
    return res


def checkpoint_heldout(extra: dict[str, Any], asked: Optional[str]) -> str:
    """The held-out identities to verify on: those asked for, else the ones the checkpoint's
    training run held out (s31..s40 for runs that predate --heldout-ids). Asking for
    identities the run trained on is allowed but said loudly: those figures measure memory."""
    from model.orl import split_ids

    own = (extra.get("train_config") or {}).get("heldout_ids", HELDOUT_SPEC)
    if asked is None:
        return own
    seen = set(split_ids(own)[0]) & set(split_ids(asked)[1])
    if (extra.get("train_config") or {}).get("data", "orl") == "orl" and seen:
        print(f"warning: the checkpoint was trained on {len(seen)} of the identities in "
              f"--heldout-ids {asked} (it held out {own}); these figures are not held-out ones",
              file=sys.stderr)
    return asked


def evaluate_checkpoint(path: Path, data: Optional[str] = None, flip: bool = False,
                        heldout: Optional[str] = None, scoring: bool = True) -> dict[str, Any]:
    """scoring: verify through the checkpoint's scoring backend when it carries one
    (model/scoring.py; the plain cosine figures come beside), else by plain cosine."""
    from model.checkpoint import load_net
    from model.scoring import stored
    from model.inference import embed, top1

    net, extra = load_net(path)
    size = net.arch.input.out_shape[1]
    if net.arch.name == "vargnet":
        from model.data import load_fashion_mnist

        if data not in (None, "fashion-mnist"):
            raise ValueError("vargnet checkpoints are evaluated on fashion-mnist")
        x, y = load_fashion_mnist("test", size)
        acc = top1(net, x, y)
        return {"task": "classify", "data": "fashion-mnist test", "top1": acc, "accuracy": acc}
    d = evaluate_embedder(lambda imgs: embed(net, imgs), size, data or "orl-heldout", flip,
                          checkpoint_heldout(extra, heldout),
                          stored(extra, str(path)) if scoring else None)
    return {"task": "face", "data": data or "orl-heldout", **d}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", type=Path, help="a checkpoint of ours")
    src.add_argument("--default", action="store_true", help=f"the default design ({DEFAULT_CHECKPOINT.relative_to(ROOT)})")
    src.add_argument("--teacher", help="evaluate a teacher: sface or an .onnx face model")
    ap.add_argument("--data", default=None, help="orl-heldout (faces, default) | a .bin set | fashion-mnist")
    ap.add_argument("--json", action="store_true", help="print JSON (key 'accuracy')")
    ap.add_argument("--flip", action="store_true",
                    help="faces: the plain cosine figures by the flip test too (normalised sum of the "
                         "normalised embeddings of each image and its mirror image); a scoring "
                         "backend uses the embeddings it was fitted on either way")
    ap.add_argument("--scoring", choices=("auto", "cosine"), default="auto",
                    help="faces: auto = through the checkpoint's scoring backend (WCCN fitted on "
                         "its training identities, model/scoring.py) when it has one, with the plain "
                         "cosine figures beside; cosine = plain cosine only")
    ap.add_argument("--heldout-ids", default=None,
                    help="orl-heldout: the held-out identities, e.g. 1-10 (default: those the "
                         f"checkpoint's training run held out, model.train --heldout-ids; {HELDOUT_SPEC} "
                         "for teachers and older checkpoints)")
    ap.add_argument("--teacher-cosine", action="store_true",
                    help="also report the mean cosine between the checkpoint's embedding and its "
                         "teacher's on its training and held-out identities (face checkpoints "
                         "trained on ORL with an ONNX teacher)")
    a = ap.parse_args(argv)
    from model.checkpoint import CheckpointError
    from model.data import DataError
    from model.teacher import TeacherError, load_teacher

    try:
        if a.teacher:
            if a.teacher_cosine:
                raise ValueError("--teacher-cosine compares a checkpoint with its teacher; give "
                                 "--checkpoint or --default")
            t = load_teacher(a.teacher)
            res = {"task": "face", "data": a.data or "orl-heldout", "model": a.teacher,
                   **evaluate_embedder(t.embed, t.size, a.data or "orl-heldout", a.flip,
                                       a.heldout_ids or HELDOUT_SPEC)}
        else:
            path = DEFAULT_CHECKPOINT if a.default else a.checkpoint
            if not path.is_file():
                raise CheckpointError(f"{path}: no such checkpoint" + (
                    " (the trained default design has not been committed yet)" if a.default else ""))
            res = {"model": str(path), **evaluate_checkpoint(path, a.data, a.flip, a.heldout_ids,
                                                             a.scoring == "auto")}
            if a.teacher_cosine:
                res.update(teacher_cosine(path))
    except (CheckpointError, DataError, TeacherError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        for k, v in res.items():
            print(f"{k:>14}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
