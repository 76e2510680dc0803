"""Builds and runs the C++ testbenches of hls/tb/ (`make csim`).

Each testbench checks templates against plain C++ reference loops. It is compiled in three
modes: native C-sim types (fast), ap_int/ap_uint types (what synthesis sees), and native types
with the comparator form of the thresholds (the synthesised code path); optionally also under
-fsanitize=address,undefined.

    python -m hls.testbench             # all testbenches, all modes
    python -m hls.testbench --sanitize  # add an ASan/UBSan build of each
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from hls.csim import CXX, SANITIZE_FLAGS, CsimError, compile_flags, run_compiler
from hls.paths import TB_DIR

MODES = {
    "native": (True, []),
    "ap_types": (False, []),
    # the synthesised forms of the two C-sim shortcuts (threshold comparators, every bank read)
    "synthesis-paths": (True, ["-DVG_THRESHOLD_COUNT", "-DVG_SWG_READ_ALL"]),
}


def testbenches() -> list[Path]:
    return sorted(TB_DIR.glob("tb_*.cpp"))


def run_one(tb: Path, mode: str, sanitize: bool = False, workdir: Path | None = None) -> tuple[bool, str]:
    """Compiles and runs one testbench; returns (passed, its output or the compiler error)."""
    native, extra = MODES[mode]
    flags = compile_flags(native, "-O1" if sanitize else "-O2") + extra + ["-I", str(TB_DIR)]
    if sanitize:
        flags += SANITIZE_FLAGS
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        exe = Path(tmp) / tb.stem
        c = run_compiler([CXX, *flags, str(tb), "-o", str(exe)], tb.name)
        if c.returncode != 0:
            return False, c.stderr[-4000:]
        r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
        out = r.stdout + r.stderr
        ok = r.returncode == 0 and "FAIL" not in out and "runtime error" not in out
        return ok, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hls.testbench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=sorted(MODES), action="append",
                    help="compile mode (repeatable; default: all three)")
    ap.add_argument("--sanitize", action="store_true",
                    help="also build each testbench natively under -fsanitize=address,undefined")
    ap.add_argument("--only", default=None, help="run only testbenches whose name contains this")
    a = ap.parse_args(argv)
    runs = [(m, False) for m in (a.mode or list(MODES))]
    if a.sanitize:
        runs.append(("native", True))
    failed = 0
    total = 0
    for tb in testbenches():
        if a.only and a.only not in tb.name:
            continue
        for mode, san in runs:
            total += 1
            try:
                ok, out = run_one(tb, mode, san)
            except CsimError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            label = f"{tb.name} [{mode}{' +asan/ubsan' if san else ''}]"
            print(f"{'ok  ' if ok else 'FAIL'} {label}")
            if not ok:
                failed += 1
                print("   " + out.replace("\n", "\n   "))
    print(f"{total - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
