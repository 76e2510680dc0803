"""The main job on the default design, in simulation mode (`make demo`):

1. build the default design from its committed checkpoint with the compile flow (or reuse
   build/default when it was built from the same checkpoint);
2. run the held-out ORL identities (s31..s40, never trained on) through the host driver with
   the whole-network C-sim backend;
3. print the face-verification accuracy (10-fold, balanced pairs; through the design's scoring
   backend when it has one, model/scoring.py, with the flip test when it was fitted on it, and
   by plain cosine of the single-pass embeddings beside), the bit-exact agreement of
   the C-sim with the golden integer model (and, from the build's verification, of the
   synthesis top that goes to Vitis HLS), the per-layer agreement of the integer layers
   with the trained Brevitas network (flow/agreement.py), and the simulator's FPS and latency on ZCU104.

    python -m host.demo [--checkpoint CK.pt] [--build build/default] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from model.argtypes import positive_float

ROOT = Path(__file__).resolve().parents[1]


def _digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def ensure_build(checkpoint: Path, out: Path, board: str, fps: float, rebuild: bool) -> Path:
    from hls.csim import _headers_digest

    stamp = out / "source.json"
    want = {"checkpoint_sha256": _digest(checkpoint), "board": board, "fps": fps,
            "hls_headers_sha256": _headers_digest()}
    if not rebuild and stamp.is_file() and (out / "manifest.json").is_file():
        if json.loads(stamp.read_text()) == want:
            print(f"[demo] reusing {out} (built from this checkpoint with these HLS engines)")
            return out
    from flow import BuildConfig, build

    print(f"[demo] building {out} from {checkpoint} for {board} ...", flush=True)
    build(BuildConfig(out=out, checkpoint=checkpoint, board=board, fps=fps, verify_images=2,
                      finn_report=False))
    stamp.write_text(json.dumps(want))
    return out


def brevitas_agreement(checkpoint: Path, build: Path, x: np.ndarray) -> dict[str, int]:
    """flow/agreement.py over faces x: each integer layer against its Brevitas layer."""
    from hls.accel import Accelerator as Description
    from flow import layer_agreement, totals
    from model.checkpoint import load_net

    net, _ = load_net(checkpoint)
    return {"faces": len(x), **totals(layer_agreement(net, Description.load(build), x))}


def main(argv: list[str] | None = None) -> int:
    from model.evaluate import DEFAULT_CHECKPOINT

    ap = argparse.ArgumentParser(prog="python -m host.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT, help="quantized checkpoint")
    ap.add_argument("--build", type=Path, default=ROOT / "build" / "default", help="build folder")
    ap.add_argument("--board", default="zcu104", help="target board (zcu104)")
    ap.add_argument("--fps", type=positive_float, default=1000.0, help="folding target of the build (1000)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild even if the build is current")
    a = ap.parse_args(argv)
    if not a.checkpoint.is_file():
        print(f"error: {a.checkpoint}: no such checkpoint (the default design is committed as "
              f"model/checkpoints/default.pt; `make train` reproduces it)", file=sys.stderr)
        return 2
    try:
        return run(a)
    except _errors() as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _errors() -> tuple[type, ...]:
    from flow import BuildError
    from flow import FoldingError
    from host.accelerator import user_errors
    from model.checkpoint import CheckpointError

    return (*user_errors(), BuildError, FoldingError, CheckpointError)


def run(a: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    out = ensure_build(a.checkpoint, a.build, a.board, a.fps, a.rebuild)
    from host import Accelerator
    from host.compare import compare
    from model.data import balanced_pairs
    from model.orl import HELDOUT_IDS, load_orl
    from model.verification import verify

    acc = Accelerator(out, backend="csim")
    h, w, c = acc.shape
    x, y = load_orl(HELDOUT_IDS, h)
    res = acc.infer(x[..., :c])
    pairs, issame = balanced_pairs(y, seed=0)
    e = res.verification_embeddings
    v = verify(e[pairs[:, 0]], e[pairs[:, 1]], issame)
    plain = verify(res.output[pairs[:, 0]], res.output[pairs[:, 1]], issame)
    cmp = compare(acc, x[:10, :, :, :c])
    agree = brevitas_agreement(a.checkpoint, out, x[::10, :, :, :c])
    from hls.design_files import verify_manifest

    verify_manifest(out, ["reports/estimate.json", "reports/verification.json"])
    est = json.loads((out / "reports" / "estimate.json").read_text())
    print("\n=== VarGFaceNet accelerator, simulation mode ===")
    print(f"design: {acc.desc.name} ({acc.desc.arch['name']} {acc.desc.arch['params']}, "
          f"quant {acc.desc.quant})")
    how = f"through {acc.scoring.describe()}" if acc.scoring else "plain cosine"
    print(f"held-out ORL verification (s31-s40, {v.pairs} balanced pairs, 10-fold, {how}): "
          f"accuracy {100 * v.accuracy:.1f}% +- {100 * v.accuracy_std:.1f}, AUC {v.auc:.4f}")
    if acc.scoring:
        print(f"  the faces' single-pass embeddings by plain cosine: accuracy {100 * plain.accuracy:.1f}% "
              f"+- {100 * plain.accuracy_std:.1f}, AUC {plain.auc:.4f}")
    print(f"C-sim vs golden integer model on 10 faces: {cmp['differing_integers']} of "
          f"{cmp['integers']} integers differ (bit-exact: {cmp['bit_exact']})")
    ver = json.loads((out / "reports" / "verification.json").read_text())
    top_ok = ver.get("synthesis_top_equals_golden")
    print(f"synthesis top (hls/top.cpp with its ROMs, as Vitis HLS gets it; g++ with ap_int types, "
          f"driven through its AXI streams) vs golden on {ver['images']} faces at build time: "
          f"{ver.get('differing_integers_synthesis_top')} integers differ (bit-exact: {top_ok})")
    print(f"integer layers vs the trained Brevitas network, per layer on the same input codes "
          f"({agree['faces']} faces, {agree['layers']} quantized outputs): {agree['mismatched']} of "
          f"{agree['codes']} codes differ, {agree['off_tie']} of them away from a rounding tie")
    frames = f"{len(x)} faces" + (" and their mirror images" if res.mirror is not None else "")
    print(f"host timing (C-sim backend, {res.timing.images} frames: {frames}): {res.timing.fps:.1f} frames/s "
          f"on this machine (pack {1e3 * res.timing.pack_s:.2f} ms, compute {res.timing.compute_s:.2f} s, "
          f"unpack+tail {1e3 * (res.timing.unpack_s + res.timing.tail_s):.2f} ms)")
    per_face = (f" ({est['fps'] / 2:.0f} faces/s with the flip test's two frames per face)"
                if res.mirror is not None else "")
    print(f"simulator estimate on {acc.desc.board} at {acc.desc.clock_mhz:g} MHz: "
          f"{est['fps']:.0f} FPS{per_face}, batch-1 latency {est['latency_ms']:.3f} ms; estimated resources "
          f"{est['resources']['estimate']} "
          f"({'within' if est['fits']['within_80_percent'] else 'NOT within'} 80% of the board)")
    print(f"[demo] done in {time.perf_counter() - t0:.0f} s")
    return 0 if cmp["bit_exact"] and top_ok and agree["off_tie"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
