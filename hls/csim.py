"""C-simulation harness: compiles engine instances of hls/include/*.h with g++ into a shared
library and drives them from numpy through ctypes.

Each engine instance becomes one `extern "C"` function that packs numpy codes into stream
words, runs the template(s) and unpacks the result. Several instances compile into one
library (one g++ run), cached under build/csim-cache by a hash of the generated source, the
headers and the flags, so unchanged instances are never recompiled. Parameters are checked
in Python (hls/engines/ raises EngineError, a ValueError) before anything is compiled.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from hls.engines import MVAU, SWG, Engine, EngineError, IntType, WidthConvert, word_type
from hls.layout import mvau_thresholds, mvau_weights
from hls.paths import INCLUDE_DIR, ap_types_dir

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = Path(os.environ.get("VG_CSIM_CACHE", ROOT / "build" / "csim-cache"))
CXX = os.environ.get("CXX", "g++")
WARN_FLAGS = ["-std=c++14", "-Wall", "-Wextra", "-Werror", "-Wno-unknown-pragmas",
              "-Wno-unused-label", "-Wno-unused-parameter", "-Wno-maybe-uninitialized"]
SANITIZE_FLAGS = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g"]


class CsimError(RuntimeError):
    pass


def compile_flags(native: bool = True, opt: str = "-O2") -> list[str]:
    f = [*WARN_FLAGS, opt, "-isystem", str(ap_types_dir()), "-I", str(INCLUDE_DIR)]
    if native:
        f.append("-DVG_NATIVE_TYPES")
    else:  # ap_private's constructors trip g++ 12's flow analysis inside the vendor headers
        f.append("-Wno-uninitialized")
    return f


def _headers_digest() -> str:
    h = hashlib.sha256()
    for p in sorted(INCLUDE_DIR.glob("*.h")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_artifact(out: Path) -> bool:
    """Whether a cached library or executable is there and whole: its sha256, recorded beside
    it when it was built (<name>.sha256), must match. A damaged one (a truncated copy, a
    flipped byte) is built again and replaced: loading it could end the process with a bus
    error instead of a message. Nothing is deleted, so that a parallel process that is about
    to load a good copy never finds it gone."""
    digest = out.with_name(out.name + ".sha256")
    try:
        return out.is_file() and digest.read_text().strip() == _file_sha256(out)
    except OSError:
        return False


def record_artifact(tmp: Path, out: Path) -> None:
    """Moves a freshly built file into the cache with its sha256 beside it (each replace
    atomic; the digest first, so that a file in the cache never lacks its digest)."""
    digest = out.with_name(out.name + ".sha256")
    d_tmp = tmp.with_name(tmp.name + ".sha256")
    d_tmp.write_text(_file_sha256(tmp) + "\n")
    os.replace(d_tmp, digest)
    os.replace(tmp, out)


def run_compiler(cmd: Sequence[str], what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(list(cmd), capture_output=True, text=True)
    except FileNotFoundError:
        raise CsimError(f"{cmd[0]}: no C++ compiler of that name on PATH; the C-simulation of "
                        f"{what} needs g++ (or set CXX to one)") from None


# Many libraries share one process, and their template instances share mangled names
# (vg::mvau<cfg_x> for different structs cfg_x of one name): -fno-gnu-unique keeps each
# library's static locals (line buffers, frame buffers) its own under ctypes' RTLD_LOCAL,
# where g++'s default STB_GNU_UNIQUE binding would give every library the first one's.
SHARED_FLAGS = ("-fPIC", "-fno-gnu-unique", "-shared")


def build_shared(source: str, flags: Sequence[str], tag: str = "lib") -> Path:
    """Compiles C++ source into a cached shared library; returns its path."""
    key = hashlib.sha256("\0".join([source, _headers_digest(), CXX, *flags, *SHARED_FLAGS]).encode()).hexdigest()[:20]
    out = CACHE_DIR / f"{tag}-{key}.so"
    if cached_artifact(out):
        return out
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE_DIR) as tmp:
        src = Path(tmp) / f"{tag}.cpp"
        src.write_text(source)
        so = Path(tmp) / f"{tag}.so"
        cmd = [CXX, *flags, *SHARED_FLAGS, str(src), "-o", str(so)]
        r = run_compiler(cmd, tag)
        if r.returncode != 0:
            raise CsimError(f"g++ failed for {tag} ({src}):\n{r.stderr[-4000:]}")
        record_artifact(so, out)
    return out


# ---- engine instances --------------------------------------------------------------------------
@dataclass(frozen=True)
class ConvInstance:
    """A convolution (or FC) layer: optional sliding window feeding the S=8 engine.

    With swg None the input vectors are the pixels themselves (1x1 conv / FC) and the input
    words are SIMD elements wide."""

    mvau: MVAU
    swg: Optional[SWG] = None

    def __post_init__(self) -> None:
        m, s = self.mvau, self.swg
        if s is not None:
            if s.simd != m.simd:
                raise EngineError(f"SWG SIMD {s.simd} != MVAU SIMD {m.simd}")
            if s.ch // s.gs != m.groups or s.k * s.k * s.gs != m.mw:
                raise EngineError("SWG groups/window do not match the MVAU's G and MW")
            if s.ofm_h * s.ofm_w != m.pixels:
                raise EngineError(f"SWG gives {s.ofm_h * s.ofm_w} windows, MVAU expects {m.pixels}")
            if s.dtype != m.in_type:
                raise EngineError(f"SWG type {s.dtype} != MVAU input type {m.in_type}")

    def cpp(self, fn: str) -> str:
        m, s = self.mvau, self.swg
        # the engine's arrays (weights "w", thresholds "t" unless vg::no_activation): C++ name,
        # the extern function's argument that fills it
        names = {"w": ("W", "w"), "t": ("THR", "thr")}
        arrays = m.param_arrays()
        src = "s_vec" if s is None else "s_win"
        m_cfg, m_call = m.hls_code("cfg_mvau", [src], ["s_out"], {k: names[k][0] for k, _, _ in arrays})
        s_cfg, s_call = s.hls_code("cfg_swg", ["s_in"], ["s_win"], {}) if s is not None else ("", "")
        lines = [
            f"// {fn}: {self}",
            f"namespace {fn}_ns {{",
            m_cfg, s_cfg,
            f"typedef {m.in_type.cpp()} TI; typedef {m.result_type.cpp()} TO;",
            *[f"static {t} {names[k][0]}{''.join(f'[{d}]' for d in shape)};" for k, t, shape in arrays],
            "}",
            f'extern "C" int {fn}(const int64_t* x, int64_t* y, const int64_t* w, const int64_t* thr, int frames) {{',
            f"  using namespace {fn}_ns;",
            *[f"  for (long i = 0; i < {int(np.prod(shape))}L; i++) {{ (&{names[k][0]}[0][0][0])[i] = "
              f"({t}){names[k][1]}[i]; }}" for k, t, shape in arrays],
            "  for (int f = 0; f < frames; f++) {",
        ]
        if s is not None:
            n_in_words = s.in_words
            lines += [
                f"    hls::stream<vg::Word<TI, {s.in_n}> > s_in; hls::stream<vg::Word<TI, {m.simd}> > s_win;",
                f"    hls::stream<vg::Word<TO, {m.pe}> > s_out;",
                f"    const int64_t* xf = x + (long)f * {s.ifm_h * s.ifm_w * s.ch}L;",
                f"    for (int i = 0; i < {n_in_words}; i++) {{ vg::Word<TI, {s.in_n}> wd;",
                f"      for (int k = 0; k < {s.in_n}; k++) {{ wd.v[k] = (TI)xf[i * {s.in_n} + k]; }} s_in.write(wd); }}",
                "    VG_STAGE(0); " + s_call,
                "    if (!s_in.empty()) return 1;",
            ]
        else:
            lines += [
                f"    hls::stream<vg::Word<TI, {m.simd}> > s_vec; hls::stream<vg::Word<TO, {m.pe}> > s_out;",
                f"    const int64_t* xf = x + (long)f * {m.pixels * m.mw * m.groups}L;",
                f"    for (int i = 0; i < {m.in_words()}; i++) {{ vg::Word<TI, {m.simd}> wd;",
                f"      for (int k = 0; k < {m.simd}; k++) {{ wd.v[k] = (TI)xf[i * {m.simd} + k]; }} s_vec.write(wd); }}",
            ]
        lines += [
            f"    VG_STAGE({0 if s is None else 1}); " + m_call,
            f"    if (!{src}.empty()) return 2;",
            f"    int64_t* yf = y + (long)f * {m.pixels * m.channels_out}L;",
            f"    for (int i = 0; i < {m.out_words()}; i++) {{ if (s_out.empty()) return 3;",
            f"      vg::Word<TO, {m.pe}> wd = s_out.read(); for (int k = 0; k < {m.pe}; k++) {{ yf[i * {m.pe} + k] = (int64_t)wd.v[k]; }} }}",
            "    if (!s_out.empty()) return 4;",
            "  }",
            "  return 0;",
            "}",
        ]
        return "\n".join(lines)

    def engines(self) -> list:
        """The engines in the order of their counters (VG_STAGE)."""
        return [self.mvau] if self.swg is None else [self.swg, self.mvau]

    def run(self, fn, x: np.ndarray, w: np.ndarray, thr: Optional[np.ndarray]) -> np.ndarray:
        m, s = self.mvau, self.swg
        x = _codes(x, m.in_type, "input")
        n = x.shape[0]
        if s is not None:
            want = (s.ifm_h, s.ifm_w, s.ch)
            out_shape = (n, s.ofm_h, s.ofm_w, m.channels_out)
        else:
            want = (m.pixels, m.groups * m.mw)
            out_shape = (n, m.pixels, m.channels_out)
        if x.shape[1:] != want:
            raise ValueError(f"input shape {x.shape[1:]} does not fit the engine's {want}")
        _codes(w, IntType(m.w_bits, True), "weights")
        wl = mvau_weights(w.astype(np.int64), m)
        act = m.activation()
        if act is not None:
            (shape,), t = act.spec(m.channels_out)
            if thr is None or thr.shape != shape:
                raise ValueError(f"thresholds must be {shape}, got {None if thr is None else thr.shape}")
            _codes(thr, t, "thresholds")
            problem = act.problem(thr)
            if problem:
                raise ValueError(f"thresholds: {problem}")
            tl = mvau_thresholds(thr.astype(np.int64), m)
        else:  # no table (vg::no_activation): the pointer is not read
            tl = np.zeros(1, np.int64)
        y = np.zeros(out_shape, np.int64)
        _call(fn, x, y, wl, tl, n)
        return y


@dataclass(frozen=True)
class PortInstance:
    """Any one engine, driven port by port: each input port's words packed from numpy codes
    (frames x words*n, stream order), each output port unpacked alike, the parameter arrays
    loaded in the engine's layout. It knows no engine kind: ports(), param_specs(),
    param_arrays(), layout() and hls_call() come from the engine."""

    e: Engine

    def cpp(self, fn: str) -> str:
        e = self.e
        fin, fout = e.ports()
        arrays = e.param_arrays()
        cfg, call = e.hls_code("cfg", [f"in{p}" for p in range(len(fin))],
                               [f"out{p}" for p in range(len(fout))], {key: key.upper() for key, _, _ in arrays})
        lines = [f"// {fn}: {e}", f"namespace {fn}_ns {{", cfg]
        lines += [f"static {t} {key.upper()}{''.join(f'[{d}]' for d in shape)};" for key, t, shape in arrays]
        lines += ["}", f'extern "C" int {fn}(const int64_t* const* ins, int64_t* const* outs, '
                       f"const int64_t* const* arrays, int frames) {{", f"  using namespace {fn}_ns;"]
        for j, (key, t, shape) in enumerate(arrays):
            lines.append(f"  for (long i = 0; i < {int(np.prod(shape))}L; i++) {{ "
                         f"(&{key.upper()}{'[0]' * len(shape)})[i] = ({t})arrays[{j}][i]; }}")
        lines.append("  for (int f = 0; f < frames; f++) {")
        for p, (n, dt, words) in enumerate(fin):
            w, t = word_type(n, dt), IntType.parse(dt).cpp()
            lines += [f"    hls::stream<{w} > in{p};",
                      f"    for (long i = 0; i < {words}L; i++) {{ {w} wd; for (int k = 0; k < {n}; k++) {{ "
                      f"wd.v[k] = ({t})ins[{p}][((long)f * {words}L + i) * {n} + k]; }} in{p}.write(wd); }}"]
        lines += [f"    hls::stream<{word_type(n, dt)} > out{p};"
                  for p, (n, dt, _) in enumerate(fout)]
        lines.append("    VG_STAGE(0); " + call)
        lines += [f"    if (!in{p}.empty()) return 1;" for p in range(len(fin))]
        for p, (n, dt, words) in enumerate(fout):
            lines += [f"    if ((long)out{p}.size() != {words}L) return 3;",
                      f"    for (long i = 0; i < {words}L; i++) {{ {word_type(n, dt)} wd = "
                      f"out{p}.read(); for (int k = 0; k < {n}; k++) {{ "
                      f"outs[{p}][((long)f * {words}L + i) * {n} + k] = (int64_t)wd.v[k]; }} }}"]
        lines += ["  }", "  return 0;", "}"]
        return "\n".join(lines)

    def engines(self) -> list:
        return [self.e]

    def run_ports(self, fn, ins: Sequence[np.ndarray], params: Optional[dict] = None) -> list[np.ndarray]:
        """ins: codes per input port (frames first); params: PyTorch-layout parameters by
        name ("weights", "thresholds"), checked as the design's files are. Returns the codes
        of each output port, frames x (words * n)."""
        from hls.design_files import check_param

        e = self.e
        fin, fout = e.ports()
        if len(ins) != len(fin):
            raise ValueError(f"{e.kind} reads {len(fin)} input stream(s), got {len(ins)}")
        frames = np.asarray(ins[0]).shape[0]
        xs = []
        for p, (x, (n, dt, words)) in enumerate(zip(ins, fin)):
            x = _codes(x, IntType.parse(dt), f"input {p}").reshape(np.asarray(x).shape[0], -1)
            if x.shape != (frames, words * n):
                raise ValueError(f"input {p}: {x.shape[1]} codes per frame for {x.shape[0]} frames, "
                                 f"the engine reads {words * n} per frame for {frames}")
            xs.append(x)
        params = params or {}
        checked = {k: check_param(e, k, params.get(k), shapes, t, k)
                   for k, (shapes, t) in e.param_specs().items()}
        layout = e.layout(checked)
        arrs = [np.ascontiguousarray(layout[key], dtype=np.int64) for key, _, _ in e.param_arrays()]
        ys = [np.zeros((frames, words * n), np.int64) for n, _, words in fout]
        ptrs = lambda a: (ctypes.c_void_p * max(1, len(a)))(*[x.ctypes.data for x in a])  # noqa: E731
        rc = fn(ptrs(xs), ptrs(ys), ptrs(arrs), ctypes.c_int(frames))
        if rc != 0:
            raise CsimError(f"C-simulation reported stream error {rc} (1: input left over, "
                            f"3: output count wrong)")
        return ys


@dataclass(frozen=True)
class EltwiseInstance(PortInstance):
    """A lane engine (threshold / add / pool / se_scale / duplicate) on N x PIXELS x CH codes."""

    def run(self, fn, x: np.ndarray, x2: Optional[np.ndarray] = None,
            thr: Optional[np.ndarray] = None) -> Union[np.ndarray, list[np.ndarray]]:
        """x (and the second input x2: add's other operand, se_scale's gates) -> the output(s),
        each N x (words*n / CH) x CH; thr: the thresholds, C x NT."""
        ins = [x] if x2 is None else [x, x2]
        ys = self.run_ports(fn, ins, {} if thr is None else {"thresholds": thr})
        ys = [y.reshape(len(y), -1, self.e.ch) for y in ys]  # type: ignore[attr-defined]
        return ys[0] if len(ys) == 1 else ys


@dataclass(frozen=True)
class WidthInstance(PortInstance):
    @property
    def w(self) -> WidthConvert:
        return self.e  # type: ignore[return-value]

    def run(self, fn, x: np.ndarray) -> np.ndarray:
        return self.run_ports(fn, [x])[0]


Instance = Union[ConvInstance, PortInstance]


def _codes(a: np.ndarray, t: IntType, what: str) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{what}: integer codes expected, got dtype {a.dtype}")
    if a.size and (a.min() < t.min or a.max() > t.max):
        raise ValueError(f"{what}: codes outside {t} range [{t.min}, {t.max}]: "
                         f"[{a.min()}, {a.max()}]")
    return np.ascontiguousarray(a, dtype=np.int64)


def _call(fn, *args) -> None:
    cargs = []
    for a in args:
        if isinstance(a, np.ndarray):
            cargs.append(a.ctypes.data_as(ctypes.c_void_p))
        else:
            cargs.append(ctypes.c_int(int(a)))
    rc = fn(*cargs)
    if rc != 0:
        raise CsimError(f"C-simulation reported stream error {rc} (1: input left over, 2: "
                        f"window left over, 3: output missing, 4: extra output)")


# the counting build's entry points: where the counters are, and how many per engine call
COUNTER_EXPORT = """
#ifdef VG_COUNT_CYCLES
extern "C" void vg_count_into(long long* rows) { ::vg::sched::stages() = rows; }
extern "C" int vg_max_procs() { return ::vg::sched::MAX_PROCS; }
#endif
"""


class Library:
    """Compiles a list of engine instances into one shared library (cached).

    count: build with VG_COUNT_CYCLES, so that `counted` reports each engine's pipelined loop
    iterations per process (the schedule check, tests/test_hls_schedule.py)."""

    def __init__(self, instances: Sequence[Instance], *, native: bool = True, tag: str = "engines",
                 extra_defines: Sequence[str] = (), count: bool = False, opt: str = "-O2"):
        self.instances = list(instances)
        self.count = count
        src = ['#include "vg_swg.h"', '#include "vg_mvau.h"', '#include "vg_eltwise.h"',
               '#include "vg_se.h"', COUNTER_EXPORT]
        src += [inst.cpp(f"vg_fn{i}") for i, inst in enumerate(self.instances)]
        defines = list(extra_defines) + (["VG_COUNT_CYCLES"] if count else [])
        flags = compile_flags(native, opt) + [f"-D{d}" for d in defines]
        self.path = build_shared("\n\n".join(src) + "\n", flags, tag)
        self._lib = ctypes.CDLL(str(self.path))

    def __call__(self, i: int, *args, **kwargs):
        fn = getattr(self._lib, f"vg_fn{i}")
        fn.restype = ctypes.c_int
        return self.instances[i].run(fn, *args, **kwargs)

    def counted(self, i: int, *args, **kwargs) -> tuple[object, np.ndarray]:
        """Runs instance i like __call__ and returns (its result, the loop iterations per
        frame: one row per engine of the instance, one column per process)."""
        if not self.count:
            raise CsimError("this library was built without counting (Library(..., count=True))")
        frames = len(args[0])
        rows = np.zeros((len(self.instances[i].engines()), self._lib.vg_max_procs()), np.int64)
        self._lib.vg_count_into(rows.ctypes.data_as(ctypes.c_void_p))
        try:
            out = self(i, *args, **kwargs)
        finally:
            self._lib.vg_count_into(None)
        if np.any(rows % frames):
            raise CsimError(f"instance {i}: counts {rows.tolist()} are not the same every frame")
        return out, rows // frames
