"""Runs the same images through a backend and through the golden integer model and reports
bit-exact agreement and the measured timing beside the simulator's estimate.

    python -m host.compare --design build/default --backend csim --images 8
    python -m host.compare --design build/default --backend simulated-board   # host env

`simulated-board` runs the board driver through pynq against a simulated ZCU104
(host/simulated_board.py), with a stand-in bitstream written for the design.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from host.accelerator import Accelerator, user_errors
from model.argtypes import positive_int


def compare(acc: Accelerator, images: np.ndarray, reference: Accelerator | None = None) -> dict[str, Any]:
    ref = reference or Accelerator(acc.root, backend="golden")
    a = acc.infer(images, score=False)  # the integers of the faces themselves
    b = ref.infer(images, score=False)
    diff = np.abs(a.raw - b.raw)
    return {
        "backend": a.backend, "reference": b.backend, "images": int(len(a.raw)),
        "integers": int(a.raw.size), "differing_integers": int((diff > 0).sum()),
        "largest_difference": int(diff.max()) if diff.size else 0,
        "bit_exact": bool((diff == 0).all()),
        "measured": a.timing.as_dict(),
        "simulated": {k: v for k, v in a.simulated.items() if k != "per_node_cycles"},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host.compare", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", required=True, help="build folder of the design")
    ap.add_argument("--backend", default="auto",
                    help="auto | board | csim | golden | simulated-board (the board driver through "
                         "pynq on a simulated board of the design's type; needs pynq)")
    ap.add_argument("--images", type=positive_int, default=8, help="held-out ORL faces to run")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    from model.orl import HELDOUT_IDS, load_orl

    try:
        if a.backend == "simulated-board":
            from host.simulated_board import simulated_board_accelerator

            acc = simulated_board_accelerator(a.design)
        else:
            acc = Accelerator(a.design, backend=a.backend)
        h, w, c = acc.shape
        x, _ = load_orl(HELDOUT_IDS, h, per_id=max(1, a.images // len(HELDOUT_IDS) + 1))
        r = compare(acc, x[: a.images, :, :, :c])
    except (*user_errors(), ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=1) if a.json else "\n".join(f"{k}: {v}" for k, v in r.items()))
    return 0 if r["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
