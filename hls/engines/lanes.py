"""Engines that stream a CH x PIXELS frame N channels per word (hls/include/vg_eltwise.h,
vg_se.h): multi-threshold, residual add, global pool, SE scale, duplicate. One class per kind;
`LaneEngine` holds the fields they share (the description's params), `Thresholded` the
per-channel thresholds of those that requantize."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from hls import intops
from hls import resources as R
from hls.engines.activation import Activation
from hls.engines.base import (CppType, Engine, EngineError, IntType, JobRun, ParamArrays, ParamSpecs,
                              Ports, Process, clog2, divides, register, single)
from hls.layout import lane_thresholds


@dataclass(frozen=True)
class LaneEngine(Engine):
    """The fields of a word-per-cycle lane engine over a CH x PIXELS frame, N channels a word."""

    ch: int
    n: int
    pixels: int
    in_type: IntType
    out_type: Optional[IntType] = None  # thresholded output (threshold, add, se_scale)
    gate_type: Optional[IntType] = None  # se_scale only

    def __post_init__(self) -> None:
        divides(f"{self.kind} word width N", self.n, "channels", self.ch)

    @property
    def words(self) -> int:
        return self.pixels * self.ch // self.n

    @property
    def folds(self) -> int:
        """Words per pixel (C / N)."""
        return self.ch // self.n

    @property
    def sum_bits(self) -> int:
        """Width of the value that is thresholded (sum, pool sum or product)."""
        return self.in_type.bits

    @property
    def result_type(self) -> IntType:
        assert self.out_type is not None
        return self.out_type

    def ports(self) -> Ports:
        t_in, t_out, w = str(self.in_type), str(self.result_type), self.words
        return [(self.n, t_in, w)], [(self.n, t_out, w)]

    def processes(self) -> list[Process]:
        """One job per pixel: C/N cycles."""
        f = self.folds
        return single(JobRun(self.pixels, f, (f,), (f,)))

    def threshold_bits(self) -> int:
        return 0

    def folding(self) -> dict[str, int]:
        return {"PE": self.n}

    def pe_space(self) -> int:
        return self.ch

    def buffer_bits(self) -> dict[str, int]:
        return {"thresholds": self.threshold_bits()}

    def resources(self, memory: str = "auto", mac: str = "auto") -> R.Resources:
        return R.finish(self._parts(memory))

    def _parts(self, memory: str) -> R.Resources:
        return R.Resources()


@dataclass(frozen=True)
class Thresholded(LaneEngine):
    """A lane engine that requantizes each channel (thresholds, or an exact integer
    requantization: hls/engines/activation.py)."""

    width_from = "layer"
    requant: int = 0  # activation form: 0 thresholds, 1/2 integer requantization pieces
    rq_shift: int = 0
    rq_bits: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.out_type is None:
            raise EngineError(f"{self.kind}: needs an output type")
        self.activation()  # checks the requantization's parameters

    @property
    def nt(self) -> int:
        assert self.out_type is not None
        return (1 << self.out_type.bits) - 1

    def activation(self) -> Activation:
        assert self.out_type is not None
        return Activation(self.nt, self.out_type.min, self.sum_bits, self.requant, self.rq_shift, self.rq_bits)

    def threshold_bits(self) -> int:
        return self.activation().table_bits_total(self.ch)

    def _parts(self, memory: str) -> R.Resources:
        # N lane memories of the table, each C/N rows (the engine partitions thr by lane)
        return self.activation().resources(self.n, self.folds, self.n)

    def param_specs(self, window: Optional[Engine] = None) -> ParamSpecs:
        return {"thresholds": self.activation().spec(self.ch)}

    def param_arrays(self) -> ParamArrays:
        a = self.activation()
        return [("t", a.element_cpp(), (self.n, self.folds, a.columns))]

    def param_problem(self, key: str, a: np.ndarray) -> Optional[str]:
        return self.activation().problem(a) if key == "thresholds" else None

    def layout(self, params: dict) -> dict:
        return {"t": lane_thresholds(params["thresholds"].astype(np.int64), self.n)}

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [self.activation().apply(self.pre_threshold(ins, params), params["thresholds"])]

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        a = self.activation()
        return [g.threshold(self._onnx_value(g, ins), a.thresholds_of(params["thresholds"]), a.out_bias)]

    def _onnx_value(self, g, ins: list[str]) -> str:
        return ins[0]

    def hls_config(self) -> dict:
        """The members every thresholded lane engine's config starts with; kinds add theirs."""
        ti, to = self.types()
        assert self.out_type is not None
        return {"CH": self.ch, "N": self.n, "PIXELS": self.pixels, "in_t": CppType(ti),
                "out_t": CppType(to), "act": self.activation().policy()}


@register
@dataclass(frozen=True)
class Threshold(Thresholded):
    """vg::threshold_layer: out = bias + #{t : x >= thr[c][t]}."""

    kind = "threshold"
    latency = 3

    def pre_threshold(self, ins: list, params: dict, window: Optional[Engine] = None):
        return ins[0]

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        return f"vg::threshold_layer<{cfg}>({ins[0]}, {outs[0]}, {arrays['t']});"


@register
@dataclass(frozen=True)
class Add(Thresholded):
    """vg::add_threshold: the residual sum of two streams, requantized."""

    kind = "add"
    latency = 3

    @property
    def sum_bits(self) -> int:
        return self.in_type.bits + 1

    def ports(self) -> Ports:
        (a,), outs = super().ports()
        return [a, a], outs

    def processes(self) -> list[Process]:
        f = self.folds
        return single(JobRun(self.pixels, f, (f, f), (f,)), n_in=2)

    def _parts(self, memory: str) -> R.Resources:
        return super()._parts(memory) + R.Resources(lut=self.n * self.sum_bits)

    def pre_threshold(self, ins: list, params: dict, window: Optional[Engine] = None):
        return ins[0] + ins[1]

    def _onnx_value(self, g, ins: list[str]) -> str:
        return g.node("Add", ins, "v")

    def hls_config(self) -> dict:
        c = super().hls_config()
        ti = c.pop("in_t")
        return {**c, "IN_BITS": self.in_type.bits, "IN_SIGNED": self.in_type.signed,
                "SUM_BITS": self.sum_bits, "a_t": ti, "b_t": ti}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        return f"vg::add_threshold<{cfg}>({ins[0]}, {ins[1]}, {outs[0]}, {arrays['t']});"


@register
@dataclass(frozen=True)
class SEScale(Thresholded):
    """vg::se_scale: a frame times its per-channel gates, requantized. One process: the gates
    (port 1), then the frame (port 0) word by word out. The frame waits for its gates in the
    FIFO in front of port 0, which the FIFO sizing makes hold it (it is counted there, with
    the FIFOs); the engine itself holds no frame."""

    kind = "se_scale"
    latency = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gate_type is None:
            raise EngineError("se_scale: needs a gate type")

    @property
    def gate(self) -> IntType:
        assert self.gate_type is not None
        return self.gate_type

    @property
    def sum_bits(self) -> int:
        return self.in_type.bits + self.gate.bits + 1

    def ports(self) -> Ports:
        (x,), outs = super().ports()
        return [x, (self.n, str(self.gate), self.folds)], outs

    def processes(self) -> list[Process]:
        f, px = self.folds, self.pixels
        return [Process(0, "", (0, 1), (0,), (JobRun(1, f, (0, f), (0,)), JobRun(px, f, (f, 0), (f,))))]

    def output_times(self, ins: Sequence[tuple[float, float]], latency: int) -> tuple[float, float]:
        start = max(e for _, e in ins) + self.folds + latency  # whole frame arrived, gates read
        return start, start + self.words

    def buffer_bits(self) -> dict[str, int]:
        return {"thresholds": self.threshold_bits()}

    def _parts(self, memory: str) -> R.Resources:
        return super()._parts(memory) + R.mac_lanes(self.n, self.in_type.bits, self.gate.bits, 1, self.n)

    def value_bounds(self, params: dict) -> tuple[np.ndarray, np.ndarray]:
        """The products x * gate lie between the corners of the two codes' ranges (narrower
        than the product's type, which has a bit to spare)."""
        corners = [x * g for x in (self.in_type.min, self.in_type.max) for g in (self.gate.min, self.gate.max)]
        return np.full(self.ch, min(corners)), np.full(self.ch, max(corners))

    def pre_threshold(self, ins: list, params: dict, window: Optional[Engine] = None):
        return intops.se_product(ins[0], ins[1].reshape(ins[1].shape[0], -1))

    def _onnx_value(self, g, ins: list[str]) -> str:
        return g.node("Mul", ins, "v")

    def hls_config(self) -> dict:
        c = super().hls_config()
        tx = c.pop("in_t")
        return {**c, "X_BITS": self.in_type.bits, "X_SIGNED": self.in_type.signed,
                "G_BITS": self.gate.bits, "x_t": tx, "gate_t": CppType(self.gate.cpp())}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        return f"vg::se_scale<{cfg}>({ins[0]}, {ins[1]}, {outs[0]}, {arrays['t']});"


@register
@dataclass(frozen=True)
class Pool(LaneEngine):
    """vg::global_acc_pool: per-channel sums over the frame (accumulate, then write the sums)."""

    kind = "pool"
    latency = 2

    @property
    def sum_bits(self) -> int:
        return self.in_type.bits + clog2(self.pixels) + (0 if self.in_type.signed else 1)

    @property
    def result_type(self) -> IntType:
        return IntType(self.sum_bits, True)

    def ports(self) -> Ports:
        return [(self.n, str(self.in_type), self.words)], [(self.n, str(self.result_type), self.folds)]

    def processes(self) -> list[Process]:
        f = self.folds
        return single(JobRun(self.pixels, f, (f,), (0,)), JobRun(1, f, (0,), (f,)))

    def output_times(self, ins: Sequence[tuple[float, float]], latency: int) -> tuple[float, float]:
        start = ins[0][1] + self.folds + latency  # all input, then C/N words out
        return start, start

    def buffer_bits(self) -> dict[str, int]:
        return {"thresholds": 0, "other": self.ch * self.sum_bits}

    def _parts(self, memory: str) -> R.Resources:
        return R.memory(self.folds, self.n * self.sum_bits) + R.Resources(lut=self.n * self.sum_bits)

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [intops.global_sum(ins[0])[:, None, None, :]]

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        return [g.node("ReduceSum", [ins[0], g.init(np.array([2, 3], np.int64), "axes")], "sum", keepdims=1)]

    def hls_config(self) -> dict:
        ti, to = self.types()
        return {"CH": self.ch, "N": self.n, "PIXELS": self.pixels, "IN_BITS": self.in_type.bits,
                "IN_SIGNED": self.in_type.signed, "SUM_BITS": self.sum_bits, "in_t": CppType(ti),
                "sum_t": CppType(to)}

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        return f"vg::global_acc_pool<{cfg}>({ins[0]}, {outs[0]});"


@register
@dataclass(frozen=True)
class Duplicate(LaneEngine):
    """vg::duplicate: one stream copied to two (a residual's fork)."""

    kind = "duplicate"
    latency = 1

    @property
    def result_type(self) -> IntType:
        return self.in_type

    def ports(self) -> Ports:
        w = (self.n, str(self.in_type), self.words)
        return [w], [w, w]

    def processes(self) -> list[Process]:
        f = self.folds
        return single(JobRun(self.pixels, f, (f,), (f, f)), n_out=2)

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [ins[0], ins[0]]

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        return [ins[0], ins[0]]

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        ti, _ = self.types()
        return f"vg::duplicate<{self.words}, {self.n}, {ti}>({ins[0]}, {outs[0]}, {outs[1]});"


LANE_KINDS = ("threshold", "add", "pool", "se_scale", "duplicate")


def Eltwise(kind: str, ch: int, n: int, pixels: int, in_type: IntType,
            out_type: Optional[IntType] = None, gate_type: Optional[IntType] = None) -> LaneEngine:
    """A lane engine by kind name (threshold | add | pool | se_scale | duplicate)."""
    if kind not in LANE_KINDS:
        raise EngineError(f"unknown elementwise engine {kind!r}")
    from hls.engines.base import engine_class

    return engine_class(kind)(ch, n, pixels, in_type, out_type, gate_type)  # type: ignore[call-arg]
