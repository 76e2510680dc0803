"""The schedule check of a build: the whole-network C-simulation compiled with VG_COUNT_CYCLES
counts every node's pipelined loop iterations (one per cycle at II = 1) over one frame, and
they are compared, node by node, with the node's cycle formula in hls/engines/.

    python -m hls.schedule --design build/default [--json PATH]

Prints the nodes with their counted and formula cycles (the slowest first) and exits 1 if any
node differs. JSON: {"design", "nodes": [{"name", "kind", "counted", "formula"}, ...],
"differing"}. Counted iterations are what the C++ does, not what a synthesis tool makes of it:
each pipelined loop also pays its pipeline depth once per frame, and II = 1 itself is a claim
only Vitis HLS confirms (make hls-check).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np


def count_nodes(acc, params: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """One frame of the network C-sim with counting on: per node, the counted iterations (the
    largest process's) beside the formula; the shared part as one row, each of its loops
    (engine, reader, in and out converters) against its count (SharedBlock.loop_counts)."""
    from hls.csim_net import NetworkCsim
    from hls.engines import IntType
    from hls.shared_cost import part_node

    net = NetworkCsim(acc, params, count=True)
    h, w, c = acc.input["shape"]
    t = IntType.parse(acc.input["dtype"])
    x = np.random.default_rng(0).integers(t.min, t.max + 1, (1, h, w, c))
    _, rows = net.counted(x)
    nodes = []
    shared_row = None
    for n, row in zip(acc.nodes, rows):
        if n.memory == "shared":  # counted in the first shared node's row: the shared part's
            shared_row = row if shared_row is None else shared_row
            continue
        e = n.engine()
        nodes.append({"name": n.name, "kind": n.kind, "counted": int(row.max()),
                      "formula": int(e.cycles()),
                      "processes": [int(v) for v in row[:len(e.processes())]]})
    pn = part_node(acc)
    if pn is not None and shared_row is not None:
        loops = pn.engine().loop_counts()
        counted = [int(v) for v in shared_row[:len(loops)]]
        nodes.append({"name": pn.name, "kind": pn.kind, "counted": max(counted), "formula": max(loops),
                      "processes": counted, "process_formulas": loops,
                      "differs": counted != loops})
    return {"design": acc.name, "nodes": nodes,
            "differing": sum(1 for r in nodes if r["counted"] != r["formula"] or r.get("differs"))}


def check(design: Path) -> dict[str, Any]:
    """count_nodes for a build folder (its description and parameter files)."""
    from hls.accel import Accelerator
    from hls.design_files import load_params

    acc = Accelerator.load(design)
    return count_nodes(acc, load_params(acc))


def format_table(rep: dict[str, Any], limit: Optional[int] = 25) -> str:
    rows = sorted(rep["nodes"], key=lambda r: -r["formula"])
    shown = rows if limit is None else rows[:limit]
    out = [f"{'node':34s} {'kind':14s} {'counted':>10s} {'formula':>10s}"]
    for r in shown:
        mark = "" if r["counted"] == r["formula"] else "   <-- differs"
        out.append(f"{r['name']:34s} {r['kind']:14s} {r['counted']:10d} {r['formula']:10d}{mark}")
    bad = [r for r in rows[len(shown):] if r["counted"] != r["formula"]]
    for r in bad:
        out.append(f"{r['name']:34s} {r['kind']:14s} {r['counted']:10d} {r['formula']:10d}   <-- differs")
    if len(rows) > len(shown):
        out.append(f"... {len(rows) - len(shown) - len(bad)} more nodes, all equal (--all prints them)")
    out.append(f"{len(rows)} nodes of {rep['design']}: {rep['differing']} differ from their formula")
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.schedule", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--design", type=Path, required=True,
                    help="a build folder (or its accelerator.json) written by the flow")
    ap.add_argument("--json", type=Path, help="also write the per-node table here")
    ap.add_argument("--all", action="store_true", help="print every node, not the 25 slowest")
    a = ap.parse_args(argv)
    from hls.accel import DescriptionError
    from hls.csim import CsimError

    try:
        rep = check(a.design)
    except (DescriptionError, CsimError, OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table(rep, None if a.all else 25))
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(rep, indent=1))
        print(f"wrote {a.json}")
    return 1 if rep["differing"] else 0


if __name__ == "__main__":
    sys.exit(main())
