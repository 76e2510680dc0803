"""The stream width converter (vg::width_convert, hls/include/vg_eltwise.h)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from hls import resources as R
from hls.engines.base import Engine, IntType, JobRun, Ports, Process, divides, register, single


@register
@dataclass(frozen=True)
class WidthConvert(Engine):
    kind = "width_convert"
    latency = 1

    total: int  # elements per frame
    in_n: int
    out_n: int
    dtype: IntType

    def __post_init__(self) -> None:
        divides("width converter input width", self.in_n, "frame elements", self.total)
        divides("width converter output width", self.out_n, "frame elements", self.total)

    def cycles(self) -> int:
        """One iteration per word of the narrower side (vg::width_convert_cycles)."""
        return self.total // min(self.in_n, self.out_n)

    def ports(self) -> Ports:
        t = str(self.dtype)
        return [(self.in_n, t, self.total // self.in_n)], [(self.out_n, t, self.total // self.out_n)]

    def processes(self) -> list[Process]:
        """One job per lcm(in_n, out_n) elements."""
        l = math.lcm(self.in_n, self.out_n)
        return single(JobRun(self.total // l, l // min(self.in_n, self.out_n), (l // self.in_n,),
                             (l // self.out_n,)))

    def buffer_bits(self) -> dict[str, int]:
        return {"other": (self.in_n + self.out_n) * self.dtype.bits}

    def resources(self, memory: str = "auto", mac: str = "auto") -> R.Resources:
        # a register buffer of in_n + out_n elements, each loaded from one of in_n input lanes
        # or shifted by out_n
        buf = (self.in_n + self.out_n) * self.dtype.bits
        return R.finish(R.Resources(lut=buf * R.mux_luts(self.in_n + 1), ff=buf))

    def input_limits_speed(self) -> bool:
        """Wider input words help only a converter that widens."""
        return self.in_n < self.out_n

    def execute(self, ins: list, params: dict, window: Optional[Engine] = None) -> list:
        return [ins[0]]

    def onnx(self, g, ins: list[str], params: dict, window: Optional[Engine] = None) -> list[str]:
        return [ins[0]]

    def hls_call(self, ins: Sequence[str], outs: Sequence[str], arrays: dict[str, str], cfg: str) -> str:
        t, _ = self.types()
        return f"vg::width_convert<{self.total}, {self.in_n}, {self.out_n}, {t}>({ins[0]}, {outs[0]});"
