"""Whole-network C-simulation: the generated node functions and C-sim top (hls/codegen.py)
compiled with g++ into a shared library (native C-sim types, cached by source hash), loaded
with the design's integer weights and thresholds (checked against the description like every
backend's: hls/design_files.py), and run on uint8 images from numpy. Given a build's hls/
folder it compiles that folder's network.h and csim_top.cpp, so what runs is the build's
own source (the host checks it against the build's manifest first)."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Optional

import numpy as np

from hls.accel import Accelerator
from hls.codegen import csim_top, engine_layout, network_header, param_arrays
from hls.design_files import check_params
from hls.params_buffer import SHARED_REGION, loads_cache, node_words, reads_buffer, region_words, regions
from hls.csim import COUNTER_EXPORT, CsimError, build_shared, compile_flags
from hls.engines import IntType


class NetworkCsim:
    """count: build with VG_COUNT_CYCLES, so that `counted` reports every node's pipelined
    loop iterations (the schedule check, python -m hls.schedule)."""

    def __init__(self, acc: Accelerator, params: dict[str, dict[str, np.ndarray]], *,
                 native: bool = True, opt: str = "-O2", count: bool = False,
                 sources: Optional[Path] = None):
        self.acc = acc
        self.count = count
        params = check_params(acc, params)
        if sources is not None:  # the build's own generated files
            missing = [f for f in ("network.h", "csim_top.cpp") if not (Path(sources) / f).is_file()]
            if missing:
                raise CsimError(f"{sources}: missing {', '.join(missing)}")
            header, top = ((Path(sources) / f).read_text() for f in ("network.h", "csim_top.cpp"))
        else:
            header, top = network_header(acc), csim_top(acc)
        src = header + top.replace('#include "network.h"\n', "")
        src = src.replace("#define VG_PARAM_CONST\n", "")
        src = "#define VG_PARAM_CONST\n" + src + COUNTER_EXPORT
        flags = compile_flags(native, opt) + (["-DVG_COUNT_CYCLES"] if count else [])
        self.path = build_shared(src, flags, tag=f"net-{acc.name}{'-count' if count else ''}")
        self._lib = ctypes.CDLL(str(self.path))
        self._lib.vg_load.restype = ctypes.c_int
        self._lib.vg_run.restype = ctypes.c_int
        self._lib.vg_load_ddr.restype = ctypes.c_int
        # the URAM caches are filled by the first frame run after their regions were loaded
        self.pending_load = False
        for i, n in enumerate(acc.nodes):
            if not param_arrays(n) and not reads_buffer(n):
                continue
            if n.name not in params:
                raise CsimError(f"node {n.name}: no weights/thresholds given")
            if reads_buffer(n):  # its region of the parameter buffer, packed as the host does
                self.load_ddr(n.name, node_words(acc, n, params[n.name]))
            keys = {k for k, _, _ in param_arrays(n)}
            for kind, arr in engine_layout(n, params[n.name]).items():
                if kind not in keys:
                    continue
                a = np.ascontiguousarray(arr, dtype=np.int64)
                rc = self._lib.vg_load(ctypes.c_int(i), ctypes.c_char(kind.encode()),
                                       a.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(a.size))
                if rc != 0:
                    raise CsimError(f"node {n.name}: loading {kind} failed ({rc})")
        for r in regions(acc):  # the shared engine's rows, packed as the host packs them
            if r.node == SHARED_REGION:
                self.load_ddr(r.node, region_words(acc, r, params))
        s_out = acc.stream(acc.output["stream"])
        self.out_size = s_out.words * s_out.n

    def load_ddr(self, node: str, data: bytes) -> None:
        """What a node's AXI master reads: its region of the parameter buffer (bytes). A URAM
        cache takes it in the next frame run with load (run's default after this call)."""
        i = next((k for k, n in enumerate(self.acc.nodes) if n.name == node), -1)  # -1: the shared region
        self.pending_load = self.pending_load or (i >= 0 and loads_cache(self.acc.nodes[i]))
        b = np.frombuffer(data, dtype=np.uint8)
        if self._lib.vg_load_ddr(ctypes.c_int(i), b.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(b.size)) != 0:
            raise CsimError(f"node {node}: loading its DDR region ({b.size} bytes) failed")

    def counted(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs x like `run`; returns (outputs, loop iterations per frame: one row per node in
        description order, one column per process)."""
        if not self.count:
            raise CsimError("this network C-sim was built without counting (count=True)")
        rows = np.zeros((len(self.acc.nodes), self._lib.vg_max_procs()), np.int64)
        self._lib.vg_count_into(rows.ctypes.data_as(ctypes.c_void_p))
        try:
            y = self.run(x)
        finally:
            self._lib.vg_count_into(None)
        return y, rows // max(1, len(x))

    def run(self, x: np.ndarray, load: Optional[bool] = None) -> np.ndarray:
        """x: uint8 codes N x H x W x C -> int64 accumulators N x channels. load: whether the
        first frame fills the URAM caches from the loaded regions, as the top's load flag
        (default: when a region was loaded since the last run that loaded)."""
        h, w, c = self.acc.input["shape"]
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != (h, w, c):
            raise ValueError(f"network C-sim: input must be N x {h} x {w} x {c}, got {x.shape}")
        t = IntType.parse(self.acc.input["dtype"])
        if not np.issubdtype(x.dtype, np.integer) or (x.size and (x.min() < t.min or x.max() > t.max)):
            raise ValueError(f"network C-sim: input must be integer codes of {t}")
        xi = np.ascontiguousarray(x, dtype=np.int64)
        y = np.zeros((x.shape[0], self.out_size), np.int64)
        load = self.pending_load if load is None else load
        rc = self._lib.vg_run(xi.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p),
                              ctypes.c_int(x.shape[0]), ctypes.c_int(int(load)))
        if load and x.shape[0]:
            self.pending_load = False
        if rc != 0:
            raise CsimError(f"network C-sim reported stream error {rc} (10: output word count, "
                            f"11: a stream left with data)")
        return y
