"""Benchmark (not a test): C-simulation speed of the S=8 engine on VarGFaceNet's real layer
shapes, native C-sim types and ap_int types, next to the numpy integer reference.

    python -m hls.bench [--json PATH] [--repeat N]

Prints a table of MAC/s per layer shape and writes the figures as JSON if asked.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hls.csim import ConvInstance, Library
from hls.engines import MVAU, SWG, IntType
from model.argtypes import positive_int
from hls import intops

T4, U4 = IntType(4, True), IntType(4, False)

# (label, H, W, C, K, stride, pad, group size, MH per group, PE, SIMD)
SHAPES = [
    ("stage2 branch gconv 56x56x40->80 3x3/2", 56, 56, 40, 3, 2, 1, 8, 16, 16, 72),
    ("stage3 gconv 14x14x160->320 3x3/1", 14, 14, 160, 3, 1, 1, 8, 16, 16, 72),
    ("head block gconv 112x112x40->40 3x3/2", 112, 112, 40, 3, 2, 1, 8, 8, 8, 72),
    ("pointwise 28x28 160->80", 28, 28, 160, 1, 1, 0, 160, 80, 16, 32),
    ("embedding gconv 7x7x1024 7x7", 7, 7, 1024, 7, 1, 0, 8, 8, 8, 56),
]


def instance(h, w, c, k, st, pad, gs, mh, pe, simd) -> ConvInstance:
    swg = SWG(h, w, c, k, st, pad, gs, 8, simd, T4)
    return ConvInstance(MVAU(c // gs, k * k * gs, mh, pe, simd, swg.ofm_h * swg.ofm_w, T4, 4, U4), swg)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", default=None, help="write the results to this JSON file")
    ap.add_argument("--repeat", type=positive_int, default=3, help="timed runs per shape (best is kept)")
    a = ap.parse_args(argv)
    insts = [instance(*s[1:]) for s in SHAPES]
    libs = {mode: Library(insts, native=(mode == "native"), tag=f"bench-{mode}")
            for mode in ("native", "ap_types")}
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'layer':<42}{'MMACs':>8}{'native':>12}{'ap_types':>12}{'numpy':>12}   (MMAC/s)")
    for i, (label, *_rest) in enumerate(SHAPES):
        inst = insts[i]
        m, s = inst.mvau, inst.swg
        x = rng.integers(-8, 8, (1, s.ifm_h, s.ifm_w, s.ch))
        w = rng.integers(-8, 8, (m.channels_out, s.gs, s.k, s.k))
        thr = np.sort(rng.integers(-200, 200, (m.channels_out, m.nt)), axis=1)
        row = {"layer": label, "macs": m.macs()}
        for mode, lib in libs.items():
            best = min(_timed(lambda: lib(i, x, w, thr)) for _ in range(a.repeat))
            row[f"{mode}_s"] = best
        best = min(_timed(lambda: intops.multithreshold(
            intops.conv_int(x, w, s.stride, s.pad, m.groups), thr, 0)) for _ in range(a.repeat))
        row["numpy_s"] = best
        rows.append(row)
        mm = m.macs() / 1e6
        print(f"{label:<42}{mm:>8.1f}{mm / row['native_s']:>12.0f}{mm / row['ap_types_s']:>12.0f}"
              f"{mm / row['numpy_s']:>12.0f}")
    tot = sum(r["macs"] for r in rows) / 1e6
    for k in ("native_s", "ap_types_s", "numpy_s"):
        print(f"  all shapes, {k[:-2]}: {tot / sum(r[k] for r in rows):.0f} MMAC/s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
