"""A training run's configuration (model.train's options as a dataclass) and its error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Optional

from model.orl import HELDOUT_SPEC


@dataclass
class TrainConfig:
    out: str
    task: str = "face"  # face | classify
    model: str = "vargfacenet"
    width: Optional[float] = None
    input: Optional[int] = None
    last_channels: Optional[int] = None
    emb_size: Optional[int] = None
    quant: str = "w4a4"
    data: str = "orl"  # orl | fashion-mnist | an ImageFolder path
    heldout_ids: str = HELDOUT_SPEC  # orl: identities never trained on (the rest are trained on)
    unlabeled: Optional[str] = None
    synthetic: int = 0  # face: this many generated faces (model.synthetic) added for distillation
    teacher: Optional[str] = "sface"
    alpha: float = 7.0
    arc_weight: float = 1.0
    arc_scale: float = 64.0
    arc_margin: float = 0.5
    relational: float = 0.0
    feature_distill: float = 0.0  # weight of feature-map distillation from the teacher's taps
    feature_taps: Optional[str] = None  # comma-separated tensor names (default: SFACE_TAPS)
    mixup: float = 0.0  # fraction of the pool made of mixed images
    cutmix: float = 0.0  # fraction of the pool made of cut-and-pasted composite images
    copies: int = 10  # augmented copies of every training image in the pool
    warp: float = 0.0  # augmented copies: smooth random displacement of up to this many pixels
    rotate: float = 0.0  # augmented copies: random rotation of up to this many degrees
    val_ids: int = 0
    epochs: int = 10
    batch: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    ema: float = 0.0  # decay of an exponential moving average of the weights (0: off)
    drop_path: float = 0.0  # stochastic depth: the deepest residual branch's drop rate
    fc_dropout: float = 0.0  # dropout rate on the FC input
    seed: int = 0
    init: Optional[str] = None
    generations: int = 1
    limit: Optional[int] = None  # classify: use only this many training images
    threads: int = 0
    stop_after: Optional[int] = None  # end this invocation after this many epochs (resumable)
    teacher_cache: Optional[str] = None  # folder of teacher-output caches (default: out)

    def arch_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.width is not None:
            kw["multiplier" if self.model == "vargfacenet" else "width"] = self.width
        if self.input is not None:
            kw["input_size"] = self.input
        if self.model == "vargfacenet":
            if self.last_channels:
                kw["last_channels"] = self.last_channels
            if self.emb_size:
                kw["emb_size"] = self.emb_size
        else:
            kw.setdefault("input_size", 32)
            kw["num_classes"] = 10
            kw["in_channels"] = 1
            if self.last_channels:
                kw["conv5_channels"] = self.last_channels
        return kw

    def identity(self) -> dict[str, Any]:
        """What a resumed run must agree on (everything but the epoch count)."""
        d = asdict(self)
        d.pop("epochs")
        d.pop("threads")
        d.pop("stop_after")
        d.pop("teacher_cache")  # where cached teacher outputs live does not change them
        return d


class TrainError(ValueError):
    pass
