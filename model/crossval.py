"""Cross-validation of a face training recipe over ORL identity folds.

    python -m model.crossval --out runs/cv/feat7 -- --quant float --feature-distill 7 --epochs 10 ...
    python -m model.crossval --out runs/cv/x --fold 1-10 --fold 11-20 -- <model.train options>

Every fold trains the recipe (all options after `--` go to model.train) on the 30 identities
outside the fold and verifies on the fold's 10 (balanced pairs, 10-fold protocol, as
model.evaluate). The default folds are s1-s10, s11-s20 and s21-s30: comparing recipes on them
never looks at s31-s40, the held-out identities of every reported figure, so a recipe chosen
here can be scored once on s31-s40 without selection bias. Folds differ in difficulty by
several points, so compare recipes fold by fold (the table gives each fold and the mean).

`{fold}` in an option is replaced by the fold's spec, so a QAT recipe starts each fold from
that fold's float run:

    python -m model.crossval --out runs/cv/qat -- --quant w4a4-mse --epochs 6 --lr 1e-3 \
        --init runs/cv/float/fold-{fold}/final.pt ...

Runs go to <out>/fold-<spec>/ (resumable like any model.train run); teacher outputs are
cached in <out>/../teacher-cache unless --teacher-cache says otherwise, so recipes with the
same pool (same augmentation and seed) share them. The table is written to
<out>/crossval.json (atomically) and printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

DEFAULT_FOLDS = ("1-10", "11-20", "21-30")


def fold_args(train_args: list[str], fold: str) -> list[str]:
    """The fold's model.train options: `{fold}` replaced by its spec (per-fold --init)."""
    return [t.replace("{fold}", fold) for t in train_args]


def crossval(out: Path, folds: tuple[str, ...], train_args: list[str],
             teacher_cache: Optional[Path] = None) -> dict[str, Any]:
    from model.evaluate import evaluate_checkpoint
    from model.train import parse, run

    rows = []
    for f in folds:
        print(f"=== fold {f}: training on the other identities", flush=True)
        cfg = parse(fold_args(train_args, f) + ["--out", str(out / f"fold-{f}"), "--heldout-ids", f])
        cfg.teacher_cache = str(teacher_cache or out.parent / "teacher-cache")
        if cfg.task != "face" or cfg.data != "orl" or cfg.generations != 1:
            raise ValueError("cross-validation runs one generation of --task face on ORL")
        final = run(cfg)[-1]
        r = evaluate_checkpoint(final)
        c = r.get("cosine", r)  # plain cosine, beside the scoring backend's figures
        rows.append({"fold": f, "accuracy": r["accuracy"], "auc": r["auc"], "scoring": r["scoring"],
                     "cosine_accuracy": c["accuracy"], "cosine_auc": c["auc"], "checkpoint": str(final)})
        print(f"=== fold {f}: accuracy {100 * r['accuracy']:.1f}%, AUC {r['auc']:.3f} ({r['scoring']}); "
              f"plain cosine {100 * c['accuracy']:.1f}%, AUC {c['auc']:.3f}", flush=True)
    res = {"train_args": train_args, "folds": rows}
    for key in ("accuracy", "auc", "cosine_accuracy", "cosine_auc"):
        v = np.array([r[key] for r in rows])
        res[f"mean_{key}"] = float(v.mean())
    res["std_accuracy"] = float(np.std([r["accuracy"] for r in rows]))
    tmp = out / "crossval.json.tmp"
    tmp.write_text(json.dumps(res, indent=1))
    os.replace(tmp, out / "crossval.json")
    return res


def main(argv: Optional[list[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args: list[str] = []
    if "--" in argv:
        k = argv.index("--")
        argv, train_args = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(prog="python -m model.crossval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the fold runs and crossval.json")
    ap.add_argument("--fold", action="append", default=None,
                    help="held-out identities of one fold, e.g. 1-10 (repeatable; default: "
                         + ", ".join(DEFAULT_FOLDS) + ")")
    ap.add_argument("--teacher-cache", type=Path, default=None,
                    help="folder for cached teacher outputs shared between recipes "
                         "(default: <out>/../teacher-cache)")
    a = ap.parse_args(argv)
    for bad in ("--out", "--heldout-ids", "--generations", "--teacher-cache"):
        if bad in train_args:
            ap.error(f"{bad} after `--` is set by the cross-validation itself")
    if "--task" not in train_args:
        train_args = ["--task", "face"] + train_args
    from model.orl import split_ids

    folds = tuple(a.fold or DEFAULT_FOLDS)
    for f in folds:
        try:
            split_ids(f)
        except ValueError as e:
            ap.error(f"--fold: {e}")
    from model.arch import ArchError
    from model.checkpoint import CheckpointError
    from model.data import DataError
    from model.quant import QuantConfigError
    from model.teacher import TeacherError
    from model.train import TrainError

    try:
        res = crossval(a.out, folds, train_args, a.teacher_cache)
    except (TrainError, DataError, TeacherError, ArchError, QuantConfigError, CheckpointError,
            ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"\n{'fold':>8} {'accuracy':>9} {'AUC':>6}   {'cosine':>7} {'AUC':>6}   (accuracy/AUC: "
          f"through the scoring backend; cosine: plain)")
    for r in res["folds"]:
        print(f"{r['fold']:>8} {100 * r['accuracy']:8.1f}% {r['auc']:6.3f}   "
              f"{100 * r['cosine_accuracy']:6.1f}% {r['cosine_auc']:6.3f}")
    print(f"{'mean':>8} {100 * res['mean_accuracy']:8.1f}% {res['mean_auc']:6.3f}   "
          f"{100 * res['mean_cosine_accuracy']:6.1f}% {res['mean_cosine_auc']:6.3f}   "
          f"(written to {a.out / 'crossval.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
