"""Fitting the scoring backend (model/scoring.py) for a trained face network: embeds its own
training identities with PyTorch and fits WCCN; the CLI `python -m model.scoring` (which runs
this module's main) stores it in a checkpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Optional

from model.argtypes import nonneg_int, positive_float
from model.inference import embed
from model.scoring import (COPIES, FLIP, LAMBDA, SEED, ScoringError, Wccn, fit_wccn, flip_test,
                           mirror, training_views, unit)


def fit_for_net(net, train_config: dict[str, Any], lam: float = LAMBDA, copies: int = COPIES,
                seed: int = SEED, flip: bool = FLIP) -> Wccn:
    """Fits the backend for a trained face network on its own training identities."""
    from model.data import training_faces
    from model.orl import HELDOUT_SPEC

    x, y = training_faces(train_config.get("data", "orl"),
                          train_config.get("heldout_ids") or HELDOUT_SPEC, net.arch.input.out_shape[1])
    xv, yv = training_views(x, y, copies, seed, flip)
    views = flip_test(embed(net, xv), embed(net, mirror(xv))) if flip else unit(embed(net, xv))
    return fit_wccn(views, yv, lam, flip)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.scoring", description=_scoring_doc(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, required=True,
                    help="a face checkpoint of ours; rewritten (atomically) with the backend in it")
    ap.add_argument("--lam", type=positive_float, default=LAMBDA,
                    help=f"ridge as a fraction of the mean within-class eigenvalue ({LAMBDA})")
    ap.add_argument("--copies", type=nonneg_int, default=COPIES,
                    help=f"augmented copies per training face besides it (and its mirror) ({COPIES})")
    ap.add_argument("--no-flip", dest="flip", action="store_false",
                    help="single-pass embeddings instead of the flip test (face + mirror image, "
                         "two passes per face)")
    ap.add_argument("--seed", type=int, default=SEED, help="augmentation seed")
    ap.add_argument("--remove", action="store_true", help="drop the checkpoint's backend instead")
    a = ap.parse_args(argv)
    from model.checkpoint import CheckpointError, net_from, read, write
    from model.data import DataError

    try:
        ck = read(a.checkpoint)
        extra = dict(ck["extra"])
        if a.remove:
            extra.pop("scoring", None)
            msg = "removed the scoring backend"
        else:
            net, _ = net_from(ck, str(a.checkpoint))
            if net.arch.name != "vargfacenet":
                raise ScoringError(f"{a.checkpoint}: a {net.arch.name} checkpoint has no face embedding")
            cfg = extra.get("train_config")
            if not cfg:
                raise ScoringError(f"{a.checkpoint}: no train_config, so its training identities are unknown")
            w = fit_for_net(net, cfg, a.lam, a.copies, a.seed, a.flip)
            extra["scoring"] = w.to_state()
            msg = f"stored {w.describe()}"
        write(dict(ck, extra=extra), a.checkpoint)
    except (CheckpointError, DataError, ScoringError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{a.checkpoint}: {msg}")
    return 0




def _scoring_doc() -> str:
    import model.scoring

    return model.scoring.__doc__ or ""


if __name__ == "__main__":
    sys.exit(main())
