"""What limits a student's held-out face verification: two diagnostics behind model/README.md.

    python -m model.limits span --fold 31-40 [--synthetic 1500] [--k 10,20,30,60,100]
    python -m model.limits ensemble --fold 11-20 RUN1/final.pt RUN2/final.pt ...

`span`: the teacher's own embedding of the fold's faces, cut to the top-k principal directions
of its embeddings of the training faces (the 30 other identities' unaugmented images, and the
generated faces of `--synthetic` if given). A student that learned the teacher exactly on
what it was shown, and nothing beyond it, would at best reach that: the table gives the
fraction of a held-out embedding's energy inside those k directions and the 10-fold
verification accuracy and AUC of the cut embedding.

`ensemble`: each checkpoint's held-out accuracy, then that of the sum of the first 2, 3, ...
checkpoints' normalised embeddings: how much of the gap to the teacher is run-to-run
variance (which averaging removes) and how much is shared by every student.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

import numpy as np

from model.argtypes import nonneg_int
from model.evaluate import checkpoint_heldout, face_pairs
from model.orl import load_orl, split_ids
from model.scoring import unit
from model.verification import verify


def _score(e: np.ndarray, pairs: np.ndarray, issame: np.ndarray) -> dict[str, float]:
    r = verify(e[pairs[:, 0]], e[pairs[:, 1]], issame)
    return {"accuracy": r.accuracy, "auc": r.auc}


def span(fold: str, ks: list[int], synthetic: int = 0, teacher: str = "sface") -> dict[str, Any]:
    from model.teacher import load_teacher

    t = load_teacher(teacher)
    train_ids, _ = split_ids(fold)
    x, pairs, issame = face_pairs("orl-heldout", t.size, fold)
    held = unit(t.embed(x))
    bases = {"orl": unit(t.embed(load_orl(train_ids, t.size)[0]))}
    if synthetic:
        from model.synthetic import synthetic_faces

        bases["synthetic"] = unit(t.embed(synthetic_faces(synthetic, t.size)))
        bases["orl+synthetic"] = np.concatenate([bases["orl"], bases["synthetic"]])
    res: dict[str, Any] = {"fold": fold, "teacher": teacher, "full": _score(held, pairs, issame)}
    for name, b in bases.items():
        _, _, vt = np.linalg.svd(b, full_matrices=False)
        rows = []
        for k in ks:
            if k > vt.shape[0]:
                raise ValueError(f"--k {k}: the {name} embeddings span only {vt.shape[0]} directions")
            cut = held @ vt[:k].T @ vt[:k]
            rows.append({"k": k, "energy": float(np.mean(np.sum(cut ** 2, axis=1))),
                         **_score(cut, pairs, issame)})
        res[name] = {"images": len(b), "rows": rows}
    return res


def ensemble(fold: str, checkpoints: list[str]) -> dict[str, Any]:
    from model.checkpoint import load_net
    from model.inference import embed

    each, total, acc = [], None, []
    for c in checkpoints:
        net, extra = load_net(c)
        checkpoint_heldout(extra, fold)  # warns when the checkpoint trained on the fold
        x, pairs, issame = face_pairs("orl-heldout", net.arch.input.out_shape[1], fold)
        e = unit(embed(net, x))
        each.append({"checkpoint": c, **_score(e, pairs, issame)})
        total = e if total is None else total + e
        if len(each) > 1:
            acc.append({"members": len(each), **_score(total, pairs, issame)})
    return {"fold": fold, "students": each, "ensembles": acc}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.limits", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("span", help="the teacher's embedding cut to the training faces' principal directions")
    s.add_argument("--fold", default="31-40", help="held-out ORL identities (the others are the training faces)")
    s.add_argument("--k", default="10,20,30,60,100", help="comma-separated numbers of principal directions")
    s.add_argument("--synthetic", type=nonneg_int, default=0, help="also this many generated faces as a basis")
    s.add_argument("--teacher", default="sface", help="sface or an .onnx face model")
    e = sub.add_parser("ensemble", help="students alone and their embeddings summed")
    e.add_argument("--fold", default="31-40", help="held-out ORL identities to verify on")
    e.add_argument("checkpoints", nargs="+", help="face checkpoints (trained without the fold's identities)")
    for p in (s, e):
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "span":
            ks = [int(k) for k in a.k.split(",") if k.strip()]
            if not ks or min(ks) < 1:
                ap.error(f"--k {a.k!r}: give positive integers")
            res = span(a.fold, ks, a.synthetic, a.teacher)
        else:
            if len(a.checkpoints) < 2:
                ap.error("ensemble needs at least two checkpoints")
            res = ensemble(a.fold, a.checkpoints)
    except ValueError as err:  # bad fold, --k beyond the basis, unreadable checkpoint/teacher
        print(f"python -m model.limits: {err}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(res, indent=1))
    elif a.cmd == "span":
        f = res["full"]
        print(f"fold {a.fold}, teacher {a.teacher}: full embedding {f['accuracy']:.1%}, AUC {f['auc']:.3f}")
        for name in (n for n in res if isinstance(res[n], dict) and "rows" in res[n]):
            print(f"cut to the principal directions of {res[name]['images']} {name} faces:")
            for r in res[name]["rows"]:
                print(f"  k={r['k']:4d}  energy {r['energy']:.3f}  accuracy {r['accuracy']:.1%}  AUC {r['auc']:.3f}")
    else:
        for r in res["students"]:
            print(f"{r['accuracy']:.1%}  AUC {r['auc']:.3f}  {r['checkpoint']}")
        for r in res["ensembles"]:
            print(f"{r['accuracy']:.1%}  AUC {r['auc']:.3f}  sum of the first {r['members']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
