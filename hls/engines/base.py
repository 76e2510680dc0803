"""What every engine kind shares: integer types, schedules (jobs and processes), the kind
registry and the base class whose methods a kind answers for.

An engine kind is one class (hls/engines/<family>.py) registered under its `kind` string,
the string the accelerator description uses. Everything the project does with a node goes
through that class: its ports and stream formats, its cycles and job schedule (what the C++
counts, what the simulator runs), its resources and memories, its integer execution (the
golden model), its parameter files and memory layouts, its HLS call and its integer ONNX.
Adding a kind is one file: a subclass of `Engine` with `@register` (tests/test_engine_kinds.py
adds a toy kind that way).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Optional, Sequence

from hls import resources as R

if TYPE_CHECKING:
    from hls.engines.activation import Activation

S = 8  # channels per group of a variable group convolution


class EngineError(ValueError):
    """An engine instance that cannot be built; the message names the parameter."""


def clog2(v: int) -> int:
    """ceil(log2(v)) for v >= 1, as vg::clog2 in vg_types.h."""
    return 0 if v <= 1 else (v - 1).bit_length()


@dataclass(frozen=True)
class IntType:
    bits: int
    signed: bool

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 64:
            raise EngineError(f"integer type of {self.bits} bits: must be 1..64")

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def max_abs(self) -> int:
        return 1 << (self.bits - 1) if self.signed else (1 << self.bits) - 1

    def cpp(self) -> str:
        return f"vg::int_t<{self.bits}, {'true' if self.signed else 'false'}>::type"

    def __str__(self) -> str:
        return f"{'int' if self.signed else 'uint'}{self.bits}"

    @staticmethod
    def parse(s: str) -> "IntType":
        if s.startswith("uint"):
            return IntType(int(s[4:]), False)
        if s.startswith("int"):
            return IntType(int(s[3:]), True)
        raise EngineError(f"datatype {s!r}: expected intN or uintN")


def word_type(n: int, dtype: str) -> str:
    """The C++ type of a stream word of `n` elements of datatype `dtype` ("int4")."""
    return f"vg::Word<{IntType.parse(dtype).cpp()}, {n}>"


def acc_bits(terms: int, inp: IntType, w_bits: int) -> int:
    """Signed accumulator bits for a sum of `terms` products (vg::acc_bits)."""
    return 1 + clog2(terms * inp.max_abs * (1 << (w_bits - 1)) + 1)


def threshold_out(out: IntType) -> tuple[int, int]:
    """(number of thresholds, output bias) of a multi-threshold step producing `out`."""
    return (1 << out.bits) - 1, out.min


def divides(what: str, n: int, of: str, m: int) -> None:
    if n < 1 or m % n != 0:
        raise EngineError(f"{what}={n} does not divide {of}={m}")


def legal_foldings(n: int) -> list[int]:
    """Divisors of n: the legal PE (of MH) or SIMD (of MW) values."""
    small = [d for d in range(1, int(math.isqrt(n)) + 1) if n % d == 0]
    return sorted(set(small + [n // d for d in small]))


def param_type(bits: int) -> str:
    """The C++ element type of a parameter memory of `bits`-bit signed values (vg::param_t:
    exact width under synthesis, a native integer in C-sim)."""
    return f"vg::param_t<{bits}, true>::type"


def weight_type(bits: int) -> str:
    return param_type(bits)


def cpp_bool(v: bool) -> str:
    return "true" if v else "false"


# vg::storage (vg_types.h) of each memory style
STORAGE_CODES = {"auto": 0, "lutram": 1, "bram": 2, "uram": 3}


class CppType(str):
    """A config struct member that is a C++ type (a typedef), not a constant."""


NO_ACTIVATION = CppType("vg::no_activation")


def config_struct(name: str, members: dict[str, Any]) -> str:
    """A template instance's config struct (hls4ml's CONFIG_T idea): ints and bools become
    static constants, CppType values typedefs."""
    lines = [f"struct {name} {{"]
    for k, v in members.items():
        if isinstance(v, CppType):
            lines.append(f"  typedef {v} {k};")
        elif isinstance(v, bool):
            lines.append(f"  static const bool {k} = {cpp_bool(v)};")
        elif isinstance(v, numbers.Integral):
            lines.append(f"  static const int {k} = {int(v)};")
        else:
            raise EngineError(f"config member {k}: {v!r} is neither an int, a bool nor a CppType")
    return "\n".join(lines + ["};"])


# (elements per word, datatype, words per frame) of each input and of each output port
Ports = tuple[list[tuple[int, str, int]], list[tuple[int, str, int]]]
# {"weights"/"thresholds": (accepted shapes, datatype)}: the parameter files a node reads
ParamSpecs = dict[str, tuple[tuple[tuple[int, ...], ...], IntType]]
# (array key "w"/"t", C++ element type, shape) of an engine's parameter memories
ParamArrays = list[tuple[str, str, tuple[int, ...]]]


# ---- schedules -----------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRun:
    """`count` consecutive jobs of one process, each `cycles` loop iterations long (one cycle
    each at II = 1), reading `consume[i]` words from the process's i-th input and writing
    `produce[j]` words to its j-th output. A job is the simulator's unit of work: a stretch of
    a pipelined loop (sim/programs.py)."""

    count: int
    cycles: int
    consume: tuple[int, ...]
    produce: tuple[int, ...]


@dataclass(frozen=True)
class Process:
    """One concurrently running process of an engine: the loops of one VG_CYCLE(index) in
    hls/include, run one after another. `inputs`/`outputs` are the node's port numbers it
    reads / writes; `name` is "" for an engine's only process."""

    index: int
    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    jobs: tuple[JobRun, ...]

    @property
    def cycles(self) -> int:
        return sum(r.count * r.cycles for r in self.jobs)

    def words_in(self) -> tuple[int, ...]:
        return tuple(sum(r.count * r.consume[i] for r in self.jobs) for i in range(len(self.inputs)))

    def words_out(self) -> tuple[int, ...]:
        return tuple(sum(r.count * r.produce[i] for r in self.jobs) for i in range(len(self.outputs)))


def single(*runs: JobRun, n_in: int = 1, n_out: int = 1) -> list[Process]:
    return [Process(0, "", tuple(range(n_in)), tuple(range(n_out)), tuple(r for r in runs if r.count))]


def merge_runs(runs: list[JobRun]) -> tuple[JobRun, ...]:
    """Run-length merge of consecutive identical jobs."""
    out: list[JobRun] = []
    for r in runs:
        if r.count == 0:
            continue
        if out and (out[-1].cycles, out[-1].consume, out[-1].produce) == (r.cycles, r.consume, r.produce):
            out[-1] = JobRun(out[-1].count + r.count, r.cycles, r.consume, r.produce)
        else:
            out.append(r)
    return tuple(out)


def split_phase(length: int, reads: int, emits: int, parts: int) -> list[JobRun]:
    """A phase of `length` iterations that reads in its first `reads` and writes in its first
    `emits`, cut into `parts` jobs of near-equal length."""
    parts = max(1, min(parts, length))
    runs = []
    for j in range(parts):
        b0, b1 = j * length // parts, (j + 1) * length // parts
        runs.append(JobRun(1, b1 - b0, (max(0, min(b1, reads) - b0),), (max(0, min(b1, emits) - b0),)))
    return runs


# ---- the base class and the registry ----------------------------------------------------------
TYPE_FIELDS = ("dtype", "in_type", "out_type", "gate_type")  # IntType fields, "int4" in JSON


class Engine:
    """Base of every engine kind (a frozen dataclass whose fields are the description's
    `params`). A kind sets `kind`, `latency` (pipeline depth estimate: cycles from a job's
    last iteration to its output being visible downstream) and answers the methods below;
    those with a default here are the ones most kinds share."""

    kind: ClassVar[str]
    latency: ClassVar[int]
    # whether the FIFO into this engine should hold what it reads before its first output
    # (a sliding window's fill rows: sim/fifo_sizing.py)
    buffers_lead: ClassVar[bool] = False

    # ---- description ------------------------------------------------------------------------
    @classmethod
    def from_params(cls, params: dict[str, Any]) -> "Engine":
        """An instance from the description's params (datatypes as "int4" strings)."""
        p = {k: (IntType.parse(v) if k in TYPE_FIELDS and v is not None else v) for k, v in params.items()}
        return cls(**p)  # type: ignore[call-arg]

    def to_params(self) -> dict[str, Any]:
        """The JSON params of the description (inverse of from_params)."""
        d = asdict(self)  # type: ignore[call-overload]
        for k in TYPE_FIELDS:
            if d.get(k) is not None:
                d[k] = str(IntType(**d[k]))
        return d

    # ---- streams and schedule ------------------------------------------------------------------
    def ports(self) -> Ports:
        raise NotImplementedError

    def cycles(self) -> int:
        """Pipelined loop iterations per frame (what the C++ counts, hls/schedule.py)."""
        return sum(p.cycles for p in self.processes())

    def processes(self) -> list[Process]:
        raise NotImplementedError

    def fixed_depths(self) -> dict[str, int]:
        """Depths of streams between its own processes that the hardware fixes (the shared
        part's frame FIFOs, hls/shared_cost.py); none for a description node's engine."""
        return {}

    def output_times(self, ins: Sequence[tuple[float, float]], latency: int) -> tuple[float, float]:
        """(first, last) output word of frame 0 given each input's (first, last) word, for the
        analytic model (sim/analytic.py): output starts once the input its first writing job
        needs has arrived, and ends no earlier than the last input plus the last job, nor
        earlier than its start plus its own cycles."""
        (p,) = self.processes()
        total = sum(r.count * r.consume[0] for r in p.jobs)
        before, first = 0, p.jobs[0]
        for r in p.jobs:
            if any(r.produce):
                before += r.consume[0]
                first = r
                break
            before += r.count * r.consume[0]
        frac = min(1.0, before / total) if total else 0.0
        start = max(s + frac * (e - s) for s, e in ins) + first.cycles + latency
        end = max(max(e for _, e in ins) + p.jobs[-1].cycles + latency, start + self.cycles() - first.cycles)
        return start, end

    # ---- cost -----------------------------------------------------------------------------------
    def resources(self, memory: str = "auto", mac: str = "auto"):
        """hls.resources.Resources of this instance (an estimate; `memory`/`mac`: the node's
        implementation styles)."""
        raise NotImplementedError

    def buffer_bits(self) -> dict[str, int]:
        """Storage the engine holds, by purpose (bits)."""
        return {}

    # ---- the memory the node's `memory` field binds -------------------------------------------
    # "rom" (contents from the bitstream: weights) or None (the field binds nothing: an SE
    # scale's frame waits in the FIFO in front of it). A ROM cannot be URAM: UltraScale+ URAM
    # has no initial contents from a bitstream (UG901); a ddr_capable engine's weights can be,
    # as a cache the parameter buffer fills at start-up (memory "uram": vg_ddr.h mvau_cached).
    memory_role: ClassVar[Optional[str]] = None
    # the config member that carries the binding to the template (a vg::storage value)
    storage_member: ClassVar[str] = ""
    # whether the ROM may instead be read from DDR each frame (memory "ddr": vg_ddr.h)
    ddr_capable: ClassVar[bool] = False

    def bound_memory(self) -> Optional[tuple[int, int]]:
        """(depth, width in bits) of the memory the `memory` field binds, as estimated."""
        return None

    def memory_styles(self) -> tuple[str, ...]:
        """The `memory` values this engine can implement."""
        if self.memory_role is None:
            return ("auto",)
        return (("auto", "lutram", "bram") + (("uram",) if self.ddr_capable else ())
                + (("ddr",) if self.ddr_capable else ()))

    def reads_buffer(self, memory: str) -> bool:
        """Whether the node reads the parameter buffer through an AXI4 master: its weights
        streamed each frame (ddr) or loaded once into its URAM cache (uram)."""
        return self.ddr_capable and memory in ("ddr", "uram")

    def loads_cache(self, memory: str) -> bool:
        """Whether the node's weights are a URAM cache loaded when the top's load flag is set."""
        return self.ddr_capable and memory == "uram"

    def memory_problem(self, memory: str) -> Optional[str]:
        """Why this engine cannot hold its memory in style `memory` (None: it can). Any node
        may be run by the shared block engine (memory "shared"); the description's checks
        (hls/shared_part.py check_shared) say which may."""
        if memory == "shared":
            return None
        if self.reads_buffer(memory):
            return self.ddr_problem()
        if memory in self.memory_styles():
            return None
        if self.memory_role is None:
            return f"memory {memory!r}: a {self.kind} has no memory the field binds (use auto)"
        return (f"memory {memory!r}: the {self.kind}'s {self.memory_role} cannot be {memory}"
                + ("; UltraScale+ URAM has no initial contents from a bitstream (UG901), so "
                   "weights there would read zeros: use bram or lutram"
                   + (", or ddr (read from the parameter buffer the host fills)" if self.ddr_capable else "")
                   if memory == "uram" else ""))

    def ddr_problem(self) -> Optional[str]:
        """Why this instance cannot read its ROM from DDR (None: it can)."""
        return None

    def ddr_bytes(self) -> int:
        """Bytes a frame reads from DDR when its ROM is there (memory "ddr")."""
        return 0

    def storage(self, memory: str) -> Optional[str]:
        """The binding the generated code gives the memory: `memory`, or for auto the style the
        estimate assumes (hls/resources.py memory_style); None without a bound memory."""
        bm = self.bound_memory()
        return None if bm is None else R.memory_style(bm[0], bm[1], memory)

    def macs(self) -> int:
        return 0

    def weight_count(self) -> int:
        """Weights the engine holds (each used macs() / weight_count() times a frame)."""
        return 0

    def folding(self) -> dict[str, int]:
        """The parallelism the folding chose, as the reports show it."""
        return {}

    # ---- folding policy (flow/folding.py asks) --------------------------------------------------
    # Whose folding entry sets this node's output word width: "node" (its own PE and SIMD,
    # chosen per node: the MVAU), "layer" (the PE entry of its layer, shared by the layer's
    # requantizing lane engines), "input" (it passes its input's width on).
    width_from: ClassVar[str] = "input"

    def input_limits_speed(self) -> bool:
        """Whether wider input words would make this node faster."""
        return True

    def pe_space(self) -> Optional[int]:
        """The count a PE (output word width) of this node must divide (None: no PE)."""
        return None

    # ---- parameters ---------------------------------------------------------------------------
    def activation(self) -> Optional["Activation"]:
        """How the engine requantizes its outputs (hls/engines/activation.py); None: it does
        not (raw sums out, or no arithmetic)."""
        return None

    def value_bounds(self, params: dict[str, Any]) -> Optional[tuple[Any, Any]]:
        """Per output channel, the least and greatest value its activation can be given
        (arrays of C), where the parameters bound them more tightly than the value type;
        None: the type's range."""
        return None

    def param_specs(self, window: Optional["Engine"] = None) -> ParamSpecs:
        """The parameter files a node of this kind reads (`window`: the sliding window that
        feeds it, if any)."""
        return {}

    def param_arrays(self) -> ParamArrays:
        return []

    def param_problem(self, key: str, a: Any) -> Optional[str]:
        """What is wrong with a parameter array of the right shape and range beyond those
        (thresholds not sorted, a requantization's M below 1); None: nothing."""
        return None

    def layout(self, params: dict[str, Any]) -> dict[str, Any]:
        """Checked PyTorch-layout parameters -> the engine's memory arrays (keys of
        param_arrays)."""
        return {}

    # ---- integer execution (the golden model) -----------------------------------------------------
    def execute(self, ins: list, params: dict[str, Any], window: Optional["Engine"] = None) -> list:
        """Output tensors (N x H x W x C int64 codes) from input tensors; a sliding window
        passes its input on, the engine that reads it convolves."""
        raise NotImplementedError

    def pre_threshold(self, ins: list, params: dict[str, Any], window: Optional["Engine"] = None):
        """The values this engine's thresholds compare (None: it has no thresholds)."""
        return None

    # ---- code ------------------------------------------------------------------------------------
    def types(self) -> tuple[str, str]:
        """C++ element types of the first input and first output port."""
        fin, fout = self.ports()
        return IntType.parse(fin[0][1]).cpp(), IntType.parse(fout[0][1]).cpp()

    def hls_config(self) -> dict[str, Any]:
        """The members of this instance's config struct ({}: the template takes its few
        parameters positionally): UPPER_CASE ints and bools, CppType element types and the
        activation policy `act`."""
        return {}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        """The C++ statement that runs this instance: template call of hls/include; `ins`/`outs`
        stream expressions per port, `arrays` parameter array names per key of param_arrays,
        `cfg` the name of the config struct `hls_code` defines."""
        raise NotImplementedError

    def hls_code(self, cfg: str, ins: Sequence[str], outs: Sequence[str],
                 arrays: dict[str, str], memory: str = "auto") -> tuple[str, str]:
        """(the config struct's definition, "" if none; the call): what a generator places at
        namespace scope and in the function body. `memory`: the node's memory style, bound in
        the config as the estimate resolves it (storage)."""
        members = self.hls_config()
        style = self.storage(memory)
        if style is not None and not self.reads_buffer(style):  # bound by its own template
            problem = self.memory_problem(style)
            if problem:
                raise EngineError(problem)
            members[self.storage_member] = STORAGE_CODES[style]
        return (config_struct(cfg, members) if members else ""), self.hls_call(ins, outs, arrays, cfg)

    def onnx(self, g, ins: list[str], params: dict[str, Any], window: Optional["Engine"] = None) -> list[str]:
        """Standard ONNX / qonnx nodes computing this engine on integer tensors (flow/intgraph.py
        supplies `g`: node, init, threshold); returns the output tensor names per port."""
        raise NotImplementedError


REGISTRY: dict[str, type[Engine]] = {}


def register(cls: type[Engine]) -> type[Engine]:
    """Class decorator: makes an engine kind known to the description, the flow, the simulator
    and the code generator."""
    if cls.kind in REGISTRY and REGISTRY[cls.kind] is not cls:
        raise EngineError(f"engine kind {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls
    return cls


def engine_class(kind: str) -> type[Engine]:
    if kind not in REGISTRY:
        raise EngineError(f"unknown engine kind {kind!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[kind]


def kinds() -> tuple[str, ...]:
    return tuple(REGISTRY)
