"""Parameters, MACs and feature-map sizes of an architecture, per stage and in total.

    python -m model.summary --model vargfacenet --input 112
    python -m model.summary --model vargnet --width 0.5 --input 224 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from model.arch import Arch, ArchError, build
from model.argtypes import positive_float, positive_int


def summarize(arch: Arch) -> dict[str, Any]:
    """The figures the CLI prints, as a dict (the --json output)."""
    stages = []
    for st in arch.stages():
        ls = [l for l in arch.layers if l.stage == st]
        if st == "input":
            continue
        stages.append({
            "stage": st,
            "params": sum(l.params() for l in ls),
            "macs": sum(l.macs() for l in ls),
            "out_shape": list(ls[-1].out_shape),
        })
    big = arch.largest_feature_map()
    grouped = [l for l in arch.layers if l.grouped]
    return {
        "model": arch.name,
        "arch_params": arch.params_,
        "params": arch.total_params(),
        "macs": arch.total_macs(),
        "grouped_conv_macs": sum(l.macs() for l in grouped),
        "grouped_convs": len(grouped),
        "layers": len(arch.layers),
        "largest_feature_map": {"layer": big.name, "shape": list(big.out_shape),
                                "elements": big.out_shape[0] * big.out_shape[1] * big.out_shape[2]},
        "stages": stages,
    }


def format_table(s: dict[str, Any]) -> str:
    lines = [f"{s['model']}  {s['arch_params']}",
             f"{'stage':<12}{'params':>12}{'MACs':>16}  output (C,H,W)"]
    for st in s["stages"]:
        lines.append(f"{st['stage']:<12}{st['params']:>12,}{st['macs']:>16,}  {tuple(st['out_shape'])}")
    lines.append(f"{'total':<12}{s['params']:>12,}{s['macs']:>16,}")
    lines.append(f"params {s['params'] / 1e6:.3f} M, MACs {s['macs'] / 1e6:.1f} M "
                 f"({2 * s['macs'] / 1e6:.0f} MFLOPs at 2 FLOPs/MAC), "
                 f"{s['grouped_convs']} S=8 group convs with {s['grouped_conv_macs'] / 1e6:.1f} M MACs")
    lf = s["largest_feature_map"]
    lines.append(f"largest feature map: {lf['layer']} {tuple(lf['shape'])} = {lf['elements']:,} values")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model.summary", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default="vargfacenet",
                    help="which network (default: vargfacenet)")
    ap.add_argument("--input", type=positive_int, default=None,
                    help="input height = width in pixels (default: 112 for vargfacenet, 224 for vargnet)")
    ap.add_argument("--width", type=positive_float, default=None,
                    help="width multiplier (default: 1.25 for vargfacenet, 1.0 for vargnet)")
    ap.add_argument("--json", action="store_true", help="print JSON (keys: params, macs, stages, ...)")
    a = ap.parse_args(argv)
    kw: dict[str, Any] = {}
    if a.input is not None:
        kw["input_size"] = a.input
    if a.width is not None:
        kw["multiplier" if a.model == "vargfacenet" else "width"] = a.width
    try:
        arch = build(a.model, **kw)
    except ArchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    s = summarize(arch)
    print(json.dumps(s, indent=1) if a.json else format_table(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
