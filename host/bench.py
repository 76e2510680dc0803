"""Benchmark (not a test): host-side cost per image (input checks and packing, output
unpacking, dequantisation, BN1d and L2 norm) in numpy, against the default design's simulated
frame time on ZCU104 (target: under 5% of it).

    python -m host.bench [--design build/default] [--batch 64] [--repeat 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from model.argtypes import positive_int

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", type=Path, default=ROOT / "build" / "default")
    ap.add_argument("--batch", type=positive_int, default=64, help="images per batch (64)")
    ap.add_argument("--repeat", type=positive_int, default=20, help="timed batches (20)")
    a = ap.parse_args(argv)
    from host import Accelerator
    from hls.packing import check_images, pack_input, unpack_output

    acc = Accelerator(a.design, backend="golden")
    h, w, c = acc.shape
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (a.batch, h, w, c)).astype(np.uint8)
    out = rng.integers(-2 ** 20, 2 ** 20, (a.batch, acc.channels)).astype(np.int32)

    def best(fn) -> float:
        ts = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return min(ts) / a.batch

    t_pack = best(lambda: pack_input(check_images(x, acc.shape)))
    t_unpack = best(lambda: unpack_output(out, acc.channels))
    raw = unpack_output(out, acc.channels)
    t_tail = best(lambda: acc.postprocess(raw))
    total = t_pack + t_unpack + t_tail
    sim = acc.simulated()
    frame = 1.0 / sim["fps"]
    print(f"design {acc.desc.name}: {h}x{w}x{c} input, {acc.channels} outputs, batch {a.batch}")
    print(f"per image: pack {1e6 * t_pack:.1f} us, unpack {1e6 * t_unpack:.1f} us, "
          f"tail {1e6 * t_tail:.1f} us, total {1e6 * total:.1f} us")
    print(f"simulated frame time on {acc.desc.board}: {1e6 * frame:.1f} us ({sim['fps']:.0f} FPS); "
          f"host share {100 * total / frame:.2f}% (target < 5%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
