"""PyTorch and Brevitas models built from an architecture description (model/arch.py).

One builder serves float and quantized networks: `Net(arch, quant=None)` is float,
`Net(arch, QuantConfig(...))` is Brevitas-quantized. Hardware-friendly by construction:

- the input is uint8 pixels: the model takes x = pixels / 255 and quantizes it with a fixed
  scale of 1/255, so the accelerator's input codes are the pixels themselves;
- PReLU slopes are clamped to >= 0 in the forward pass, so conv + BN + PReLU + quantizer is a
  monotone per-channel function of the integer accumulator (integer thresholds);
- every add reads two tensors that went through one shared quantizer (the arch says which);
- the SE gate is a hard sigmoid followed by an unsigned quantizer with a fixed scale, and the
  gated product goes through the block's shared quantizer (a requantized integer multiply);
- the last FC has no bias and no output quantizer: the accelerator delivers its integer
  accumulators and the host applies the tail (BN1d or the classifier bias, then the L2 norm
  for face embeddings), which `Net.tail` holds apart from the accelerated part.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from model.arch import Arch, Layer
from model.quant import INPUT_BITS, QuantConfig


class NonNegPReLU(nn.PReLU):
    """PReLU whose slopes are used clamped to >= 0 (keeps BN+PReLU+quant monotone).

    For export the slopes are clamped in place once (`clamp_slopes_`) and used as they are,
    so the graph holds a plain PRelu with a constant slope instead of a Clip node.
    """

    exporting = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight if NonNegPReLU.exporting else self.weight.clamp(min=0.0)
        return F.prelu(x, w)


def clamp_slopes_(net: nn.Module) -> None:
    """Clamps every NonNegPReLU slope to >= 0 in place (same function, constant for export)."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, NonNegPReLU):
                m.weight.clamp_(min=0.0)


def _key(name: str) -> str:
    return name.replace(".", "_")


def _act(kind: Optional[str], channels: int) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "prelu":
        return NonNegPReLU(channels, init=0.25)
    return nn.Identity()


MSE_COLLECT_STEPS = 100  # training steps over which an MSE activation scale is initialised


def _weight_quant(scaling: str) -> Any:
    """Per-channel weight quantizer: abs-max scales ("stats") or learned MSE-initialised ones."""
    from brevitas.quant import Int8WeightPerChannelFloat, Int8WeightPerChannelFloatMSE

    return Int8WeightPerChannelFloatMSE if scaling == "mse" else Int8WeightPerChannelFloat


def _act_quant(bits: int, signed: bool, scaling: str = "stats") -> nn.Module:
    from brevitas.nn import QuantIdentity
    from brevitas import quant as bq

    if scaling == "mse":
        q = bq.Int8ActPerTensorFloatMSE if signed else bq.Uint8ActPerTensorFloatMSE
        # the MSE search makes a training step ~4x slower while statistics are collected;
        # Brevitas' 300 steps doubled the 6-epoch QAT run, 100 batches of 32 faces suffice
        return QuantIdentity(act_quant=q, bit_width=bits, return_quant_tensor=False,
                             collect_stats_steps=MSE_COLLECT_STEPS)
    q = bq.Int8ActPerTensorFloat if signed else bq.Uint8ActPerTensorFloat
    return QuantIdentity(act_quant=q, bit_width=bits, return_quant_tensor=False)


def _const_unsigned_quant(bits: int, max_val: float) -> nn.Module:
    """Unsigned quantizer with the fixed scale max_val / (2**bits - 1)."""
    from brevitas.nn import QuantIdentity
    from brevitas.quant import Uint8ActPerTensorFloat

    return QuantIdentity(act_quant=Uint8ActPerTensorFloat, bit_width=bits,
                         scaling_impl_type="const", scaling_init=max_val,
                         return_quant_tensor=False)


def _conv(layer: Layer, wbits: Optional[int], scaling: str = "stats") -> nn.Module:
    kw = dict(kernel_size=layer.k, stride=layer.stride, padding=layer.pad, groups=layer.groups,
              bias=layer.bias)
    if wbits is None:
        return nn.Conv2d(layer.cin, layer.cout, **kw)
    from brevitas.nn import QuantConv2d

    return QuantConv2d(layer.cin, layer.cout, weight_quant=_weight_quant(scaling),
                       weight_bit_width=wbits, **kw)


def _linear(cin: int, cout: int, wbits: Optional[int], scaling: str = "stats") -> nn.Module:
    if wbits is None:
        return nn.Linear(cin, cout, bias=False)
    from brevitas.nn import QuantLinear

    return QuantLinear(cin, cout, bias=False, weight_quant=_weight_quant(scaling),
                       weight_bit_width=wbits)


def _se_conv(cin: int, cout: int, wbits: Optional[int], scaling: str = "stats") -> nn.Module:
    if wbits is None:
        return nn.Conv2d(cin, cout, 1, bias=False)
    from brevitas.nn import QuantConv2d

    return QuantConv2d(cin, cout, 1, bias=False, weight_quant=_weight_quant(scaling),
                       weight_bit_width=wbits)


class ConvUnit(nn.Module):
    """conv -> BN -> activation (the output quantizer lives in Net.quant)."""

    def __init__(self, layer: Layer, wbits: Optional[int], scaling: str = "stats"):
        super().__init__()
        self.conv = _conv(layer, wbits, scaling)
        self.bn = nn.BatchNorm2d(layer.cout) if layer.bn else nn.Identity()
        self.act = _act(layer.act, layer.cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class SEUnit(nn.Module):
    """Squeeze-excitation with quantized pool, FC1 output and gate; the product is quantized by
    the block's shared quantizer in Net.forward."""

    def __init__(self, layer: Layer, quant: Optional[QuantConfig]):
        super().__init__()
        c, r = layer.cout, layer.cout // layer.reduction
        wb = quant.weight_bits if quant else None
        sc = quant.scaling if quant else "stats"
        self.fc1 = _se_conv(c, r, wb, sc)
        self.act = NonNegPReLU(r, init=0.25)
        self.fc2 = _se_conv(r, c, wb, sc)
        if quant is None:
            self.q_pool = self.q_fc1 = self.q_gate = nn.Identity()
        else:
            self.q_pool = _act_quant(quant.act_bits, signed=True, scaling=sc)
            self.q_fc1 = _act_quant(quant.act_bits, signed=True, scaling=sc)
            self.q_gate = _const_unsigned_quant(quant.gate, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.q_pool(F.adaptive_avg_pool2d(x, 1))
        s = self.q_fc1(self.act(self.fc1(s)))
        g = self.q_gate(F.hardsigmoid(self.fc2(s)))
        return x * g


class Tail(nn.Module):
    """The host-side tail after the FC accumulators: BN1d (+ L2 norm) or a classifier bias."""

    def __init__(self, fc: Layer, l2norm: bool):
        super().__init__()
        self.bn = nn.BatchNorm1d(fc.cout) if fc.bn else None
        self.bias = nn.Parameter(torch.zeros(fc.cout)) if fc.bias else None
        self.l2norm = l2norm

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.bn is not None:
            y = self.bn(y)
        if self.bias is not None:
            y = y + self.bias
        return F.normalize(y, dim=1) if self.l2norm else y


class Net(nn.Module):
    """A network of an Arch; float when quant is None, Brevitas-quantized otherwise.

    forward(x) takes x = uint8 pixels / 255 as float N x C x H x W and returns the tail's
    output (embeddings or logits); features(x) stops at the FC (the accelerated part).
    """

    def __init__(self, arch: Arch, quant: Optional[QuantConfig] = None):
        super().__init__()
        self.arch = arch
        self.quant_config = quant
        sc = quant.scaling if quant else "stats"
        self.units = nn.ModuleDict()
        for l in arch.layers:
            wb = quant.weight_bits_of(arch, l) if quant else None
            if l.op == "conv":
                self.units[_key(l.name)] = ConvUnit(l, wb, sc)
            elif l.op == "add":
                self.units[_key(l.name)] = _act(l.act, l.out_shape[0])
            elif l.op == "se":
                self.units[_key(l.name)] = SEUnit(l, quant)
            elif l.op == "fc":
                self.units[_key(l.name)] = _linear(l.cin, l.cout, wb, sc)
        self.quant = nn.ModuleDict()
        for qname, signed in arch.quantizers().items():
            if quant is None:
                self.quant[_key(qname)] = nn.Identity()
            elif qname == "input":
                self.quant[_key(qname)] = _const_unsigned_quant(INPUT_BITS, 1.0)
            else:
                self.quant[_key(qname)] = _act_quant(quant.act_bits_of(arch, qname), signed, sc)
        self.tail = Tail(arch.output, l2norm=arch.name == "vargfacenet")
        # training-only regularisers (set by model.train; no effect in eval mode, none on the
        # hardware): the drop-path rate of each residual add, rising linearly with depth, and
        # a dropout rate on the FC input
        self.drop_path: dict[str, float] = {}
        self.fc_dropout = 0.0
        self._init_weights()

    def residual_adds(self) -> list[str]:
        """Adds with an identity shortcut, in order: the first input is an ancestor of the
        second (the branch starts from it), read from the graph rather than from names."""
        ancestors: dict[str, set[str]] = {}
        for l in self.arch.layers:  # topological order: inputs come first
            ancestors[l.name] = set(l.inputs).union(*(ancestors[i] for i in l.inputs))
        return [l.name for l in self.arch.layers
                if l.op == "add" and l.inputs[0] in ancestors[l.inputs[1]]]

    def set_regularisation(self, drop_path: float = 0.0, fc_dropout: float = 0.0) -> None:
        """Stochastic depth (drop the residual branch of a whole sample; the k-th of K
        residual adds with probability drop_path * k / K) and dropout before the FC, both
        active only in training mode."""
        for name, rate in (("drop_path", drop_path), ("fc_dropout", fc_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} {rate}: a rate must be in [0, 1)")
        adds = self.residual_adds()
        self.drop_path = {n: drop_path * (k + 1) / len(adds) for k, n in enumerate(adds)} if drop_path else {}
        self.fc_dropout = fc_dropout

    def _branch(self, name: str, b: torch.Tensor) -> torch.Tensor:
        rate = self.drop_path.get(name, 0.0)
        if not self.training or rate == 0.0:
            return b
        keep = torch.rand(b.shape[0], 1, 1, 1, device=b.device) >= rate
        return b * keep.to(b.dtype) / (1.0 - rate)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The accelerated part: input quantizer to the FC output (N x cout)."""
        return self.features_and_maps(x, ())[0]

    def features_and_maps(self, x: torch.Tensor,
                          taps: Sequence[str]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """features(x) and the outputs of the layers named in `taps` (feature distillation)."""
        c, h, w = self.arch.input.out_shape
        if x.dim() != 4 or tuple(x.shape[1:]) != (c, h, w):
            raise ValueError(
                f"{self.arch.name}: expected input N x {c} x {h} x {w} (pixels/255), got "
                f"{tuple(x.shape)}"
            )
        t: dict[str, torch.Tensor] = {}
        for l in self.arch.layers:
            if l.op == "input":
                y = x
            elif l.op == "conv":
                y = self.units[_key(l.name)](t[l.inputs[0]])
            elif l.op == "add":
                y = self.units[_key(l.name)](t[l.inputs[0]] + self._branch(l.name, t[l.inputs[1]]))
            elif l.op == "se":
                y = self.units[_key(l.name)](t[l.inputs[0]])
            elif l.op == "pool":
                y = F.adaptive_avg_pool2d(t[l.inputs[0]], 1)
            elif l.op == "fc":
                y = torch.flatten(t[l.inputs[0]], 1)
                if self.training and self.fc_dropout > 0.0:
                    y = F.dropout(y, self.fc_dropout)
                y = self.units[_key(l.name)](y)
            else:  # pragma: no cover - validate() rejects unknown ops
                raise AssertionError(l.op)
            if l.quant is not None:
                y = self.quant[_key(l.quant)](y)
            t[l.name] = y
        return t[self.arch.output.name], [t[n] for n in taps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.features(x))


class FeaturesOnly(nn.Module):
    """Wraps a Net so that export sees only the accelerated part (no host tail)."""

    def __init__(self, net: Net):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)
