"""The architecture description: VarGNet and VarGFaceNet as data.

This module is the single definition of the networks' shapes. The PyTorch/Brevitas builder
(model/nets.py), the compile flow and the simulator all read an `Arch`; none of them
re-derives the layer list. It imports nothing beyond the standard library, so the simulator
can use it without torch.

A network is a list of `Layer`s in topological order. Each layer names its inputs and its
output quantizer (`quant`): layers whose outputs meet in an add name the same quantizer, so
the add is an integer add (one scale). The ops are:

  input  uint8 image, C x H x W
  conv   Conv2d (k, stride, pad, groups) + optional BatchNorm + optional activation; a grouped
         conv has exactly S = 8 input channels per group
  add    elementwise add of two inputs on one shared quantizer + optional activation
  se     squeeze-excitation: global average pool, 1x1 C->C/r, PReLU, 1x1 C/r->C, hard
         sigmoid gate, per-channel multiply of the input by the gate
  pool   global average pool to 1 x 1
  fc     fully connected layer on a flattened 1 x 1 x C tensor; it is the network's output
         and delivers raw integer accumulators (the host applies scale, BN1d/bias and L2 norm)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Iterable, Optional

S = 8  # channels per group of every variable group convolution
SCHEMA_VERSION = 1
ACTIVATIONS = (None, "relu", "prelu")
OPS = ("input", "conv", "add", "se", "pool", "fc")


class ArchError(ValueError):
    """A network description that cannot be built; the message names the problem."""


@dataclass(frozen=True)
class Layer:
    name: str
    op: str
    inputs: tuple[str, ...]
    stage: str
    out_shape: tuple[int, int, int]  # C, H, W
    quant: Optional[str]  # name of the output quantizer; None: raw integer accumulator
    cin: int = 0
    cout: int = 0
    k: int = 1
    stride: int = 1
    pad: int = 0
    groups: int = 1
    bias: bool = False
    bn: bool = False
    act: Optional[str] = None
    reduction: int = 0  # se only

    @property
    def grouped(self) -> bool:
        """True for a variable group convolution (1 < groups)."""
        return self.op == "conv" and self.groups > 1

    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the weight tensor in PyTorch layout (cout, cin/groups, k, k)."""
        if self.op == "conv":
            return (self.cout, self.cin // self.groups, self.k, self.k)
        if self.op == "fc":
            return (self.cout, self.cin)
        return ()

    def macs(self, in_hw: tuple[int, int] | None = None) -> int:
        """Multiply-accumulates of one image (SE: its two small FCs)."""
        c, h, w = self.out_shape
        if self.op == "conv":
            return self.k * self.k * (self.cin // self.groups) * self.cout * h * w
        if self.op == "fc":
            return self.cin * self.cout
        if self.op == "se":
            return 2 * c * (c // self.reduction)
        return 0

    def params(self) -> int:
        """Trainable parameters: weights, bias, BN affine (2 per channel), PReLU slopes."""
        n = 0
        c = self.out_shape[0]
        if self.op in ("conv", "fc"):
            n += _prod(self.weight_shape()) + (self.cout if self.bias else 0)
        if self.op == "se":
            n += 2 * c * (c // self.reduction) + c // self.reduction  # two FCs + PReLU
        if self.bn:
            n += 2 * c
        if self.act == "prelu":
            n += c
        return n


def _prod(xs: Iterable[int]) -> int:
    p = 1
    for x in xs:
        p *= x
    return p


@dataclass(frozen=True)
class Arch:
    """A whole network: its layers in topological order plus the parameters it was built from."""

    name: str
    params_: dict[str, Any]
    layers: tuple[Layer, ...]
    version: int = SCHEMA_VERSION
    _index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({l.name: i for i, l in enumerate(self.layers)})
        validate(self)

    # ---- lookup -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Layer:
        try:
            return self.layers[self._index[name]]
        except KeyError:
            raise ArchError(f"{self.name}: no layer named {name!r}") from None

    @property
    def input(self) -> Layer:
        return self.layers[0]

    @property
    def output(self) -> Layer:
        return self.layers[-1]

    def consumers(self, name: str) -> list[Layer]:
        return [l for l in self.layers if name in l.inputs]

    def quantizers(self) -> dict[str, bool]:
        """Every output quantizer and whether it is signed.

        A quantizer is unsigned only if every layer writing through it ends in a ReLU (or is
        the uint8 input): a shared add quantizer whose other producer can be negative is signed.
        """
        signed: dict[str, bool] = {}
        for l in self.layers:
            if l.quant is None:
                continue
            neg = not (l.op == "input" or l.act == "relu")
            signed[l.quant] = signed.get(l.quant, False) or neg
        return signed

    def first_conv(self) -> Layer:
        return next(l for l in self.layers if l.op == "conv")

    # ---- totals -------------------------------------------------------------------------
    def total_params(self) -> int:
        return sum(l.params() for l in self.layers)

    def total_macs(self) -> int:
        return sum(l.macs() for l in self.layers)

    def stages(self) -> list[str]:
        out: list[str] = []
        for l in self.layers:
            if l.stage not in out:
                out.append(l.stage)
        return out

    def largest_feature_map(self) -> Layer:
        return max(self.layers, key=lambda l: _prod(l.out_shape))

    # ---- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "vargnet-arch",
            "version": self.version,
            "name": self.name,
            "params": dict(self.params_),
            "layers": [asdict(l) for l in self.layers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "Arch":
        if d.get("schema") != "vargnet-arch":
            raise ArchError("not an architecture description (missing schema 'vargnet-arch')")
        if d.get("version") != SCHEMA_VERSION:
            raise ArchError(
                f"architecture description version {d.get('version')} is not supported "
                f"(this code reads version {SCHEMA_VERSION})"
            )
        names = {f.name for f in fields(Layer)}
        layers = []
        for ld in d["layers"]:
            unknown = set(ld) - names
            if unknown:
                raise ArchError(f"layer {ld.get('name')!r}: unknown fields {sorted(unknown)}")
            ld = dict(ld, inputs=tuple(ld["inputs"]), out_shape=tuple(ld["out_shape"]))
            layers.append(Layer(**ld))
        return Arch(d["name"], dict(d["params"]), tuple(layers))

    @staticmethod
    def from_json(text: str) -> "Arch":
        return Arch.from_dict(json.loads(text))


# ---- validation ---------------------------------------------------------------------------
def validate(arch: Arch) -> None:
    """Checks shapes, connectivity, the S = 8 rule and shared quantizers of adds."""
    seen: dict[str, Layer] = {}
    if not arch.layers or arch.layers[0].op != "input":
        raise ArchError(f"{arch.name}: the first layer must be the input")
    for l in arch.layers:
        where = f"{arch.name}/{l.name}"
        if l.op not in OPS:
            raise ArchError(f"{where}: unknown op {l.op!r} (known: {', '.join(OPS)})")
        if l.act not in ACTIVATIONS:
            raise ArchError(f"{where}: unknown activation {l.act!r}")
        if l.name in seen:
            raise ArchError(f"{where}: duplicate layer name")
        for i in l.inputs:
            if i not in seen:
                raise ArchError(f"{where}: input {i!r} is not an earlier layer")
        ins = [seen[i] for i in l.inputs]
        c, h, w = l.out_shape
        if l.op == "conv":
            (src,) = ins
            sc, sh, sw = src.out_shape
            if l.cin != sc:
                raise ArchError(f"{where}: cin={l.cin} but its input {src.name} has {sc} channels")
            if l.groups > 1:
                if l.cin % S != 0:
                    raise ArchError(
                        f"{where}: grouped conv has {l.cin} input channels, not a multiple of "
                        f"S={S} (choose a width multiplier that keeps channels divisible by 8)"
                    )
                if l.groups != l.cin // S:
                    raise ArchError(f"{where}: groups={l.groups} but S=8 needs {l.cin // S}")
                if l.cout % l.groups != 0:
                    raise ArchError(f"{where}: cout={l.cout} not divisible by groups={l.groups}")
            oh = (sh + 2 * l.pad - l.k) // l.stride + 1
            ow = (sw + 2 * l.pad - l.k) // l.stride + 1
            if oh < 1 or ow < 1:
                raise ArchError(f"{where}: input {sh}x{sw} is too small for a {l.k}x{l.k} kernel")
            if (c, h, w) != (l.cout, oh, ow):
                raise ArchError(f"{where}: out_shape {l.out_shape} != {(l.cout, oh, ow)}")
        elif l.op == "add":
            if len(ins) != 2 or not (ins[0].out_shape == ins[1].out_shape == l.out_shape):
                raise ArchError(
                    f"{where}: an add needs two inputs of its own shape {l.out_shape}, got "
                    f"{[i.out_shape for i in ins]}"
                )
            if ins[0].quant != ins[1].quant or ins[0].quant is None:
                raise ArchError(
                    f"{where}: add inputs {ins[0].name} and {ins[1].name} must share one "
                    f"quantizer (got {ins[0].quant!r} and {ins[1].quant!r})"
                )
        elif l.op in ("se",):
            (src,) = ins
            if src.out_shape != l.out_shape or c % l.reduction != 0:
                raise ArchError(f"{where}: SE shape or reduction {l.reduction} does not fit {c}")
        elif l.op == "pool":
            (src,) = ins
            if l.out_shape != (src.out_shape[0], 1, 1):
                raise ArchError(f"{where}: global pool output must be {src.out_shape[0]}x1x1")
        elif l.op == "fc":
            (src,) = ins
            if src.out_shape != (l.cin, 1, 1):
                raise ArchError(f"{where}: fc needs a {l.cin}x1x1 input, got {src.out_shape}")
            if l is not arch.layers[-1]:
                raise ArchError(f"{where}: the fc must be the last layer (it delivers accumulators)")
        seen[l.name] = l
    used = {i for l in arch.layers for i in l.inputs}
    dangling = [l.name for l in arch.layers[:-1] if l.name not in used]
    if dangling:
        raise ArchError(f"{arch.name}: layers whose output nobody reads: {dangling}")


# ---- builders -----------------------------------------------------------------------------
class _Builder:
    """Appends layers while tracking shapes; used only by the two network builders below."""

    def __init__(self, name: str, params: dict[str, Any]):
        self.name = name
        self.params = params
        self.layers: list[Layer] = []
        self.shapes: dict[str, tuple[int, int, int]] = {}
        self.stage = ""
        self.act = "prelu"

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self.shapes[layer.name] = layer.out_shape
        return layer.name

    def input(self, c: int, h: int, w: int) -> str:
        return self._add(Layer("input", "input", (), "input", (c, h, w), quant="input"))

    def conv(self, name: str, src: str, cout: int, k: int, stride: int = 1, *, grouped: bool,
             act: Optional[str], pad: Optional[int] = None, quant: Optional[str] = None,
             bn: bool = True) -> str:
        cin, h, w = self.shapes[src]
        if grouped and cin % S != 0:
            raise ArchError(
                f"{self.name}/{name}: grouped conv has {cin} input channels, not a multiple of "
                f"S={S} (choose a width multiplier that keeps channels divisible by 8)"
            )
        groups = cin // S if grouped else 1
        pad = (k - 1) // 2 if pad is None else pad
        oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
        if oh < 1 or ow < 1:
            raise ArchError(f"{self.name}/{name}: feature map {h}x{w} too small for k={k}")
        return self._add(Layer(name, "conv", (src,), self.stage, (cout, oh, ow),
                               quant or name, cin=cin, cout=cout, k=k, stride=stride, pad=pad,
                               groups=groups, bn=bn, act=act))

    def sep(self, name: str, src: str, cout: int, *, expansion: int, stride: int,
            pw_act: bool, quant: Optional[str] = None) -> str:
        """Variable group conv 3x3 (C -> C*expansion) + BN + act, then 1x1 + BN (+ act)."""
        cin = self.shapes[src][0]
        g = self.conv(f"{name}.gconv", src, cin * expansion, 3, stride, grouped=True, act=self.act)
        return self.conv(f"{name}.pw", g, cout, 1, grouped=False,
                         act=self.act if pw_act else None, quant=quant)

    def add(self, name: str, a: str, b: str, act: Optional[str]) -> str:
        return self._add(Layer(name, "add", (a, b), self.stage, self.shapes[a], name, act=act))

    def se(self, name: str, src: str, reduction: int, quant: str) -> str:
        c = self.shapes[src][0]
        if c % reduction != 0:
            raise ArchError(f"{self.name}/{name}: {c} channels not divisible by SE reduction {reduction}")
        return self._add(Layer(name, "se", (src,), self.stage, self.shapes[src], quant,
                               cin=c, cout=c, reduction=reduction))

    def quant_of(self, name: str) -> Optional[str]:
        return next(l.quant for l in self.layers if l.name == name)

    def normal_block(self, name: str, src: str, cout: int, *, expansion: int, stride: int,
                     se_reduction: int) -> str:
        """VarGNet normal block; with stride 2 (VarGFaceNet head) its shortcut is a sep conv."""
        cin = self.shapes[src][0]
        if stride == 1 and cin == cout:
            short, shared = src, self.quant_of(src)
        else:
            shared = f"{name}.join"
            short = self.sep(f"{name}.short", src, cout, expansion=expansion, stride=stride,
                             pw_act=False, quant=shared)
        x = self.sep(f"{name}.part1", src, cout, expansion=expansion, stride=stride, pw_act=True)
        if se_reduction:
            x = self.sep(f"{name}.part2", x, cout, expansion=expansion, stride=1, pw_act=False)
            x = self.se(f"{name}.se", x, se_reduction, quant=shared)
        else:
            x = self.sep(f"{name}.part2", x, cout, expansion=expansion, stride=1, pw_act=False,
                         quant=shared)
        return self.add(f"{name}.add", short, x, self.act)

    def down_block(self, name: str, src: str, cout: int, *, expansion: int) -> str:
        """Branch-merge downsampling block: two stride-2 branches summed, then a sep conv,
        plus a stride-2 sep-conv shortcut."""
        merge = f"{name}.merge"
        b1 = self.sep(f"{name}.branch1", src, cout, expansion=expansion, stride=2, pw_act=False,
                      quant=merge)
        b2 = self.sep(f"{name}.branch2", src, cout, expansion=expansion, stride=2, pw_act=False,
                      quant=merge)
        x = self.add(f"{name}.merge_add", b1, b2, self.act)
        join = f"{name}.join"
        short = self.sep(f"{name}.short", src, cout, expansion=expansion, stride=2,
                         pw_act=False, quant=join)
        x = self.sep(f"{name}.part2", x, cout, expansion=expansion, stride=1, pw_act=False,
                     quant=join)
        return self.add(f"{name}.add", short, x, self.act)

    def build(self) -> Arch:
        return Arch(self.name, self.params, tuple(self.layers))


def _channels(base: int, multiplier: float) -> int:
    c = base * multiplier
    if abs(c - round(c)) > 1e-9:
        raise ArchError(f"width multiplier {multiplier} gives {c} channels from {base}, not an integer")
    return int(round(c))


def vargfacenet(multiplier: float = 1.25, input_size: int = 112, *, last_channels: int = 1024,
                emb_size: int = 512, units: tuple[int, ...] = (3, 7, 4),
                filters: tuple[int, ...] = (32, 64, 128, 256), se_reduction: int = 4,
                expansion: int = 2) -> Arch:
    """VarGFaceNet as the official MXNet code has it (last_channels = 1024).

    Head: 3x3 stride-1 conv, then a normal block at stride 2 with expansion 1, SE and a
    sep-conv shortcut. Body: per stage one branch-merge downsampling block and units-1 normal
    blocks with SE. Embedding: 1x1 to last_channels, a variable group conv whose kernel covers
    the whole remaining feature map (7x7 at 112x112 input), 1x1 to last_channels/2, FC to
    emb_size without bias (its BN1d and the L2 norm run on the host).
    """
    n_down = 1 + len(units)
    if input_size < 2 ** n_down or input_size % (2 ** n_down) != 0:
        raise ArchError(
            f"vargfacenet: input size {input_size} cannot be taken: it must be a multiple of "
            f"{2 ** n_down} (one halving in the head and one per stage), e.g. 112"
        )
    if len(filters) != len(units) + 1:
        raise ArchError("vargfacenet: filters needs one entry more than units")
    if last_channels % S or last_channels % 2:
        raise ArchError(f"vargfacenet: last_channels={last_channels} must be a multiple of {S}")
    b = _Builder("vargfacenet", dict(multiplier=multiplier, input_size=input_size,
                                     last_channels=last_channels, emb_size=emb_size,
                                     units=list(units), filters=list(filters),
                                     se_reduction=se_reduction, expansion=expansion))
    ch = [_channels(f, multiplier) for f in filters]
    b.act = "prelu"
    x = b.input(3, input_size, input_size)
    b.stage = "head"
    x = b.conv("head.conv", x, ch[0], 3, 1, grouped=False, act="prelu")
    x = b.normal_block("head.block", x, ch[0], expansion=1, stride=2, se_reduction=se_reduction)
    for s, n in enumerate(units):
        b.stage = f"stage{s + 2}"
        x = b.down_block(f"stage{s + 2}.down", x, ch[s + 1], expansion=expansion)
        for u in range(n - 1):
            x = b.normal_block(f"stage{s + 2}.unit{u + 1}", x, ch[s + 1], expansion=expansion,
                               stride=1, se_reduction=se_reduction)
    b.stage = "embedding"
    x = b.conv("emb.conv1", x, last_channels, 1, grouped=False, act="prelu")
    k = b.shapes[x][1]
    x = b.conv("emb.gconv", x, last_channels, k, 1, grouped=True, act=None, pad=0)
    x = b.conv("emb.pw", x, last_channels // 2, 1, grouped=False, act="prelu")
    b.stage = "fc"
    b._add(Layer("fc", "fc", (x,), "fc", (emb_size, 1, 1), None, cin=last_channels // 2,
                 cout=emb_size, bn=True))
    return b.build()


def vargnet(width: float = 1.0, input_size: int = 224, *, num_classes: int = 1000,
            conv5_channels: Optional[int] = None, in_channels: int = 3) -> Arch:
    """VarGNet v1 for classification (the VarGNet paper's MobileNet-v1-based layout).

    Conv1 3x3 stride 2 -> 32w; downsampling blocks to 64w, 128w, 256w; 2 normal blocks at
    256w; downsampling to 512w; 1 normal block at 512w; Conv5 1x1 -> max(1024, 1024w);
    global average pool; FC. ReLU everywhere, no SE, expansion 2.
    """
    if input_size < 32 or input_size % 32 != 0:
        raise ArchError(
            f"vargnet: input size {input_size} cannot be taken: it must be a multiple of 32 "
            f"(five halvings), e.g. 224, or 32 for Fashion-MNIST padded from 28"
        )
    ch = [_channels(f, width) for f in (32, 64, 128, 256, 512)]
    c5 = conv5_channels if conv5_channels is not None else max(1024, _channels(1024, width))
    b = _Builder("vargnet", dict(width=width, input_size=input_size, num_classes=num_classes,
                                 conv5_channels=c5, in_channels=in_channels))
    b.act = "relu"
    x = b.input(in_channels, input_size, input_size)
    b.stage = "conv1"
    x = b.conv("conv1", x, ch[0], 3, 2, grouped=False, act="relu")
    plan = [("stage2", ch[1], 0), ("stage3", ch[2], 0), ("stage4", ch[3], 2), ("stage5", ch[4], 1)]
    for stage, c, normals in plan:
        b.stage = stage
        x = b.down_block(f"{stage}.down", x, c, expansion=2)
        for u in range(normals):
            x = b.normal_block(f"{stage}.unit{u + 1}", x, c, expansion=2, stride=1, se_reduction=0)
    b.stage = "head"
    x = b.conv("conv5", x, c5, 1, grouped=False, act="relu")
    x = b._add(Layer("pool", "pool", (x,), "head", (c5, 1, 1), "pool"))
    b._add(Layer("fc", "fc", (x,), "head", (num_classes, 1, 1), None, cin=c5,
                 cout=num_classes, bias=True))
    return b.build()


BUILDERS = {"vargfacenet": vargfacenet, "vargnet": vargnet}


def build(model: str, **kwargs: Any) -> Arch:
    """Builds a named architecture; kwargs are the builder's parameters."""
    try:
        fn = BUILDERS[model]
    except KeyError:
        raise ArchError(f"unknown model {model!r} (known: {', '.join(BUILDERS)})") from None
    return fn(**kwargs)


def named(model: str, width: Optional[float] = None, input_size: Optional[int] = None) -> Arch:
    """A named architecture at a width multiplier and input size (None: the model's own), as
    the CLIs take them (--model, --width, --input)."""
    kw: dict[str, Any] = {}
    if width is not None:
        kw["multiplier" if model == "vargfacenet" else "width"] = width
    if input_size is not None:
        kw["input_size"] = input_size
    return build(model, **kw)


def from_params(name: str, params: dict[str, Any]) -> Arch:
    """Rebuilds an Arch from its name and the params it records (e.g. from a checkpoint)."""
    p = dict(params)
    if name == "vargfacenet":
        p["units"] = tuple(p["units"])
        p["filters"] = tuple(p["filters"])
    return build(name, **p)


def tiny(model: str) -> Arch:
    """Small variants for fast tests: every block type, a few thousand parameters."""
    if model == "vargfacenet":
        return vargfacenet(0.25, 32, last_channels=64, emb_size=32, units=(2, 2, 2))
    if model == "vargnet":
        return vargnet(0.25, 32, num_classes=10, conv5_channels=64, in_channels=1)
    raise ArchError(f"unknown model {model!r}")
