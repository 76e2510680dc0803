"""Benchmark (not a test): time of the analytic path and of the event simulation of the
full-size VarGFaceNet (width 1.25) (folded for 1000 FPS on ZCU104), 2 frames.

    python -m sim.bench [--repeat 3]
"""

from __future__ import annotations

import argparse
import time

from hls.boards import get_board
from flow import fold_for_fps
from model.arch import vargfacenet
from model.argtypes import positive_int
from model.defaults import default_quant
from sim.analytic import analyse
from sim.events import simulate
from sim.fifo_sizing import size_fifos
from sim.programs import programs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=positive_int, default=3, help="timed runs (best is reported)")
    a = ap.parse_args(argv)
    acc = fold_for_fps(vargfacenet(), default_quant(), get_board("zcu104"), 1000).accelerator
    progs = programs(acc)
    jobs = sum(len(p.cycles) for p in progs)
    t_an = min(_t(lambda: analyse(acc)) for _ in range(a.repeat))
    t0 = time.perf_counter()
    sz = size_fifos(progs)
    t_size = time.perf_counter() - t0
    t_ev = min(_t(lambda: simulate(progs, sz.depths, 2)) for _ in range(a.repeat))
    print(f"design: {acc.name}, {len(acc.nodes)} engine nodes, {len(progs)} processes, "
          f"{jobs:,} jobs per frame")
    print(f"analytic path:               {t_an * 1e3:8.1f} ms")
    print(f"event simulation, 2 frames:  {t_ev:8.2f} s   (sized FIFOs)")
    print(f"FIFO sizing ({sz.rounds} rounds):      {t_size:8.2f} s")
    return 0


def _t(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    raise SystemExit(main())
