"""C-simulation of exactly what goes to Vitis HLS: a build's synthesis top (hls/top.cpp with
network.h and the weights.h ROM initialisers) and its testbench (hls/tb_top.cpp), compiled
with g++ against the ap_types headers (ap_int datapaths, no VG_NATIVE_TYPES) as csim_design
compiles them, and run on packed images through the top's AXI-stream ports.

The executable is cached under build/csim-cache by a hash of the build's sources, the engine
headers and the flags, so an edited source is what runs."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from hls.csim import (CACHE_DIR, CXX, WARN_FLAGS, CsimError, _headers_digest, cached_artifact,
                      record_artifact, run_compiler)
from hls.paths import INCLUDE_DIR, ap_types_dir

SOURCES = ("top.cpp", "tb_top.cpp")
HEADERS = ("network.h", "weights.h")
INPUT_FILE, OUTPUT_FILE, EXPECTED_FILE = "tb_input.bin", "tb_output.bin", "tb_expected.bin"


def top_flags(hls_dir: Path) -> list[str]:
    return [*WARN_FLAGS, "-Wno-uninitialized", "-O1", "-isystem", str(ap_types_dir()),
            "-I", str(INCLUDE_DIR), "-I", str(hls_dir)]


class TopCsim:
    def __init__(self, build_dir: Path):
        from hls.params_buffer import FILE

        self.hls_dir = Path(build_dir) / "hls"
        self.params = Path(build_dir) / FILE if (Path(build_dir) / FILE).is_file() else None
        missing = [f for f in SOURCES + HEADERS if not (self.hls_dir / f).is_file()]
        if missing:
            raise CsimError(f"{self.hls_dir}: missing {', '.join(missing)} (build with the weights "
                            f"header: python -m flow build without --no-weights-header)")
        flags = top_flags(self.hls_dir)
        h = hashlib.sha256(_headers_digest().encode())
        for f in SOURCES + HEADERS:
            h.update(f.encode())
            h.update((self.hls_dir / f).read_bytes())
        h.update("\0".join([CXX, *flags]).encode())
        self.exe = CACHE_DIR / f"top-{h.hexdigest()[:20]}"
        self.compile_seconds = 0.0
        if not cached_artifact(self.exe):
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            tmp = self.exe.with_name(self.exe.name + f".{os.getpid()}.tmp")
            cmd = [CXX, *flags, *(str(self.hls_dir / f) for f in SOURCES), "-o", str(tmp)]
            r = run_compiler(cmd, "the synthesis top")
            if r.returncode != 0:
                raise CsimError(f"g++ failed on the synthesis top {self.hls_dir / 'top.cpp'}:\n"
                                f"{r.stderr[-4000:]}")
            record_artifact(tmp, self.exe)
            self.compile_seconds = time.perf_counter() - t

    def run_beats(self, beats: np.ndarray, expected: "np.ndarray | None" = None,
                  workdir: "Path | None" = None) -> tuple[np.ndarray, str]:
        """uint32 input beats (N x pixels) -> (int32 output beats N x beats, the testbench's
        last line). With `expected`, the testbench compares and fails on a difference."""
        with tempfile.TemporaryDirectory(dir=workdir) as tmp:
            fin, fout, fexp = (Path(tmp) / n for n in (INPUT_FILE, OUTPUT_FILE, EXPECTED_FILE))
            np.ascontiguousarray(beats, dtype="<u4").tofile(fin)
            args = [str(self.exe), str(fin), str(fout)]
            if expected is not None:
                np.ascontiguousarray(expected, dtype="<i4").tofile(fexp)
                args.append(str(fexp))
            if self.params is not None:  # the parameter buffer the AXI masters read
                args += ([] if expected is not None else ["-"]) + [str(self.params)]
            r = subprocess.run(args, capture_output=True, text=True)
            last = (r.stdout.strip().splitlines() or [""])[-1]
            if r.returncode != 0 and not (expected is not None and r.returncode == 1 and fout.is_file()):
                raise CsimError(f"the synthesis top's testbench failed ({r.returncode}): {last}")
            y = np.fromfile(fout, dtype="<i4").reshape(len(beats), -1)
        return y, last
