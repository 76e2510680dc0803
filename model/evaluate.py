"""Evaluation: face verification (10-fold accuracy and threshold, ROC AUC, TAR at FAR 1e-2 /
1e-3) on held-out ORL identities or an insightface `.bin` set, and classification top-1.

    python -m model.evaluate --default --json                    # the default design
    python -m model.evaluate --checkpoint runs/x/final.pt --data orl-heldout
    python -m model.evaluate --teacher sface --data orl-heldout   # the teacher on the same pairs
    python -m model.evaluate --checkpoint fm.pt --data fashion-mnist

Held-out ORL pairs: all same-identity pairs of s31..s40 and as many different-identity pairs
(seeded), the LFW-style balanced protocol.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = ROOT / "model" / "checkpoints" / "default.pt"


def face_pairs(data: str, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, index pairs P x 2, issame."""
    from model.data import balanced_pairs, load_bin
    from model.orl import HELDOUT_IDS, load_orl

    if data == "orl-heldout":
        x, y = load_orl(HELDOUT_IDS, size)
        pairs, issame = balanced_pairs(y, seed=0)
        return x, pairs, issame
    x, issame = load_bin(data, size)
    pairs = np.arange(len(x)).reshape(-1, 2)
    return x, pairs, issame


def flip_embed(embed, x: np.ndarray) -> np.ndarray:
    """The "flip test" of face verification: the sum of the L2-normalised embeddings of each
    image and its horizontal mirror (two passes per face on the accelerator)."""
    a, b = embed(x), embed(np.ascontiguousarray(x[:, :, ::-1]))
    unit = lambda e: e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)  # noqa: E731
    return unit(a) + unit(b)


def evaluate_embedder(embed, size: int, data: str, flip: bool = False) -> dict[str, Any]:
    from model.verification import verify

    x, pairs, issame = face_pairs(data, size)
    e = flip_embed(embed, x) if flip else embed(x)
    return {**verify(e[pairs[:, 0]], e[pairs[:, 1]], issame).as_dict(), "flip": flip}


def evaluate_checkpoint(path: Path, data: Optional[str] = None, flip: bool = False) -> dict[str, Any]:
    from model.checkpoint import load_net
    from model.train import embed, top1

    net, _ = load_net(path)
    size = net.arch.input.out_shape[1]
    if net.arch.name == "vargnet":
        from model.data import load_fashion_mnist

        if data not in (None, "fashion-mnist"):
            raise ValueError("vargnet checkpoints are evaluated on fashion-mnist")
        x, y = load_fashion_mnist("test", size)
        acc = top1(net, x, y)
        return {"task": "classify", "data": "fashion-mnist test", "top1": acc, "accuracy": acc}
    d = evaluate_embedder(lambda imgs: embed(net, imgs), size, data or "orl-heldout", flip)
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
                    help="faces: flip test (sum of the normalised embeddings of each image and its "
                         "mirror image)")
    a = ap.parse_args(argv)
    from model.checkpoint import CheckpointError
    from model.data import DataError
    from model.teacher import TeacherError, load_teacher

    try:
        if a.teacher:
            t = load_teacher(a.teacher)
            res = {"task": "face", "data": a.data or "orl-heldout", "model": a.teacher,
                   **evaluate_embedder(t.embed, t.size, a.data or "orl-heldout", a.flip)}
        else:
            path = DEFAULT_CHECKPOINT if a.default else a.checkpoint
            if not path.is_file():
                raise CheckpointError(f"{path}: no such checkpoint" + (
                    " (the trained default design has not been committed yet)" if a.default else ""))
            res = {"model": str(path), **evaluate_checkpoint(path, a.data, a.flip)}
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
