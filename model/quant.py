"""Quantization settings of a network (data only: no torch, so the flow and sim can read it)."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Optional

from model.arch import Arch, Layer

INPUT_BITS = 8  # the input is uint8 pixels with the fixed scale 1/255


SCALINGS = ("stats", "mse")


class QuantConfigError(ValueError):
    pass


@dataclass(frozen=True)
class QuantConfig:
    """Bit widths of weights and activations; the first and the last layer apart.

    weight_bits / act_bits: every layer in between.
    first_weight_bits: the first conv (its input is the uint8 image).
    last_weight_bits / last_act_bits: the final FC and the activation that feeds it.
    gate_bits: the SE gate (unsigned, scale fixed to 1 / (2**gate_bits - 1)).
    """

    weight_bits: int = 4
    act_bits: int = 8
    first_weight_bits: int = 8
    last_weight_bits: int = 8
    last_act_bits: int = 8
    gate_bits: Optional[int] = None  # None: same as act_bits
    # how weight and activation scales are found (the hardware sees only the resulting
    # constants): "stats" = per-channel abs-max of the weights, recomputed every step, and
    # activation scales learned from a 99.999th-percentile start; "mse" = both learned from
    # the scale that minimises the quantization MSE (Brevitas' *FloatMSE quantizers)
    scaling: str = "stats"

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            if v is None or k == "scaling":
                continue
            if not isinstance(v, int) or not 2 <= v <= 16:
                raise QuantConfigError(f"{k}={v!r}: bit widths must be integers from 2 to 16")
        if self.scaling not in SCALINGS:
            raise QuantConfigError(f"scaling={self.scaling!r}: expected one of {', '.join(SCALINGS)}")

    @property
    def gate(self) -> int:
        return self.gate_bits if self.gate_bits is not None else self.act_bits

    @property
    def name(self) -> str:
        suffix = "" if self.scaling == "stats" else f"-{self.scaling}"
        return f"w{self.weight_bits}a{self.act_bits}{suffix}"

    @staticmethod
    def parse(spec: str) -> Optional["QuantConfig"]:
        """'float' -> None; 'w4a8' -> QuantConfig(4, 8); 'w4a4-mse' -> MSE-initialised learned
        scales; first/last layers stay 8 bit."""
        if spec == "float":
            return None
        m = re.fullmatch(r"w(\d+)a(\d+)(?:-(\w+))?", spec)
        if not m:
            raise QuantConfigError(f"quantization {spec!r}: expected 'float' or wNaM[-mse], e.g. w4a8")
        return QuantConfig(int(m.group(1)), int(m.group(2)), scaling=m.group(3) or "stats")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: Optional[dict[str, Any]]) -> Optional["QuantConfig"]:
        return None if d is None else QuantConfig(**d)

    # ---- per-layer rule (the one place that says which width a layer gets) -------------
    def weight_bits_of(self, arch: Arch, layer: Layer) -> int:
        if layer.name == arch.first_conv().name:
            return self.first_weight_bits
        if layer.op == "fc":
            return self.last_weight_bits
        return self.weight_bits

    def act_bits_of(self, arch: Arch, quant: str) -> int:
        """Bit width of the named output quantizer."""
        if quant == "input":
            return INPUT_BITS
        if quant.endswith(".gate"):
            return self.gate
        if quant == arch[arch.output.inputs[0]].quant:
            return self.last_act_bits
        return self.act_bits
