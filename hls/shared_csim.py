"""The shared part's C-simulation on its own (hls/shared_part.py builds the program and packs
its rows): the engine's config and a C entry point compiled with g++, run on the part's input
map with the rows as the master reads them; for the part checked against the golden model's
nodes without the rest of the network (tests/test_shared_engine.py)."""

from __future__ import annotations

import ctypes

import numpy as np

from hls.csim import COUNTER_EXPORT, build_shared, compile_flags
from hls.shared_part import ProgramError, SharedPart, config_text


def engine_source(part: SharedPart, name: str = "part") -> str:
    """The engine's config (the program as a constexpr table) and a C entry point that runs a
    frame: the reader on the buffer's words, then the engine on the input map."""
    p = part.plan
    return f"""#include "vg_ddr.h"
#include "vg_shared.h"

{config_text(part, name)}
typedef vg::shared_types<{name}_engine> {name}_types;
static {name}_types::chunk {name}_maps[{2 * p.gp}][{name}_types::ROWS];

extern "C" int vg_part_run(const unsigned char* bytes, long words, const int* in, long n_in, int* out, long n_out) {{
  typedef {name}_engine E;
  constexpr int PORT = {p.port_bits}, N = E::GP * 8;
  if (n_in % N != 0 || n_out % N != 0) return 1;
  std::vector<vg::ddr_word<PORT>::type> mem((size_t)words);
  vg::ddr_words_from_bytes<PORT>(bytes, words, mem.data());
  hls::stream<{name}_types::wrow> wts;
  hls::stream<{name}_types::trow> thrs;
  hls::stream<{name}_types::io_word> sin, sout;
  for (long i = 0; i < n_in; i += N) {{
    {name}_types::io_word w;
    for (int e = 0; e < N; e++) w.v[e] = (E::map_t)in[i + e];
    sin.write(w);
  }}
  VG_STAGE(0);
  vg::shared_reader<E, PORT>(mem.data(), wts, thrs);
  vg::shared_block<E>({name}_maps, wts, thrs, sin, sout);
  long k = 0;
  while (!sout.empty()) {{
    const {name}_types::io_word w = sout.read();
    for (int e = 0; e < N; e++, k++) if (k < n_out) out[k] = (int)w.v[e];
  }}
  return (k == n_out && wts.empty() && thrs.empty() && sin.empty()) ? 0 : 2;
}}
"""


class PartCsim:
    """The shared part compiled with g++ (native C-sim types; count: with VG_COUNT_CYCLES, so
    that `counted` holds the engine's (0) and the reader's (1) loop iterations of the last run)."""

    def __init__(self, part: SharedPart, count: bool = True):
        self.part = part
        self.count = count
        src = "#include <vector>\n" + engine_source(part) + COUNTER_EXPORT
        flags = compile_flags(True, "-O2") + (["-DVG_COUNT_CYCLES"] if count else [])
        self._lib = ctypes.CDLL(str(build_shared(src, flags, tag="shared-part")))
        self._lib.vg_part_run.restype = ctypes.c_int
        self.counted = np.zeros(8, np.int64)

    def run(self, buffer: np.ndarray, x: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
        """One frame: x (H x W x C codes of the part's input) -> the part's output map."""
        port = self.part.plan.port_bits
        buf = np.ascontiguousarray(buffer, np.uint8)
        if buf.size % (port // 8):
            raise ProgramError(f"the rows take {buf.size} bytes, not a whole number of {port}-bit words")
        xin = np.ascontiguousarray(np.asarray(x).reshape(-1), np.int32)
        out = np.zeros(int(np.prod(out_shape)), np.int32)
        if self.count:
            rows = self.counted = np.zeros(int(self._lib.vg_max_procs()), np.int64)
            self._lib.vg_count_into(rows.ctypes.data_as(ctypes.POINTER(ctypes.c_longlong)))
        rc = self._lib.vg_part_run(buf.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(buf.size // (port // 8)),
                                   xin.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(xin.size),
                                   out.ctypes.data_as(ctypes.c_void_p), ctypes.c_long(out.size))
        if rc != 0:
            raise ProgramError(f"the shared part's C-sim failed (code {rc}: 1 a map not of whole stream words, "
                               f"2 streams left unread or an output of the wrong size)")
        return out.reshape(out_shape)
