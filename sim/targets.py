"""Benchmark (not a test): issue 27's targets beside what the simulator estimates for them.

    python -m sim.targets                      # every row (full-size folds and sizings: 35 min here,
                                               # 2026-12-08, each row simulated to its steady state)
    python -m sim.targets --only zcu104-vargnet --json targets.json --plot plots/

Each row is a `python sim/run.py --model ...` run (fold from the architecture alone, FIFOs sized
by simulation, frames event-simulated), so every figure is an estimate of the hls/resources.py
model and the event simulation, not a synthesis result. A row is met when its simulated FPS
reaches the target, every resource is within 80% of the board and DDR traffic within 50% of
one HP port. The activation tables are thresholds unless --requant-assumed (which nodes an
exact requantization fits needs weights: `python -m flow build` decides that, and built
designs are smaller than these rows; sim/README.md gives both).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from hls.estimate import DDR_BUDGET
from sim.run import ERRORS, parse, simulate_design

RESOURCES = ("LUT", "FF", "DSP", "BRAM36", "URAM")
FIT = 0.8  # of every resource
DDR_SHARE = DDR_BUDGET  # of one HP port


@dataclass(frozen=True)
class Target:
    key: str
    what: str
    options: tuple[str, ...]  # sim/run.py's
    min_fps: Optional[float]  # None: the best FPS that fits
    reference: str = ""  # published figures to compare with (their source in the issue)


TARGETS = (
    Target("zcu104-vargfacenet", "VarGFaceNet 1.25x w4a4, ZCU104 200 MHz, every layer resident",
           ("--model", "vargfacenet", "--board", "zcu104", "--fps", "1000", "--shared-stages", "none"), 1000.0,
           "stretch 2000 FPS"),
    Target("zcu104-vargnet", "VarGNet 1.0x at 224, 1000 classes, ZCU104 200 MHz, every layer resident",
           ("--model", "vargnet", "--width", "1.0", "--input", "224", "--board", "zcu104", "--fps", "800",
            "--shared-stages", "none"),
           800.0, "Vitis AI DPU (2x B4096, 300 MHz): MobileNet-v1 784, v2 609 FPS; "
                  "FINN MobileNet-v1 w4a4 ~460 FPS"),
    Target("zcu104-vargfacenet-shared", "VarGFaceNet 1.25x w4a4, ZCU104, stage 4 on the shared engine",
           ("--model", "vargfacenet", "--board", "zcu104", "--fps", "1000", "--shared-stages", "stage4"), 1000.0,
           "stretch 2000 FPS"),
    Target("zcu104-vargfacenet-auto", "VarGFaceNet 1.25x w4a4, ZCU104, the flow's partition",
           ("--model", "vargfacenet", "--board", "zcu104", "--fps", "1000", "--shared-stages", "auto"), 1000.0,
           "stretch 2000 FPS"),
    Target("zcu104-vargnet-shared", "VarGNet 1.0x at 224, ZCU104, stage 5 on the shared engine",
           ("--model", "vargnet", "--width", "1.0", "--input", "224", "--board", "zcu104", "--fps", "800",
            "--shared-stages", "stage5"), 800.0),
    Target("zcu104-vargnet-auto", "VarGNet 1.0x at 224, ZCU104, the flow's partition",
           ("--model", "vargnet", "--width", "1.0", "--input", "224", "--board", "zcu104", "--fps", "800",
            "--shared-stages", "auto"), 800.0),
    Target("kv260-vargfacenet", "VarGFaceNet 1.25x w4a4, KV260, best that fits, the flow's partition",
           ("--model", "vargfacenet", "--board", "kv260", "--fit", "--shared-stages", "auto"), None),
    Target("zcu104-default", "the default design's architecture (0.25x), ZCU104",
           ("--model", "vargfacenet", "--width", "0.25", "--board", "zcu104", "--fps", "1000"), 1000.0,
           "keep its figures"),
)


@dataclass
class Row:
    key: str
    what: str
    target_fps: Optional[float]
    fps: float
    latency_ms: float
    utilisation: dict[str, float]
    ddr_fraction: float
    over_80: list[str]
    met: bool
    reference: str
    seconds: float


def measure(t: Target, requant_assumed: bool = False) -> Row:
    """One target's sim/run.py run, reduced to the figures the table compares."""
    t0 = time.perf_counter()
    a = parse(list(t.options) + (["--requant-assumed"] if requant_assumed else []))
    _, r, _ = simulate_design(a, say=lambda *_, **__: None)
    util = {k: float(r["resources"]["utilisation"][k]) for k in RESOURCES}
    ddr = float(r["ddr"]["fraction_of_hp_port"])
    fps = float(r["fps"] or 0.0)
    over = list(r["fits"]["over_80_percent"])
    return Row(t.key, t.what, t.min_fps, fps, float(r["latency_ms"] or 0.0), util, ddr, over,
               met(t.min_fps, fps, over, ddr), t.reference, time.perf_counter() - t0)


def met(min_fps: Optional[float], fps: float, over_80: list[str], ddr_fraction: float) -> bool:
    """The target's rule: fast enough (or any FPS for a best-fit row), within 80% of every
    resource, within half of one HP port."""
    return (min_fps is None or fps >= min_fps) and not over_80 and ddr_fraction <= DDR_SHARE


def format_rows(rows: list[Row]) -> str:
    head = f"{'target':<52}{'goal':>7}{'FPS':>8}{'ms':>7}" + "".join(f"{k:>8}" for k in RESOURCES) \
        + f"{'DDR':>6}  met"
    out = [head, "-" * len(head)]
    for r in rows:
        goal = f"{r.target_fps:.0f}" if r.target_fps else "fit"
        out.append(f"{r.what:<52}{goal:>7}{r.fps:8.0f}{r.latency_ms:7.2f}"
                   + "".join(f"{100 * r.utilisation[k]:7.0f}%" for k in RESOURCES)
                   + f"{100 * r.ddr_fraction:5.0f}%  {'yes' if r.met else 'NO'}"
                   + (f"  (over 80%: {', '.join(r.over_80)})" if r.over_80 else ""))
    refs = [f"  {r.what}: {r.reference}" for r in rows if r.reference]
    if refs:
        out += ["references:"] + refs
    out.append(f"met = FPS >= goal, every resource <= {FIT:.0%} of the board, DDR <= {DDR_SHARE:.0%} of "
               "one HP port. Estimates (hls/resources.py, event simulation), not synthesis results.")
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.targets", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=[t.key for t in TARGETS],
                    help="run this row only (repeatable; default: every row)")
    ap.add_argument("--requant-assumed", action="store_true",
                    help="the what-if of sim/run.py: integer requantizations where cheaper")
    ap.add_argument("--json", type=Path, help="also write the rows here (written atomically)")
    ap.add_argument("--plot", type=Path, help="also write targets.png (utilisation per target) into this folder")
    a = ap.parse_args(argv)
    rows: list[Row] = []
    failed = []
    for t in TARGETS:
        if a.only and t.key not in a.only:
            continue
        print(f"[targets] {t.what}: python sim/run.py {' '.join(t.options)} ...", file=sys.stderr, flush=True)
        try:
            rows.append(measure(t, a.requant_assumed))
        except ERRORS as e:  # the row cannot be folded: say why, go on with the others
            failed.append(f"{t.what}: {e}")
            print(f"[targets]   error: {e}", file=sys.stderr, flush=True)
            continue
        print(f"[targets]   {rows[-1].fps:.0f} FPS in {rows[-1].seconds:.0f} s", file=sys.stderr, flush=True)
    print(format_rows(rows))
    if a.plot and rows:
        from sim.plots import plot_targets

        a.plot.mkdir(parents=True, exist_ok=True)
        print(f"wrote {plot_targets(rows, a.plot / 'targets.png', FIT)}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = a.json.with_name(a.json.name + ".partial")
        tmp.write_text(json.dumps({"rows": [asdict(r) for r in rows], "requant_assumed": a.requant_assumed},
                                  indent=1))
        tmp.replace(a.json)
    for f in failed:
        print(f"error: {f}", file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
