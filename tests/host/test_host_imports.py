"""What a board's Python runs: the host package loads without torch and without the flow
(run in both environments; the PYNQ-like one has pynq for the simulated board)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_host_modules_load_without_torch_or_the_flow():
    mods = sorted(p.stem for p in (ROOT / "host").glob("*.py") if p.stem != "__init__")
    if importlib.util.find_spec("pynq") is None:  # the toolchain env: the stand-in board needs pynq
        mods.remove("simulated_board")
    code = ("import sys, host; " + "; ".join(f"import host.{m}" for m in mods)
            + "; print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'flow', 'brevitas'}))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", f"host modules pulled in {r.stdout.strip()}"
